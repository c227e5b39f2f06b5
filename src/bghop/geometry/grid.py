"""The one grid convention of the package.

A grid of resolution ``R`` over ``[lo, hi]³`` has its points at ``torch.linspace(lo, hi, R)``
on each axis (both ends included) and is indexed ``[i, j, k] ↔ (x_i, y_j, z_k)``
(``indexing="ij"``). Volumes are stored ``(..., R, R, R)`` in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["GridSpec", "grid_coordinates", "sample_grid"]


def grid_coordinates(resolution: int, lo: float = -1.5, hi: float = 1.5, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """Grid points ``(R, R, R, 3)``; ``out[i, j, k] = (x_i, y_j, z_k)``."""
    x = torch.linspace(lo, hi, resolution, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(x, x, x, indexing="ij"), dim=-1)


@dataclass(frozen=True)
class GridSpec:
    """A cubic grid.

    Attributes:
        resolution: points per axis.
        lo: lower bound on every axis.
        hi: upper bound on every axis.
    """

    resolution: int = 64
    lo: float = -1.5
    hi: float = 1.5

    @property
    def spacing(self) -> float:
        """Distance between neighbouring grid points."""
        return (self.hi - self.lo) / (self.resolution - 1)

    def points(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``(R, R, R, 3)`` grid points."""
        return grid_coordinates(self.resolution, self.lo, self.hi, device=device, dtype=dtype)

    def to_normalized(self, points: Tensor) -> Tensor:
        """Map coordinates to ``[-1, 1]`` (``lo → -1``, ``hi → 1``)."""
        return (points - self.lo) / (self.hi - self.lo) * 2.0 - 1.0


def sample_grid(volume: Tensor, points: Tensor, spec: GridSpec, padding_mode: str = "border") -> Tensor:
    """Trilinear interpolation of a volume at arbitrary points (differentiable in both).

    Args:
        volume: ``(B, C, R, R, R)`` indexed ``[x, y, z]``.
        points: ``(B, N, 3)`` in the grid's coordinates.
        spec: the grid.
        padding_mode: ``grid_sample`` padding outside the grid (``"border"`` repeats the edge).
    Returns:
        ``(B, C, N)``.
    """
    # grid_sample's last coordinate indexes the last (W) axis: ours is z, so pass (z, y, x)
    g = spec.to_normalized(points).flip(-1)[:, :, None, None, :]  # (B, N, 1, 1, 3)
    out = torch.nn.functional.grid_sample(volume, g.to(volume.dtype), mode="bilinear", padding_mode=padding_mode,
                                          align_corners=True)
    return out[:, :, :, 0, 0]

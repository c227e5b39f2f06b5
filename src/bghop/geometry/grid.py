"""The one grid convention of the package.

A grid of resolution ``R`` over ``[lo, hi]³`` has its points at ``torch.linspace(lo, hi, R)`` on
each axis (both ends included, spacing ``(hi - lo) / (R - 1)``) and is indexed
``[i, j, k] ↔ (x_i, y_j, z_k)`` (``torch.meshgrid(..., indexing="ij")``). Volumes are stored
``(..., R, R, R)`` in that order, so ``volume[..., i, j, k]`` is the value at ``(x_i, y_j, z_k)``.
Coordinates are in whatever frame the grid lives in (the right hand's normalised frame ``n`` for
the interaction grid, where the default ``[-1.5, 1.5]`` spans 0.6 m).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor

__all__ = ["GridSpec", "grid_coordinates", "sample_grid"]

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray)


def grid_coordinates(resolution: int, lo: float = -1.5, hi: float = 1.5, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
    """Grid point coordinates.

    Args:
        resolution: points per axis ``R`` (at least 2).
        lo: first coordinate on every axis (grid-frame units).
        hi: last coordinate on every axis (included).
        device: torch device of the result.
        dtype: floating dtype of the result.
    Returns:
        ``(R, R, R, 3)`` with ``out[i, j, k] = (x_i, y_j, z_k)`` and ``x = linspace(lo, hi, R)``.
    """
    if resolution < 2:
        raise ValueError(f"grid resolution must be at least 2, got {resolution}")
    x = torch.linspace(lo, hi, resolution, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(x, x, x, indexing="ij"), dim=-1)


@dataclass(frozen=True)
class GridSpec:
    """A cubic grid ``[lo, hi]³`` with ``resolution`` points per axis (both ends included).

    Attributes:
        resolution: points per axis ``R``.
        lo: lower bound on every axis (grid-frame units).
        hi: upper bound on every axis (grid-frame units).
    """

    resolution: int = 64
    lo: float = -1.5
    hi: float = 1.5

    def __post_init__(self) -> None:
        if int(self.resolution) != self.resolution or self.resolution < 2:
            raise ValueError(f"GridSpec.resolution must be an integer >= 2, got {self.resolution}")
        if not (np.isfinite(self.lo) and np.isfinite(self.hi) and self.hi > self.lo):
            raise ValueError(f"GridSpec needs finite lo < hi, got lo={self.lo}, hi={self.hi}")

    @property
    def spacing(self) -> float:
        """Distance between neighbouring grid points (grid-frame units)."""
        return (self.hi - self.lo) / (self.resolution - 1)

    @property
    def extent(self) -> float:
        """Side length ``hi - lo`` of the cube (grid-frame units)."""
        return self.hi - self.lo

    def axis(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``(R,)`` coordinates along any one axis: ``linspace(lo, hi, R)``."""
        return torch.linspace(self.lo, self.hi, self.resolution, device=device, dtype=dtype)

    def points(self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """``(R, R, R, 3)`` grid points, ``[i, j, k] ↔ (x_i, y_j, z_k)`` (see :func:`grid_coordinates`)."""
        return grid_coordinates(self.resolution, self.lo, self.hi, device=device, dtype=dtype)

    def world_to_index(self, points: ArrayT) -> ArrayT:
        """Continuous index coordinates of points.

        Args:
            points: ``(..., 3)`` grid-frame coordinates (Tensor or ndarray).
        Returns:
            ``(..., 3)`` fractional ``(i, j, k)``: grid point ``[i, j, k]`` maps to exactly ``(i, j, k)``,
            ``lo → 0`` and ``hi → R - 1``; trilinear interpolation between the 8 surrounding integer
            indices gives :func:`sample_grid`'s value. Points outside the grid map outside ``[0, R-1]``.
        """
        return (points - self.lo) / self.spacing

    def index_to_world(self, index: ArrayT) -> ArrayT:
        """Inverse of :meth:`world_to_index`: ``(..., 3)`` fractional indices → grid-frame coordinates."""
        return index * self.spacing + self.lo

    def to_normalized(self, points: ArrayT) -> ArrayT:
        """``(..., 3)`` coordinates mapped to ``[-1, 1]`` (``lo → -1``, ``hi → 1``), same ``(x, y, z)`` order."""
        return (points - self.lo) / (self.hi - self.lo) * 2.0 - 1.0


def sample_grid(volume: Tensor, points: Tensor, spec: GridSpec, padding_mode: str = "border") -> Tensor:
    """Trilinear interpolation of a volume at arbitrary points (differentiable in both).

    Args:
        volume: ``(B, C, R, R, R)`` indexed ``[b, c, i, j, k] ↔ (x_i, y_j, z_k)`` on ``spec``.
        points: ``(B, N, 3)`` grid-frame ``(x, y, z)`` coordinates.
        spec: the grid the volume lives on.
        padding_mode: ``torch.nn.functional.grid_sample`` padding for points outside the grid:
            ``"border"`` (clamp to the edge value), ``"zeros"`` or ``"reflection"``.
    Returns:
        ``(B, C, N)`` interpolated values; exact at grid points and for functions linear in each axis.
    """
    if volume.dim() != 5 or tuple(volume.shape[2:]) != (spec.resolution,) * 3:
        raise ValueError(f"volume must be (B, C, {spec.resolution}, {spec.resolution}, {spec.resolution}), "
                         f"got {tuple(volume.shape)}")
    if points.dim() != 3 or points.shape[-1] != 3 or points.shape[0] != volume.shape[0]:
        raise ValueError(f"points must be (B, N, 3) with B={volume.shape[0]}, got {tuple(points.shape)}")
    # grid_sample's sampling grid holds (x', y', z') with x' indexing the LAST volume axis (W), y' the
    # H axis and z' the D axis. Our volume axes are (x, y, z), so the last axis is z: pass (z, y, x).
    # align_corners=True puts -1 / +1 on the centres of the first / last voxel, i.e. on lo / hi.
    g = spec.to_normalized(points).flip(-1)[:, :, None, None, :]  # (B, N, 1, 1, 3)
    out = nnf.grid_sample(volume, g.to(volume.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=True)
    return out[:, :, :, 0, 0]  # (B, C, N)

"""The channel layout of the interaction grid: object | right hand | left hand.

One named structure, used everywhere a grid is built or split, so no code slices channels by
hand. Single-hand mode is the same layout without the left block (23 channels instead of 43).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ChannelLayout", "InteractionGrid", "NUM_HAND_CHANNELS"]

#: one channel per non-wrist keypoint
NUM_HAND_CHANNELS = 20


@dataclass
class InteractionGrid:
    """The blocks of an interaction grid.

    Attributes:
        object: ``(B, C_obj, R, R, R)`` object latent (or SDF) channels.
        right: ``(B, 20, R, R, R)`` right-hand skeletal field.
        left: ``(B, 20, R, R, R)`` left-hand field in the grid's frame, or None (single-hand).
    """

    object: Tensor
    right: Tensor
    left: Tensor | None = None


@dataclass(frozen=True)
class ChannelLayout:
    """Which channels hold what.

    Attributes:
        object_channels: latent channels of the object (3 for the default autoencoder).
        bimanual: with a left-hand block (43 channels) or without (23).
    """

    object_channels: int = 3
    bimanual: bool = True

    @property
    def blocks(self) -> tuple[tuple[str, int], ...]:
        """``(name, size)`` per block in channel order."""
        b = [("object", self.object_channels), ("right", NUM_HAND_CHANNELS)]
        if self.bimanual:
            b.append(("left", NUM_HAND_CHANNELS))
        return tuple(b)

    @property
    def num_channels(self) -> int:
        """Total channel count."""
        return sum(n for _, n in self.blocks)

    def slice(self, name: str) -> slice:
        """Channel slice of block ``name`` (``"object"``, ``"right"``, ``"left"``)."""
        start = 0
        for n, size in self.blocks:
            if n == name:
                return slice(start, start + size)
            start += size
        raise KeyError(f"no block {name!r} in layout {self}")

    def split(self, grid: Tensor) -> InteractionGrid:
        """``(B, C, R, R, R)`` → :class:`InteractionGrid` (views, no copies)."""
        if grid.shape[1] != self.num_channels:
            raise ValueError(f"grid has {grid.shape[1]} channels, layout {self} expects {self.num_channels}")
        parts = {name: grid[:, self.slice(name)] for name, _ in self.blocks}
        return InteractionGrid(object=parts["object"], right=parts["right"], left=parts.get("left"))

    def join(self, parts: InteractionGrid) -> Tensor:
        """:class:`InteractionGrid` → ``(B, C, R, R, R)`` in channel order."""
        tensors = []
        for name, size in self.blocks:
            t = getattr(parts, name)
            if t is None:
                raise ValueError(f"layout {self} needs the {name!r} block")
            if t.shape[1] != size:
                raise ValueError(f"block {name!r} has {t.shape[1]} channels, expected {size}")
            tensors.append(t)
        return torch.cat(tensors, dim=1)

    def to_dict(self) -> dict:
        return {"object_channels": self.object_channels, "bimanual": self.bimanual}

"""The normalised frame ``n`` of the right hand (G-HOP/BG-HOP ``get_nTh``; REFERENCE.md).

``n = s · (h − c)`` where ``h`` is the hand's own (MANO) frame — the frame of the articulated
hand with zero global rotation and translation — ``s = 5`` (1 n-unit = 0.2 m) and ``c`` is
the **index MCP keypoint** of that hand shifted by ``(0, −0.08, 0)`` m. The index MCP is a
child of the wrist only, so ``c`` depends on the hand's shape (``betas``) but not on its
finger articulation. The grid spans ``[-1.5, 1.5]³`` in ``n``, a 0.6 m cube.

A hand placed in another frame ``o`` (object/world) with ``global_orient = ω`` and ``transl = t``
maps its own frame by ``oTh = [R(ω) | J0 − R J0 + t]`` (rotation about the rest wrist ``J0``,
:func:`bghop.hands.frames.hand_transform`), so ``nTo = nTh · oTh⁻¹``. :func:`frame_center` is the
one place the centre ``c`` is computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor

from bghop.core.rotations import axis_angle_to_matrix
from bghop.core.transforms import invert_transform, scale_transform
from bghop.hands.base import HandModel
from bghop.hands.frames import hand_transform, rest_wrist

__all__ = ["FrameConfig", "hand_rest_joints", "frame_center", "nTh_from_joints", "compute_nTh", "compute_oTh",
           "compute_nTo"]


@dataclass(frozen=True)
class FrameConfig:
    """Settings of the normalised frame (kept in model/grid configs).

    Attributes:
        scale: ``s`` in ``n = s (h − c)``; 5 upstream.
        offset: metres added to the index MCP in the hand frame to get ``c``; upstream (0, −0.08, 0).
        extent: the grid spans ``[-extent, extent]³`` n-units; 1.5 upstream.
    """

    scale: float = 5.0
    offset: tuple[float, float, float] = (0.0, -0.08, 0.0)
    extent: float = 1.5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FrameConfig":
        unknown = set(d) - {"scale", "offset", "extent"}
        if unknown:
            raise ValueError(f"unknown FrameConfig keys {sorted(unknown)}")
        return cls(**{**d, "offset": tuple(d.get("offset", cls.offset))})


def hand_rest_joints(hand: HandModel, pose: Tensor, betas: Tensor | None = None) -> Tensor:
    """Keypoints in the hand's own frame ``h`` (zero global rotation and translation).

    Args:
        hand: hand layer.
        pose: ``(B, 45)``.
        betas: ``(B, 10)`` or None.
    Returns:
        ``(B, 21, 3)`` metres.
    """
    zeros = pose.new_zeros(pose.shape[0], 3)
    return hand.keypoints(pose, zeros, zeros, betas)


def frame_center(joints_h: Tensor, cfg: FrameConfig = FrameConfig()) -> Tensor:
    """The normalised frame's centre ``c`` ``(B, 3)`` in the hand frame ``h``: the index MCP of the
    keypoints ``(B, 21, 3)`` (in ``h``) plus ``cfg.offset``, metres."""
    return joints_h[:, 5] + joints_h.new_tensor(cfg.offset)


def nTh_from_joints(joints_h: Tensor, cfg: FrameConfig = FrameConfig()) -> Tensor:
    """``(B, 21, 3)`` keypoints in ``h`` → ``nTh`` ``(B, 4, 4)``."""
    return scale_transform(cfg.scale, frame_center(joints_h, cfg))


def compute_nTh(hand: HandModel, pose: Tensor, betas: Tensor | None = None, cfg: FrameConfig = FrameConfig()) -> Tensor:
    """``nTh`` ``(B, 4, 4)`` for a hand's articulation and shape."""
    return nTh_from_joints(hand_rest_joints(hand, pose, betas), cfg)


def compute_oTh(hand: HandModel, global_orient: Tensor, transl: Tensor, betas: Tensor | None = None) -> Tensor:
    """``oTh`` ``(B, 4, 4)``: the hand frame placed in ``o`` by ``global_orient``/``transl``.

    Args:
        hand: hand layer (its rest wrist ``J0`` depends on ``betas``).
        global_orient: ``(B, 3)`` axis-angle.
        transl: ``(B, 3)`` metres.
        betas: ``(B, 10)`` or None.
    """
    j0 = rest_wrist(hand, betas, batch=global_orient.shape[0], device=global_orient.device, dtype=global_orient.dtype)
    return hand_transform(axis_angle_to_matrix(global_orient), transl, j0)


def compute_nTo(
    hand: HandModel,
    pose: Tensor,
    global_orient: Tensor,
    transl: Tensor,
    betas: Tensor | None = None,
    cfg: FrameConfig = FrameConfig(),
) -> Tensor:
    """``nTo`` ``(B, 4, 4)`` for a right hand given in frame ``o``."""
    return compute_nTh(hand, pose, betas, cfg) @ invert_transform(compute_oTh(hand, global_orient, transl, betas))

"""Skeletal distance fields of one or two hands in the normalised frame (:mod:`bghop.fields.frame`).

For each of the 20 non-wrist keypoints ``k_j`` (n units) the field holds, at every grid
point ``x``, ``min(|x − k_j|², clamp)`` with ``clamp = 0.12`` n² as upstream (G-HOP), i.e.
the field saturates ~7 cm from a keypoint at G-HOP's scale. Both hands' keypoints are first mapped
into the grid's frame ``n`` (by default the right hand's; see ``FrameConfig.anchor``). Everything is differentiable w.r.t. the hand parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bghop.core.transforms import apply_transform, invert_transform
from bghop.fields.frame import FrameConfig, compute_oTh, hand_rest_joints, nTh_from_joints, nTo_from_axes, palms_axes
from bghop.fields.layout import NUM_HAND_CHANNELS
from bghop.geometry.grid import grid_coordinates
from bghop.hands.base import HandModel
from bghop.hands.params import HandParams

__all__ = [
    "FieldConfig",
    "skeletal_field",
    "keypoints_from_field",
    "BimanualKeypoints",
    "bimanual_keypoints_n",
]


@dataclass(frozen=True)
class FieldConfig:
    """Settings of the skeletal field.

    Attributes:
        resolution: grid points per axis (16 upstream).
        clamp: saturation of the squared distance, n-units² (0.12 upstream).
        frame: the normalised frame.
    """

    resolution: int = 16
    clamp: float = 0.12
    frame: FrameConfig = FrameConfig()

    def to_dict(self) -> dict:
        return {"resolution": self.resolution, "clamp": self.clamp, "frame": self.frame.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "FieldConfig":
        return cls(resolution=int(d["resolution"]), clamp=float(d["clamp"]), frame=FrameConfig.from_dict(d["frame"]))


def skeletal_field(keypoints_n: Tensor, cfg: FieldConfig = FieldConfig()) -> Tensor:
    """Squared-distance field of keypoints on the grid.

    Args:
        keypoints_n: ``(B, 20, 3)`` non-wrist keypoints in ``n`` units.
        cfg: field settings.
    Returns:
        ``(B, 20, R, R, R)`` clamped squared distances (n units²).
    """
    if keypoints_n.shape[-2:] != (NUM_HAND_CHANNELS, 3):
        raise ValueError(f"expected (B, {NUM_HAND_CHANNELS}, 3) keypoints, got {tuple(keypoints_n.shape)}")
    e = cfg.frame.extent
    pts = grid_coordinates(cfg.resolution, -e, e, device=keypoints_n.device, dtype=keypoints_n.dtype)  # (R,R,R,3)
    d2 = ((pts[None, None] - keypoints_n[:, :, None, None, None, :]) ** 2).sum(-1)
    return d2.clamp(max=cfg.clamp)


def keypoints_from_field(field: Tensor, cfg: FieldConfig = FieldConfig(), margin: float = 0.5) -> tuple[Tensor, Tensor]:
    """Closed-form keypoint estimate from each channel.

    On unclamped voxels ``f(x) = |x|² − 2 x·k + |k|²`` is linear in ``(k, |k|²)``, so each
    channel's keypoint is a weighted linear least-squares solve over the voxels with
    ``f < margin · clamp`` (weights fall off towards the clamp so noisy, nearly-saturated voxels
    count less). Exact on clean fields; robust to moderate noise.

    Args:
        field: ``(B, 20, R, R, R)``.
        cfg: field settings.
        margin: fraction of ``clamp`` under which voxels are used.
    Returns:
        keypoints ``(B, 20, 3)`` in n units and a confidence ``(B, 20)`` (number of voxels used;
        0 where a channel is fully saturated, e.g. the keypoint lies outside the grid).
    """
    B, J = field.shape[:2]
    e = cfg.frame.extent
    pts = grid_coordinates(cfg.resolution, -e, e, device=field.device, dtype=field.dtype).reshape(-1, 3)
    f = field.reshape(B, J, -1)
    thr = margin * cfg.clamp
    w = ((thr - f) / thr).clamp(min=0.0)  # (B, J, N)
    # only voxels near the channel's minimum can be unclamped: this rejects noise far away
    spacing = 2 * e / (cfg.resolution - 1)
    near = (pts[f.argmin(-1)][..., None, :] - pts).norm(dim=-1) < cfg.clamp**0.5 + 1.5 * spacing
    w = w * near
    A = torch.cat([-2.0 * pts, torch.ones_like(pts[:, :1])], dim=-1)  # (N, 4)
    y = f - (pts**2).sum(-1)  # (B, J, N)
    Aw = A[None, None] * w[..., None]  # (B, J, N, 4)
    ata = Aw.transpose(-1, -2) @ A + 1e-6 * torch.eye(4, dtype=field.dtype, device=field.device)
    aty = (Aw * y[..., None]).sum(-2)
    sol = torch.linalg.solve(ata, aty[..., None])[..., 0]
    count = (w > 0).sum(-1).to(field.dtype)
    # fall back to the arg-min voxel where too few voxels constrain the solve
    fallback = pts[f.argmin(-1)]
    ok = (count >= 5)[..., None]
    return torch.where(ok, sol[..., :3], fallback), count


@dataclass
class BimanualKeypoints:
    """Keypoints of both hands in the grid's ``n`` frame.

    Attributes:
        right: ``(B, 21, 3)`` n units.
        left: ``(B, 21, 3)`` n units, or None.
        nTo: ``(B, 4, 4)`` from the input frame ``o`` to ``n``.
    """

    right: Tensor
    left: Tensor | None
    nTo: Tensor


def bimanual_keypoints_n(
    right_hand: HandModel,
    right: HandParams,
    left_hand: HandModel | None = None,
    left: HandParams | None = None,
    cfg: FieldConfig = FieldConfig(),
    object_oTa: Tensor | None = None,
) -> BimanualKeypoints:
    """Map both hands' keypoints into the normalised frame ``n`` of ``cfg.frame`` (its anchor).

    Args:
        right_hand, left_hand: hand layers.
        right, left: parameters in a common frame ``o`` (metres); ``left`` may be None.
        cfg: field settings.
        object_oTa: ``(4, 4)`` the object's frame in ``o`` (:func:`bghop.fields.frame.object_frame`);
            required when the frame is anchored to the object.
    Returns:
        :class:`BimanualKeypoints`.
    """
    if left is not None and left_hand is None:
        raise ValueError("left hand parameters given without a left hand layer")
    anchor = cfg.frame.anchor
    if anchor == "right_hand":
        j_h = hand_rest_joints(right_hand, right.pose, right.betas)
        nTh = nTh_from_joints(j_h, cfg.frame)
        oTh = compute_oTh(right_hand, right.global_orient, right.transl, right.betas)
        nTo = nTh @ invert_transform(oTh)
        kr = apply_transform(nTh, j_h)
        kl = None
        if left is not None:
            j_o = left_hand.keypoints(left.pose, left.global_orient, left.transl, left.betas)
            kl = apply_transform(nTo, j_o)
        return BimanualKeypoints(right=kr, left=kl, nTo=nTo)
    j_r = right_hand.keypoints(right.pose, right.global_orient, right.transl, right.betas)
    j_l = None if left is None else left_hand.keypoints(left.pose, left.global_orient, left.transl, left.betas)
    B = j_r.shape[0]
    if anchor == "palms":
        if left is None:
            raise ValueError("the 'palms' frame needs both hands; single-hand grids use the 'right_hand' frame")
        R, c = palms_axes(compute_oTh(right_hand, right.global_orient, right.transl, right.betas), j_r,
                          compute_oTh(left_hand, left.global_orient, left.transl, left.betas), j_l, cfg.frame)
    else:  # object
        if object_oTa is None:
            raise ValueError("the 'object' frame needs the object's frame (bghop.fields.frame.object_frame(mesh))")
        oTa = torch.as_tensor(object_oTa, dtype=j_r.dtype, device=j_r.device).reshape(-1, 4, 4).expand(B, 4, 4)
        R, c = oTa[:, :3, :3], oTa[:, :3, 3]
    nTo = nTo_from_axes(R, c, cfg.frame)
    return BimanualKeypoints(right=apply_transform(nTo, j_r), left=None if j_l is None else apply_transform(nTo, j_l),
                             nTo=nTo)

"""Where a hand is: its rest-wrist placement convention, anatomical frames from keypoints, and placing a
hand so its palm faces a given way.

**The rest-wrist convention** (every hand layer, MANO's and smplx's): ``global_orient`` rotates the
hand about its rest wrist ``J0`` (the wrist joint with zero articulation and placement), and
``transl`` is added last. So a hand whose own frame ``h`` sits at the rigid transform ``aTh`` in a
frame ``a`` has ``aTh = [R | J0 − R J0 + t]``. :func:`hand_transform` and :func:`hand_translation`
are the only place this is written out.

Used by renders (two hands facing each other), by grasp initialisation, by the normalised frame
and by field fitting.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bghop.core.rotations import matrix_to_axis_angle
from bghop.core.transforms import make_transform
from bghop.hands.base import HandModel

__all__ = ["palm_frame", "palm_center", "HandPlacement", "place_hand", "rest_wrist", "hand_transform",
           "hand_translation"]


def rest_wrist(hand: HandModel, betas: Tensor | None = None, batch: int = 1, device: torch.device | str | None = None,
               dtype: torch.dtype | None = None) -> Tensor:
    """The rest wrist ``J0`` ``(B, 3)`` of a hand (zero articulation and placement), metres.

    Args:
        hand: hand layer.
        betas: ``(B, 10)`` shape (zeros if None; then ``batch`` sets ``B``).
        batch: ``B`` when ``betas`` is None.
        device / dtype: of the zeros (default: the layer's).
    """
    if betas is not None:
        batch, device, dtype = betas.shape[0], betas.device, betas.dtype
    ref = hand.faces.device if device is None else device
    zeros = torch.zeros(batch, 45, device=ref, dtype=dtype if dtype is not None else torch.get_default_dtype())
    return hand.keypoints(zeros, zeros[:, :3], zeros[:, :3], betas)[:, 0]


def hand_transform(R: Tensor, transl: Tensor, j0: Tensor) -> Tensor:
    """``aTh`` ``(B, 4, 4)`` of a hand placed by ``global_orient`` (as a rotation ``R`` ``(B, 3, 3)``) and
    ``transl`` ``(B, 3)``: ``[R | J0 − R J0 + t]`` (module docstring).

    Args:
        R: ``(B, 3, 3)`` rotation.
        transl: ``(B, 3)`` metres.
        j0: ``(3,)`` or ``(B, 3)`` rest wrist (:func:`rest_wrist`).
    """
    t = j0 - (R @ j0[..., None])[..., 0] + transl
    return make_transform(R, t)


def hand_translation(aTh: Tensor, j0: Tensor) -> Tensor:
    """The ``transl`` ``(B, 3)`` that places a hand at the rigid ``aTh`` ``(B, 4, 4)`` (inverse of
    :func:`hand_transform`; its ``global_orient`` is ``aTh``'s rotation).

    Args:
        aTh: ``(B, 4, 4)`` rigid transform of the hand's own frame.
        j0: ``(3,)`` or ``(B, 3)`` rest wrist.
    """
    R, t = aTh[..., :3, :3], aTh[..., :3, 3]
    return t - j0 + (R @ j0[..., None])[..., 0]


def _normalize(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def palm_frame(joints: Tensor, side: str) -> Tensor:
    """Right-handed orthonormal palm frame from keypoints.

    Columns: ``finger`` (wrist → middle MCP), ``normal`` (out of the palm, the side the
    fingers curl towards), ``finger × normal``. The thumb side is found from the index and
    pinky MCPs, and the normal's sign from ``side`` (a left hand is a mirror image).

    Args:
        joints: ``(B, 21, 3)`` keypoints (:data:`bghop.hands.KEYPOINT_NAMES` order).
        side: ``"right"`` or ``"left"``.
    Returns:
        ``(B, 3, 3)`` rotation whose columns are the axes above, in the keypoints' frame.
    """
    wrist, index1, middle1, pinky1 = joints[:, 0], joints[:, 5], joints[:, 9], joints[:, 17]
    finger = _normalize(middle1 - wrist)
    lateral = index1 - pinky1  # towards the thumb
    normal = torch.cross(lateral, finger, dim=-1)
    if side == "left":
        normal = -normal
    normal = _normalize(normal - (normal * finger).sum(-1, keepdim=True) * finger)
    third = torch.cross(finger, normal, dim=-1)
    return torch.stack([finger, normal, third], dim=-1)


def palm_center(joints: Tensor) -> Tensor:
    """Centre of the palm ``(B, 3)``: mean of the wrist and the four finger MCPs."""
    return joints[:, [0, 5, 9, 13, 17]].mean(dim=1)


@dataclass
class HandPlacement:
    """Rigid placement for a hand layer.

    Attributes:
        global_orient: ``(B, 3)`` axis-angle.
        transl: ``(B, 3)`` metres.
    """

    global_orient: Tensor
    transl: Tensor


def place_hand(
    hand: HandModel,
    pose: Tensor,
    finger_dir: Tensor,
    palm_normal: Tensor,
    center: Tensor,
    betas: Tensor | None = None,
    offset: float = 0.0,
) -> HandPlacement:
    """Find ``global_orient``/``transl`` so the palm faces ``palm_normal`` with fingers along
    ``finger_dir`` and the palm centre at ``center - offset * palm_normal``.

    Args:
        hand: a hand layer.
        pose: ``(B, 45)`` articulation (the frame is measured on the posed hand).
        finger_dir: ``(B, 3)`` or ``(3,)`` desired wrist → middle-MCP direction.
        palm_normal: ``(B, 3)`` or ``(3,)`` desired palm normal (made orthogonal to ``finger_dir``).
        center: ``(B, 3)`` or ``(3,)`` metres, the point the palm faces.
        betas: ``(B, 10)`` optional.
        offset: metres between the palm centre and ``center`` along the normal.
    Returns:
        :class:`HandPlacement`.
    """
    B = pose.shape[0]
    zeros = pose.new_zeros(B, 3)
    rest = hand.keypoints(pose, zeros, zeros, betas)
    F0 = palm_frame(rest, hand.side)
    f = _normalize(finger_dir.to(pose).expand(B, 3))
    n = palm_normal.to(pose).expand(B, 3)
    n = _normalize(n - (n * f).sum(-1, keepdim=True) * f)
    Ft = torch.stack([f, n, torch.cross(f, n, dim=-1)], dim=-1)
    R = Ft @ F0.transpose(-1, -2)
    orient = matrix_to_axis_angle(R)
    # rotation is about the rest wrist: p' = R (p - w) + w + t
    w = rest[:, 0]
    c0 = palm_center(rest)
    target = center.to(pose).expand(B, 3) - offset * n
    transl = target - ((R @ (c0 - w)[..., None])[..., 0] + w)
    return HandPlacement(global_orient=orient, transl=transl)

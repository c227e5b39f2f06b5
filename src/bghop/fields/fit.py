"""Recover hand parameters from skeletal distance fields (fields → hands).

1. Each channel's keypoint is solved in closed form (:func:`keypoints_from_field`).
2. **Right hand**: its field lives in its own normalised frame, so only articulation and
   shape are unknown: L-BFGS on ``pose``/``betas`` so that ``nTh(betas) · J(pose, betas)`` meets
   the keypoints, then a few iterations on the field itself (robust to noisy channels).
3. **Left hand**: the rigid transform relative to the right hand comes first, in closed form
   (Kabsch with Umeyama's reflection fix) on the five keypoints that do not move with
   articulation (thumb CMC and the four finger MCPs); then L-BFGS on articulation, shape and a
   refinement of the rigid transform.

Works for any :class:`~bghop.hands.base.HandModel`. Results are expressed in the **right
hand's frame h** (metres): the right hand has ``global_orient = transl = 0``.

In a grid whose frame is not anchored to the right hand (``FrameConfig.anchor`` ``"palms"`` or
``"object"``), the right hand's placement is unknown too: both hands are fitted as the left one is
(step 3), and the results are expressed in the frame ``m = n / s`` (the grid's axes and centre,
metres).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from bghop.core.rotations import matrix_to_axis_angle
from bghop.core.transforms import apply_transform, kabsch, make_transform
from bghop.fields.frame import frame_center, hand_rest_joints, nTh_from_joints
from bghop.fields.skeletal import FieldConfig, keypoints_from_field, skeletal_field
from bghop.hands.params import HandParams
from bghop.hands.base import HandModel
from bghop.hands.frames import hand_translation

logger = logging.getLogger(__name__)

__all__ = ["FitConfig", "RecoveredHands", "fit_right_hand", "fit_left_hand", "fit_placed_hand", "recover_hands",
           "ROOT_KEYPOINTS"]

#: keypoints that move only with the global transform and shape: thumb1 (CMC) and finger MCPs
ROOT_KEYPOINTS = (1, 5, 9, 13, 17)


@dataclass(frozen=True)
class FitConfig:
    """Settings of the field → hand fit.

    Attributes:
        keypoint_iters: L-BFGS iterations on the keypoint objective.
        field_iters: L-BFGS iterations on the field objective afterwards (0 to skip).
        pose_reg: weight of ``|pose|²`` (resolves the twist about each bone, which keypoints
            do not see).
        betas_reg: weight of ``|betas|²``.
        fit_betas: also estimate the shape.
        min_voxels: channels constrained by fewer unclamped voxels are ignored.
    """

    keypoint_iters: int = 80
    field_iters: int = 20
    pose_reg: float = 1e-4
    betas_reg: float = 1e-3
    fit_betas: bool = True
    min_voxels: int = 5


@dataclass
class RecoveredHands:
    """Hands recovered from an interaction grid (metres), in the frame ``frame`` names.

    Attributes:
        right: right-hand parameters (``global_orient``/``transl`` zero in frame ``"h"``).
        left: left-hand parameters, or None.
        right_residual: ``(B,)`` RMS keypoint residual of the right fit, n units.
        left_residual: ``(B,)`` likewise for the left, or None.
        frame: ``"h"`` the right hand's own frame (grids anchored to the right hand), or ``"m"`` the
            grid's frame in metres, ``m = n / s`` (other anchors).
    """

    right: HandParams
    left: HandParams | None
    right_residual: Tensor
    left_residual: Tensor | None
    frame: str = "h"


def _lbfgs(params: list[Tensor], closure_loss, iters: int) -> None:
    if iters <= 0:
        return
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12, history_size=20)

    def closure():
        opt.zero_grad()
        loss = closure_loss()
        loss.backward()
        return loss

    opt.step(closure)


def _keypoint_weights(count: Tensor, cfg: FitConfig) -> Tensor:
    return (count >= cfg.min_voxels).to(count.dtype)


def _fit_to_field(params: list[Tensor], predict, target: Tensor, w: Tensor, field: Tensor, pose: Tensor,
                  betas: Tensor, field_cfg: FieldConfig, cfg: FitConfig) -> Tensor:
    """L-BFGS on the keypoint objective, then on the field itself; returns the RMS keypoint residual ``(B,)``.

    Args:
        params: tensors being optimised (in place).
        predict: closure returning predicted non-wrist keypoints ``(B, 20, 3)`` in n units.
        target: ``(B, 20, 3)`` keypoints solved from the field; ``w`` ``(B, 20)`` their weights.
        field: ``(B, 20, R, R, R)`` the field being fitted.
        pose, betas: the articulation and shape among ``params`` (regularised).
    """

    def kp_loss() -> Tensor:
        err = ((predict() - target) ** 2).sum(-1)
        return (w * err).sum() + cfg.pose_reg * (pose**2).sum() + cfg.betas_reg * (betas**2).sum()

    def field_loss() -> Tensor:
        pred = skeletal_field(predict(), field_cfg)
        return ((pred - field) ** 2).mean(dim=(2, 3, 4)).sum() + kp_loss() * 0.1

    _lbfgs(params, kp_loss, cfg.keypoint_iters)
    _lbfgs(params, field_loss, cfg.field_iters)
    with torch.no_grad():
        resid = (((predict() - target) ** 2).sum(-1) * w).sum(-1) / w.sum(-1).clamp_min(1)
    return resid.sqrt()


def fit_right_hand(
    hand: HandModel,
    field: Tensor,
    field_cfg: FieldConfig = FieldConfig(),
    cfg: FitConfig = FitConfig(),
    init_pose: Tensor | None = None,
) -> tuple[HandParams, Tensor]:
    """Fit the right hand to its field.

    Args:
        hand: a right hand layer.
        field: ``(B, 20, R, R, R)`` right-hand field in its own ``n`` frame.
        field_cfg: field settings the field was made with.
        cfg: fit settings.
        init_pose: ``(B, 45)`` starting articulation (flat hand if None).
    Returns:
        parameters in the hand frame ``h`` (zero global transform) and the RMS keypoint
        residual ``(B,)`` in n units.
    """
    B = field.shape[0]
    with torch.no_grad():
        target, count = keypoints_from_field(field, field_cfg)
    w = _keypoint_weights(count, cfg)
    pose = (init_pose.clone() if init_pose is not None else field.new_zeros(B, 45)).requires_grad_()
    betas = field.new_zeros(B, 10).requires_grad_(cfg.fit_betas)
    params = [pose, betas] if cfg.fit_betas else [pose]

    def predict() -> Tensor:
        j = hand_rest_joints(hand, pose, betas)
        return apply_transform(nTh_from_joints(j, field_cfg.frame), j)[:, 1:]

    resid = _fit_to_field(params, predict, target, w, field, pose, betas, field_cfg, cfg)
    zeros = field.new_zeros(B, 3)
    return HandParams(pose.detach(), zeros, zeros.clone(), betas.detach()), resid


def fit_left_hand(
    hand: HandModel,
    field: Tensor,
    right_betas_c: Tensor,
    field_cfg: FieldConfig = FieldConfig(),
    cfg: FitConfig = FitConfig(),
) -> tuple[HandParams, Tensor, Tensor]:
    """Fit the left hand to its field, which lives in the right hand's ``n`` frame.

    Args:
        hand: a left hand layer.
        field: ``(B, 20, R, R, R)``.
        right_betas_c: ``(B, 3)`` the right hand's centre ``c`` (metres, frame h), so that
            ``h = n / s + c``.
        field_cfg: field settings.
        cfg: fit settings.
    Returns:
        parameters in the right hand's frame ``h`` (metres), the RMS keypoint residual ``(B,)``
        in n units, and a ``(B,)`` bool: whether enough of the hand lay inside the grid.
    """
    B = field.shape[0]
    s = field_cfg.frame.scale
    with torch.no_grad():
        target_n, count = keypoints_from_field(field, field_cfg)
    w = _keypoint_weights(count, cfg)
    target_h = target_n / s + right_betas_c[:, None]
    # closed-form rigid transform from the articulation-independent keypoints
    zeros45 = field.new_zeros(B, 45)
    rest = hand_rest_joints(hand, zeros45, None)  # (B, 21, 3)
    root = list(ROOT_KEYPOINTS)
    root_w = w[:, [r - 1 for r in root]]
    valid = root_w.sum(-1) >= 3
    fit = kabsch(rest[:, root], target_h[:, [r - 1 for r in root]], weights=root_w + 1e-6)
    j0 = rest[:, 0]
    orient0 = matrix_to_axis_angle(fit.R)
    transl0 = hand_translation(make_transform(fit.R, fit.t), j0)

    pose = zeros45.clone().requires_grad_()
    orient = orient0.detach().clone().requires_grad_()
    transl = transl0.detach().clone().requires_grad_()
    betas = field.new_zeros(B, 10).requires_grad_(cfg.fit_betas)
    params = [pose, orient, transl] + ([betas] if cfg.fit_betas else [])

    def predict_n() -> Tensor:
        j = hand.keypoints(pose, orient, transl, betas)[:, 1:]
        return (j - right_betas_c[:, None]) * s

    resid = _fit_to_field(params, predict_n, target_n, w, field, pose, betas, field_cfg, cfg)
    out = HandParams(pose.detach(), orient.detach(), transl.detach(), betas.detach())
    return out, resid, valid


def fit_placed_hand(hand: HandModel, field: Tensor, field_cfg: FieldConfig = FieldConfig(),
                    cfg: FitConfig = FitConfig()) -> tuple[HandParams, Tensor, Tensor]:
    """Fit a hand of either side whose placement in the grid is unknown (:func:`fit_left_hand` with the
    grid's centre as the origin): parameters in ``m = n / s`` (metres), the RMS keypoint residual ``(B,)``
    in n units, and whether enough of the hand lay inside the grid ``(B,)``."""
    return fit_left_hand(hand, field, field.new_zeros(field.shape[0], 3), field_cfg, cfg)


def recover_hands(
    right_hand: HandModel,
    right_field: Tensor,
    left_hand: HandModel | None = None,
    left_field: Tensor | None = None,
    field_cfg: FieldConfig = FieldConfig(),
    cfg: FitConfig = FitConfig(),
) -> RecoveredHands:
    """Recover both hands from their fields (either hand kind).

    Args:
        right_hand: right hand layer.
        right_field: ``(B, 20, R, R, R)``.
        left_hand: left hand layer (needed with ``left_field``).
        left_field: ``(B, 20, R, R, R)`` in the right hand's frame, or None (single hand).
        field_cfg: field settings the fields were made with.
        cfg: fit settings.
    Returns:
        :class:`RecoveredHands` in the right hand's frame ``h``, or in ``m = n / s`` when the grid's frame
        is not anchored to the right hand.
    """
    if left_field is not None and left_hand is None:
        raise ValueError("a left field needs a left hand layer")
    if field_cfg.frame.anchor != "right_hand":
        fits = {"right": fit_placed_hand(right_hand, right_field, field_cfg, cfg)}
        if left_field is not None:
            fits["left"] = fit_placed_hand(left_hand, left_field, field_cfg, cfg)
        for side, (_, _, valid) in fits.items():
            if not bool(valid.all()):
                logger.warning("%d of %d %s-hand fields have fewer than 3 root keypoints inside the grid; "
                               "those hands are unreliable", int((~valid).sum()), len(valid), side)
        left = fits.get("left")
        return RecoveredHands(right=fits["right"][0], left=None if left is None else left[0],
                              right_residual=fits["right"][1], left_residual=None if left is None else left[1],
                              frame="m")
    right, r_res = fit_right_hand(right_hand, right_field, field_cfg, cfg)
    left, l_res = None, None
    if left_field is not None:
        with torch.no_grad():
            c = frame_center(hand_rest_joints(right_hand, right.pose, right.betas), field_cfg.frame)
        left, l_res, valid = fit_left_hand(left_hand, left_field, c, field_cfg, cfg)
        if not bool(valid.all()):
            logger.warning("%d of %d left-hand fields have fewer than 3 root keypoints inside the grid; "
                           "their left hands are unreliable", int((~valid).sum()), len(valid))
    return RecoveredHands(right=right, left=left, right_residual=r_res, left_residual=l_res)

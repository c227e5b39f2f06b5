"""Hand layers: the built-in open hand (default, license-free) and the official MANO model.

>>> from bghop.hands import load_hand
>>> hand = load_hand("open", side="left")
>>> out = hand(pose, global_orient, transl)      # HandOutput(vertices (B,V,3), joints (B,21,3))
"""

from __future__ import annotations

import os
from pathlib import Path

from bghop.hands.base import (
    CONTACT_REGION_NAMES,
    KEYPOINT_NAMES,
    NATIVE_JOINT_NAMES,
    NATIVE_TO_KEYPOINT,
    PARENTS,
    HandModel,
    HandOutput,
    JointLimits,
)
from bghop.hands.params import SIDES, HandParams, Hands

__all__ = [
    "load_hand",
    "HandModel",
    "HandOutput",
    "JointLimits",
    "KEYPOINT_NAMES",
    "NATIVE_JOINT_NAMES",
    "NATIVE_TO_KEYPOINT",
    "PARENTS",
    "CONTACT_REGION_NAMES",
    "HAND_KINDS",
    "HandParams",
    "Hands",
    "SIDES",
]

HAND_KINDS = ("open", "mano")


def load_hand(
    kind: str = "open",
    side: str = "right",
    model_dir: str | os.PathLike | None = None,
    flat_hand_mean: bool = True,
    **kwargs,
) -> HandModel:
    """Build a hand layer.

    Args:
        kind: ``"open"`` (built-in, shipped) or ``"mano"`` (the user's official files).
        side: ``"right"`` or ``"left"``.
        model_dir: MANO only: folder with ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (or ``.npz``);
            defaults to ``$BGHOP_MANO_DIR``.
        flat_hand_mean: MANO only: if False, ``pose`` is relative to MANO's mean hand pose
            (``hands_mean + pose``). The open hand's zero pose is always the flat hand.
        **kwargs: passed to the layer (e.g. ``use_pca``/``num_pca_comps`` for MANO).
    Returns:
        a :class:`HandModel` (``torch.nn.Module``) on the CPU; move it with ``.to(device)``.
    """
    if kind == "open":
        from bghop.hands.open_hand import OpenHand

        return OpenHand(side=side, **kwargs)
    if kind == "mano":
        from bghop.hands.mano import MANOHand

        return MANOHand(side=side, model_dir=Path(model_dir) if model_dir is not None else None,
                        flat_hand_mean=flat_hand_mean, **kwargs)
    raise ValueError(f"unknown hand kind {kind!r}; choose one of {HAND_KINDS}")

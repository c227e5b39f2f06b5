"""Named hand poses (flat, fist, pinch, relaxed) for pictures, tests and initialisations.

Poses are written as anatomical angles — (flexion, abduction, twist) in radians per joint,
joints in MANO native order without the wrist (index 1-3, middle 1-3, pinky 1-3, ring 1-3,
thumb 1-3) — and converted to axis-angle with the open hand's anatomical axes
(:meth:`bghop.hands.open_hand.OpenHand.anatomical_pose`). The "pinch" thumb/index angles were
found by minimising the open hand's thumb-tip/index-tip distance to 12 mm (pad to pad) inside
the joint limits. For MANO the same axis-angle vectors are returned: MANO's fingers flex about
the same model axis (+z for the right hand), so they give the same kind of pose, not an
identical one.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["named_pose", "POSE_NAMES", "ANATOMICAL_ANGLES"]


def _fingers(mcp: float, pip: float, dip: float, spread: float = 1.0) -> list[list[float]]:
    """Index, middle, pinky, ring rows; ``spread`` > 1 curls the ulnar fingers a bit more."""
    rows = []
    for f, s in (("index", 1.0), ("middle", 1.0 + 0.1 * (spread - 1)), ("pinky", spread), ("ring", 1 + 0.5 * (spread - 1))):
        rows += [[mcp * s, 0.0, 0.0], [pip * s, 0.0, 0.0], [dip * s, 0.0, 0.0]]
    return rows


#: (15, 3) anatomical angles per named pose
ANATOMICAL_ANGLES: dict[str, list[list[float]]] = {
    "flat": [[0.0, 0.0, 0.0]] * 15,
    "fist": _fingers(1.45, 1.65, 0.95, spread=1.05) + [[0.35, 0.75, 0.2], [0.75, 0.0, 0.1], [0.9, 0.0, 0.0]],
    "pinch": [[0.63, -0.28, -0.09], [0.82, -0.06, 0.16], [0.87, 0.01, -0.04],  # index
              [0.25, 0.0, 0.0], [0.30, 0.0, 0.0], [0.20, 0.0, 0.0],  # middle
              [0.45, 0.0, 0.0], [0.54, 0.0, 0.0], [0.36, 0.0, 0.0],  # pinky
              [0.35, 0.0, 0.0], [0.42, 0.0, 0.0], [0.28, 0.0, 0.0],  # ring
              [-0.02, 0.24, 0.31], [0.24, 0.10, 0.35], [0.38, -0.01, 0.12]],  # thumb
    "relaxed": _fingers(0.45, 0.65, 0.35, spread=1.25) + [[0.15, 0.55, 0.2], [0.25, 0.0, 0.0], [0.3, 0.0, 0.0]],
}
POSE_NAMES = tuple(ANATOMICAL_ANGLES)


def named_pose(name: str, kind: str = "open", side: str = "right") -> Tensor:
    """A named pose as ``(45,)`` axis-angle for the given side.

    Args:
        name: one of :data:`POSE_NAMES`.
        kind: hand kind (``"open"`` or ``"mano"``; see the module docstring).
        side: ``"right"`` or ``"left"`` (the left pose is the mirror image).
    """
    from bghop.hands.open_hand import anatomical_axes_for

    if name not in ANATOMICAL_ANGLES:
        raise ValueError(f"unknown pose {name!r}; choose one of {POSE_NAMES}")
    if kind not in ("open", "mano"):
        raise ValueError(f"unknown hand kind {kind!r}")
    angles = torch.tensor(ANATOMICAL_ANGLES[name], dtype=torch.float32)[None]
    axes = anatomical_axes_for(side)
    return torch.einsum("bja,jad->bjd", angles, axes).reshape(45)

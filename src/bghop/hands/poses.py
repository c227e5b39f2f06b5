"""Named hand poses (flat, fist, pinch, relaxed) for pictures, tests and initialisations.

Each constant is a right-hand ``pose`` ``(45,)``: axis-angle per finger joint in MANO native order
(index 1-3, middle 1-3, pinky 1-3, ring 1-3, thumb 1-3), model axes. They were designed on the
open hand in anatomical angles (flexion, abduction, twist per joint, see
:func:`bghop.hands.open_hand.anatomical_axes_for`) and converted once; all lie inside
:attr:`OpenHand.joint_limits <bghop.hands.open_hand.OpenHand.joint_limits>`.

* ``FLAT``: zeros, the open flat hand.
* ``FIST``: all four fingers flexed MCP 1.5 / PIP 1.7 / DIP 1.1 rad (86°/97°/63°, inside the
  clinical 90/100/80); the thumb (CMC flexion 0.31, palmar abduction 0.55, twist −0.14; MCP 0.75;
  IP 0.54) was found by minimising the distance of its pad to the middle phalanges of index and
  middle finger, with capsule-collision penalties, so it wraps across the fist without entering it.
* ``PINCH``: pad-to-pad precision pinch — index MCP 0.81 / PIP 1.03 / DIP 1.10 (abduction −0.22),
  thumb CMC (0.52, 0.14, 0.08), MCP 0.25, IP −0.24 (the IP hyperextends, as it does in a firm
  pinch), found by minimising the distance between the thumb and index pad centroids with opposed
  pad normals (pads 6-7 mm apart, surfaces touching); the other fingers relaxed.
* ``RELAXED``: a resting, slightly cupped hand (the fingers flexed progressively more towards the
  little finger, thumb half-opposed), the usual initialisation for grasp optimisation.

For ``kind="mano"`` the same vectors are returned: MANO's fingers flex about the same model axis
(+z for the right hand, see :mod:`bghop.hands.open_hand`), so they give the same kind of pose,
not an identical one. Left-hand poses are the mirror images: ``(x, y, z) → (x, −y, −z)`` per joint.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["FIST", "FLAT", "PINCH", "POSE_NAMES", "RELAXED", "named_pose", "squeeze_pose"]

#: the flat open hand
FLAT: tuple[float, ...] = (0.0,) * 45

#: a closed fist, thumb across the middle phalanges of index and middle finger
FIST: tuple[float, ...] = (
    0.1046, 0.0000, 1.4963, 0.1186, 0.0000, 1.6959, 0.0767, 0.0000, 1.0973,  # index
    -0.0523, 0.0000, 1.4991, -0.0593, 0.0000, 1.6990, -0.0384, 0.0000, 1.0993,  # middle
    -0.3374, 0.0000, 1.4616, -0.3824, 0.0000, 1.6564, -0.2474, 0.0000, 1.0718,  # pinky
    -0.1828, 0.0000, 1.4888, -0.2072, 0.0000, 1.6873, -0.1341, 0.0000, 1.0918,  # ring
    0.5135, 0.0836, 0.3779, 0.1916, -0.6889, 0.2613, 0.0986, -0.4448, 0.2979,  # thumb
)  # fmt: skip

#: thumb pad on index pad
PINCH: tuple[float, ...] = (
    0.0562, -0.2214, 0.8030, 0.0716, 0.0000, 1.0243, 0.0770, 0.0000, 1.1014,  # index
    -0.0142, 0.0000, 0.4075, -0.0203, 0.0000, 0.5821, -0.0122, 0.0000, 0.3493,  # middle
    -0.1181, 0.0000, 0.5115, -0.1687, 0.0000, 0.7308, -0.1012, 0.0000, 0.4385,  # pinky
    -0.0567, 0.0000, 0.4620, -0.0810, 0.0000, 0.6600, -0.0486, 0.0000, 0.3960,  # ring
    0.2603, -0.3596, 0.3193, 0.0588, -0.2388, 0.0784, -0.0430, 0.1942, -0.1300,  # thumb
)  # fmt: skip

#: a resting, slightly cupped hand
RELAXED: tuple[float, ...] = (
    0.0279, 0.0500, 0.3990, 0.0384, 0.0000, 0.5487, 0.0209, 0.0000, 0.2993,  # index
    -0.0163, 0.0000, 0.4657, -0.0224, 0.0000, 0.6404, -0.0122, 0.0000, 0.3493,  # middle
    -0.1350, -0.0800, 0.5846, -0.1856, 0.0000, 0.8039, -0.1012, 0.0000, 0.4385,  # pinky
    -0.0648, -0.0300, 0.5280, -0.0891, 0.0000, 0.7260, -0.0486, 0.0000, 0.3960,  # ring
    0.1525, 0.1475, 0.4359, 0.0820, -0.2047, 0.1178, 0.0543, -0.2451, 0.1642,  # thumb
)  # fmt: skip

_POSES: dict[str, tuple[float, ...]] = {"flat": FLAT, "fist": FIST, "pinch": PINCH, "relaxed": RELAXED}
POSE_NAMES: tuple[str, ...] = tuple(_POSES)


def named_pose(name: str, kind: str = "open", side: str = "right") -> Tensor:
    """A named pose.

    Args:
        name: one of :data:`POSE_NAMES` (``"flat"``, ``"fist"``, ``"pinch"``, ``"relaxed"``).
        kind: hand kind, ``"open"`` or ``"mano"`` (the same vectors; module docstring).
        side: ``"right"`` or ``"left"`` (the left pose is the mirror image).
    Returns:
        ``(45,)`` axis-angle in the default dtype.
    """
    if name not in _POSES:
        raise ValueError(f"unknown pose {name!r}; choose one of {POSE_NAMES}")
    if kind not in ("open", "mano"):
        raise ValueError(f"unknown hand kind {kind!r}")
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    pose = torch.tensor(_POSES[name], dtype=torch.get_default_dtype())
    if side == "left":
        pose = (pose.view(15, 3) * pose.new_tensor([1.0, -1.0, -1.0])).reshape(45)
    return pose


def squeeze_pose(pose: Tensor, side: str, amount: float) -> Tensor:
    """Close the fingers of ``pose`` ``(B, 45)`` a fraction ``amount`` of the way to the fist.

    Soft pads pressing into the object is what gives a rigidly held hand its grip in simulation;
    this is the "squeeze" that DexGraspNet applies to a grasp before its simulation test.
    """
    if amount == 0:
        return pose
    return torch.lerp(pose, named_pose("fist", side=side).to(pose)[None], amount)

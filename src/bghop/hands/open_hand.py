"""The built-in, license-free open hand (``kind="open"``, the default everywhere).

Interface and pose semantics are MANO's: the same 16-joint tree (:data:`~bghop.hands.base.PARENTS`),
``pose (B, 45)`` = axis-angle of the 15 finger joints in MANO's native order (index, middle,
pinky, ring, thumb), joint frames axis-aligned with the model frame at rest (an axis-angle vector
is in model axes), ``global_orient`` a rotation about the rest wrist (``(B, 3)`` axis-angle or a
``(B, 3, 3)`` matrix), ``transl`` added last; skinning is :func:`bghop.hands.lbs.articulate`.

Rest layout = MANO's right hand in its own frame
------------------------------------------------
Fingers point along −x from the wrist, the thumb is on the +z side, the palm faces −y, and the
wrist joint is at MANO's mean-hand wrist ``(0.0957, 0.0064, 0.0062)`` m, so the same
``(global_orient, transl)`` puts both wrists in the same place and the same pose vector bends the
fingers the same way: flexion of every finger is a *positive* rotation about +z (``Rz(θ)·(−x)``
moves towards −y, the palm). What this rests on:

* MANO's mean right-hand rest joints ``J`` (as hard-coded in public code built on smplx, e.g.
  wrist (0.0957, 0.0064, 0.0062), index1 (0.0076, 0.0012, 0.0269), middle1 (0.0010, 0.0049,
  0.0028), pinky1 (0.0269, −0.0036, −0.0370), thumb1 (0.0716, −0.0091, 0.0320), index3
  (−0.0473, 0.0039, 0.0290)): the fingers run towards −x, index (+z) → pinky (−z), thumb at +z
  and slightly −y; the hand lies in the y ≈ 0 plane.
* manotorch's anatomy-aligned frames (lixiny/manotorch ``axislayer.py`` / ``anatomy_loss.py``):
  for the four fingers "up" is model +y (the back of the hand) and the bend axis is
  ``back × up`` = ``(+x) × (+y)`` = +z, with bend limits ``+90°/−0°`` — so flexion is a positive
  rotation about +z and the palm faces −y.
* G-HOP's normalised frame centres at the index MCP shifted by (0, −0.08, 0) m (shared/REFERENCE.md):
  8 cm in front of the palm, i.e. on the −y side, where the object is.

Left hand = exact mirror image of the right: ``x → −x`` for every rest vertex, joint and blend
shape, face winding reversed, and a pose ``(x, y, z)`` per joint maps to ``(x, −y, −z)``
(:func:`mirror_pose`; for a reflection ``M``, ``M R(ω) M = R(−M ω)``). This is also how MANO_LEFT
relates to MANO_RIGHT: public bimanual MANO code uses ``(−0.0957, 0.0064, 0.0062)`` as the left
wrist reference next to the right's ``(0.0957, 0.0064, 0.0062)``, and the known MANO_LEFT
``shapedirs`` bug (smplx issue #48, DexYCB #28, ARCTIC #15) is precisely a missing ``x → −x`` in
the left file's blend shapes — the usual fix in InterHand2.6M-based code is "if the left and right
``shapedirs[:, 0]`` are (nearly) equal, negate the left's".

Geometry (``scripts/build_open_hand.py``, deterministic; the asset holds all arrays)
----------------------------------------------------------------------------------
Bone lengths and joint centres from Buchholz, Armstrong & Goldstein 1992 (hand length wrist crease
→ middle tip 0.187 m, breadth 0.085 m; the table and every other number with its source are in
that script); a watertight skin (~2.8k vertices, ~5.6k triangles) made by marching cubes on a
smooth implicit hand, decimated and relaxed onto the surface; smooth skinning weights ("rigid
phalanx, soft joint").

Shape space (``betas``, linear blend shapes for vertices and joints; differentiable)
----------------------------------------------------------------------------------
* ``betas[0]`` size: uniform scale about the wrist, +5.35 % per unit ≈ +1 SD of adult hand length
  (≈1 cm).
* ``betas[1]`` proportion: phalanges of all five digits +4 % per unit (along each bone), palm and
  thumb metacarpal −4.9 % axially, so hand length stays put and the finger/palm ratio grows ≈9 %.
* ``betas[2]`` breadth: radial (z) +5.5 % per unit (≈1 SD of hand breadth, 5 mm), palmar-dorsal
  (y) +4 %.
* ``betas[3:]`` reserved: no effect.

Keypoints
---------
21 = the 16 joints + one fingertip vertex per digit (``tip_ids``: among the vertices skinned ≥ 90 %
to the distal bone, the one farthest along that bone's axis, i.e. the very end of the finger),
reordered with :data:`~bghop.hands.base.NATIVE_TO_KEYPOINT`.

Joint limits
------------
:attr:`OpenHand.joint_limits` boxes the clinical ranges of shared/REFERENCE.md "Joint ranges"
(``RANGES_DEG`` in ``scripts/build_open_hand.py``) in the pose's own model-axis layout. Each joint
has anatomical axes (:func:`anatomical_axes_for`): twist = the bone direction, abduction = ± the
pad normal, flexion = twist × pad normal (positive towards the pad). For the four
fingers (right hand) these nearly coincide with the model axes: **flexion ≈ +z** (positive curls
towards the palm), **abduction = +y** (positive = radial, towards the thumb), **twist ≈ −x** (the
bone axis; kept to ±10° at the MCP, ±5° elsewhere); the rest fan (≤13°) mixes a little x into
flexion. The thumb's bones point diagonally and its pad is pronated 55°, so none of its axes is a
model axis (CMC flexion ≈ (0.49, −0.81, 0.33), close to what manotorch's definition — thumb
"up" = (1, 1, 1), bend = back × up — gives on MANO's rest thumb1 → thumb2, ≈ (0.43, −0.82, 0.39);
abduction ≈ (0.47, 0.56, 0.68), positive = palmar,
out of the palm plane): its box is the smallest axis-aligned box that encloses the rotated
anatomical box (flexion/extension, abduction, ±10° twist), so every anatomically valid thumb pose
lies inside, at the price of admitting some combinations outside it.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import Tensor

from bghop.hands.base import CONTACT_REGION_NAMES, PARENTS, HandModel, JointLimits
from bghop.hands.lbs import articulate, joint_rotations

logger = logging.getLogger(__name__)

__all__ = ["FINGER_BASE", "OpenHand", "anatomical_axes_for", "anatomical_pose", "mirror_pose"]

#: first native joint of each digit
FINGER_BASE = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}

_MIRROR_POINT = np.array([-1.0, 1.0, 1.0])  # x -> -x
_MIRROR_AXIS = np.array([1.0, -1.0, -1.0])  # axis-angle under the same reflection


@lru_cache(maxsize=1)
def _load_asset() -> dict:
    """The right-hand asset as numpy arrays (cached; callers must not modify them in place)."""
    path = resources.files("bghop") / "assets" / "open_hand" / "open_hand_right.npz"
    with resources.as_file(path) as p, np.load(p) as z:
        d = {k: z[k] for k in z.files}
    d["meta"] = json.loads(bytes(d["meta"]).decode())
    return d


def mirror_pose(pose: Tensor) -> Tensor:
    """Mirror axis-angle vectors across the x = 0 plane: ``(..., 3k)``, ``(x, y, z) → (x, −y, −z)``."""
    shape = pose.shape
    return (pose.reshape(*shape[:-1], -1, 3) * pose.new_tensor(_MIRROR_AXIS.tolist())).reshape(shape)


def anatomical_axes_for(side: str = "right") -> Tensor:
    """The open hand's anatomical joint axes for a side.

    Returns:
        ``(15, 3, 3)``: per finger joint (MANO native order, wrist excluded) the model-frame unit
        axes as rows: flexion (positive towards the pad), abduction (positive radial for the
        fingers, palmar for the thumb), twist (the bone direction).
    """
    axes = _load_asset()["anatomical_axes"].astype(np.float64)
    if side == "left":
        axes = axes * _MIRROR_AXIS
    elif side != "right":
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    return torch.tensor(axes, dtype=torch.get_default_dtype())


def anatomical_pose(angles: Tensor, axes: Tensor) -> Tensor:
    """Anatomical angles → pose.

    Args:
        angles: ``(B, 15, 3)`` radians (flexion, abduction, twist) per joint.
        axes: ``(15, 3, 3)`` from :func:`anatomical_axes_for` (rows: axes).
    Returns:
        ``(B, 45)`` axis-angle: the three axis rotations summed into one rotation vector (exact
        for a single axis, a close approximation for small combined angles).
    """
    return torch.einsum("bja,jad->bjd", angles, axes.to(angles)).reshape(angles.shape[0], 45)


class OpenHand(HandModel):
    """Built-in hand layer (module docstring). All assets are non-persistent buffers.

    Args:
        side: ``"right"`` or ``"left"``.
    """

    kind = "open"

    def __init__(self, side: str = "right") -> None:
        super().__init__(side)
        d = _load_asset()
        v = d["v_template"].astype(np.float64)
        J = d["joints"].astype(np.float64)
        sd = d["shapedirs"].astype(np.float64)
        jd = d["jshapedirs"].astype(np.float64)
        faces = d["faces"].astype(np.int64)
        lower = d["limits_lower"].astype(np.float64)
        upper = d["limits_upper"].astype(np.float64)
        axes = d["anatomical_axes"].astype(np.float64)
        if side == "left":
            m = _MIRROR_POINT
            v, J = v * m, J * m
            sd, jd = sd * m[None, :, None], jd * m[None, :, None]
            faces = faces[:, ::-1].copy()
            # a box [lo, hi] on a component that flips sign becomes [-hi, -lo]
            flip = np.tile(_MIRROR_AXIS < 0, 15)
            lower, upper = np.where(flip, -upper, lower), np.where(flip, -lower, upper)
            axes = axes * _MIRROR_AXIS
        dt = torch.get_default_dtype()
        self.register_buffer("v_template", torch.tensor(v, dtype=dt), persistent=False)  # (V, 3)
        self.register_buffer("j_template", torch.tensor(J, dtype=dt), persistent=False)  # (16, 3)
        self.register_buffer("weights", torch.tensor(d["weights"], dtype=dt), persistent=False)  # (V, 16)
        self.register_buffer("shapedirs", torch.tensor(sd, dtype=dt), persistent=False)  # (V, 3, 10)
        self.register_buffer("jshapedirs", torch.tensor(jd, dtype=dt), persistent=False)  # (16, 3, 10)
        self.register_buffer("faces", torch.tensor(faces), persistent=False)  # (F, 3) long
        self.register_buffer("tip_ids", torch.tensor(d["tip_ids"].astype(np.int64)), persistent=False)  # (5,)
        self.register_buffer("limits_lower", torch.tensor(lower, dtype=dt), persistent=False)  # (45,)
        self.register_buffer("limits_upper", torch.tensor(upper, dtype=dt), persistent=False)  # (45,)
        self.register_buffer("anatomical_axes", torch.tensor(axes, dtype=dt), persistent=False)  # (15, 3, 3)
        self.contact_regions = {k: torch.tensor(d[f"region_{k}"].astype(np.int64)) for k in CONTACT_REGION_NAMES}
        self.meta: dict = d["meta"]

    @property
    def num_vertices(self) -> int:
        """Number of skin vertices ``V``."""
        return self.v_template.shape[0]

    @property
    def joint_limits(self) -> JointLimits:
        """Per-DoF bounds ``(45,)`` in the layout of ``pose`` (module docstring)."""
        return JointLimits(self.limits_lower, self.limits_upper)

    def anatomical_pose(self, angles: Tensor) -> Tensor:
        """``(B, 15, 3)`` (flexion, abduction, twist) radians → ``(B, 45)`` pose for this side."""
        return anatomical_pose(angles, self.anatomical_axes)

    def _pose(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor,
              ids: Tensor | None) -> tuple[Tensor, Tensor]:
        """Posed vertices (all, or only ``ids``) and the 16 posed joints, both with ``transl``."""
        v_t, sd, w = (self.v_template, self.shapedirs, self.weights) if ids is None else \
            (self.v_template[ids], self.shapedirs[ids], self.weights[ids])
        v_shaped = v_t + torch.einsum("vdk,bk->bvd", sd, betas)  # (B, V, 3)
        joints = self.j_template + torch.einsum("jdk,bk->bjd", self.jshapedirs, betas)  # (B, 16, 3)
        verts, posed = articulate(joint_rotations(global_orient, pose), v_shaped, joints, list(PARENTS), w)
        return verts + transl[:, None], posed + transl[:, None]

"""The built-in, license-free open hand (``kind="open"``, the default everywhere).

Same 16-joint kinematic tree and axis-angle pose semantics as MANO (joint frames aligned
with the model axes at rest, global rotation about the rest wrist, ``transl`` last). The rest
hand lies as MANO's right hand does in its own frame: fingers along −x from the wrist, thumb
on the +z side, palm facing −y, so finger flexion is a positive rotation about +z and a pose
vector curls the fingers the same way on both models.

Geometry (``scripts/build_open_hand.py``, deterministic): bone lengths and joint centres from
Buchholz, Armstrong & Goldstein 1992 (hand length 0.187 m, breadth 0.085 m; the table is in
that script), a watertight skin made by marching cubes on a smooth implicit hand and
decimated to 5,000 triangles, and smooth linear-blend-skinning weights.

Left hand = exact mirror image of the right: ``x → −x`` for every vertex and joint, face
winding reversed, and a pose ``(x, y, z)`` per joint maps to ``(x, −y, −z)``.

Shape space (``betas``, linear blend shapes so the layer stays differentiable):

* ``betas[0]`` overall size: ×(1 + 0.055 β₀) about the wrist (≈ 1 s.d. of adult hand length,
  ~1 cm, per unit).
* ``betas[1]`` finger length vs palm: fingers ×(1 + 0.04 β₁) from their MCP joints.
* ``betas[2]`` breadth: radial (z) coordinates ×(1 + 0.05 β₂).
* ``betas[3:]`` reserved (no effect).

Keypoints: the 16 joints plus one fingertip vertex per finger — the vertex owned by the
distal bone that lies farthest along it (``tip_ids`` in the asset).

Joint limits (:attr:`OpenHand.joint_limits`) come from the clinical ranges in
shared/REFERENCE.md, expressed on each joint's anatomical axes (flexion, abduction, twist) and
boxed in the model axes the pose uses (see :func:`_anatomical_axes`).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import Tensor

from bghop.hands.base import (
    CONTACT_REGION_NAMES,
    NATIVE_TO_KEYPOINT,
    PARENTS,
    HandModel,
    HandOutput,
    JointLimits,
)
from bghop.hands.lbs import articulate

logger = logging.getLogger(__name__)

__all__ = ["OpenHand", "mirror_pose", "FINGER_BASE", "anatomical_pose", "anatomical_axes_for"]

#: first native joint of each finger
FINGER_BASE = {"index": 1, "middle": 4, "pinky": 7, "ring": 10, "thumb": 13}
_TIP_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_PALMAR = np.array([0.0, -1.0, 0.0])
_RADIAL = np.array([0.0, 0.0, 1.0])

# Clinical ranges (degrees), shared/REFERENCE.md "Joint ranges": (flexion lo, hi), (abduction lo, hi), (twist lo, hi).
# Finger MCP extension: the references give 0-45°; we allow 30° (ordinary grasps stay well inside).
_DEG_FINGER = [((-30, 90), (-17, 17), (-10, 10)),  # MCP
               ((0, 100), (-5, 5), (-5, 5)),  # PIP
               ((0, 80), (-5, 5), (-5, 5))]  # DIP
_DEG_THUMB = [((-25, 35), (-30, 60), (-20, 20)),  # CMC (flexion/extension, abduction; opposition twist)
              ((-10, 55), (-10, 10), (-10, 10)),  # MCP
              ((-15, 80), (-5, 5), (-5, 5))]  # IP


@lru_cache(maxsize=1)
def _load_asset() -> dict[str, np.ndarray]:
    path = resources.files("bghop") / "assets" / "open_hand" / "open_hand_right.npz"
    with resources.as_file(path) as p, np.load(p) as z:
        d = {k: z[k] for k in z.files}
    d["meta"] = json.loads(bytes(d["meta"]).decode())
    return d


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _anatomical_axes(J: np.ndarray, tips: np.ndarray) -> np.ndarray:
    """Per finger joint (15) the model-frame (flexion, abduction, twist) axes of the RIGHT hand, ``(15, 3, 3)``.

    Twist = the bone direction ``d``; the pad normal ``n`` is the palm normal (−y) for the
    fingers and, for the thumb, the direction its pad faces (palmar and towards the fingers);
    flexion = ``d × n`` (a positive rotation moves the bone towards its pad); abduction = ``n``.
    """
    axes = np.zeros((15, 3, 3))
    tip_of = dict(zip(_TIP_FINGERS, tips))
    for f, b in FINGER_BASE.items():
        pts = [J[b], J[b + 1], J[b + 2], tip_of[f]]
        for k in range(3):
            d = _unit(pts[k + 1] - pts[k])
            n = _PALMAR if f != "thumb" else _unit(_PALMAR - 0.6 * _RADIAL)
            n = _unit(n - (n @ d) * d)
            axes[b + k - 1] = np.stack([np.cross(d, n), n, d])
    return axes


def anatomical_pose(angles: Tensor, axes: Tensor) -> Tensor:
    """Anatomical angles → pose.

    Args:
        angles: ``(B, 15, 3)`` radians (flexion, abduction, twist) per joint.
        axes: ``(15, 3, 3)`` from :func:`_anatomical_axes` (rows: axes).
    Returns:
        ``(B, 45)`` axis-angle (the sum of the three axis rotations as one rotation vector,
        exact for a single axis and a close approximation for small combined angles).
    """
    return torch.einsum("bja,jad->bjd", angles, axes.to(angles)).reshape(angles.shape[0], 45)


def anatomical_axes_for(side: str = "right") -> Tensor:
    """The open hand's anatomical axes ``(15, 3, 3)`` (rows: flexion, abduction, twist) for a side."""
    d = _load_asset()
    tips = d["v_template"][d["tip_ids"]].astype(np.float64)
    axes = _anatomical_axes(d["joints"].astype(np.float64), tips)
    if side == "left":
        axes = axes * np.array([1.0, -1.0, -1.0])
    return torch.tensor(axes, dtype=torch.get_default_dtype())


def mirror_pose(pose: Tensor) -> Tensor:
    """Mirror axis-angle vectors across the x = 0 plane: ``(..., 3k)``, ``(x, y, z) → (x, −y, −z)``."""
    shape = pose.shape
    return (pose.reshape(*shape[:-1], -1, 3) * pose.new_tensor([1.0, -1.0, -1.0])).reshape(shape)


class OpenHand(HandModel):
    """Built-in hand layer; see the module docstring.

    Args:
        side: ``"right"`` or ``"left"``.
    """

    kind = "open"

    def __init__(self, side: str = "right") -> None:
        super().__init__(side)
        d = _load_asset()
        v = d["v_template"].astype(np.float64)
        J = d["joints"].astype(np.float64)
        W = d["weights"].astype(np.float64)
        faces = d["faces"].astype(np.int64)
        tip_ids = d["tip_ids"].astype(np.int64)
        tips = v[tip_ids]
        shapedirs, jdirs = self._shape_space(v, J, W)
        axes = _anatomical_axes(J, tips)
        lower, upper = self._limits(axes)
        regions = self._contact_regions(v, faces, W, J)
        if side == "left":
            m = np.array([-1.0, 1.0, 1.0])
            v, J, shapedirs, jdirs = v * m, J * m, shapedirs * m[None, :, None], jdirs * m[None, :, None]
            faces = faces[:, ::-1].copy()
            # the mirrored pose of a box [lo, hi] on (x, -y, -z) components is [lo, hi] / [-hi, -lo]
            flip = np.tile([False, True, True], 15)
            lower, upper = np.where(flip, -upper, lower), np.where(flip, -lower, upper)
            # same anatomical angles -> mirrored pose: rotation axes map (x, y, z) -> (x, -y, -z)
            axes = axes * np.array([1.0, -1.0, -1.0])
        f32 = torch.get_default_dtype()
        self.register_buffer("v_template", torch.tensor(v, dtype=f32), persistent=False)
        self.register_buffer("j_template", torch.tensor(J, dtype=f32), persistent=False)
        self.register_buffer("weights", torch.tensor(W, dtype=f32), persistent=False)
        self.register_buffer("shapedirs", torch.tensor(shapedirs, dtype=f32), persistent=False)
        self.register_buffer("jdirs", torch.tensor(jdirs, dtype=f32), persistent=False)
        self.register_buffer("faces", torch.tensor(faces), persistent=False)
        self.register_buffer("tip_ids", torch.tensor(tip_ids), persistent=False)
        self.register_buffer("limits_lower", torch.tensor(lower, dtype=f32), persistent=False)
        self.register_buffer("limits_upper", torch.tensor(upper, dtype=f32), persistent=False)
        self.register_buffer("anatomical_axes", torch.tensor(axes, dtype=f32), persistent=False)
        self.contact_regions = {k: torch.tensor(ids) for k, ids in regions.items()}
        self.meta = d["meta"]

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _shape_space(v: np.ndarray, J: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertex ``(V, 3, 10)`` and joint ``(16, 3, 10)`` blend shapes (module docstring)."""
        sd = np.zeros((len(v), 3, 10))
        jd = np.zeros((16, 3, 10))
        sd[:, :, 0] = 0.055 * v
        jd[:, :, 0] = 0.055 * J
        for f, b in FINGER_BASE.items():
            if f == "thumb":
                continue
            w_f = W[:, b : b + 3].sum(1)  # how much each vertex belongs to the finger
            sd[:, :, 1] += 0.04 * w_f[:, None] * (v - J[b])
            jd[b : b + 3, :, 1] = 0.04 * (J[b : b + 3] - J[b])
        w_t = W[:, 14:16].sum(1)
        sd[:, :, 1] += 0.04 * w_t[:, None] * (v - J[14])
        jd[14:16, :, 1] = 0.04 * (J[14:16] - J[14])
        sd[:, 2, 2] = 0.05 * v[:, 2]
        jd[:, 2, 2] = 0.05 * J[:, 2]
        return sd, jd

    @staticmethod
    def _limits(axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box ``(45,)`` in model axes enclosing each joint's anatomical range box."""
        lower, upper = np.zeros((15, 3)), np.zeros((15, 3))
        for j in range(15):
            rng = np.deg2rad(np.array(_DEG_THUMB[j - 12] if j >= 12 else _DEG_FINGER[j % 3], dtype=float))
            for a in range(3):
                lo_c, hi_c = rng[a, 0] * axes[j, a], rng[a, 1] * axes[j, a]
                lower[j] += np.minimum(lo_c, hi_c)
                upper[j] += np.maximum(lo_c, hi_c)
        return lower.reshape(45), upper.reshape(45)

    @staticmethod
    def _contact_regions(v: np.ndarray, faces: np.ndarray, W: np.ndarray, J: np.ndarray) -> dict[str, np.ndarray]:
        """Palmar pads of the distal phalanges and the palmar palm surface (right hand, rest pose)."""
        import trimesh

        normals = trimesh.Trimesh(v, faces, process=False).vertex_normals
        out: dict[str, np.ndarray] = {}
        dom = W.argmax(1)  # dominant bone per vertex
        for f, b in FINGER_BASE.items():
            n = _PALMAR if f != "thumb" else _unit(_PALMAR - 0.6 * _RADIAL)
            sel = (W[:, b + 2] > 0.5) & (normals @ n > 0.35)
            out[f] = np.nonzero(sel)[0]
        mcp = J[[1, 4, 7, 10]]
        ax = v @ np.array([-1.0, 0, 0])
        palm = (dom == 0) & (normals @ _PALMAR > 0.75) & (ax > 0.01) & (ax < (mcp @ np.array([-1.0, 0, 0])).min())
        out["palm"] = np.nonzero(palm)[0]
        return {k: out[k] for k in CONTACT_REGION_NAMES}

    # ------------------------------------------------------------------ interface
    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def joint_limits(self) -> JointLimits:
        return JointLimits(self.limits_lower, self.limits_upper)

    def anatomical_pose(self, angles: Tensor) -> Tensor:
        """``(B, 15, 3)`` (flexion, abduction, twist) radians → ``(B, 45)`` pose for this side."""
        return anatomical_pose(angles, self.anatomical_axes)

    def _forward(self, pose: Tensor, global_orient: Tensor, transl: Tensor, betas: Tensor) -> HandOutput:
        B = pose.shape[0]
        v_shaped = self.v_template + torch.einsum("vdk,bk->bvd", self.shapedirs, betas)
        joints = self.j_template + torch.einsum("jdk,bk->bjd", self.jdirs, betas)
        full = torch.cat([global_orient, pose], dim=1).reshape(B, 16, 3)
        verts, posed = articulate(full, v_shaped, joints, list(PARENTS), self.weights)
        verts = verts + transl[:, None]
        posed = posed + transl[:, None]
        kp = torch.cat([posed, verts[:, self.tip_ids]], dim=1)[:, list(NATIVE_TO_KEYPOINT)]
        return HandOutput(vertices=verts, joints=kp)

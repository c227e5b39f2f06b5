"""Differentiable forward kinematics and collision geometry of an MJCF robot hand, in torch.

:class:`RobotHand` reads a compiled MuJoCo model (its kinematic tree, hinge and slide joints, joint
limits, actuators and collision geoms) once, then poses batches of hands with autograd, so that a
retargeting or contact optimisation can move the base and the joints together. MuJoCo's own
conventions are kept: a body's frame is its parent's times ``(body_pos, body_quat)``, then each of
its joints in order (a hinge turns by ``qpos − qpos0`` about its axis through its anchor, both in
the body's frame); the test compares with ``mj_kinematics``.

Collision geometry is a set of oriented boxes in body frames: the MJCF's box geoms as they are,
other primitives and meshes by the box around their vertices (a mesh geom collides in MuJoCo by
its convex hull, which that box holds). Surface samples of the hand are the box faces' and the
meshes' hull vertices.

>>> hand = RobotHand(load_robot_spec("leap").hands["right"])
>>> pose = hand(base_pose, q)          # (B, 4, 4), (B, J)
>>> pose.fingertips                    # (B, F, 3) in the base pose's frame
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bghop.hands.robot_spec import RobotHandSpec, RobotSpecError

__all__ = ["BoxPairs", "RobotHand", "RobotPose", "axis_angle_matrix", "box_sdf", "collision_spec", "compiled_hand"]


_SPECS: dict[tuple[str, int], object] = {}


def collision_spec(mjcf: str | Path):
    """A fresh copy of an MJCF's :class:`mujoco.MjSpec` without its visual-only geoms (``contype ==
    conaffinity == 0``) and the meshes only they use: they never collide, and LEAP's 4.5 MB visual palm
    mesh made a compile take 0.5 s (7 ms without). The parsed spec is cached per file and modification time."""
    import mujoco

    path = Path(mjcf).resolve()
    if not path.is_file():
        raise RobotSpecError(f"MJCF file {path} does not exist (give the hand's MJCF path, or see "
                             "bghop.hands.robot_spec)")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _SPECS:
        spec = mujoco.MjSpec.from_file(str(path))
        for g in [g for g in spec.geoms if not (g.contype or g.conaffinity)]:
            spec.delete(g)
        used = {g.meshname for g in spec.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH}
        for m in [m for m in spec.meshes if m.name not in used]:
            spec.delete(m)
        _SPECS[key] = spec
    return _SPECS[key].copy()


@functools.lru_cache(maxsize=8)
def compiled_hand(mjcf: Path):
    """The compiled MuJoCo model of :func:`collision_spec` (cached per file)."""
    return collision_spec(mjcf).compile()


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    import mujoco

    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, np.asarray(q, dtype=np.float64))
    return out.reshape(3, 3)


def axis_angle_matrix(axis: Tensor, angle: Tensor) -> Tensor:
    """Rotation ``(..., 3, 3)`` by ``angle`` ``(...)`` radians about unit ``axis`` ``(..., 3)`` (Rodrigues)."""
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    eye = torch.eye(3, dtype=axis.dtype, device=axis.device)
    return eye + s * K + (1 - c) * (K @ K)


def box_sdf(points: Tensor, half: Tensor) -> Tensor:
    """Signed distance of points to boxes centred at the origin of their own frames.

    Args:
        points: ``(..., 3)`` in each box's frame (metres).
        half: ``(..., 3)`` half sizes, broadcast against ``points``.
    Returns:
        ``(...)``: negative inside (minus the distance to the nearest face), positive outside.
    """
    q = points.abs() - half
    outside = q.clamp(min=0).norm(dim=-1)
    inside = q.max(dim=-1).values.clamp(max=0)
    return outside + inside


@dataclass
class RobotPose:
    """A batch of posed robot hands (frames of the base pose: the object frame in bghop).

    Attributes:
        body_R: ``(B, Nb, 3, 3)`` body rotations.
        body_t: ``(B, Nb, 3)`` body origins (m).
        fingertips: ``(B, F, 3)`` fingertip centres (m), in :attr:`RobotHand.fingers` order.
        box_R: ``(B, G, 3, 3)`` collision boxes' axes.
        box_t: ``(B, G, 3)`` collision boxes' centres (m).
        surface: ``(B, S, 3)`` surface samples of the collision geometry (m).
        palm_centre / palm_normal / finger_axis: ``(B, 3)`` the palm's centre (m) and unit axes.
    """

    body_R: Tensor
    body_t: Tensor
    fingertips: Tensor
    box_R: Tensor
    box_t: Tensor
    surface: Tensor
    palm_centre: Tensor
    palm_normal: Tensor
    finger_axis: Tensor


class RobotHand(nn.Module):
    """One MJCF robot hand posed by ``(base_pose, q)``.

    Args:
        spec: the hand (:func:`bghop.hands.robot_spec.load_robot_spec`).
        sample_spacing: metres between surface samples on the collision boxes' faces.
        device / dtype: of the stored tensors.

    Attributes:
        joint_names: the hinge and slide joints, in MuJoCo's order (the columns of ``q``).
        lower / upper: ``(J,)`` joint limits (radians or metres; ±π / ±0.1 m where a joint is unlimited).
        actuated: ``actuator joint name → actuator name`` of the model's joint actuators.
        fingers: the human finger each fingertip stands for (``"thumb"``, ``"index"``, ...).
        box_body / box_half: ``(G,)`` body index and ``(G, 3)`` half sizes of the collision boxes.
        box_names: ``(G,)`` the geom each box comes from.
    """

    def __init__(self, spec: RobotHandSpec, sample_spacing: float = 0.006,
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        import mujoco

        self.spec = spec
        model = compiled_hand(Path(spec.mjcf))
        self.body_names = tuple(model.body(b).name for b in range(model.nbody))
        root = model.body(spec.palm).id
        # the hand's subtree below the palm (the palm is the base: its pose is given)
        keep = [root] + [b for b in range(root + 1, model.nbody) if self._below(model, b, root)]
        index = {b: i for i, b in enumerate(keep)}
        self.parents = tuple(-1 if b == root else index[int(model.body_parentid[b])] for b in keep)
        self.bodies = tuple(self.body_names[b] for b in keep)
        f = functools.partial(torch.tensor, dtype=torch.float64)
        pos = [model.body_pos[b] for b in keep]
        rot = [_quat_matrix(model.body_quat[b]) for b in keep]
        pos[0], rot[0] = np.zeros(3), np.eye(3)  # the base pose replaces the palm's own placement
        joints: list[list[int]] = [[] for _ in keep]
        names, lo, hi, kinds = [], [], [], []
        for j in range(model.njnt):
            b = int(model.jnt_bodyid[j])
            if b not in index:
                continue
            kind = int(model.jnt_type[j])
            if kind not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
                raise RobotSpecError(f"{spec.mjcf.name}: joint {model.joint(j).name!r} is a ball or free joint; "
                                     "robot hands need hinge or slide joints below the palm")
            joints[index[b]].append(len(names))
            names.append(model.joint(j).name)
            hinge = kind == int(mujoco.mjtJoint.mjJNT_HINGE)
            kinds.append(hinge)
            if model.jnt_limited[j]:
                lo.append(model.jnt_range[j, 0]), hi.append(model.jnt_range[j, 1])
            else:
                lo.append(-np.pi if hinge else -0.1), hi.append(np.pi if hinge else 0.1)
        self.joint_names = tuple(names)
        self._body_joints = tuple(tuple(js) for js in joints)
        jid = [model.joint(n).id for n in names]
        self.register_buffer("body_pos", f(np.array(pos)))
        self.register_buffer("body_rot", f(np.array(rot)))
        self.register_buffer("jnt_pos", f(model.jnt_pos[jid].reshape(-1, 3)))
        self.register_buffer("jnt_axis", f(model.jnt_axis[jid].reshape(-1, 3)))
        self.register_buffer("jnt_ref", f(model.qpos0[model.jnt_qposadr[jid]] if jid else np.zeros(0)))
        self.register_buffer("jnt_hinge", torch.tensor(kinds, dtype=torch.bool))
        self.register_buffer("lower", f(np.array(lo)))
        self.register_buffer("upper", f(np.array(hi)))
        self.actuated = {model.joint(int(model.actuator_trnid[a, 0])).name: model.actuator(a).name
                         for a in range(model.nu) if int(model.actuator_trntype[a]) == int(mujoco.mjtTrn.mjTRN_JOINT)}
        self._boxes(model, index, f, sample_spacing)
        self._tips(model, index, f)
        self.register_buffer("palm_axes", f(np.array([spec.palm_centre, spec.palm_normal, spec.finger_axis])))
        self.to(device=device, dtype=dtype)

    @staticmethod
    def _below(model, b: int, root: int) -> bool:
        while b > 0:
            if b == root:
                return True
            b = int(model.body_parentid[b])
        return False

    def _boxes(self, model, index: dict[int, int], f, spacing: float) -> None:
        import mujoco

        body, centre, axes, half, names, samples, owner = [], [], [], [], [], [], []
        for g in range(model.ngeom):
            b = int(model.geom_bodyid[g])
            if b not in index or (model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0):
                continue
            R = _quat_matrix(model.geom_quat[g])
            p = model.geom_pos[g]
            if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
                h = model.geom_size[g].copy()
                c = p
                pts = _box_surface(h, spacing) @ R.T + c
            else:  # meshes and other primitives: the box around the geom's vertices (its AABB in MuJoCo)
                if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
                    m = int(model.geom_dataid[g])
                    v = model.mesh_vert[model.mesh_vertadr[m]: model.mesh_vertadr[m] + model.mesh_vertnum[m]]
                else:
                    a = model.geom_aabb[g]
                    v = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * a[3:] + a[:3]
                lo, hi = v.min(0), v.max(0)
                h = (hi - lo) / 2
                c = p + R @ ((hi + lo) / 2)
                pts = v @ R.T + p
            body.append(index[b]), centre.append(c), axes.append(R), half.append(h), names.append(model.geom(g).name)
            samples.append(pts), owner.append(np.full(len(pts), index[b]))
        if not body:
            raise RobotSpecError(f"{self.spec.mjcf.name}: no collision geoms below the palm")
        # samples inside another box of the same body are never the first to touch anything
        keep = []
        for i, (pts, own) in enumerate(zip(samples, owner)):
            inside = np.zeros(len(pts), dtype=bool)
            for j in range(len(body)):
                if j != i and body[j] == body[i]:
                    local = (pts - centre[j]) @ axes[j]
                    inside |= np.all(np.abs(local) < half[j] - 5e-4, axis=1)
            keep.append(~inside)
        samples = [p[k] for p, k in zip(samples, keep)]
        owner = [o[k] for o, k in zip(owner, keep)]
        self.box_names = tuple(names)
        self.register_buffer("box_body", torch.tensor(body, dtype=torch.long))
        self.register_buffer("box_centre", f(np.array(centre)))
        self.register_buffer("box_axes", f(np.array(axes)))
        self.register_buffer("box_half", f(np.array(half)))
        self.register_buffer("surface_local", f(np.concatenate(samples)))
        self.register_buffer("surface_body", torch.tensor(np.concatenate(owner), dtype=torch.long))

    def _tips(self, model, index: dict[int, int], f) -> None:
        bodies, offsets = [], []
        for name in self.spec.fingertips.values():
            geom = next((g for g in range(model.ngeom) if model.geom(g).name == name), None)
            site = next((s for s in range(model.nsite) if model.site(s).name == name), None)
            if geom is not None:
                b, off = int(model.geom_bodyid[geom]), model.geom_pos[geom]
            elif site is not None:
                b, off = int(model.site_bodyid[site]), model.site_pos[site]
            else:
                b, off = model.body(name).id, np.zeros(3)
            if b not in index:
                raise RobotSpecError(f"{self.spec.mjcf.name}: fingertip {name!r} is not below the palm body")
            bodies.append(index[b]), offsets.append(off)
        self.fingers = tuple(self.spec.fingertips)
        self.register_buffer("tip_body", torch.tensor(bodies, dtype=torch.long))
        self.register_buffer("tip_offset", f(np.array(offsets)))

    @property
    def finger_chains(self) -> Tensor:
        """``(F, J)`` bool: the joints on the chain from the palm to each fingertip's link."""
        out = torch.zeros(len(self.fingers), self.num_joints, dtype=torch.bool, device=self.tip_body.device)
        for f, b in enumerate(self.tip_body.tolist()):
            while b >= 0:
                for j in self._body_joints[b]:
                    out[f, j] = True
                b = self.parents[b]
        return out

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def clamp(self, q: Tensor) -> Tensor:
        """``q`` ``(B, J)`` clamped to the joint limits."""
        return torch.maximum(torch.minimum(q, self.upper), self.lower)

    def forward(self, base_pose: Tensor, q: Tensor) -> RobotPose:
        """Pose a batch of hands.

        Args:
            base_pose: ``(B, 4, 4)`` pose of the palm body in the output frame (m).
            q: ``(B, J)`` joint positions (radians / metres), :attr:`joint_names` order.
        Returns:
            :class:`RobotPose`.
        """
        B = q.shape[0]
        if q.shape[1:] != (self.num_joints,) or base_pose.shape != (B, 4, 4):
            raise ValueError(f"expected base_pose (B, 4, 4) and q (B, {self.num_joints}), got "
                             f"{tuple(base_pose.shape)} and {tuple(q.shape)}")
        Rs: list[Tensor] = []
        ts: list[Tensor] = []
        for i, parent in enumerate(self.parents):
            if parent < 0:
                R, t = base_pose[:, :3, :3], base_pose[:, :3, 3]
            else:
                R = Rs[parent] @ self.body_rot[i]
                t = ts[parent] + _mv(Rs[parent], self.body_pos[i])
            for j in self._body_joints[i]:
                angle = q[:, j] - self.jnt_ref[j]
                anchor = self.jnt_pos[j]
                if self.jnt_hinge[j]:
                    Rj = axis_angle_matrix(self.jnt_axis[j].expand(B, 3), angle)
                    t = t + _mv(R, anchor - _mv(Rj, anchor))  # turn about the anchor
                    R = R @ Rj
                else:
                    t = t + _mv(R, self.jnt_axis[j] * angle[:, None])
            Rs.append(R)
            ts.append(t)
        body_R = torch.stack(Rs, dim=1)
        body_t = torch.stack(ts, dim=1)
        tips = body_t[:, self.tip_body] + (body_R[:, self.tip_body] @ self.tip_offset[..., None])[..., 0]
        box_R = body_R[:, self.box_body] @ self.box_axes
        box_t = body_t[:, self.box_body] + (body_R[:, self.box_body] @ self.box_centre[..., None])[..., 0]
        surf = body_t[:, self.surface_body] + (body_R[:, self.surface_body] @ self.surface_local[..., None])[..., 0]
        palm_R = body_R[:, 0]
        centre = body_t[:, 0] + _mv(palm_R, self.palm_axes[0])
        return RobotPose(body_R=body_R, body_t=body_t, fingertips=tips, box_R=box_R, box_t=box_t, surface=surf,
                         palm_centre=centre, palm_normal=_mv(palm_R, self.palm_axes[1]),
                         finger_axis=_mv(palm_R, self.palm_axes[2]))

    def near_pairs(self, pose: RobotPose, points: Tensor, margin: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
        """The (grasp, point, box) index triples ``(K,)`` of points within a box's circumscribed sphere plus
        ``margin`` (m): the only pairs where a point can be inside a box while no box has moved more than
        ``margin`` since ``pose``. ``points`` ``(B, P, 3)`` or ``(P, 3)``."""
        with torch.no_grad():
            if points.dim() == 2:
                points = points.expand(pose.box_t.shape[0], -1, -1)
            radius = self.box_half.norm(dim=-1) + margin  # (G,)
            return (torch.cdist(points, pose.box_t) < radius).nonzero(as_tuple=True)

    def inside_depth(self, pose: RobotPose, points: Tensor,
                     pairs: tuple[Tensor, Tensor, Tensor] | None = None) -> Tensor:
        """How deep each point lies inside the hand's collision boxes (differentiable).

        Only the (point, box) pairs within a box's circumscribed sphere are measured (the others
        cannot be inside), so the cost follows the points near the hand, not all of them.

        Args:
            pose: a posed batch of ``B`` hands.
            points: ``(B, P, 3)`` or ``(P, 3)`` points (m), the pose's frame.
            pairs: candidate pairs from :meth:`near_pairs` (kept across the steps of an optimisation);
                None: found here.
        Returns:
            ``(B, P)`` depth (m) inside the deepest box, 0 outside every box.
        """
        B = pose.box_t.shape[0]
        if points.dim() == 2:
            points = points.expand(B, -1, -1)
        b, p, g = self.near_pairs(pose, points) if pairs is None else pairs
        out = points.new_zeros(B, points.shape[1])
        if not len(b):
            return out
        local = ((points[b, p] - pose.box_t[b, g])[:, None, :] @ pose.box_R[b, g])[:, 0]  # R^T (x - t)
        depth = (-box_sdf(local, self.box_half[g])).clamp(min=0)
        flat = out.view(-1).scatter_reduce(0, b * points.shape[1] + p, depth, reduce="amax", include_self=True)
        return flat.view(B, -1)


class BoxPairs:
    """The candidate (grasp, point, box) pairs of :meth:`RobotHand.inside_depth` kept across the steps of an
    optimisation (a Verlet list): found with a ``margin`` and found again only once some box (plus, for
    moving points, some point) has moved more than ``margin`` since, so the result is the same as a full
    search at every step. A box's points move with its centre only if it does not turn: turning moves a
    box's own corners, not the box's sphere test, which depends on its centre alone.

    Args:
        hand: the robot hand.
        points: ``(P, 3)`` or ``(B, P, 3)`` the points tested (fixed, e.g. the object's surface samples), or
            None when they move with the poses (then call :meth:`get` with them).
        margin: metres.
    """

    def __init__(self, hand: RobotHand, points: Tensor | None = None, margin: float = 0.01) -> None:
        self.hand, self.points, self.margin = hand, points, margin
        self._ref: Tensor | None = None
        self._pairs: tuple[Tensor, Tensor, Tensor] | None = None
        self._pts: Tensor | None = None
        self.rebuilds = 0

    def get(self, pose: RobotPose, points: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The pairs for ``pose`` and, when they move, the ``points`` ``(B, P, 3)`` now."""
        pts = (self.points if points is None else points).detach()
        if self._pairs is not None:
            shift = float((pose.box_t.detach() - self._ref).norm(dim=-1).max())
            if points is not None:
                shift += float((pts - self._pts).norm(dim=-1).max())
            if shift <= self.margin:
                return self._pairs
        self._pairs = self.hand.near_pairs(pose, pts, self.margin)
        self._ref = pose.box_t.detach().clone()
        self._pts = pts.clone() if points is not None else None
        self.rebuilds += 1
        return self._pairs


def _mv(R: Tensor, v: Tensor) -> Tensor:
    """``R @ v`` for rotations ``(..., 3, 3)`` and vectors ``(..., 3)`` or ``(3,)`` (broadcast)."""
    return (R @ v.expand(*R.shape[:-2], 3)[..., None])[..., 0]


def _box_surface(half: np.ndarray, spacing: float) -> np.ndarray:
    """Points ``(n, 3)`` on the faces of a box of ``half`` sizes, about ``spacing`` apart (corners included)."""
    out = []
    for axis in range(3):
        u, v = [a for a in range(3) if a != axis]
        nu = max(2, int(np.ceil(2 * half[u] / spacing)) + 1)
        nv = max(2, int(np.ceil(2 * half[v] / spacing)) + 1)
        gu, gv = np.meshgrid(np.linspace(-half[u], half[u], nu), np.linspace(-half[v], half[v], nv), indexing="ij")
        for sign in (-1.0, 1.0):
            p = np.zeros((gu.size, 3))
            p[:, axis] = sign * half[axis]
            p[:, u], p[:, v] = gu.ravel(), gv.ravel()
            out.append(p)
    return np.unique(np.round(np.concatenate(out), 9), axis=0)

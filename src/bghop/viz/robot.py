"""Triangle meshes of posed MJCF robot hands (``robot.json``, DESIGN.md §4), for renders and the viewer.

A hand is posed as MuJoCo poses it (``mj_kinematics`` of the full MJCF, visual meshes included), with
its root body (LEAP: the palm) placed at ``base_pose``: the MJCF's own placement of that body is
replaced, as in :mod:`bghop.eval.robot_physics` and :class:`bghop.hands.robot.RobotHand`. MuJoCo keeps
a mesh's vertices in its geom's frame, so each geom's triangles are placed by ``geom_xpos/geom_xmat``.

LEAP's visual meshes have 226k vertices and 448k triangles per hand; by default each visual mesh is
reduced by vertex clustering on a 2 mm grid in its own frame (:data:`VISUAL_CELL_M`; about 26k vertices
and 65k triangles per hand, within about 1 mm of the original surface). Collision geometry is never
reduced.

>>> mesh = robot_hand_mesh(spec.hands["right"].mjcf, base_pose, {"if_mcp": 0.5})   # trimesh, object frame, m
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from bghop.geometry.mesh_io import mujoco_primitive
from bghop.hands.robot_spec import RobotSpecError, load_robot_spec, resolve_mjcf
from bghop.viz.render import COLORS, RenderMesh

logger = logging.getLogger(__name__)

__all__ = ["VISUAL_CELL_M", "robot_hand_mesh", "robot_render_meshes"]

#: grid size (m) of the vertex clustering that reduces visual meshes by default
VISUAL_CELL_M = 0.002
#: compiled full models, per (resolved path, modification time)
_MODELS: dict[tuple[str, int], Any] = {}
#: ``(vertices, faces)`` of each mesh asset, per (model key, mesh id, cell)
_MESHES: dict[tuple[tuple[str, int], int, float | None], tuple[np.ndarray, np.ndarray]] = {}


def _model(mjcf: Path) -> tuple[Any, tuple[str, int]]:
    """The compiled MJCF with its visual geoms (cached per file and modification time) and its cache key."""
    import mujoco

    path = Path(mjcf).resolve()
    if not path.is_file():
        raise RobotSpecError(f"MJCF file {path} does not exist")
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _MODELS:
        try:
            _MODELS[key] = mujoco.MjModel.from_xml_path(str(path))
        except ValueError as e:  # MuJoCo's parser and compiler errors
            raise RobotSpecError(f"MJCF {path} does not load in MuJoCo: {e}") from None
    return _MODELS[key], key


def _cluster(v: np.ndarray, f: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering: vertices ``(V, 3)`` in one grid cell of size ``cell`` (m) merged into their mean;
    faces ``(F, 3)`` that collapse or repeat are dropped, and so are vertices that no face uses."""
    _, inv, count = np.unique(np.floor(v / cell).astype(np.int64), axis=0, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    out = np.zeros((len(count), 3))
    np.add.at(out, inv, v)
    out /= count[:, None]
    nf = inv[f]
    nf = nf[(nf[:, 0] != nf[:, 1]) & (nf[:, 1] != nf[:, 2]) & (nf[:, 0] != nf[:, 2])]
    _, first = np.unique(np.sort(nf, axis=1), axis=0, return_index=True)
    nf = nf[np.sort(first)]
    used = np.unique(nf)  # clusters whose faces all collapsed are dropped
    renumber = np.full(len(out), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return out[used], renumber[nf]


def _asset(model: Any, key: tuple[str, int], mesh_id: int, cell: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` (geom frame, m) and faces ``(F, 3)`` of a mesh asset, reduced when ``cell`` is set."""
    k = (key, mesh_id, cell)
    if k not in _MESHES:
        a, n = int(model.mesh_vertadr[mesh_id]), int(model.mesh_vertnum[mesh_id])
        fa, fn = int(model.mesh_faceadr[mesh_id]), int(model.mesh_facenum[mesh_id])
        v = np.asarray(model.mesh_vert[a:a + n], dtype=np.float64)
        f = np.asarray(model.mesh_face[fa:fa + fn], dtype=np.int64)
        _MESHES[k] = _cluster(v, f, cell) if cell else (v, f)
    return _MESHES[k]


def _root(model: Any, mjcf: Path) -> int:
    """The MJCF's root body: the one child of the world body."""
    tops = [b for b in range(1, model.nbody) if int(model.body_parentid[b]) == 0]
    if len(tops) != 1:
        names = ", ".join(model.body(b).name for b in tops) or "none"
        raise RobotSpecError(f"{mjcf.name}: a robot hand needs exactly one body under <worldbody>, found {names}")
    return tops[0]


def robot_hand_mesh(mjcf: str | os.PathLike, base_pose: np.ndarray, qpos: dict[str, float], visual: bool = True,
                    cell: float | None = VISUAL_CELL_M) -> trimesh.Trimesh:
    """The posed robot hand as one triangle mesh in the frame of ``base_pose`` (bghop: the object frame, m).

    Args:
        mjcf: the hand's MJCF file (compiled once per file, visual meshes included: LEAP takes about 0.5 s).
        base_pose: ``(4, 4)`` pose of the MJCF's root body (LEAP: the palm), metres; it replaces the body's
            placement in the MJCF.
        qpos: joint name → position (rad; m for a slide joint); joints not named keep the MJCF's ``qpos0``.
        visual: the visual geoms (``contype == conaffinity == 0``, meshes), or the collision geoms if the
            hand has none; False: the collision geoms (boxes, meshes, spheres, capsules, cylinders).
        cell: grid size (m) of the vertex clustering that reduces visual meshes (None: full resolution).
    Returns:
        the mesh (not processed: vertices of touching geoms are not merged).
    Raises:
        ValueError: a malformed ``base_pose``, an unknown joint name (the message lists the valid ones) or a
            non-finite joint value; :class:`~bghop.hands.robot_spec.RobotSpecError` (a ``ValueError``): an MJCF
            that is missing or does not load.
    """
    import mujoco

    mjcf = Path(mjcf)
    T = np.asarray(base_pose, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all() or not np.allclose(T[3], [0, 0, 0, 1]) \
            or not np.allclose(T[:3, :3].T @ T[:3, :3], np.eye(3), atol=1e-4):
        raise ValueError(f"base_pose must be a finite 4×4 rigid transform (rotation and translation in metres), "
                         f"got {np.array2string(T, precision=4)}")
    model, key = _model(mjcf)
    root = _root(model, mjcf)
    one_dof = (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE))
    joints = {model.joint(j).name: j for j in range(model.njnt) if int(model.jnt_type[j]) in one_dof}
    bad = [k for k in qpos if k not in joints]
    if bad:
        raise ValueError(f"{mjcf.name}: unknown joint(s) {bad}; valid joints: {', '.join(joints)}")
    data = mujoco.MjData(model)
    data.qpos[:] = model.qpos0
    for name, value in qpos.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value):
            raise ValueError(f"{mjcf.name}: joint {name!r} must have a finite position (rad or m), got {value!r}")
        data.qpos[model.jnt_qposadr[joints[name]]] = float(value)
    mujoco.mj_kinematics(model, data)
    # M maps the world of the MJCF (its root at its own placement) to the frame of base_pose
    placed = np.eye(4)
    placed[:3, :3], placed[:3, 3] = data.xmat[root].reshape(3, 3), data.xpos[root]
    M = T @ np.linalg.inv(placed)

    below = np.zeros(model.nbody, dtype=bool)
    for b in range(1, model.nbody):  # parents come before children in MuJoCo's body order
        below[b] = b == root or below[int(model.body_parentid[b])]
    geoms = [g for g in range(model.ngeom) if below[int(model.geom_bodyid[g])]]
    is_visual = {g: not (model.geom_contype[g] or model.geom_conaffinity[g]) for g in geoms}
    chosen = [g for g in geoms if is_visual[g] and int(model.geom_type[g]) == int(mujoco.mjtGeom.mjGEOM_MESH)]
    if not visual or not chosen:
        if visual:
            logger.debug("%s has no visual meshes: drawing its collision geoms", mjcf.name)
        chosen, cell = [g for g in geoms if not is_visual[g]], None
    verts, faces, n = [], [], 0
    for g in chosen:
        kind = int(model.geom_type[g])
        if kind == int(mujoco.mjtGeom.mjGEOM_MESH):
            v, f = _asset(model, key, int(model.geom_dataid[g]), cell)
        else:
            prim = mujoco_primitive(kind, model.geom_size[g], detail="coarse")
            if prim is None:
                logger.debug("%s: geom %r of type %d is not drawn", mjcf.name, model.geom(g).name, kind)
                continue
            v, f = np.asarray(prim.vertices), np.asarray(prim.faces)
        world = v @ data.geom_xmat[g].reshape(3, 3).T + data.geom_xpos[g]
        verts.append(world @ M[:3, :3].T + M[:3, 3])
        faces.append(f + n)
        n += len(v)
    if not verts:
        raise RobotSpecError(f"{mjcf.name}: no geoms to draw below the root body {model.body(root).name!r}")
    return trimesh.Trimesh(np.concatenate(verts), np.concatenate(faces), process=False)


def _hand_mjcf(text: Any, robot_name: Any, side: str, base: Path | None) -> Path:
    """The MJCF file of one hand's ``"mjcf"`` entry: ``package:…``, a path (relative to ``base``), or, when
    no such file exists, the MJCF of that side of the robot named ``robot_name`` (e.g. ``"leap"``)."""
    if not isinstance(text, str):
        raise ValueError(f"robot.json, hand {side!r}: 'mjcf' must be a string (file path), got {text!r}")
    try:
        return resolve_mjcf(text, base)
    except RobotSpecError as missing:
        if isinstance(robot_name, str):
            try:
                return load_robot_spec(robot_name, check=False).hands[side].mjcf
            except (RobotSpecError, KeyError):
                pass
        raise missing from None


def robot_render_meshes(robot: dict, base: Path | None = None, visual: bool = True,
                        cell: float | None = VISUAL_CELL_M) -> list[RenderMesh]:
    """The posed hands of a parsed ``robot.json`` as :class:`~bghop.viz.render.RenderMesh` for
    :func:`~bghop.viz.render.render_meshes` (right first), in ``COLORS["robot_right"/"robot_left"]``.

    Args:
        robot: ``{"robot": NAME, "hands": {side: {"mjcf", "base_pose", "qpos", ...}}, ...}``.
        base: folder that relative ``"mjcf"`` paths are relative to (the ``robot.json``'s).
        visual / cell: as in :func:`robot_hand_mesh`.
    Returns:
        one mesh per hand present, labelled ``"right robot hand"`` / ``"left robot hand"``.
    Raises:
        ValueError: a malformed entry, an MJCF that cannot be found or loaded, unknown joints.
    """
    hands = robot.get("hands") if isinstance(robot, dict) else None
    if not isinstance(hands, dict) or not hands:
        raise ValueError("robot.json must be an object with 'hands': {'right': {...}, 'left': {...}}")
    unknown = [s for s in hands if s not in ("right", "left")]
    if unknown:
        raise ValueError(f"robot.json: unknown hand side(s) {unknown}; sides are 'right' and 'left'")
    out = []
    for side in [s for s in ("right", "left") if s in hands]:
        h = hands[side]
        if not isinstance(h, dict) or not {"mjcf", "base_pose"} <= set(h):
            raise ValueError(f"robot.json, hand {side!r}: needs 'mjcf', 'base_pose' (4×4) and 'qpos'")
        qpos = h.get("qpos") or {}
        if not isinstance(qpos, dict):
            raise ValueError(f"robot.json, hand {side!r}: 'qpos' must map joint names to radians")
        try:
            pose = np.asarray(h["base_pose"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"robot.json, hand {side!r}: 'base_pose' must be a 4×4 list of numbers") from None
        mesh = robot_hand_mesh(_hand_mjcf(h["mjcf"], robot.get("robot"), side, base), pose, qpos, visual, cell)
        out.append(RenderMesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), COLORS[f"robot_{side}"],
                              label=f"{side} robot hand"))
    return out

"""Reading result folders into :class:`ViewerSample` objects (meshes, stored and measured metrics).

A sample of a robot-hand run also holds ``robot.json`` (the robot, per hand its MJCF, ``base_pose``,
``qpos`` and ``ctrl``, and at its top level the robot check's numbers) and the posed robot hands
``right_robot.obj`` / ``left_robot.obj`` (object frame, m); a mesh missing beside a ``robot.json`` is
posed from it (:func:`bghop.viz.robot.robot_render_meshes`).

What a run stored comes from its typed record (:func:`bghop.eval.runs.read_run`): per sample its
prompt, metrics, stability, prior score and the method's own numbers (:func:`_stored_metrics`), and
per run its kind, method, object, prompt and settings (:func:`_run_summary`). A folder without a
``summary.json`` (written by another tool) shows only what is measured here on its meshes.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import trimesh

from bghop.eval.metrics import CONTACT_THRESHOLD_M, in_contact, object_points_in_hand, penetration
from bghop.eval.runs import RunFolderError, RunRecord, SampleRecord, read_run
from bghop.eval.runs import find_sample_folders as _find_sample_folders
from bghop.geometry.sdf import sdf_at_points
from bghop.viz.results import hand_meshes, read_result_folder
from bghop.viz.robot import robot_render_meshes

logger = logging.getLogger(__name__)

__all__ = ["ROBOT_JSON", "ViewerError", "ViewerSample", "find_sample_folders", "load_samples"]

#: hand sides, in the order they are drawn and listed
_SIDES = ("right", "left")
#: a robot-hand sample's record of the robot and its meshes (``{side}_robot.obj``)
ROBOT_JSON = "robot.json"
#: at most this many run-level entries of ``summary.json`` are shown per run
_MAX_RUN_ENTRIES = 16


class ViewerError(ValueError):
    """Input the viewer cannot show; the message says which folder or file and why."""


#: at most this many object surface points inside the hands are drawn per hand
MAX_SHOWN_OBJECT_POINTS = 2000


@dataclass
class ViewerSample:
    """One sample as the viewer shows it.

    Attributes:
        label: ``"<folder>/<sample>"`` shown in the list.
        path: the sample's folder.
        object_mesh: metres, object frame.
        hands: posed hand meshes present, ``{"right": mesh, "left": mesh}``.
        metrics: metrics stored with the results (flattened, numbers and booleans).
        computed: metrics computed here from the meshes (penetration, contact).
        contact_points: hand vertices within 5 mm of the object surface, outside it, ``(N, 3)``.
        penetration_points: hand vertices inside the object and object surface points inside a hand
            (penetration both ways, :func:`bghop.eval.metrics.object_points_in_hand`; at most
            :data:`MAX_SHOWN_OBJECT_POINTS` of the latter), ``(M, 3)``.
        text: the prompt, when the results store one.
        robot_hands: posed robot hand meshes present (``{side}_robot.obj``, or posed from ``robot.json``).
        robot_metrics: the numbers and booleans at the top level of ``robot.json`` (flattened).
        robot: the robot's name in ``robot.json`` (None: no robot hands).
        robot_contact_points: robot visual-mesh vertices within 5 mm of the object surface, outside it.
        robot_penetration_points: robot visual-mesh vertices inside the object and object surface points
            inside the robot's collision geometry (posed from ``robot.json``; the geometry its physics
            check uses), at most :data:`MAX_SHOWN_OBJECT_POINTS` of the latter per hand.
    """

    label: str
    path: Path
    object_mesh: trimesh.Trimesh
    hands: dict[str, trimesh.Trimesh]
    metrics: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    contact_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    penetration_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    text: str | None = None
    robot_hands: dict[str, trimesh.Trimesh] = field(default_factory=dict)
    robot_metrics: dict[str, Any] = field(default_factory=dict)
    robot: str | None = None
    robot_contact_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    robot_penetration_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


def find_sample_folders(folder: str | os.PathLike) -> list[Path]:
    """Sample folders of a result folder (``DIR/<k>/object.obj``), or ``[folder]`` if it is one itself.

    The same rule as ``bghop eval`` (:func:`bghop.eval.runs.find_sample_folders`).

    Raises:
        ViewerError: the folder does not exist or holds no samples.
    """
    try:
        return _find_sample_folders(folder)
    except RunFolderError as e:
        raise ViewerError(str(e)) from e


def _fmt(v: Any) -> str:
    """A value as the page shows it: ``yes``/``no``, integers as they are, floats to 4 significant digits.

    Args:
        v: a number, boolean, None or anything with a ``str``.
    Returns:
        the text (``"–"`` for None).
    """
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e5 else f"{v:.4g}"
    return str(v)


def _flatten(d: Any, prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """Numbers and booleans of a nested dict as ``{"a.b": value}`` (lists and strings are skipped)."""
    out: dict[str, Any] = {}
    if not isinstance(d, dict) or depth < 0:
        return out
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v)):
            out[key] = v
        elif isinstance(v, dict):
            out.update(_flatten(v, key + ".", depth - 1))
    return out


def _stored_metrics(rec: SampleRecord | None) -> dict[str, Any]:
    """What a run recorded about one sample, flattened for display (``{"metrics.contact_both": True, …}``)."""
    if rec is None:
        return {}
    stored = {"rank": rec.rank, "prior_score": rec.prior_score,
              "metrics": None if rec.metrics is None else rec.metrics.to_dict(),
              "stability": None if rec.stability is None else
              {"success": rec.stability.success, "max_displacement_m": rec.stability.max_displacement},
              "scores": rec.scores}
    return _flatten({k: v for k, v in stored.items() if v is not None})


def _run_summary(run: RunRecord | None) -> dict[str, str]:
    """Run-level entries of the run record worth a line each: kind, method, object, prompt, settings."""
    if run is None:
        return {}
    out: dict[str, str] = {}
    top = {"kind": run.kind, "method": run.method, "object": run.group, "text": run.text}

    def visit(d: dict, prefix: str, depth: int) -> None:
        for k, v in d.items():
            if len(out) >= _MAX_RUN_ENTRIES:
                return
            if isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v)):
                out[f"{prefix}{k}"] = _fmt(v)
            elif isinstance(v, str) and len(v) <= 80:
                out[f"{prefix}{k}"] = v
            elif isinstance(v, dict) and depth > 0:
                visit(v, f"{prefix}{k}.", depth - 1)

    visit({k: v for k, v in top.items() if v is not None}, "", 0)
    visit(run.settings, "", 1)
    return out


def _load_mesh(path: Path) -> trimesh.Trimesh:
    """The triangle mesh in ``path``.

    Raises:
        ViewerError: the file cannot be read or holds no finite triangles.
    """
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types on a broken file
        raise ViewerError(f"cannot read mesh {path}: {e}") from e
    return _check_mesh(mesh, path)


def _check_mesh(mesh: Any, path: Path) -> trimesh.Trimesh:
    """``mesh`` if it is a non-empty, finite triangle mesh.

    Raises:
        ViewerError: it is not (the message names ``path``).
    """
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.vertices) == 0 or len(mesh.faces) == 0:
        raise ViewerError(f"cannot read mesh {path}: no triangles")
    if not np.isfinite(np.asarray(mesh.vertices)).all():
        raise ViewerError(f"cannot read mesh {path}: non-finite vertex coordinates")
    return mesh


def _load_robot(path: Path) -> tuple[dict[str, trimesh.Trimesh], dict[str, Any], str | None,
                                     dict[str, trimesh.Trimesh]]:
    """A sample's robot hands: meshes, the top-level numbers of ``robot.json``, the robot's name and the
    hands' collision geometry (posed from ``robot.json``; empty without it).

    Args:
        path: the sample folder.
    Returns:
        ``(meshes, metrics, name, collision)``; empty (and None) when the folder holds no robot files.
    Raises:
        ViewerError: an unreadable ``robot.json`` or mesh, or a hand that cannot be posed from ``robot.json``.
    """
    meshes = {side: _load_mesh(path / f"{side}_robot.obj") for side in _SIDES
              if (path / f"{side}_robot.obj").is_file()}
    f = path / ROBOT_JSON
    if not f.is_file():
        return meshes, {}, None, {}
    try:
        raw = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ViewerError(f"cannot read {f}: {e}") from e
    if not isinstance(raw, dict):
        raise ViewerError(f"cannot read {f}: expected an object with 'robot' and 'hands'")
    hands = raw.get("hands") if isinstance(raw.get("hands"), dict) else {}
    missing = [s for s in _SIDES if s in hands and s not in meshes]
    if missing:  # meshes not written: pose the hands from robot.json
        try:
            posed = robot_render_meshes({**raw, "hands": {s: hands[s] for s in missing}}, base=path)
        except (OSError, ValueError) as e:
            raise ViewerError(f"{path / (missing[0] + '_robot.obj')} is missing and the robot hand cannot be posed "
                              f"from {f.name}: {e}") from e
        for side, m in zip(missing, posed):
            meshes[side] = trimesh.Trimesh(m.vertices, m.faces, process=False)
    present = [s for s in _SIDES if s in hands]
    try:
        boxes = robot_render_meshes({**raw, "hands": {s: hands[s] for s in present}}, base=path, visual=False)
    except (OSError, ValueError) as e:
        raise ViewerError(f"the robot hands' collision geometry cannot be posed from {f}: {e}") from e
    collision = {s: trimesh.Trimesh(m.vertices, m.faces, process=False) for s, m in zip(present, boxes)}
    metrics = _flatten({k: v for k, v in raw.items() if k not in ("robot", "hands")})
    name = raw.get("robot")
    return meshes, metrics, name if isinstance(name, str) else "robot", collision


def _robot_points(obj: trimesh.Trimesh, visual: dict[str, trimesh.Trimesh], collision: dict[str, trimesh.Trimesh]
                  ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The robot hands against the object, as the human hands are measured: ``(contact points, penetrating
    points, figures)``. Contact and robot-in-object use the drawn (visual) mesh's vertices near the object;
    object-in-robot uses the collision geometry, one closed piece (box) at a time, so that overlapping
    pieces do not hide each other's insides."""
    lo, hi = np.asarray(obj.bounds) + np.array([[-CONTACT_THRESHOLD_M], [CONTACT_THRESHOLD_M]])
    contact, inside, out = [], [], {}
    robot_in = object_in = 0.0
    for side, hm in visual.items():
        v = np.asarray(hm.vertices, dtype=np.float64)
        v = v[np.all((v >= lo) & (v <= hi), axis=1)]
        s = sdf_at_points(obj, v) if len(v) else np.zeros(0)
        touching = (s >= 0) & (s < CONTACT_THRESHOLD_M)
        out[f"robot contact {side}"] = bool(touching.any())
        contact.append(v[touching])
        inside.append(v[s < 0])
        robot_in = max(robot_in, float(-s.min()) if len(s) and s.min() < 0 else 0.0)
    for side, cm in collision.items():
        hit = []
        for piece in cm.split(only_watertight=False):
            pts, depth = object_points_in_hand(obj, piece)
            if len(depth):
                object_in = max(object_in, float(depth.max()))
                hit.append(pts)
        if hit:
            pts = np.concatenate(hit)
            inside.append(pts[::max(1, -(-len(pts) // MAX_SHOWN_OBJECT_POINTS))])
    out["robot penetration max mm"] = max(robot_in, object_in) * 1e3
    out["robot penetration robot in object mm"] = robot_in * 1e3
    out["robot penetration object in robot mm"] = object_in * 1e3
    out["robot contact points"] = int(sum(len(c) for c in contact))
    out["robot penetrating points"] = int(sum(len(c) for c in inside))
    empty = np.zeros((0, 3))
    return (np.concatenate(contact) if contact else empty), (np.concatenate(inside) if inside else empty), out


def _load_sample(path: Path, label: str, rec: SampleRecord | None, text: str | None) -> ViewerSample:
    """Read one sample folder and classify its hand vertices against the object.

    Args:
        path: the sample folder (``object.obj``, hand meshes, ``hands.json``; or ``object.obj`` and the robot
            files only).
        label: its name in the list.
        rec: what its run recorded about it (None: nothing).
        text: its prompt, when the run records one.
    Raises:
        ViewerError: an unreadable folder, mesh or ``hands.json``.
    """
    robot_only = not (path / "hands.json").is_file() and (path / ROBOT_JSON).is_file()
    try:  # a robot-only sample (``bghop bench grasp --robot``'s robot-energy) has no human hands
        result = None if robot_only else read_result_folder(path)
        obj_mesh = _load_mesh(path / "object.obj") if robot_only else result.object_mesh
    except ViewerError:
        raise
    except (OSError, ValueError) as e:
        raise ViewerError(f"cannot read result folder {path}: {e}") from e
    except Exception as e:  # a broken object.obj
        raise ViewerError(f"cannot read mesh {path / 'object.obj'}: {e}") from e
    obj = _check_mesh(obj_mesh, path / "object.obj")
    hands: dict[str, trimesh.Trimesh] = {}
    for side in () if result is None else _SIDES:
        f = path / f"{side}_hand.obj"
        if f.is_file():
            hands[side] = _load_mesh(f)
        elif side in result.hands:  # mesh missing: pose the layer from hands.json
            try:
                hands[side] = hand_meshes(result.hands)[side]
            except (OSError, ValueError) as e:
                raise ViewerError(f"{f} is missing and the {side} hand cannot be posed from hands.json: {e}") from e
    metrics = _stored_metrics(rec)
    robot_hands, robot_metrics, robot, collision = _load_robot(path)
    if robot_hands and robot is None:
        robot = "robot"

    computed: dict[str, Any] = {}
    contact, inside, pen_max, obj_max = [], [], 0.0, 0.0
    for side, hm in hands.items():
        v = np.asarray(hm.vertices, dtype=np.float64)
        try:
            s = sdf_at_points(obj, v)
        except ValueError as e:
            raise ViewerError(f"cannot measure {path}: {e}") from e
        pen = penetration(obj, v, sdf=s)
        pen_max = max(pen_max, pen.max_depth)
        computed[f"contact {side}"] = in_contact(obj, v, sdf=s)
        contact.append(v[(s >= 0) & (s < CONTACT_THRESHOLD_M)])
        inside.append(v[s < 0])
        pts, depth = object_points_in_hand(obj, hm)
        if len(depth):
            obj_max = max(obj_max, float(depth.max()))
            step = max(1, -(-len(pts) // MAX_SHOWN_OBJECT_POINTS))
            inside.append(pts[::step])
    computed["penetration max mm"] = max(pen_max, obj_max) * 1e3
    computed["penetration hand in object mm"] = pen_max * 1e3
    computed["penetration object in hand mm"] = obj_max * 1e3
    computed["contact points"] = int(sum(len(c) for c in contact))
    computed["penetrating points"] = int(sum(len(c) for c in inside))
    robot_contact = robot_inside = np.zeros((0, 3))
    if robot_hands:
        try:
            robot_contact, robot_inside, figures = _robot_points(obj, robot_hands, collision)
        except ValueError as e:
            raise ViewerError(f"cannot measure the robot hands of {path}: {e}") from e
        computed.update(figures)
    return ViewerSample(label=label, path=path, object_mesh=obj, hands=hands, metrics=metrics, computed=computed,
                        contact_points=np.concatenate(contact) if contact else np.zeros((0, 3)),
                        penetration_points=np.concatenate(inside) if inside else np.zeros((0, 3)), text=text,
                        robot_hands=robot_hands, robot_metrics=robot_metrics, robot=robot,
                        robot_contact_points=robot_contact, robot_penetration_points=robot_inside)


def _folder_labels(folders: Sequence[Path]) -> list[str]:
    """Short distinct names for the given result folders (their names, or more of the path on a clash)."""
    names = [f.resolve().name or str(f) for f in folders]
    if len(set(names)) == len(names):
        return names
    return [str(f) for f in folders]


def load_samples(folders: Iterable[str | os.PathLike]) -> tuple[list[ViewerSample], dict[str, dict[str, str]]]:
    """Read every sample of the given result folders.

    Args:
        folders: result folders (``DIR/<k>/…``) or single sample folders.
    Returns:
        ``(samples, run_summaries)``: samples in folder order, labelled ``"<folder>/<k>"``;
        per folder label, the run-level entries of its record (empty without one).
    Raises:
        ViewerError: a missing folder, a folder without samples, an unreadable mesh or ``hands.json``.
    """
    folders = [Path(f) for f in folders]
    if not folders:
        raise ViewerError("give at least one result folder")
    labels = _folder_labels(folders)
    samples: list[ViewerSample] = []
    runs: dict[str, dict[str, str]] = {}
    for folder, flabel in zip(folders, labels):
        subs = find_sample_folders(folder)
        single = subs == [folder]  # one sample folder given: its run is the parent folder
        root = folder.resolve().parent if single else folder
        if single:
            flabel = root.name or flabel
        run = read_run(root)
        runs[flabel] = _run_summary(run)
        for p in subs:
            label = f"{flabel}/{p.name}"
            rec = None if run is None else run.sample(p.name)
            text = (rec.text if rec else None) or (run.text if run else None)
            samples.append(_load_sample(p, label, rec, text))
            logger.debug("loaded %s", label)
    return samples, runs

"""Result folders (DESIGN.md §4): ``object.obj``, ``right_hand.obj``, ``left_hand.obj``,
``hands.json`` and ``render.png`` per sample, all in the object's frame (metres), and whole runs:
``DIR/<k>/`` per sample, ``DIR/contact_sheet.png`` and the run record ``DIR/summary.json``
(:class:`bghop.eval.runs.RunRecord`).

A run is written into a staging folder beside ``DIR`` and swapped in whole when complete
(:func:`bghop.core.outputs.staged_folder`): an interrupted run leaves the previous one intact,
bghop's files of the previous run are replaced, and anyone else's files in ``DIR`` are kept.
A single result folder (:func:`write_result_folder`) follows the same rules.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh
from tqdm.auto import tqdm

from bghop.core.io import write_json_atomic
from bghop.core.outputs import MARKER_NAME, staged_folder
from bghop.eval.runs import SUMMARY_NAME, RunRecord, hands_digest, write_run_record
from bghop.hands import HandModel
from bghop.hands.params import Hands, load_hands_json, save_hands_json
from bghop.hands.posing import HandLayers, PosedHand, pose_hands
from bghop.viz.render import COLORS, RenderMesh, contact_sheet, render_meshes

logger = logging.getLogger(__name__)

__all__ = [
    "CONTACT_SHEET_NAME",
    "RESULT_FILES",
    "ROBOT_JSON",
    "RUN_FILES",
    "SUMMARY_NAME",
    "ResultSample",
    "hand_meshes",
    "legacy_result_files",
    "legacy_run_files",
    "read_result_folder",
    "run_reserved",
    "write_result_folder",
    "write_run",
]

CONTACT_SHEET_NAME = "contact_sheet.png"
#: the files of a result folder (the last four only in robot runs: ``bghop grasp --robot``)
RESULT_FILES = ("object.obj", "right_hand.obj", "left_hand.obj", "hands.json", "render.png", "robot.json",
                "right_robot.obj", "left_robot.obj", "robot_render.png")
#: a robot grasp of a result folder (issue 22's ``robot.json``)
ROBOT_JSON = "robot.json"
#: the files bghop writes at the top of a run folder (the run, then ``bghop eval``'s; patterns)
RUN_FILES = (SUMMARY_NAME, CONTACT_SHEET_NAME, "metrics.csv", "metrics_groups.csv", "metrics.json",
             "metrics_categories.csv", "hist_*.png", "per_object.png")


@dataclass
class ResultSample:
    """One result: an object and one or two hands in the object's frame.

    Attributes:
        object_mesh: metres.
        hands: :class:`~bghop.hands.params.Hands` (batch 1); None only for a robot-only sample (``robot``
            given): then no human files are written.
        title: caption of the render.
        extra: extra entries stored in ``hands.json`` (e.g. metrics).
        posed: the hands already posed (e.g. by the checks), written as they are; None: posed here.
        robot: a robot grasp of the same object (the ``robot.json`` content), or None.
        robot_meshes: side → the posed robot hand (metres, object frame), written as ``<side>_robot.obj``
            and rendered into ``robot_render.png``.
        robot_title: caption of the robot render.
    """

    object_mesh: trimesh.Trimesh
    hands: Hands | None
    title: str | None = None
    extra: dict = field(default_factory=dict)
    posed: dict[str, PosedHand] | None = None
    robot: dict | None = None
    robot_meshes: dict[str, trimesh.Trimesh] | None = None
    robot_title: str | None = None

    def __post_init__(self) -> None:
        if self.hands is not None or self.robot is None:
            self.hands = Hands.coerce(self.hands)


def hand_meshes(hands: Hands, layers: dict[str, HandModel] | HandLayers | None = None,
                mano_dir: str | os.PathLike | None = None) -> dict[str, trimesh.Trimesh]:
    """Posed hand meshes (metres) for each hand in ``hands`` (:func:`bghop.hands.posing.pose_hands`)."""
    if not isinstance(layers, HandLayers):
        layers = HandLayers(mano_dir, layers=layers)
    return {s: h.mesh for s, h in pose_hands(Hands.coerce(hands), layers).items()}


def write_result_folder(out_dir: str | os.PathLike, sample: ResultSample, layers: dict[str, HandModel] | None = None,
                        mano_dir: str | os.PathLike | None = None, render: bool = True, command: str | None = None
                        ) -> Path:
    """Write one result folder, swapped in only once complete (:mod:`bghop.core.outputs`: bghop's
    files of an earlier result replaced, anyone else's kept).

    Args:
        out_dir: the sample's folder.
        sample: what to write.
        layers: hand layers to reuse (loaded from ``kind`` otherwise).
        mano_dir: MANO folder for MANO hands.
        render: also write ``render.png``.
        command: the command recorded in the folder's marker; None writes no marker (a folder
            inside a run folder, which has one).
    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    with staged_folder(out_dir, command or "grid decode", legacy=legacy_result_files, marker=command is not None) as tmp:
        _write_result_files(tmp, sample, layers, mano_dir, render)
    return out_dir


def _write_result_files(folder: Path, sample: ResultSample, layers: dict[str, HandModel] | None,
                        mano_dir: str | os.PathLike | None, render: bool) -> None:
    sample.object_mesh.export(folder / "object.obj")
    obj = RenderMesh(np.asarray(sample.object_mesh.vertices), np.asarray(sample.object_mesh.faces), COLORS["object"])
    meshes = {}
    if sample.hands is not None:
        meshes = ({s: h.mesh for s, h in sample.posed.items()} if sample.posed is not None
                  else hand_meshes(sample.hands, layers, mano_dir))
        for side, m in meshes.items():
            m.export(folder / f"{side}_hand.obj")
        save_hands_json(folder / "hands.json", sample.hands, extra=sample.extra or None)
    if render and sample.hands is not None:
        rm = [obj] + [RenderMesh(np.asarray(m.vertices), np.asarray(m.faces), COLORS[s]) for s, m in meshes.items()]
        render_meshes(rm, folder / "render.png", title=sample.title)
    if sample.robot is not None:
        write_json_atomic(folder / ROBOT_JSON, sample.robot)
        for side, m in (sample.robot_meshes or {}).items():
            m.export(folder / f"{side}_robot.obj")
        if render and sample.robot_meshes:
            rm = [obj] + [RenderMesh(np.asarray(m.vertices), np.asarray(m.faces), COLORS[f"robot_{s}"])
                          for s, m in sample.robot_meshes.items()]
            render_meshes(rm, folder / "robot_render.png", title=sample.robot_title or sample.title)


def legacy_result_files(folder: Path) -> tuple[str, set[str]] | None:
    """A result folder written before markers (``hands.json`` and ``object.obj``): its files."""
    if (folder / "hands.json").is_file() and (folder / "object.obj").is_file():
        return "grid decode", {f for f in RESULT_FILES if (folder / f).is_file()}
    return None


def legacy_run_files(folder: Path) -> tuple[str, set[str]] | None:
    """A run folder written before markers (a readable ``summary.json``): ``(its kind, its files)``
    (the run's and ``bghop eval``'s top-level files, the result files of its sample folders)."""
    from bghop.eval.runs import read_run

    rec = read_run(folder)
    if rec is None:
        return None
    own = {p.name for f in RUN_FILES for p in folder.glob(f) if p.is_file()}
    for s in rec.samples:
        own |= {f"{s.name}/{f}" for f in RESULT_FILES if (folder / s.name / f).is_file()}
    return rec.kind, own


def run_reserved(n: int) -> list[str]:
    """What a run of ``n`` samples writes at the top of its folder (for :func:`bghop.core.outputs.check_output`)."""
    return [*[str(k) for k in range(n)], SUMMARY_NAME, CONTACT_SHEET_NAME, MARKER_NAME]


def read_result_folder(folder: str | os.PathLike) -> ResultSample:
    """Read a result folder written by any method that follows the layout."""
    folder = Path(folder)
    obj = folder / "object.obj"
    if not obj.is_file():
        raise FileNotFoundError(f"{folder} is not a result folder: {obj.name} is missing")
    mesh = trimesh.load(obj, force="mesh", process=False)
    return ResultSample(object_mesh=mesh, hands=load_hands_json(folder / "hands.json"), title=folder.name)


def write_run(out_dir: str | os.PathLike, samples: list[ResultSample], record: RunRecord,
              layers: dict[str, HandModel] | None = None, mano_dir: str | os.PathLike | None = None,
              render: bool = True, progress: bool = True) -> Path:
    """Write ``DIR/<k>/`` for every sample, ``DIR/contact_sheet.png`` and ``DIR/summary.json``.

    The run is staged and swapped in whole (module docstring): the samples of an earlier, larger
    run are gone, files that are not bghop's are kept.

    Args:
        out_dir: the run folder (created).
        samples: in output order.
        record: the run record, one :class:`~bghop.eval.runs.SampleRecord` per sample in the same order
            (their ``name`` is set to the folder name and ``hands_digest`` to the hands written).
        layers: hand layers to reuse.
        mano_dir: MANO folder for MANO hands.
        render: write ``render.png`` per sample and the contact sheet.
        progress: tqdm progress bar.
    Returns:
        ``out_dir``.
    """
    if isinstance(record, dict):  # the untyped summary of earlier versions
        warnings.warn("write_run(summary=dict) is deprecated; pass a bghop.eval.runs.RunRecord", DeprecationWarning,
                      stacklevel=2)
        record = RunRecord.from_json(record)
    if len(record.samples) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(record.samples)} sample records")
    out = Path(out_dir)
    with staged_folder(out, record.kind, legacy=legacy_run_files) as stage:
        images = []
        for k, (s, rec) in enumerate(zip(tqdm(samples, desc="writing", disable=not progress, leave=False),
                                         record.samples)):
            (stage / str(k)).mkdir()
            _write_result_files(stage / str(k), s, layers, mano_dir, render)
            rec.name = str(k)
            rec.hands_digest = None if s.hands is None else hands_digest(s.hands.to_json_dict())
            if render:  # a robot run's contact sheet shows the robot hands
                images.append(stage / str(k) / ("robot_render.png" if s.robot_meshes else "render.png"))
        if render and images:
            contact_sheet(images, stage / CONTACT_SHEET_NAME, cols=4)  # each render carries its title
        write_run_record(stage, record)
    return out

"""Result folders (DESIGN.md §4): ``object.obj``, ``right_hand.obj``, ``left_hand.obj``,
``hands.json`` and ``render.png`` per sample, all in the object's frame (metres), and whole runs:
``DIR/<k>/`` per sample, ``DIR/contact_sheet.png`` and the run record ``DIR/summary.json``
(:class:`bghop.eval.runs.RunRecord`).

A sample folder is written into a temporary sibling and renamed into place, so a failed sample
never leaves a half-written folder behind; ``summary.json`` is written last, by temp file + rename.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from tqdm.auto import tqdm

from bghop.core.io import atomic_folder
from bghop.eval.runs import SUMMARY_NAME, RunRecord, hands_digest, write_run_record
from bghop.hands import HandModel
from bghop.hands.params import Hands, load_hands_json, save_hands_json
from bghop.hands.posing import HandLayers, PosedHand, pose_hands
from bghop.viz.render import COLORS, RenderMesh, contact_sheet, render_meshes

logger = logging.getLogger(__name__)

__all__ = ["ResultSample", "write_result_folder", "read_result_folder", "hand_meshes", "write_run",
           "CONTACT_SHEET_NAME", "SUMMARY_NAME"]

CONTACT_SHEET_NAME = "contact_sheet.png"


@dataclass
class ResultSample:
    """One result: an object and one or two hands in the object's frame.

    Attributes:
        object_mesh: metres.
        hands: :class:`~bghop.hands.params.Hands` (batch 1).
        title: caption of the render.
        extra: extra entries stored in ``hands.json`` (e.g. metrics).
        posed: the hands already posed (e.g. by the checks), written as they are; None: posed here.
    """

    object_mesh: trimesh.Trimesh
    hands: Hands
    title: str | None = None
    extra: dict = field(default_factory=dict)
    posed: dict[str, PosedHand] | None = None

    def __post_init__(self) -> None:
        self.hands = Hands.coerce(self.hands)


def hand_meshes(hands: Hands, layers: dict[str, HandModel] | HandLayers | None = None,
                mano_dir: str | os.PathLike | None = None) -> dict[str, trimesh.Trimesh]:
    """Posed hand meshes (metres) for each hand in ``hands`` (:func:`bghop.hands.posing.pose_hands`)."""
    if not isinstance(layers, HandLayers):
        layers = HandLayers(mano_dir, layers=layers)
    return {s: h.mesh for s, h in pose_hands(Hands.coerce(hands), layers).items()}


def write_result_folder(out_dir: str | os.PathLike, sample: ResultSample, layers: dict[str, HandModel] | None = None,
                        mano_dir: str | os.PathLike | None = None, render: bool = True) -> Path:
    """Write one result folder atomically (replacing an existing one only once the new one is complete).

    Args:
        out_dir: the sample's folder.
        sample: what to write.
        layers: hand layers to reuse (loaded from ``kind`` otherwise).
        mano_dir: MANO folder for MANO hands.
        render: also write ``render.png``.
    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    with atomic_folder(out_dir) as tmp:
        sample.object_mesh.export(tmp / "object.obj")
        meshes = ({s: h.mesh for s, h in sample.posed.items()} if sample.posed is not None
                  else hand_meshes(sample.hands, layers, mano_dir))
        for side, m in meshes.items():
            m.export(tmp / f"{side}_hand.obj")
        save_hands_json(tmp / "hands.json", sample.hands, extra=sample.extra or None)
        if render:
            rm = [RenderMesh(np.asarray(sample.object_mesh.vertices), np.asarray(sample.object_mesh.faces),
                             COLORS["object"])]
            rm += [RenderMesh(np.asarray(m.vertices), np.asarray(m.faces), COLORS[s]) for s, m in meshes.items()]
            render_meshes(rm, tmp / "render.png", title=sample.title)
    return out_dir


def read_result_folder(folder: str | os.PathLike) -> ResultSample:
    """Read a result folder written by any method that follows the layout."""
    folder = Path(folder)
    obj = folder / "object.obj"
    if not obj.is_file():
        raise FileNotFoundError(f"{folder} is not a result folder: {obj.name} is missing")
    mesh = trimesh.load(obj, force="mesh", process=False)
    return ResultSample(object_mesh=mesh, hands=load_hands_json(folder / "hands.json"), title=folder.name)


def _stale_folders(out: Path, count: int) -> list[Path]:
    """Numbered sample folders of an earlier, larger run in ``out`` (index ≥ ``count``)."""
    stale = []
    if out.is_dir():
        for p in out.iterdir():
            if p.is_dir() and p.name.isdigit() and int(p.name) >= count and (p / "hands.json").is_file():
                stale.append(p)
    return stale


def write_run(out_dir: str | os.PathLike, samples: list[ResultSample], record: RunRecord,
              layers: dict[str, HandModel] | None = None, mano_dir: str | os.PathLike | None = None,
              render: bool = True, progress: bool = True) -> Path:
    """Write ``DIR/<k>/`` for every sample, ``DIR/contact_sheet.png`` and ``DIR/summary.json``.

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
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for k, (s, rec) in enumerate(zip(tqdm(samples, desc="writing", disable=not progress, leave=False),
                                     record.samples)):
        folder = write_result_folder(out / str(k), s, layers=layers, mano_dir=mano_dir, render=render)
        rec.name = str(k)
        rec.hands_digest = hands_digest(s.hands.to_json_dict())
        if render:
            images.append(folder / "render.png")
    for p in _stale_folders(out, len(samples)):
        logger.info("removing %s from an earlier run", p)
        shutil.rmtree(p, ignore_errors=True)
    if render and images:
        contact_sheet(images, out / CONTACT_SHEET_NAME, cols=4)  # each render carries its title
    write_run_record(out, record)
    return out

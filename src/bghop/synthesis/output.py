"""Writing synthesis runs as result folders (DESIGN.md §4): ``DIR/<k>/`` per sample, a contact
sheet and ``DIR/summary.json``.

Each sample folder is written atomically by :func:`bghop.viz.results.write_result_folder`, and
``summary.json`` by temp file + rename, so an interrupted run never leaves half-written files.
Folders are numbered ``0, 1, …`` in the order given (best first for grasps).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from bghop.core.io import write_json_atomic as _write_json
from bghop.hands import HandModel
from bghop.viz.render import contact_sheet
from bghop.viz.results import ResultSample, write_result_folder

if TYPE_CHECKING:
    from bghop.synthesis.grasp import Grasp, GraspSynthesisResult

logger = logging.getLogger(__name__)

__all__ = ["write_run", "write_json_atomic", "grasp_summary", "save_grasps", "CONTACT_SHEET_NAME", "SUMMARY_NAME"]

CONTACT_SHEET_NAME = "contact_sheet.png"
SUMMARY_NAME = "summary.json"


def write_json_atomic(path: str | os.PathLike, data: dict) -> Path:
    """Write JSON atomically (:mod:`bghop.core.io`); numpy scalars/arrays and tensors are converted."""
    return _write_json(path, data, default=_json_default)


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


def _stale_folders(out: Path, count: int) -> list[Path]:
    """Numbered sample folders of an earlier, larger run in ``out`` (index ≥ ``count``)."""
    stale = []
    if out.is_dir():
        for p in out.iterdir():
            if p.is_dir() and p.name.isdigit() and int(p.name) >= count and (p / "hands.json").is_file():
                stale.append(p)
    return stale


def write_run(out_dir: str | os.PathLike, samples: list[ResultSample], summary: dict,
              layers: dict[str, HandModel] | None = None, mano_dir: str | os.PathLike | None = None,
              render: bool = True, progress: bool = True) -> Path:
    """Write ``DIR/<k>/`` for every sample, ``DIR/contact_sheet.png`` and ``DIR/summary.json``.

    Args:
        out_dir: the run folder (created).
        samples: in output order.
        summary: JSON-serialisable run settings and per-sample metrics.
        layers: hand layers to reuse.
        mano_dir: MANO folder for MANO hands.
        render: write ``render.png`` per sample and the contact sheet.
        progress: tqdm progress bar.
    Returns:
        ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for k, s in enumerate(tqdm(samples, desc="writing", disable=not progress, leave=False)):
        folder = write_result_folder(out / str(k), s, layers=layers, mano_dir=mano_dir, render=render)
        if render:
            images.append(folder / "render.png")
    for p in _stale_folders(out, len(samples)):
        logger.info("removing %s from an earlier run", p)
        shutil.rmtree(p, ignore_errors=True)
    if render and images:
        contact_sheet(images, out / CONTACT_SHEET_NAME, cols=4)  # each render carries its title
    write_json_atomic(out / SUMMARY_NAME, summary)
    return out


def grasp_summary(result: GraspSynthesisResult) -> dict:
    """``summary.json`` content: run settings, timings, per-grasp metrics (best first) and dropped grasps."""
    samples = [{"name": str(k), "rank": k, **g.to_dict()} for k, g in enumerate(result.grasps)]
    return {"kind": "grasp", "text": result.text, "settings": result.settings, "timings_s": result.timings,
            "warnings": result.warnings, "sds_error_per_iteration": result.sds_error, "samples": samples,
            "dropped": [d.to_dict() for d in result.dropped]}


def _title(k: int, g: Grasp) -> str:
    parts = [f"#{k}"]
    if g.stability is not None:
        parts.append("stable" if g.stability.success else "unstable")
    parts.append("contact" if g.metrics.contact_both else "no contact")
    parts.append(f"pen {g.metrics.penetration_max_m * 1000:.1f} mm")
    return " · ".join(parts)


def save_grasps(result: GraspSynthesisResult, out_dir: str | os.PathLike, layers: dict[str, HandModel] | None = None,
                mano_dir: str | os.PathLike | None = None, render: bool = True, progress: bool = True) -> Path:
    """Write the grasps best first as result folders ``DIR/<k>/``, a contact sheet and ``summary.json``.

    The hand meshes are the ones the ranking posed (:attr:`Grasp.posed <bghop.synthesis.grasp.Grasp>`);
    hands are posed again only for grasps that lack them.

    Args:
        result: from :class:`~bghop.synthesis.grasp.GraspSynthesizer`.
        out_dir: run folder.
        layers: hand layers to reuse (loaded by kind otherwise).
        mano_dir: MANO folder for MANO hands.
        render: write renders and the contact sheet.
        progress: tqdm progress bar.
    Returns:
        the folder.
    """
    samples = []
    for k, g in enumerate(result.grasps):
        extra = {"rank": k, "rank_score": g.rank_score, "sds_score": g.sds_score, "text": result.text}
        samples.append(ResultSample(result.object_mesh, g.hands, title=_title(k, g), extra=extra,
                                    posed=g.posed or None))
    return write_run(out_dir, samples, grasp_summary(result), layers=layers, mano_dir=mano_dir, render=render,
                     progress=progress)

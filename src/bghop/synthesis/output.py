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

from tqdm.auto import tqdm

from bghop.core.io import write_json_atomic as _write_json
from bghop.hands import HandModel
from bghop.viz.render import contact_sheet
from bghop.viz.results import ResultSample, write_result_folder

logger = logging.getLogger(__name__)

__all__ = ["write_run", "write_json_atomic", "CONTACT_SHEET_NAME", "SUMMARY_NAME"]

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

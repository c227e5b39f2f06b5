"""Result folders on disk (DESIGN.md §4): where the samples of a run are, and its ``summary.json``.

A run folder ``DIR`` holds one folder per sample, ``DIR/<k>/`` with ``object.obj``, the hand
meshes and ``hands.json``, and ``DIR/summary.json``: the run's typed, versioned record
(:class:`RunRecord`, one :class:`SampleRecord` per sample). ``bghop eval``, ``bghop bench`` and
``bghop view`` read it through this module only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["RunFolderError", "find_sample_folders", "natural_key", "SUMMARY_NAME"]

#: the run-level record of a result folder
SUMMARY_NAME = "summary.json"


class RunFolderError(ValueError):
    """A result folder that cannot be read (missing, not a folder, no samples); the message says why."""


def natural_key(name: str) -> tuple:
    """Sort key that puts ``2`` before ``10`` (numbers and text never compared with each other)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)


def find_sample_folders(folder: str | os.PathLike) -> list[Path]:
    """Sample folders of a result folder (``DIR/<k>/object.obj``), or ``[folder]`` if it is a sample itself.

    Hidden folders (temporary siblings of atomic writes) are skipped; samples come in natural
    order (``2`` before ``10``).

    Raises:
        RunFolderError: the folder does not exist, is a file, or holds no samples.
    """
    folder = Path(folder)
    if not folder.exists():
        raise RunFolderError(f"{folder} does not exist")
    if not folder.is_dir():
        raise RunFolderError(f"{folder} is not a folder (give a result folder DIR with DIR/<k>/object.obj)")
    if (folder / "object.obj").is_file():
        return [folder]
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "object.obj").is_file()]
    if not subs:
        raise RunFolderError(f"{folder} holds no result samples (expected {folder}/<k>/object.obj, hands.json, "
                             "right_hand.obj)")
    return sorted(subs, key=lambda p: natural_key(p.name))

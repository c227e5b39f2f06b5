"""Issue 19: the commands under bad input, as a user runs them (a subprocess): the working folder
a user has, one table of cases per class of failure (``test_cli_*.py`` run them), and the check
every case must pass: exit code 2, a message naming the file or option, no traceback, every file
and folder that was there byte-identical and none added."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import trimesh
from grid_data import make_grid_data



def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``root``."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def bghop(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "BGHOP_CACHE_DIR": str(cwd / ".." / "cache"), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "bghop", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


# ----------------------------------------------------------------------------------- inputs for cases


def _files(w: Path) -> None:
    """The user's working folder: a mesh, a folder of their own, a file, bad meshes and data."""
    trimesh.creation.box(extents=(0.12, 0.08, 0.2)).export(w / "box.obj")
    (w / "mine").mkdir()
    (w / "mine" / "notes.txt").write_text("my notes")
    (w / "mine" / "0").mkdir()
    (w / "mine" / "0" / "hands.json").write_text('{"mine": true}')
    (w / "mine" / "summary.json").write_text('{"my": "summary"}')
    (w / "afile.txt").write_text("a file")
    (w / "line.obj").write_text("v 0 0 0\nv 0.05 0 0\nv 0.1 0 0\nf 1 2 3\n")  # collinear: no area
    (w / "sheet.obj").write_text("v 0 0 0\nv 0.1 0 0\nv 0.1 0.1 0\nv 0 0.1 0\nf 1 2 3\nf 1 3 4\n")  # no inside
    np.savez(w / "empty.npz")
    (w / "run" / "0").mkdir(parents=True)  # a result folder (what eval and view read)
    trimesh.creation.box(extents=(0.12, 0.08, 0.2)).export(w / "run" / "0" / "object.obj")
    (w / "hands.json").write_text(json.dumps({"right": {"pose": [0.0] * 45, "global_orient": [0.0] * 3,
                                                        "transl": [0.0, 0.0, 0.2], "side": "right",
                                                        "kind": "open"}}))
    data = make_grid_data(w / "data", n=4, bimanual=True)
    (w / "brokenmanifest").mkdir()
    (w / "brokenmanifest" / "manifest.json").write_text("{not json")
    trunc = w / "truncated"
    make_grid_data(trunc, n=4, bimanual=True)
    shard = sorted(trunc.glob("*.npz"))[0]
    shard.write_bytes(shard.read_bytes()[:200])
    assert data.is_dir()


@dataclass
class Case:
    id: str
    args: list[str]
    says: tuple[str, ...]  # substrings of the message (the file or option, what to do)
    prep: Callable[[Path], None] | None = field(default=None)


def _own_run_with_user_file(w: Path) -> None:
    """A bghop grasp run (its marker) into which the user put a file named ``1``."""
    (w / "own" / "0").mkdir(parents=True)
    (w / "own" / "0" / "hands.json").write_text("{}")
    (w / "own" / ".bghop-run.json").write_text(json.dumps({"format": 1, "command": "grasp",
                                                           "files": ["0/hands.json"]}))
    (w / "own" / "1").write_text("the user's file")


# the output folder already holds something that is not a bghop run of this command
OUTPUT_CASES = [
    Case("user-file-where-its-own-run-writes", ["grasp", "--example", "--text", "box", "-n", "2", "--out", "own"],
         ("own", "your file(s) 1", "move them"), prep=_own_run_with_user_file),
    Case("grasp-into-user-folder", ["grasp", "--example", "--text", "box", "-n", "2", "--out", "mine"],
         ("mine", "--overwrite")),
    Case("generate-into-user-folder", ["generate", "--text", "box", "-n", "2", "--out", "mine"],
         ("mine", "--overwrite")),
    Case("data-show-into-user-folder", ["data", "show", "data", "--out", "mine", "-k", "2"], ("mine", "--overwrite")),
    Case("overwrite-still-refuses-clashing-user-files",
         ["grasp", "--example", "--text", "box", "-n", "2", "--out", "mine", "--overwrite"],
         ("summary.json", "move them")),
    Case("grid-decode-into-its-input-folder", ["grid", "decode", "mine/g.npz", "--out", "mine"], ("holds the input",),
         prep=lambda w: np.savez(w / "mine" / "g.npz", object_sdf=np.zeros((2, 2, 2)))),
    Case("grid-encode-over-a-user-file", ["grid", "encode", "--object", "box.obj", "--hands", "hands.json",
                                          "--out", "afile.txt"], ("afile.txt", "--overwrite")),
    Case("eval-over-foreign-metrics", ["eval", "run", "--out", "mine", "--no-physics"], ("metrics.csv", "--overwrite"),
         prep=lambda w: (w / "mine" / "metrics.csv").write_text("my,table\n")),
    Case("train-into-user-folder", ["train", "autoencoder", "--data", "data", "--out", "mine", "--steps", "1"],
         ("mine", "new or empty")),
    Case("synth-into-user-folder", ["data", "synth", "--out", "mine", "--bimanual", "1", "--single", "0"],
         ("mine", "new or empty")),
]

# output paths that cannot be written: refused before any work (no traceback after the work)
PATH_CASES = [
    Case("grasp-out-under-a-file", ["grasp", "--example", "--text", "box", "--out", "afile.txt/run"], ("afile.txt",)),
    Case("grasp-out-in-proc", ["grasp", "--example", "--text", "box", "--out", "/proc/bghop-run"], ("cannot write",)),
    Case("generate-out-is-a-file", ["generate", "--text", "box", "--out", "afile.txt"], ("is a file",)),
    Case("eval-out-in-proc", ["eval", "run", "--out", "/proc/bghop-eval"], ("cannot write",)),
    Case("hands-render-out-in-proc", ["hands", "render", "--out", "/proc/bghop-hands"], ("cannot write",)),
    Case("grid-decode-out-under-a-file", ["grid", "decode", "empty.npz", "--out", "afile.txt/x"], ("afile.txt",)),
    Case("data-show-out-in-proc", ["data", "show", "data", "--out", "/proc/bghop-show"], ("cannot write",)),
    Case("train-out-under-a-file", ["train", "autoencoder", "--data", "data", "--out", "afile.txt/t"], ("afile.txt",)),
    Case("view-static-is-a-folder", ["view", "run", "--static", "mine"], ("--static", "folder")),
    Case("train-out-inside-its-data", ["train", "autoencoder", "--data", "data", "--out", "data/run"],
         ("inside the input",)),
]

# values and devices
VALUE_CASES = [
    Case("n-too-large-for-memory", ["grasp", "--example", "--text", "box", "-n", "100000", "--out", "r"],
         ("-n 100000", "GB", "--force")),
    Case("n-zero", ["grasp", "--example", "--text", "box", "-n", "0", "--out", "r"], ("-n/--num", ">= 1")),
    Case("negative-seed", ["grasp", "--example", "--text", "box", "--seed", "-1", "--out", "r"], ("--seed",)),
    Case("sdf-resolution-zero", ["grid", "encode", "--object", "box.obj", "--hands", "hands.json", "--out", "g.npz",
                                 "--sdf-resolution", "0"], ("--sdf-resolution",)),
    Case("show-k-zero", ["data", "show", "data", "--out", "s", "-k", "0"], ("-k",)),
    Case("channels-zero", ["train", "autoencoder", "--data", "data", "--out", "t", "--channels", "0", "0", "0"],
         ("--channels",)),
    Case("lr-negative", ["train", "autoencoder", "--data", "data", "--out", "t", "--lr", "-1"], ("--lr",)),
    Case("device-nonsense-eval", ["eval", "run", "--device", "nonsense"], ("--device", "nonsense")),
    Case("device-cuda-train", ["train", "autoencoder", "--data", "data", "--out", "t", "--device", "cuda"],
         ("--device cuda", "CUDA")),
    Case("device-cuda-grid-encode", ["grid", "encode", "--object", "box.obj", "--hands", "hands.json", "--out",
                                     "g.npz", "--device", "cuda"], ("--device cuda",)),
    Case("device-cuda-synth", ["data", "synth", "--out", "s", "--device", "cuda"], ("--device cuda",)),
    Case("device-nonsense-hands-render", ["hands", "render", "--out", "h", "--device", "nonsense"], ("--device",)),
]

# degenerate or corrupt inputs
INPUT_CASES = [
    Case("collinear-mesh", ["grasp", "line.obj", "--text", "box", "--out", "r"], ("line.obj",)),
    Case("open-sheet", ["grasp", "sheet.obj", "--text", "box", "--out", "r"], ("sheet.obj", "--allow-open")),
    Case("empty-npz", ["grid", "decode", "empty.npz", "--out", "d"], ("empty.npz",)),
    Case("broken-manifest-show", ["data", "show", "brokenmanifest", "--out", "s"], ("manifest.json",)),
    Case("broken-manifest-stats", ["data", "stats", "brokenmanifest"], ("manifest.json",)),
    Case("truncated-shard", ["data", "show", "truncated", "--out", "s", "-k", "4"], ("truncated",)),
]


def make_work(tmp_path_factory) -> Path:
    """A user's working folder (:func:`_files`), made once per test module."""
    w = tmp_path_factory.mktemp("user") / "work"
    w.mkdir()
    _files(w)
    return w


def run_case(work: Path, case: Case, tmp_path: Path) -> None:
    import shutil

    w = tmp_path / "work"
    shutil.copytree(work, w, symlinks=True)
    if case.prep:
        case.prep(w)
    before = snapshot(w)
    r = bghop(case.args, w)
    msg = r.stderr + r.stdout
    assert r.returncode == 2, f"{case.id}: exit {r.returncode}\n{msg[-2000:]}"
    assert "Traceback" not in msg, f"{case.id}: printed a traceback\n{msg[-3000:]}"
    for s in case.says:
        assert s in msg, f"{case.id}: the message does not say {s!r}:\n{msg[-1500:]}"
    assert snapshot(w) == before, f"{case.id}: files changed"
    assert not [p for p in w.parent.iterdir() if p.name.startswith(".")], f"{case.id}: left a temporary folder"



"""Issue 19: every command under bad input, as a user runs it (a subprocess).

One table of cases per class of failure: an output folder that holds someone's files, output
paths that cannot be written, values and devices out of range, degenerate or corrupt inputs.
Each case must exit with code 2 and a message naming the file or option, print no traceback,
and leave every file and folder that was there byte-identical (and add none). Then the classes
that must *work*: ``--overwrite`` keeps foreign files, and an interrupted run (SIGINT, SIGKILL)
leaves the previous complete run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import trimesh
from grid_data import make_grid_data

from bghop.core.outputs import recover


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``root``."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def _bghop(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
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


# the output folder already holds something that is not a bghop run of this command
OUTPUT_CASES = [
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


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("user") / "work"
    w.mkdir()
    _files(w)
    return w


def _run_case(work: Path, case: Case, tmp_path: Path) -> None:
    import shutil

    w = tmp_path / "work"
    shutil.copytree(work, w, symlinks=True)
    if case.prep:
        case.prep(w)
    before = _snapshot(w)
    r = _bghop(case.args, w)
    msg = r.stderr + r.stdout
    assert r.returncode == 2, f"{case.id}: exit {r.returncode}\n{msg[-2000:]}"
    assert "Traceback" not in msg, f"{case.id}: printed a traceback\n{msg[-3000:]}"
    for s in case.says:
        assert s in msg, f"{case.id}: the message does not say {s!r}:\n{msg[-1500:]}"
    assert _snapshot(w) == before, f"{case.id}: files changed"
    assert not [p for p in w.parent.iterdir() if p.name.startswith(".")], f"{case.id}: left a temporary folder"


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=lambda c: c.id)
def test_an_output_folder_with_other_files_is_refused(work, case, tmp_path):
    _run_case(work, case, tmp_path)


@pytest.mark.parametrize("case", PATH_CASES, ids=lambda c: c.id)
def test_an_unwritable_output_is_refused_before_the_work(work, case, tmp_path):
    t0 = time.perf_counter()
    _run_case(work, case, tmp_path)
    assert time.perf_counter() - t0 < 60  # before the models, meshes and optimisation


@pytest.mark.parametrize("case", VALUE_CASES, ids=lambda c: c.id)
def test_bad_values_and_devices_are_refused(work, case, tmp_path):
    _run_case(work, case, tmp_path)


@pytest.mark.parametrize("case", INPUT_CASES, ids=lambda c: c.id)
def test_degenerate_and_corrupt_inputs_are_refused(work, case, tmp_path):
    _run_case(work, case, tmp_path)


# ----------------------------------------------------------------------------------- what must work


def test_overwrite_replaces_bghops_files_and_keeps_the_users(work, tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    args = ["grasp", "--example", "--text", "box", "--sds-iters", "1", "--refine-iters", "1", "--no-physics",
            "--no-render", "--quiet", "--threads", "1", "--out", "run"]
    assert _bghop([*args, "-n", "3"], w).returncode == 0
    (w / "run" / "0" / "notes.txt").write_text("mine")  # the user's note in a result folder
    (w / "run" / "2" / "plot.png").write_bytes(b"mine")  # ... in one the next, smaller run does not write
    (w / "run" / "1.txt").write_text("mine")
    r = _bghop([*args, "-n", "2"], w)  # the same command into its own run: no --overwrite needed
    assert r.returncode == 0, r.stderr
    t = _snapshot(w / "run")
    assert t["0/notes.txt"] == b"mine" and t["2/plot.png"] == b"mine" and t["1.txt"] == b"mine"
    assert "2/hands.json" not in t  # the earlier run's third grasp is gone: it is not part of this run
    assert len(json.loads(t["summary.json"])["samples"]) == 2
    r = _bghop(["generate", "--text", "box", "-n", "1", "--steps", "2", "--no-render", "--quiet", "--out", "run"], w)
    assert r.returncode == 2 and "a bghop 'grasp' run" in r.stderr  # another command's run needs --overwrite


def test_eval_keeps_good_metrics_when_a_sample_breaks(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    assert _bghop(["grasp", "--example", "--text", "box", "-n", "2", "--sds-iters", "1", "--refine-iters", "1",
                   "--no-physics", "--no-render", "--quiet", "--threads", "1", "--out", "run"], w).returncode == 0
    assert _bghop(["eval", "run", "--no-physics", "--no-plots"], w).returncode == 0
    good = (w / "run" / "metrics.csv").read_bytes()
    (w / "run" / "1" / "hands.json").unlink()
    r = _bghop(["eval", "run", "--no-physics", "--no-plots"], w)
    assert r.returncode == 2 and "kept" in r.stderr and "Traceback" not in r.stderr
    assert (w / "run" / "metrics.csv").read_bytes() == good


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_command_leaves_the_previous_run(tmp_path, sig):
    """``bghop hands render`` killed at several moments over an earlier complete run whose images
    were marked: afterwards (and after the next start's clean-up) every image is the old run's or
    every one the new run's, never a mix; the user's file stays; no temporary folder is left."""
    w = tmp_path / "w"
    w.mkdir()
    assert _bghop(["hands", "render", "--out", "g"], w).returncode == 0
    for png in (w / "g").glob("*.png"):  # bghop's own files (in the marker), made recognisable
        png.write_bytes(b"OLD " + png.name.encode())
    (w / "g" / "mine.txt").write_text("mine")
    names = sorted(p.name for p in (w / "g").glob("*.png"))
    interrupted = 0
    for delay in (1.0, 2.5, 4.0, 6.0):
        p = subprocess.Popen([sys.executable, "-m", "bghop", "hands", "render", "--out", "g"],
                             cwd=w, env={**os.environ, "PYTHONWARNINGS": "ignore"}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            p.send_signal(sig)
            _, err = p.communicate(timeout=60)
            assert "Traceback" not in err
            interrupted += 1
        recover(w / "g")
        now = {q.name: q.read_bytes() for q in (w / "g").iterdir() if q.is_file()}
        assert now["mine.txt"] == b"mine"
        assert sorted(n for n in now if n.endswith(".png")) == names
        old = [now[n].startswith(b"OLD ") for n in names]
        assert all(old) or not any(old), f"a mixed folder after {delay} s: {old}"
        if not any(old):  # the new run landed: mark it again for the next round
            for n in names:
                (w / "g" / n).write_bytes(b"OLD " + n.encode())
        assert not [q for q in w.iterdir() if q.name.startswith(".")]
    assert interrupted >= 1

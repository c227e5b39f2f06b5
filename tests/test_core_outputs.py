"""Staged output folders: swapped in whole, bghop's own files replaced, a user's files never lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bghop.core.outputs import MARKER_NAME, OutputError, check_output, check_output_file, read_marker, recover, \
    recover_files, staged_files, staged_folder


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_run(out: Path, files: dict[str, str], command: str = "grasp") -> None:
    with staged_folder(out, command) as st:
        for name, text in files.items():
            (st / name).parent.mkdir(parents=True, exist_ok=True)
            (st / name).write_text(text)


def test_a_run_replaces_its_own_files_and_keeps_everyone_elses(tmp_path):
    out = tmp_path / "run"
    _write_run(out, {"0/hands.json": "a0", "1/hands.json": "a1", "5/hands.json": "a5", "summary.json": "A"})
    assert (out / MARKER_NAME).is_file()
    assert read_marker(out).files == ("0/hands.json", "1/hands.json", "5/hands.json", "summary.json")
    (out / "0" / "notes.txt").write_text("mine")  # the user's note inside a result folder
    (out / "5" / "plot.png").write_bytes(b"mine too")
    (out / "mine").mkdir()
    (out / "mine" / "x.txt").write_text("x")
    (out / "empty").mkdir()
    _write_run(out, {"0/hands.json": "b0", "1/hands.json": "b1", "summary.json": "B"})
    t = _tree(out)
    assert t["0/hands.json"] == b"b0" and t["summary.json"] == b"B"
    assert "5/hands.json" not in t  # the old run's own file is gone ...
    assert t["5/plot.png"] == b"mine too" and t["0/notes.txt"] == b"mine" and t["mine/x.txt"] == b"x"  # ... not yours
    assert (out / "empty").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging or old folders left


def test_a_user_file_where_the_run_writes_is_kept_beside_it(tmp_path):
    out = tmp_path / "run"
    _write_run(out, {"0/hands.json": "a"})
    (out / "1").write_text("a user file named 1")
    _write_run(out, {"0/hands.json": "b", "1/hands.json": "b1"})
    t = _tree(out)
    assert t["1/hands.json"] == b"b1" and t["1.kept"] == b"a user file named 1"


def test_an_error_inside_the_block_leaves_the_old_run_untouched(tmp_path):
    out = tmp_path / "run"
    _write_run(out, {"0/hands.json": "a", "summary.json": "A"})
    before = _tree(out)
    with pytest.raises(RuntimeError):
        with staged_folder(out, "grasp") as st:
            (st / "0").mkdir()
            (st / "0" / "hands.json").write_text("half")
            raise RuntimeError("boom")
    assert _tree(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


_KILLED = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from bghop.core import outputs
    out = Path(sys.argv[1])
    if sys.argv[2] == "during":
        with outputs.staged_folder(out, "grasp") as st:
            (st / "0").mkdir(); (st / "0" / "hands.json").write_text("new")
            print("writing", flush=True); time.sleep(60)
    else:  # killed in the middle of the swap: after the commit flag, some foreign files moved
        real = outputs._swap_in
        def slow(stage, o, legacy):
            (o / "notes.txt").rename(stage / "notes.txt")
            print("writing", flush=True); time.sleep(60)
        outputs._swap_in = slow
        with outputs.staged_folder(out, "grasp") as st:
            (st / "0").mkdir(); (st / "0" / "hands.json").write_text("new")
""")


def _ctrl_c_works() -> None:
    """In the child: SIGINT as in a terminal (a job started in the background ignores it, and its
    children would inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("when", ["during", "swap"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_run_never_leaves_a_mixed_folder(tmp_path, when, sig):
    out = tmp_path / "run"
    _write_run(out, {"0/hands.json": "old", "summary.json": "old"})
    (out / "notes.txt").write_text("mine")
    before = _tree(out)
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(out), when], stdout=subprocess.PIPE, text=True,
                            preexec_fn=_ctrl_c_works)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(sig)
    assert proc.wait(timeout=30) != 0
    recover(out)  # what the next command writing there does first
    t = _tree(out)
    if when == "during":
        assert t == before  # the previous complete run, intact
    else:  # the commit flag was written: the new run is finished, the user's file still there
        assert t["0/hands.json"] == b"new" and t["notes.txt"] == b"mine" and "summary.json" not in t
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_check_output_refuses_what_would_lose_files(tmp_path):
    mesh = tmp_path / "in" / "box.obj"
    mesh.parent.mkdir()
    mesh.write_text("v 0 0 0\n")
    assert check_output(tmp_path / "new" / "deeper", "grasp") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing made by the check
    with pytest.raises(OutputError, match="is a file"):
        check_output(mesh, "grasp")
    with pytest.raises(OutputError, match="holds the input"):
        check_output(mesh.parent, "grasp", inputs=[mesh], overwrite=True)
    with pytest.raises(OutputError, match="is a file, so no folder"):
        check_output(mesh / "sub", "grasp")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "summary.json").write_text("{}")
    (foreign / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match="--overwrite"):
        check_output(foreign, "grasp")
    with pytest.raises(OutputError, match="summary.json"):
        check_output(foreign, "grasp", overwrite=True, reserved=["summary.json", "0"])
    assert check_output(foreign, "grasp", overwrite=True, reserved=["0"]) == foreign
    run = tmp_path / "run"
    _write_run(run, {"a": "1"}, command="generate")
    with pytest.raises(OutputError, match="a bghop 'generate' run"):
        check_output(run, "grasp")
    assert check_output(run, "generate") == run
    (run / "0").write_text("a user file where the run writes its folder 0")
    with pytest.raises(OutputError, match="your file"):
        check_output(run, "generate", reserved=["0", "summary.json"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_check_output_refuses_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="cannot write"):
            check_output(ro / "out", "grasp")
    finally:
        ro.chmod(0o755)


def test_check_output_refuses_proc():
    with pytest.raises(OutputError, match="cannot write"):
        check_output("/proc/bghop-out", "grasp")


def test_check_output_file(tmp_path):
    f = tmp_path / "grid.npz"
    assert check_output_file(f) == f
    f.write_text("the user's")
    with pytest.raises(OutputError, match="--overwrite"):
        check_output_file(f)
    assert check_output_file(f, ours=lambda p: True) == f
    with pytest.raises(OutputError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(OutputError, match="also the input"):
        check_output_file(f, overwrite=True, inputs=[f])


def test_staged_files_replace_their_namesakes_together(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("old")
    (run / "metrics.json").write_text("old")
    (run / "mine.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        with staged_files(run) as st:
            (st / "metrics.csv").write_text("new")
            raise RuntimeError("boom")
    assert (run / "metrics.csv").read_text() == "old" and len(list(run.iterdir())) == 3
    with staged_files(run) as st:
        (st / "metrics.csv").write_text("new")
        (st / "metrics.json").write_text("new")
    assert [(run / n).read_text() for n in ("metrics.csv", "metrics.json", "mine.txt")] == ["new", "new", "mine"]
    assert len(list(run.iterdir())) == 3
    # a killed eval: uncommitted staging (removed) and committed staging halfway through its moves (finished)
    dead = f"{socket.gethostname()}~99999999~"
    (run / f".bghop-files-{dead}a").mkdir()
    (run / f".bghop-files-{dead}a" / "metrics.csv").write_text("half")
    done = run / f".bghop-files-{dead}b"
    done.mkdir()
    (done / "metrics.json").write_text("newer")
    (done / ".bghop-commit").write_text("")
    recover_files(run)
    assert (run / "metrics.csv").read_text() == "new" and (run / "metrics.json").read_text() == "newer"
    assert sorted(p.name for p in run.iterdir()) == ["metrics.csv", "metrics.json", "mine.txt"]

"""Issue 19, classes 1 and 2: a rerun into bghop's own run replaces bghop's files and keeps the
user's; another command's run needs --overwrite; eval keeps good metrics when a sample breaks."""

from __future__ import annotations

import json

from cli_cases import bghop, snapshot


def test_a_rerun_replaces_bghops_files_and_keeps_the_users(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    args = ["grasp", "--example", "--text", "box", "--sds-iters", "1", "--refine-iters", "1", "--no-physics",
            "--no-render", "--quiet", "--threads", "1", "--out", "run"]
    assert bghop([*args, "-n", "3"], w).returncode == 0
    (w / "run" / "0" / "notes.txt").write_text("mine")  # the user's note in a result folder
    (w / "run" / "2" / "plot.png").write_bytes(b"mine")  # ... in one the next, smaller run does not write
    (w / "run" / "1.txt").write_text("mine")
    r = bghop([*args, "-n", "2"], w)  # the same command into its own run: no --overwrite needed
    assert r.returncode == 0, r.stderr
    t = snapshot(w / "run")
    assert t["0/notes.txt"] == b"mine" and t["2/plot.png"] == b"mine" and t["1.txt"] == b"mine"
    assert "2/hands.json" not in t  # the earlier run's third grasp is gone: it is not part of this run
    assert len(json.loads(t["summary.json"])["samples"]) == 2
    r = bghop(["generate", "--text", "box", "-n", "1", "--steps", "2", "--no-render", "--quiet", "--out", "run"], w)
    assert r.returncode == 2 and "a bghop 'grasp' run" in r.stderr  # another command's run needs --overwrite


def test_eval_keeps_good_metrics_when_a_sample_breaks(tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    assert bghop(["grasp", "--example", "--text", "box", "-n", "2", "--sds-iters", "1", "--refine-iters", "1",
                   "--no-physics", "--no-render", "--quiet", "--threads", "1", "--out", "run"], w).returncode == 0
    assert bghop(["eval", "run", "--no-physics", "--no-plots"], w).returncode == 0
    good = (w / "run" / "metrics.csv").read_bytes()
    (w / "run" / "1" / "hands.json").unlink()
    r = bghop(["eval", "run", "--no-physics", "--no-plots"], w)
    assert r.returncode == 2 and "kept" in r.stderr and "Traceback" not in r.stderr
    assert (w / "run" / "metrics.csv").read_bytes() == good

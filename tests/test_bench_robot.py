"""``bghop bench grasp --robot``: the robot benchmark (:mod:`bghop.bench.robot`) on one small box, two
grasps, reduced schedules; the resumed rerun; the CLI's refusals before any work."""

from __future__ import annotations

import csv
import json
import logging
import time

import pytest
import trimesh

from bghop.bench import BenchInputError, resolve_objects
from bghop.bench.robot import ROBOT_METHODS, RobotBenchConfig, run_robot_benchmark
from bghop.cli.bench import DEFAULT_ROBOT_METHODS
from bghop.cli.main import main
from bghop.contact.optimizer import EnergyConfig
from bghop.contact.robot import RobotFitConfig
from bghop.synthesis.robot import RobotGraspConfig

pytest.importorskip("mujoco")

METHODS = ("robot-energy", "energy")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """One run and its resumed rerun (module-scoped: the robot fit and MuJoCo are the slow part)."""
    root = tmp_path_factory.mktemp("robot_bench")
    trimesh.creation.box((0.1, 0.08, 0.16)).export(root / "box.obj")
    objects = resolve_objects([str(root / "box.obj")])
    config = RobotBenchConfig(robot=RobotGraspConfig(fit=RobotFitConfig(contact_steps=60, retarget_steps=40)),
                              energy=EnergyConfig(iterations=30), render=False)
    out = root / "out"
    t = time.perf_counter()
    first = run_robot_benchmark(objects, "leap", METHODS, out, n=2, seed=0, progress=False, config=config)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    second = run_robot_benchmark(objects, "leap", METHODS, out, n=2, seed=0, progress=False, config=config)
    return out, first, second, t_first, time.perf_counter() - t


def test_folders(bench):
    out, first, *_ = bench
    for m in METHODS:
        folder = out / m / "box"
        rec = json.loads((folder / "summary.json").read_text())
        assert rec["method"] == m and len(rec["samples"]) == 2
        for k in ("0", "1"):
            for f in ("object.obj", "robot.json", "right_robot.obj", "left_robot.obj"):
                assert (folder / k / f).is_file(), (m, k, f)
            robot = json.loads((folder / k / "robot.json").read_text())
            assert robot["robot"] == "leap" and set(robot["hands"]) == {"right", "left"}
            human = (folder / k / "hands.json").is_file()
            assert human == (m == "energy")  # robot-energy has no human hands
        verdicts = [s["scores"]["robot"] for s in rec["samples"]]
        assert all("success" in v and "links_in_contact" in v for v in verdicts)
        # best first: a failed grasp never precedes a successful one
        assert [bool(v["success"]) for v in verdicts] == sorted((bool(v["success"]) for v in verdicts), reverse=True)
    assert not any(j.error for j in first.jobs)


def test_table(bench):
    out, first, *_ = bench
    assert [r.method for r in first.rows] == list(METHODS)
    for r in first.rows:
        assert r.objects == 1 and r.grasps == 2 and r.failed == 0
        assert 0 <= r.success_pct <= 100 and 0 <= r.held_pct <= 100 and r.success_pct <= r.held_pct
        assert r.best_success in (0, 1) and r.seconds_per_grasp > 0
        assert 0 <= r.depth_mean_mm <= r.depth_max_mm < 100
        if r.success_pct > 0:
            assert r.links_right >= 2 and r.links_left >= 2
    md = (out / "robot_comparison.md").read_text()
    assert all(m in md for m in METHODS) and "BimanGrasp" in md and "0.2 kg" in md
    with open(out / "robot_comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == list(METHODS)
    with open(out / "robot_comparison_per_object.csv") as f:
        per = list(csv.DictReader(f))
    assert {(r["object"], r["method"]) for r in per} == {("box", m) for m in METHODS}


def test_rerun_skips(bench):
    _, first, second, t_first, t_second = bench
    assert all(j.resumed for j in second.jobs) and not any(j.resumed for j in first.jobs)
    assert t_second < t_first / 3
    assert [r.success_pct for r in second.rows] == [r.success_pct for r in first.rows]
    assert [r.seconds_per_grasp for r in second.rows] == pytest.approx([r.seconds_per_grasp for r in first.rows])
    assert any("complete already" in n for n in second.notes)


def test_methods():
    assert DEFAULT_ROBOT_METHODS == ROBOT_METHODS
    assert RobotBenchConfig(methods=("bghop",)).methods == ("bghop",)  # the prior is accepted (not run here)
    for bad in (("magic",), (), ("energy", "energy")):
        with pytest.raises(BenchInputError):
            RobotBenchConfig(methods=bad)


def test_cli_refuses_before_work(tmp_path, capsys, caplog):
    out = tmp_path / "never"
    with caplog.at_level(logging.ERROR):
        assert main(["bench", "grasp", "--robot", "nonsense", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown robot 'nonsense'" in err and "Traceback" not in err
    assert main(["bench", "grasp", "--robot", "leap", "--methods", "robot-energy,unknown", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown" in err and "robot-energy" in err and "Traceback" not in err
    assert not out.exists()

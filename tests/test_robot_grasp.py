"""Robot grasps end to end (issue 22): ranking, ``robot.json`` and its README replay with MuJoCo alone, the
result-folder files, and the command line's checks before any work."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh

from bghop.eval.robot_physics import (
    RobotHandState,
    RobotStabilityResult,
    simulate_robot_grasp,
)
from bghop.hands.params import load_hands_json
from bghop.hands.robot_spec import load_robot_spec
from bghop.synthesis import example_mesh_path
from bghop.synthesis.robot import RobotGraspResult, RobotHandGrasp, rank_robot_grasps

DATA = Path(__file__).parent / "data"
README = Path(__file__).resolve().parents[1] / "README.md"
SPEC = load_robot_spec("leap")


def _fixture(folder: Path) -> dict:
    """A successful LEAP grasp of the example box (written by ``bghop grasp --example --robot leap``), with the
    MJCF paths of this machine, and the box, in ``folder``."""
    r = json.loads((DATA / "robot_box_grasp.json").read_text())
    for side, h in r["hands"].items():
        h["mjcf"] = str(SPEC.hands[side].mjcf)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "robot.json").write_text(json.dumps(r))
    trimesh.load(example_mesh_path(), force="mesh").export(folder / "object.obj")
    return r


def _states(r: dict) -> dict[str, RobotHandState]:
    return {s: RobotHandState(mjcf=Path(h["mjcf"]), base_pose=np.array(h["base_pose"]), qpos=h["qpos"], ctrl=h["ctrl"])
            for s, h in r["hands"].items()}


def _apart(r: dict, metres: float) -> dict:
    """The grasp with each hand's base moved ``metres`` away from the object's centre."""
    r = json.loads(json.dumps(r))
    for h in r["hands"].values():
        T = np.array(h["base_pose"])
        T[:3, 3] += metres * T[:3, 3] / np.linalg.norm(T[:3, 3])
        h["base_pose"] = T.tolist()
    return r


def test_the_stored_grasp_passes_and_the_hands_moved_apart_drop_it(tmp_path):
    r = _fixture(tmp_path / "g")
    mesh = trimesh.load(tmp_path / "g" / "object.obj", force="mesh")
    held = simulate_robot_grasp(mesh, _states(r))
    assert held.success and held.max_displacement < 0.02
    assert not simulate_robot_grasp(mesh, _states(_apart(r, 0.03))).held


def test_readme_replay_needs_only_mujoco(tmp_path, monkeypatch):
    """The README's replay example, run as written (in a folder holding ``rg/0``), says the stored grasp holds
    against -z gravity, as bghop's own check does; and it imports nothing of bghop."""
    text = README.read_text()
    block = re.search(r"<!-- replay-example -->\n```python\n(.*?)```", text, re.DOTALL)
    assert block, "the README lost its replay example"
    code = block.group(1)
    assert "bghop" not in code
    _fixture(tmp_path / "rg" / "0")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README replay", "exec"), {})
    moved = float(re.search(r"moved ([0-9.e+-]+) m", out.getvalue()).group(1))
    assert moved < 0.02
    # the same code on the grasp with the hands moved apart reports the fall (the example can fail)
    r = json.loads((tmp_path / "rg" / "0" / "robot.json").read_text())
    (tmp_path / "rg" / "0" / "robot.json").write_text(json.dumps(_apart(r, 0.03)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README replay", "exec"), {})
    assert float(re.search(r"moved ([0-9.e+-]+) m", out.getvalue()).group(1)) > 0.02


def _result(source: int, success: bool, held: bool, disp: float, depth: float) -> RobotGraspResult:
    st = RobotStabilityResult(displacement={d: disp for d in ("+x", "-x", "+y", "-y", "+z", "-z")}, success=success,
                              held=held, links_in_contact={"right": 2, "left": 2}, depth_initial=depth,
                              depth_settled=depth, mass=0.2)
    hand = RobotHandGrasp(mjcf=Path("x.xml"), base_pose=np.eye(4), qpos={}, ctrl={})
    return RobotGraspResult(source=source, hands={"right": hand, "left": hand}, depth_hand_m=0.0, depth_object_m=0.0,
                            retarget_error_m={}, stability=st)


def test_ranking_puts_successes_first_then_held_then_by_displacement():
    grasps = [_result(0, False, False, 0.5, 0.001), _result(1, False, True, 0.01, 0.001),
              _result(2, True, True, 0.015, 0.002), _result(3, True, True, 0.001, 0.001),
              _result(4, False, True, 0.005, 0.007), _result(5, False, False, math.inf, 0.0)]
    order = [g.source for g in rank_robot_grasps(grasps)]
    assert order == [3, 2, 1, 4, 0, 5]
    # the independent depth check can veto MuJoCo's verdict
    deep = _result(6, True, True, 0.001, 0.001)
    deep.depth_object_m = 0.008
    assert deep.success is False and rank_robot_grasps([deep, grasps[2]])[0].source == 2


def test_robot_json_round_trip(tmp_path):
    g = _result(3, True, True, 0.001, 0.001)
    j = g.to_json("leap")
    assert j["robot"] == "leap" and j["success"] is True and j["human_sample"] == 3
    assert set(j["hands"]["right"]) == {"mjcf", "base_pose", "qpos", "ctrl"}
    assert json.loads(json.dumps(j)) == j


def test_result_folder_holds_the_robot_beside_the_human(tmp_path):
    from bghop.synthesis.output import ResultSample
    from bghop.viz.results import write_result_folder
    from bghop.viz.robot import robot_hand_mesh

    r = _fixture(tmp_path / "src")
    hands = load_hands_json(DATA / "robot_box_human.json")
    mesh = trimesh.load(example_mesh_path(), force="mesh")
    meshes = {s: robot_hand_mesh(h["mjcf"], np.array(h["base_pose"]), h["qpos"]) for s, h in r["hands"].items()}
    sample = ResultSample(mesh, hands, title="human", robot=r, robot_meshes=meshes, robot_title="robot")
    out = write_result_folder(tmp_path / "out", sample, command="test")
    names = {p.name for p in out.iterdir()}
    assert {"hands.json", "right_hand.obj", "robot.json", "right_robot.obj", "left_robot.obj",
            "robot_render.png", "render.png"} <= names
    assert json.loads((out / "robot.json").read_text())["hands"]["left"]["qpos"] == r["hands"]["left"]["qpos"]


@pytest.mark.parametrize("robot, message", [("shadow", "unknown robot 'shadow'"), ("{}", "unknown robot")])
def test_grasp_refuses_a_bad_robot_before_any_work(tmp_path, robot, message):
    from cli_cases import bghop

    res = bghop(["grasp", "--example", "--text", "box", "-n", "2", "--robot", robot, "--out", "g"], tmp_path)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "g").exists()


def test_prior_free_robot_grasps_hold_the_example_box():
    """The energy baseline on robot hands directly (palms facing across the box, then the contact fit and the
    squeeze): of 2 seeded grasps of the example box, one passes the MuJoCo protocol, and it is ranked first."""
    from bghop.contact.robot import RobotFitConfig
    from bghop.synthesis.robot import RobotGraspConfig, robot_grasps

    mesh = trimesh.load(example_mesh_path(), force="mesh")
    res = robot_grasps(SPEC, None, mesh, RobotGraspConfig(fit=RobotFitConfig(contact_steps=150)), progress=False,
                       n=2, seed=0)
    assert len(res) == 2 and res[0].success
    assert all(math.isnan(v) for v in res[0].retarget_error_m.values())
    assert res[0].depth_max_m <= 0.005 and min(res[0].stability.links_in_contact.values()) >= 2

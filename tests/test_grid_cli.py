"""`bghop grid encode/decode`: round-trip accuracy and bad inputs (nothing written on error)."""

import json

import numpy as np
import pytest
import torch
import trimesh

from bghop.cli.main import main
from bghop.hands import load_hand
from bghop.hands.frames import place_hand
from bghop.hands.params import HandParams, Hands, load_hands_json, save_hands_json
from bghop.hands.poses import named_pose


def _scene(tmp_path, extents=(0.2, 0.12, 0.1)):
    """A box held by two hands, palms facing it from either side (object frame, metres)."""
    obj = trimesh.creation.box(extents=extents)
    obj.export(tmp_path / "box.obj")
    hands = {}
    for side, sx in (("right", 1.0), ("left", -1.0)):
        hand = load_hand("open", side=side)
        pose = named_pose("relaxed", side=side)[None]
        center = torch.tensor([sx * extents[0] / 2, 0.0, 0.0])
        pl = place_hand(hand, pose, torch.tensor([0.0, 0.3, 1.0]), torch.tensor([-sx, 0.0, 0.0]), center, offset=0.015)
        betas = torch.zeros(1, 10)
        betas[0, 0] = 0.5 if side == "right" else -0.3
        hands[side] = HandParams(pose, pl.global_orient, pl.transl, betas)
    hands = Hands.from_params(hands, "open")
    save_hands_json(tmp_path / "hands.json", hands)
    return obj, hands


def _keypoints(hands):
    out = {}
    for side, p in hands.items():
        with torch.no_grad():
            out[side] = load_hand(hands.kind, side=side)(p.pose, p.global_orient, p.transl, p.betas).joints[0]
    return out


@pytest.mark.parametrize("extents", [(0.05, 0.05, 0.05), (0.2, 0.12, 0.1), (0.3, 0.1, 0.1)])
def test_encode_decode_round_trip(tmp_path, extents):
    """Everyday sizes 5-30 cm: hands within 5/10 mm, object within 4 mm mean chamfer."""
    obj, hands = _scene(tmp_path, extents)
    assert main(["grid", "encode", "--object", str(tmp_path / "box.obj"), "--hands", str(tmp_path / "hands.json"),
                 "--out", str(tmp_path / "g.npz")]) == 0
    with np.load(tmp_path / "g.npz") as z:
        assert z["object_sdf"].shape == (64, 64, 64)
        assert z["right_field"].shape == (20, 16, 16, 16) and z["left_field"].shape == (20, 16, 16, 16)
        assert z["nTo"].shape == (4, 4)
        meta = json.loads(bytes(z["meta"]).decode())
    assert meta["settings"]["field"]["frame"]["scale"] == 5.0
    out = tmp_path / "dec"
    assert main(["grid", "decode", str(tmp_path / "g.npz"), "--out", str(out)]) == 0
    for f in ("object.obj", "right_hand.obj", "left_hand.obj", "hands.json", "render.png"):
        assert (out / f).is_file(), f
    dec = load_hands_json(out / "hands.json")
    k_true, k_dec = _keypoints(hands), _keypoints(dec)
    err_r = (k_true["right"] - k_dec["right"])[1:].norm(dim=-1).mean().item()
    err_l = (k_true["left"] - k_dec["left"])[1:].norm(dim=-1).mean().item()
    assert err_r < 0.005, err_r
    assert err_l < 0.010, err_l
    back = trimesh.load(out / "object.obj", force="mesh")
    _, d1, _ = trimesh.proximity.closest_point(obj, back.sample(3000, seed=0))
    _, d2, _ = trimesh.proximity.closest_point(back, obj.sample(3000, seed=1))
    assert 0.5 * (d1.mean() + d2.mean()) < 0.004


def _expect_error(capsys, argv, needle, out_path):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert not out_path.exists()


def test_bad_inputs_write_nothing(tmp_path, capsys):
    _scene(tmp_path)
    out = tmp_path / "g.npz"
    base = ["grid", "encode", "--hands", str(tmp_path / "hands.json"), "--out", str(out)]
    _expect_error(capsys, base + ["--object", str(tmp_path / "missing.obj")], "does not exist", out)
    (tmp_path / "garbage.ply").write_bytes(b"\x00garbage" * 20)
    _expect_error(capsys, base + ["--object", str(tmp_path / "garbage.ply")], "garbage.ply", out)
    trimesh.creation.box(extents=(200.0, 120.0, 100.0)).export(tmp_path / "mm.obj")
    _expect_error(capsys, base + ["--object", str(tmp_path / "mm.obj")], "--scale 0.001", out)
    trimesh.creation.box(extents=(1.2, 0.3, 0.3)).export(tmp_path / "huge.obj")
    _expect_error(capsys, base + ["--object", str(tmp_path / "huge.obj")], "outside the grid by", out)
    data = json.loads((tmp_path / "hands.json").read_text())
    bad = dict(data)
    bad["right"] = {k: v for k, v in data["right"].items() if k != "betas"}
    (tmp_path / "bad1.json").write_text(json.dumps(bad))
    argv = ["grid", "encode", "--object", str(tmp_path / "box.obj"), "--out", str(out), "--hands"]
    _expect_error(capsys, argv + [str(tmp_path / "bad1.json")], "missing ['betas']", out)
    bad["right"] = dict(data["right"], pose=[0.0] * 44)
    (tmp_path / "bad2.json").write_text(json.dumps(bad))
    _expect_error(capsys, argv + [str(tmp_path / "bad2.json")], "list of 45 numbers, got 44", out)
    (tmp_path / "bad3.json").write_text("{not json")
    _expect_error(capsys, argv + [str(tmp_path / "bad3.json")], "not valid JSON", out)


def test_decode_corrupt_grid(tmp_path, capsys):
    (tmp_path / "g.npz").write_bytes(b"PK\x03\x04 broken")
    _expect_error(capsys, ["grid", "decode", str(tmp_path / "g.npz"), "--out", str(tmp_path / "d")],
                  "not a bghop grid file", tmp_path / "d")

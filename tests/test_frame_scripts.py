"""The frame measurement scripts (issue 20): the grid-unfiltered two-hand set's objects are fixed by
the seed, and the clipping of G-HOP's frame agrees with the encoder's own frame mapping."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _load(name):
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_two_hand_objects_are_fixed_by_the_seed_and_mix_sources():
    th = _load("two_hand_grasps")
    specs = [th.object_spec(0, i) for i in range(6)]
    assert specs == [th.object_spec(0, i) for i in range(6)]
    assert [s["source"] for s in specs] == ["wide", "wide", "grab"] * 2
    assert th.object_spec(1, 0) != specs[0]
    big = th.build_object(specs[2])
    assert 0.3 - 1e-6 <= big.mesh.extents.max() <= 0.6 + 1e-6  # a GRAB object scaled for two hands


def test_frame_clipping_agrees_with_the_encoders_frame(tmp_path):
    from bghop.fields.skeletal import bimanual_keypoints_n
    from bghop.hands import load_hand
    from bghop.hands.params import HandParams

    mf = _load("measure_frames")
    hands = json.loads((Path(__file__).parent / "data" / "robot_box_human.json").read_text())
    hands = {s: hands[s] for s in ("right", "left")}
    # move the left hand 25 cm along x so that part of it (10 of 21 keypoints) leaves the right hand's 0.6 m cube
    hands["left"]["transl"] = list(np.asarray(hands["left"]["transl"]) + [0.25, 0.0, 0.0])
    rec = {"index": 0, "spec": {"source": "wide", "category": "carton", "seed": 3}, "category": "carton",
           "extents_m": [0.5, 0.3, 0.2], "candidates": 1, "passed": 1, "grasps": [{"hands": hands}]}
    (tmp_path / "object-00000.json").write_text(json.dumps(rec))
    rows = mf.measure(tmp_path)
    assert len(rows) == 1
    f = rows[0]["frames"]
    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    p = {s: HandParams.from_json_dict(hands[s]) for s in ("right", "left")}
    with torch.no_grad():
        kp = bimanual_keypoints_n(layers["right"], p["right"], layers["left"], p["left"])
    out_left = float((kp.left[0].abs() > 1.5).any(-1).float().mean())
    assert 0 < out_left < 1
    assert abs(f["right@0.6"]["left_kp"] - out_left) < 1e-6
    assert f["right@0.6"]["right_kp"] == 0.0
    assert all(f[k]["whole"] for k in ("object@1.2", "palms@1.2", "right@1.2"))
    assert not f["right@0.6"]["whole"]
    assert "right@0.6" in mf.table(rows)

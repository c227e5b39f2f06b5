"""ARCTIC adapter on a small fixture written in ARCTIC's exact on-disk layout (no licensed data)."""

import json

import numpy as np
import pytest
import torch
import trimesh
from mano_fixture import write_synthetic_mano

from bghop.core.rotations import axis_angle_to_matrix
from bghop.core.transforms import make_transform
from bghop.data.arctic import ArcticConfig, ArcticError, articulated_object, convert_arctic, subject_split
from bghop.data.shards import Manifest, ShardDataset
from bghop.fields.encode import hand_params_in
from bghop.fields.frame import compute_oTh
from bghop.hands import load_hand
from bghop.hands.params import HandParams

F = 30
T_AA = np.array([0.2, -0.4, 0.3])
T_MM = np.array([50.0, -20.0, 30.0])


def _write_fixture(root, mano_dir):
    for side in ("right", "left"):
        write_synthetic_mano(mano_dir, side=side)
    # object template in mm: a base and a lid (label 0 rotates)
    base = trimesh.creation.box(extents=(200.0, 150.0, 60.0))
    lid = trimesh.creation.box(extents=(200.0, 150.0, 10.0))
    lid.apply_translation([0.0, 0.0, 35.0])
    mesh = trimesh.util.concatenate([lid, base])
    labels = [0] * len(lid.vertices) + [1] * len(base.vertices)
    tdir = root / "meta" / "object_vtemplates" / "box"
    tdir.mkdir(parents=True)
    mesh.export(tdir / "mesh.obj")
    (tdir / "parts.json").write_text(json.dumps(labels))
    # hands in the object frame, pressed into the box (flat_hand_mean=False poses, as ARCTIC)
    hands = {s: load_hand("mano", side=s, model_dir=mano_dir, flat_hand_mean=False).double() for s in ("right", "left")}
    base_params = {
        "right": HandParams(torch.zeros(1, 45, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64),
                            torch.tensor([[0.1, 0.0, 0.0]], dtype=torch.float64), torch.zeros(1, 10, dtype=torch.float64)),
        "left": HandParams(torch.zeros(1, 45, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64),
                           torch.tensor([[-0.1, 0.0, 0.0]], dtype=torch.float64), torch.zeros(1, 10, dtype=torch.float64)),
    }
    T = make_transform(axis_angle_to_matrix(torch.tensor(T_AA)), torch.tensor(T_MM / 1000.0))
    for subject in ("s01", "s05"):
        seq = {}
        for side, p in base_params.items():
            rows = {"rot": [], "pose": [], "trans": []}
            for f in range(F):
                q = p
                if 10 <= f < 20:  # the whole scene moved rigidly: same grasp in the object frame
                    oTh = compute_oTh(hands[side], p.global_orient, p.transl, p.betas)
                    q = hand_params_in(hands[side], T @ oTh, p.pose, p.betas)
                elif f >= 20:  # hands far away: no contact
                    q = HandParams(p.pose, p.global_orient, p.transl + 1.0, p.betas)
                rows["rot"].append(q.global_orient[0].numpy())
                rows["pose"].append(q.pose[0].numpy())
                rows["trans"].append(q.transl[0].numpy())
            seq[side] = {k: np.stack(v) for k, v in rows.items()}
            seq[side]["shape"] = np.zeros(10)
            seq[side]["fitting_err"] = np.zeros(F)
        obj = np.zeros((F, 7))
        obj[:, 0] = 0.3
        obj[10:20, 1:4] = T_AA
        obj[10:20, 4:7] = T_MM
        sdir = root / "raw_seqs" / subject
        sdir.mkdir(parents=True)
        np.save(sdir / "box_grab_01.mano.npy", seq, allow_pickle=True)
        np.save(sdir / "box_grab_01.object.npy", obj)


@pytest.fixture(scope="module")
def arctic(tmp_path_factory):
    root = tmp_path_factory.mktemp("arctic")
    mano_dir = tmp_path_factory.mktemp("mano")
    _write_fixture(root, mano_dir)
    out = tmp_path_factory.mktemp("out")
    manifests = convert_arctic(root, mano_dir, out, ArcticConfig(stride=10, shard_size=1))
    return root, mano_dir, out, manifests


def test_splits_and_contact_filter(arctic):
    _, _, out, manifests = arctic
    assert set(manifests) == {"train", "val"}  # s01 -> train, s05 -> val, no s03 here
    for split in ("train", "val"):
        m = Manifest.load(out / split)
        assert m.num_samples == 2  # frames 0 and 10 kept; frame 20 has no contact
        assert all(s["bimanual"] for s in m.shards)
    assert subject_split("s03") == "test"


def test_samples_in_object_frame(arctic):
    _, _, out, _ = arctic
    ds = ShardDataset(out / "train")
    a, b = ds[0], ds[1]
    assert a["text"] == "grasp a box with both hands" and a["object_id"] == "box"
    assert a["object_tsdf"].shape == (1, 64, 64, 64) and a["left_field"].shape == (20, 16, 16, 16)
    # frame 10 is frame 0 moved rigidly (object and hands): identical in the object frame
    torch.testing.assert_close(a["right_field"], b["right_field"], atol=2e-3, rtol=0)
    torch.testing.assert_close(a["left_field"], b["left_field"], atol=2e-3, rtol=0)
    torch.testing.assert_close(a["object_tsdf"], b["object_tsdf"], atol=2e-3, rtol=0)
    m0, m1 = ds.meta(0), ds.meta(1)
    assert (m0["frame"], m1["frame"]) == (0, 10) and m0["subject"] == "s01"
    np.testing.assert_allclose(m0["hands"]["right"]["transl"], [0.1, 0.0, 0.0], atol=1e-5)


def test_articulation_rotates_label_zero_about_minus_z():
    v = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    out = articulated_object(v, np.array([0, 1]), np.pi / 2)
    np.testing.assert_allclose(out[0], [0.0, -1.0, 0.0], atol=1e-12)  # about -z
    np.testing.assert_allclose(out[1], [1.0, 0.0, 0.0])


def test_errors(arctic, tmp_path):
    root, mano_dir, _, _ = arctic
    with pytest.raises(FileNotFoundError, match="mano.is.tue.mpg.de"):
        convert_arctic(root, tmp_path / "no_mano", tmp_path / "o")
    with pytest.raises(ArcticError, match="raw_seqs"):
        convert_arctic(tmp_path, mano_dir, tmp_path / "o")


def test_cli(arctic, tmp_path, capsys):
    from bghop.cli.main import main

    root, mano_dir, _, _ = arctic
    assert main(["data", "arctic", "--root", str(root), "--mano-dir", str(mano_dir), "--out", str(tmp_path / "o"),
                 "--subjects", "s05"]) == 0
    assert "val: 2 samples" in capsys.readouterr().out
    assert main(["data", "arctic", "--root", str(tmp_path / "nothing"), "--mano-dir", str(mano_dir),
                 "--out", str(tmp_path / "o2")]) == 2
    assert "raw_seqs" in capsys.readouterr().err

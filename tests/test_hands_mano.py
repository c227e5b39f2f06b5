"""Official-MANO layer: agreement with smplx, the official on-disk format without chumpy, errors."""

import importlib.util
import sys

import numpy as np
import pytest
import torch

from bghop.hands import load_hand
from bghop.hands.mano import MANOModelError
from bghop.hands.mano_fixture import synthetic_mano_arrays, write_synthetic_mano
from bghop.hands.open_hand import mirror_pose

smplx = pytest.importorskip("smplx")


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mano")
    for side in ("right", "left"):
        write_synthetic_mano(d, side=side, seed=0)
    return d


def _smplx_layer(side, flat, use_pca=False, n=45):
    from smplx.utils import Struct

    arrays = synthetic_mano_arrays(side, seed=0)
    return smplx.MANO(model_path="unused", is_rhand=side == "right", data_struct=Struct(**arrays), use_pca=use_pca,
                      num_pca_comps=n, flat_hand_mean=flat, dtype=torch.float64)


def _inputs(B, seed, pose_dim=45):
    g = torch.Generator().manual_seed(seed)
    return (0.5 * torch.randn(B, pose_dim, generator=g, dtype=torch.float64),
            torch.randn(B, 3, generator=g, dtype=torch.float64),
            0.1 * torch.randn(B, 3, generator=g, dtype=torch.float64),
            torch.randn(B, 10, generator=g, dtype=torch.float64))


def test_official_format_loads_without_chumpy(mano_dir):
    assert "chumpy" not in sys.modules
    assert importlib.util.find_spec("chumpy") is None
    raw = (mano_dir / "MANO_RIGHT.pkl").read_bytes()
    assert b"chumpy.ch" in raw and b"scipy.sparse" in raw  # really the official shape of the file
    hand = load_hand("mano", side="right", model_dir=mano_dir)
    assert hand.num_vertices == 778 and hand.faces.shape == (1538, 3)
    assert "chumpy" not in sys.modules


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("flat", [True, False])
def test_matches_smplx(mano_dir, side, flat):
    ours = load_hand("mano", side=side, model_dir=mano_dir, flat_hand_mean=flat, fix_left_shapedirs=False).double()
    ref = _smplx_layer(side, flat)
    pose, orient, transl, betas = _inputs(8, seed=1 if flat else 2)
    out = ours(pose, orient, transl, betas)
    exp = ref(betas=betas, global_orient=orient, hand_pose=pose, transl=transl)
    torch.testing.assert_close(out.vertices, exp.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints[:, [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]],
                               exp.joints[:, :16], atol=1e-5, rtol=0)
    tips = exp.vertices[:, [744, 320, 443, 554, 671]]
    torch.testing.assert_close(out.joints[:, [4, 8, 12, 16, 20]], tips, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n", [6, 12])
def test_pca_matches_smplx(mano_dir, n):
    ours = load_hand("mano", side="right", model_dir=mano_dir, flat_hand_mean=False, use_pca=True,
                     num_pca_comps=n).double()
    ref = _smplx_layer("right", False, use_pca=True, n=n)
    coeffs, orient, transl, betas = _inputs(4, seed=3, pose_dim=n)
    out = ours(coeffs, orient, transl, betas)
    exp = ref(betas=betas, global_orient=orient, hand_pose=coeffs, transl=transl)
    torch.testing.assert_close(out.vertices, exp.vertices, atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        ours(torch.zeros(1, 45, dtype=torch.float64), orient[:1], transl[:1])


def test_left_shapedirs_fix(mano_dir):
    fixed = load_hand("mano", side="left", model_dir=mano_dir).double()
    raw = load_hand("mano", side="left", model_dir=mano_dir, fix_left_shapedirs=False).double()
    torch.testing.assert_close(fixed.shapedirs[:, 0], -raw.shapedirs[:, 0])
    torch.testing.assert_close(fixed.shapedirs[:, 1:], raw.shapedirs[:, 1:])
    # with the fix, shape changes are mirrored like everything else: left(mirror) == mirror(right)
    right = load_hand("mano", side="right", model_dir=mano_dir).double()
    pose, orient, transl, betas = _inputs(3, seed=4)
    m = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    r = right(pose, orient, transl, betas)
    lf = fixed(mirror_pose(pose), mirror_pose(orient), transl * m, betas)
    torch.testing.assert_close(lf.vertices, r.vertices * m, atol=1e-9, rtol=0)
    lr = raw(mirror_pose(pose), mirror_pose(orient), transl * m, betas)
    assert (lr.vertices - r.vertices * m).abs().max() > 1e-4


def test_npz_same_as_pkl(mano_dir, tmp_path):
    write_synthetic_mano(tmp_path, side="right", seed=0, fmt="npz")
    a = load_hand("mano", side="right", model_dir=mano_dir).double()
    b = load_hand("mano", side="right", model_dir=tmp_path).double()
    args = _inputs(2, seed=5)
    torch.testing.assert_close(a(*args).vertices, b(*args).vertices)


def test_env_var(mano_dir, monkeypatch):
    monkeypatch.setenv("BGHOP_MANO_DIR", str(mano_dir))
    assert load_hand("mano", side="left").num_vertices == 778


def test_gradients_state_dict_dtype(mano_dir):
    hand = load_hand("mano", side="right", model_dir=mano_dir, flat_hand_mean=False)
    args = [t.float().requires_grad_() for t in _inputs(2, seed=6)]
    out = hand(*args)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for a in args:
        assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert len(hand.state_dict()) == 0
    assert hand.to(torch.float64).v_template.dtype == torch.float64


def test_contact_regions(mano_dir):
    hand = load_hand("mano", side="right", model_dir=mano_dir)
    for name, ids in hand.contact_regions.items():
        assert len(ids) > 0, name
        assert ids.min() >= 0 and ids.max() < 778


def test_missing_files_say_where_and_how(tmp_path, monkeypatch):
    monkeypatch.delenv("BGHOP_MANO_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as e:
        load_hand("mano", side="right", model_dir=tmp_path)
    msg = str(e.value)
    assert "MANO_RIGHT.pkl" in msg and str(tmp_path) in msg and "mano.is.tue.mpg.de" in msg
    with pytest.raises(FileNotFoundError) as e:
        load_hand("mano", side="left")
    assert "BGHOP_MANO_DIR" in str(e.value) and "mano.is.tue.mpg.de" in str(e.value)


def test_malformed_files(tmp_path):
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(b"\x80\x02garbage")
    with pytest.raises(MANOModelError, match="MANO_RIGHT.pkl"):
        load_hand("mano", side="right", model_dir=tmp_path)
    import pickle

    arrays = {k: v for k, v in synthetic_mano_arrays("right").items() if k != "posedirs"}
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(pickle.dumps(arrays))
    with pytest.raises(MANOModelError, match="missing \\['posedirs'\\]"):
        load_hand("mano", side="right", model_dir=tmp_path)
    arrays = synthetic_mano_arrays("right")
    arrays["weights"] = np.zeros((778, 15))
    (tmp_path / "MANO_RIGHT.pkl").write_bytes(pickle.dumps(arrays))
    with pytest.raises(MANOModelError, match="'weights' has shape"):
        load_hand("mano", side="right", model_dir=tmp_path)

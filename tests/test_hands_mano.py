"""Official-MANO layer on synthetic files in the official format: no chumpy, smplx agreement, errors."""

from __future__ import annotations

import importlib.util
import os
import pickle
import pickletools
import sys

import numpy as np
import pytest
import torch
from mano_fixture import synthetic_mano_arrays, write_synthetic_mano
from test_hands_open import check_matrix_global_orient

from bghop.hands import CONTACT_REGION_NAMES, KEYPOINT_NAMES, load_hand
from bghop.hands.mano import (
    MANO_TIP_IDS,
    MANOFileNotFoundError,
    MANOHand,
    MANOModelError,
)
from bghop.hands.mano_files import _ChumpyStandIn, _unwrap_chumpy_state

smplx = pytest.importorskip("smplx")

# our 21 keypoints → MANO native joint order, and the tips
NATIVE_IN_KP = [KEYPOINT_NAMES.index(n) for n in (
    "wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3")]  # fmt: skip
TIPS_IN_KP = [KEYPOINT_NAMES.index(f"{d}_tip") for d in ("thumb", "index", "middle", "ring", "pinky")]
MIRROR_AA = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)  # axis-angle under x → −x
MIRROR_PT = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mano")
    for side in ("right", "left"):
        write_synthetic_mano(d, side=side, seed=0)
    return d


#: real MANO files for the opt-in test at the end (read before the autouse fixture clears the variable)
REAL_MANO_DIR = os.environ.get("BGHOP_MANO_DIR")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("BGHOP_MANO_DIR", raising=False)


def _arrays(side: str) -> dict:
    if not hasattr(_arrays, "cache"):
        _arrays.cache = {}
    if side not in _arrays.cache:
        _arrays.cache[side] = synthetic_mano_arrays(side, seed=0)
    return _arrays.cache[side]


def _smplx_layer(side: str, flat: bool, use_pca: bool = False, n: int = 45):
    from smplx.utils import Struct

    return smplx.MANO(model_path="unused", is_rhand=side == "right", data_struct=Struct(**_arrays(side)),
                      use_pca=use_pca, num_pca_comps=n, flat_hand_mean=flat, dtype=torch.float64)


def _inputs(B: int, seed: int, pose_dim: int = 45):
    g = torch.Generator().manual_seed(seed)
    return (0.5 * torch.randn(B, pose_dim, generator=g, dtype=torch.float64),
            torch.randn(B, 3, generator=g, dtype=torch.float64),
            0.1 * torch.randn(B, 3, generator=g, dtype=torch.float64),
            torch.randn(B, 10, generator=g, dtype=torch.float64))


def _compare(out, exp):
    torch.testing.assert_close(out.vertices, exp.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints[:, NATIVE_IN_KP], exp.joints[:, :16], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints[:, TIPS_IN_KP], exp.vertices[:, list(MANO_TIP_IDS)], atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------ format
@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_official_format_loads_without_chumpy(tmp_path, monkeypatch, protocol):
    if "chumpy" not in sys.modules:
        assert importlib.util.find_spec("chumpy") is None  # not installed here
    path = write_synthetic_mano(tmp_path, side="right", seed=0, protocol=protocol)
    assert "chumpy" not in sys.modules  # the writer's stand-in module is gone again
    # make sure chumpy cannot be imported even where it is installed
    monkeypatch.setitem(sys.modules, "chumpy", None)
    monkeypatch.setitem(sys.modules, "chumpy.ch", None)
    ops = list(pickletools.genops(path.read_bytes()))
    globals_ = {a for op, a, _ in ops if op.name == "GLOBAL"}
    assert {"chumpy.ch Ch", "scipy.sparse.csc csc_matrix", "numpy.core.multiarray _reconstruct"} <= globals_
    if protocol >= 1:  # array data as Python-2 str: needs encoding="latin1", like the real files
        assert {"BINSTRING", "SHORT_BINSTRING"} & {op.name for op, _, _ in ops}
    hand = load_hand("mano", side="right", model_dir=tmp_path)
    assert isinstance(hand, MANOHand) and hand.kind == "mano" and hand.side == "right"
    assert hand.num_vertices == 778 and hand.faces.shape == (1538, 3) and hand.faces.dtype == torch.long
    a = _arrays("right")
    np.testing.assert_allclose(hand.shapedirs.double().numpy(), a["shapedirs"], atol=1e-7)
    np.testing.assert_allclose(hand.J_regressor.double().numpy(), a["J_regressor"].toarray(), atol=1e-7)
    assert hand.joint_limits is None
    assert sys.modules["chumpy"] is None  # the loader never put a chumpy module in place


def test_chumpy_state_layouts():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(_unwrap_chumpy_state({"x": x, "_dirty_vars": set()}), x)
    np.testing.assert_array_equal(_unwrap_chumpy_state(({"x": x}, None)), x)  # (dict, slots)
    np.testing.assert_array_equal(_unwrap_chumpy_state(x), x)  # bare array
    inner = _ChumpyStandIn()
    inner.__setstate__({"x": x})
    np.testing.assert_array_equal(_unwrap_chumpy_state({"x": inner}), x)  # Ch wrapping a Ch
    with pytest.raises(MANOModelError, match="holds no array"):
        _unwrap_chumpy_state({"_itr": None})


def test_npz_same_as_pkl(mano_dir, tmp_path):
    write_synthetic_mano(tmp_path, side="left", seed=0, fmt="npz")
    a = load_hand("mano", side="left", model_dir=mano_dir).double()
    b = load_hand("mano", side="left", model_dir=tmp_path).double()
    assert b.model_path.suffix == ".npz"
    args = _inputs(3, seed=5)
    oa, ob = a(*args), b(*args)
    torch.testing.assert_close(oa.vertices, ob.vertices, atol=0, rtol=0)
    torch.testing.assert_close(oa.joints, ob.joints, atol=0, rtol=0)


def test_env_var_and_layouts(mano_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BGHOP_MANO_DIR", str(mano_dir))
    assert load_hand("mano", side="left").model_path == mano_dir / "MANO_LEFT.pkl"
    # the unzipped download's layout, and a path to the file itself
    write_synthetic_mano(tmp_path / "mano_v1_2" / "models", side="right")
    assert load_hand("mano", model_dir=tmp_path).model_path == tmp_path / "mano_v1_2" / "models" / "MANO_RIGHT.pkl"
    assert load_hand("mano", model_dir=mano_dir / "MANO_RIGHT.pkl").num_vertices == 778
    with pytest.raises(MANOModelError, match="left hand's model"):
        load_hand("mano", side="right", model_dir=mano_dir / "MANO_LEFT.pkl")


# ------------------------------------------------------------------------------------ agreement with smplx
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("flat", [True, False])
def test_matches_smplx(mano_dir, side, flat):
    ours = load_hand("mano", side=side, model_dir=mano_dir, flat_hand_mean=flat, fix_left_shapedirs=False).double()
    ref = _smplx_layer(side, flat)
    pose, orient, transl, betas = _inputs(8, seed=1 + 2 * flat + (side == "left"))
    out = ours(pose, orient, transl, betas)
    _compare(out, ref(betas=betas, global_orient=orient, hand_pose=pose, transl=transl))
    assert out.vertices.shape == (8, 778, 3) and out.joints.shape == (8, 21, 3)


def test_matches_smplx_reading_its_own_file(mano_dir, tmp_path):
    """smplx reads a plain (chumpy-free) pickle of the same arrays from a folder."""
    with open(tmp_path / "MANO_RIGHT.pkl", "wb") as fh:
        pickle.dump(_arrays("right"), fh, protocol=2)
    ref = smplx.MANO(model_path=str(tmp_path), is_rhand=True, use_pca=False, flat_hand_mean=False,
                     num_pca_comps=45, dtype=torch.float64)
    ours = load_hand("mano", side="right", model_dir=mano_dir, flat_hand_mean=False).double()
    pose, orient, transl, betas = _inputs(4, seed=11)
    _compare(ours(pose, orient, transl, betas), ref(betas=betas, global_orient=orient, hand_pose=pose, transl=transl))


@pytest.mark.parametrize("side", ["right", "left"])
def test_keypoints_alone_match_the_full_forward(mano_dir, side):
    hand = load_hand("mano", side=side, model_dir=mano_dir, flat_hand_mean=False).double()
    pose, orient, transl, betas = _inputs(3, seed=5)
    full = hand(pose, orient, transl, betas)
    torch.testing.assert_close(hand.keypoints(pose, orient, transl, betas), full.joints)
    ids = torch.tensor([5, 0, 777, 300])
    sub = hand.forward_subset(ids, pose, orient, transl, betas)
    torch.testing.assert_close(sub.vertices, full.vertices[:, ids])
    torch.testing.assert_close(sub.joints, full.joints)


@pytest.mark.parametrize(("n", "flat"), [(6, False), (12, True)])
def test_pca_matches_smplx(mano_dir, n, flat):
    ours = load_hand("mano", side="right", model_dir=mano_dir, flat_hand_mean=flat, use_pca=True,
                     num_pca_comps=n).double()
    ref = _smplx_layer("right", flat, use_pca=True, n=n)
    coeffs, orient, transl, betas = _inputs(4, seed=3 + n, pose_dim=n)
    out = ours(coeffs, orient, transl, betas)
    _compare(out, ref(betas=betas, global_orient=orient, hand_pose=coeffs, transl=transl))
    torch.testing.assert_close(ours.keypoints(coeffs, orient, transl, betas), out.joints)  # the tips-only path
    torch.testing.assert_close(ours.forward_subset(torch.tensor([3, 9]), coeffs, orient, transl, betas).vertices,
                               out.vertices[:, [3, 9]])
    # pca_to_pose gives the pose that the non-PCA layer (same flat_hand_mean) turns into the same hand
    full = load_hand("mano", side="right", model_dir=mano_dir, flat_hand_mean=flat).double()
    assert ours.pca_to_pose(coeffs).shape == (4, 45)
    torch.testing.assert_close(full(ours.pca_to_pose(coeffs), orient, transl, betas).vertices, out.vertices)
    with pytest.raises(ValueError, match="PCA mode"):
        ours(torch.zeros(1, 45, dtype=torch.float64), orient[:1], transl[:1])
    with pytest.raises(ValueError):  # the base class still validates the other inputs
        ours(coeffs, orient[:, :2], transl)
    with pytest.raises(ValueError):
        load_hand("mano", model_dir=mano_dir, use_pca=True, num_pca_comps=46)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("pca", [False, True])
def test_rotation_matrix_global_orient_matches_axis_angle(mano_dir, side, pca):
    """``global_orient`` as a ``(B, 3, 3)`` matrix gives the same hand as the axis-angle it encodes
    (forward, keypoints, forward_subset; also with PCA poses), and gradients reach the matrix
    (the checks are the open hand's, :func:`test_hands_open.check_matrix_global_orient`)."""
    hand = load_hand("mano", side=side, model_dir=mano_dir, flat_hand_mean=False, use_pca=pca,
                     num_pca_comps=9).double()
    pose, orient, transl, betas = _inputs(4, seed=21 + pca, pose_dim=9 if pca else 45)
    orient = torch.cat([2.5 * orient[:3], torch.zeros(1, 3, dtype=torch.float64)])  # large angles and the identity
    check_matrix_global_orient(hand, pose, orient, transl, betas, torch.tensor([5, 0, 777, 300]), (1e-9, 1e-7))


def test_global_orient_shape_errors_name_both_layouts(mano_dir):
    hand = load_hand("mano", model_dir=mano_dir)
    pose, transl = torch.zeros(2, 45), torch.zeros(2, 3)
    for bad in (torch.zeros(2, 4), torch.zeros(2, 3, 4), torch.zeros(3, 3, 3)):
        for call in (lambda o: hand(pose, o, transl), lambda o: hand.keypoints(pose, o, transl),
                     lambda o: hand.forward_subset(torch.tensor([0, 1]), pose, o, transl)):
            with pytest.raises(ValueError, match=r"\(B, 3\) \(axis-angle\) or \(B, 3, 3\) \(rotation matrix\)"):
                call(bad)


# ------------------------------------------------------------------------------------ left-hand fix
def test_left_shapedirs_fix(mano_dir):
    fixed = load_hand("mano", side="left", model_dir=mano_dir).double()
    raw = load_hand("mano", side="left", model_dir=mano_dir, fix_left_shapedirs=False).double()
    torch.testing.assert_close(fixed.shapedirs[:, 0], -raw.shapedirs[:, 0])
    torch.testing.assert_close(fixed.shapedirs[:, 1:], raw.shapedirs[:, 1:])
    # shape offsets at zero pose: x negated, y and z unchanged
    _, _, _, betas = _inputs(3, seed=4)
    zeros, z3 = torch.zeros(3, 45, dtype=torch.float64), torch.zeros(3, 3, dtype=torch.float64)
    d_fix = fixed(zeros, z3, z3, betas).vertices - fixed.v_template
    d_raw = raw(zeros, z3, z3, betas).vertices - raw.v_template
    assert d_raw[..., 0].abs().max() > 1e-3
    torch.testing.assert_close(d_fix[..., 0], -d_raw[..., 0])
    torch.testing.assert_close(d_fix[..., 1:], d_raw[..., 1:])
    # with the fix everything mirrors: left(mirrored inputs) == mirror(right)
    right = load_hand("mano", side="right", model_dir=mano_dir).double()
    pose, orient, transl, betas = _inputs(3, seed=4)
    mp = (pose.reshape(3, 15, 3) * MIRROR_AA).reshape(3, 45)
    r = right(pose, orient, transl, betas)
    lf = fixed(mp, orient * MIRROR_AA, transl * MIRROR_PT, betas)
    torch.testing.assert_close(lf.vertices, r.vertices * MIRROR_PT, atol=1e-9, rtol=0)
    torch.testing.assert_close(lf.joints, r.joints * MIRROR_PT, atol=1e-9, rtol=0)
    lr = raw(mp, orient * MIRROR_AA, transl * MIRROR_PT, betas)
    assert (lr.vertices - r.vertices * MIRROR_PT).abs().max() > 1e-3


# ------------------------------------------------------------------------------------ module behaviour
def test_gradients_state_dict_dtype(mano_dir):
    hand = load_hand("mano", side="left", model_dir=mano_dir, flat_hand_mean=False)
    args = [t.float().requires_grad_() for t in _inputs(2, seed=6)]
    out = hand(*args)
    (out.vertices.square().sum() + out.joints.sum()).backward()
    for name, a in zip(("pose", "global_orient", "transl", "betas"), args):
        assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0, name
    # zero pose (the Rodrigues singularity) too
    pose = torch.zeros(1, 45, requires_grad=True)
    hand(pose, torch.zeros(1, 3), torch.zeros(1, 3)).vertices.sum().backward()
    assert torch.isfinite(pose.grad).all()
    assert len(hand.state_dict()) == 0
    h64 = hand.to(torch.float64)
    assert h64.v_template.dtype == torch.float64 and h64.faces.dtype == torch.long
    out64 = h64(*[a.detach().double() for a in args])
    assert out64.vertices.dtype == torch.float64
    torch.testing.assert_close(out64.vertices.float(), out.vertices.detach(), atol=1e-5, rtol=0)
    h64.load_state_dict({})  # nothing to load, nothing missing


def test_betas_short_and_default(mano_dir):
    hand = load_hand("mano", model_dir=mano_dir).double()
    pose, orient, transl, betas = _inputs(2, seed=8)
    padded = torch.cat([betas[:, :4], torch.zeros(2, 6, dtype=torch.float64)], 1)
    torch.testing.assert_close(hand(pose, orient, transl, betas[:, :4]).vertices, hand(pose, orient, transl, padded).vertices)
    torch.testing.assert_close(hand(pose, orient, transl).vertices,
                               hand(pose, orient, transl, torch.zeros(2, 10, dtype=torch.float64)).vertices)


@pytest.mark.parametrize("side", ["right", "left"])
def test_contact_regions(mano_dir, side):
    hand = load_hand("mano", side=side, model_dir=mano_dir)
    regions = hand.contact_regions
    assert list(regions) == list(CONTACT_REGION_NAMES)
    seen: set[int] = set()
    for name, ids in regions.items():
        assert ids.dtype == torch.long and ids.dim() == 1 and len(ids) > 0, name
        assert ids.min() >= 0 and ids.max() < hand.num_vertices
        assert not seen & set(ids.tolist()), f"{name} overlaps another region"
        seen |= set(ids.tolist())
    # palmar side: the synthetic palm faces −y; pads and palm lie below their joints' plane
    v = hand.v_template
    J = hand.J_regressor @ v
    assert (v[regions["palm"], 1] < J[0, 1]).float().mean() > 0.9
    for name, j in (("index", 3), ("middle", 6), ("ring", 12), ("pinky", 9)):
        assert (v[regions[name], 1] < J[j, 1]).float().mean() > 0.9, name


@pytest.mark.parametrize("side", ["right", "left"])
def test_contact_rule_on_a_real_hand_mesh(side):
    """The generic rule, run on the open hand's mesh (same joint tree and frame as MANO), finds
    essentially the regions that hand's builder marked from its surface normals."""
    from bghop.hands.mano import mano_contact_regions

    open_hand = load_hand("open", side=side)
    if not all(hasattr(open_hand, a) for a in ("v_template", "j_template", "weights", "tip_ids")):
        pytest.skip("open hand without the expected buffers")
    regions = mano_contact_regions(open_hand.v_template.numpy(), open_hand.j_template.numpy(),
                                   open_hand.weights.numpy(), side, tip_ids=tuple(open_hand.tip_ids.tolist()))
    for name in CONTACT_REGION_NAMES:
        ours, ref = set(regions[name].tolist()), set(open_hand.contact_regions[name].tolist())
        assert len(ours & ref) / len(ours | ref) > 0.5, name


# ------------------------------------------------------------------------------------ errors
def test_missing_file_says_what_where_and_how(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as e:
        load_hand("mano", side="right", model_dir=tmp_path)
    assert isinstance(e.value, MANOFileNotFoundError) and isinstance(e.value, MANOModelError)
    msg = str(e.value)
    assert "MANO_RIGHT.pkl" in msg and "mano.is.tue.mpg.de" in msg
    assert str(tmp_path / "MANO_RIGHT.pkl") in msg and str(tmp_path / "mano_v1_2" / "models" / "MANO_RIGHT.pkl") in msg
    assert "BGHOP_MANO_DIR is not set" in msg and "Models & Code" in msg
    # no folder at all
    with pytest.raises(FileNotFoundError) as e:
        load_hand("mano", side="left")
    msg = str(e.value)
    assert "MANO_LEFT.pkl" in msg and "BGHOP_MANO_DIR is not set" in msg and "mano.is.tue.mpg.de" in msg
    # env var pointing nowhere
    monkeypatch.setenv("BGHOP_MANO_DIR", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError) as e:
        load_hand("mano", side="left")
    msg = str(e.value)
    assert f"BGHOP_MANO_DIR={str(tmp_path / 'nope')!r}" in msg and "does not exist" in msg
    assert str(tmp_path / "nope" / "MANO_LEFT.pkl") in msg
    # env var set but model_dir wins: the message says both
    with pytest.raises(FileNotFoundError, match="takes precedence"):
        load_hand("mano", side="left", model_dir=tmp_path)


def _write(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=2))


def test_malformed_files(tmp_path):
    f = tmp_path / "MANO_RIGHT.pkl"
    f.write_bytes(b"\x80\x02garbage")
    with pytest.raises(MANOModelError, match="could not read MANO file .*MANO_RIGHT.pkl"):
        load_hand("mano", side="right", model_dir=tmp_path)
    f.write_bytes(b"")
    with pytest.raises(MANOModelError, match="MANO_RIGHT.pkl"):
        load_hand("mano", side="right", model_dir=tmp_path)
    _write(f, [1, 2, 3])
    with pytest.raises(MANOModelError, match="does not hold a dict"):
        load_hand("mano", side="right", model_dir=tmp_path)
    good = _arrays("right")
    _write(f, {k: v for k, v in good.items() if k != "posedirs"})
    with pytest.raises(MANOModelError, match=r"MANO_RIGHT.pkl is missing \['posedirs'\]"):
        load_hand("mano", side="right", model_dir=tmp_path)
    _write(f, {**good, "weights": np.zeros((778, 15)), "f": np.zeros((1000, 3), dtype=np.uint32)})
    with pytest.raises(MANOModelError, match=r"MANO_RIGHT.pkl is malformed: 'f' has shape .*'weights' has shape "
                                             r"\(778, 15\), expected \(778, 16\)"):
        load_hand("mano", side="right", model_dir=tmp_path)
    _write(f, {**good, "f": good["f"].astype(np.int64) + 1000})
    with pytest.raises(MANOModelError, match="vertex indices"):
        load_hand("mano", side="right", model_dir=tmp_path)
    kt = good["kintree_table"].copy()
    kt[0, 2] = 0
    _write(f, {**good, "kintree_table": kt})
    with pytest.raises(MANOModelError, match="joint tree"):
        load_hand("mano", side="right", model_dir=tmp_path)
    _write(f, {**good, "hands_mean": np.full(45, np.nan)})
    with pytest.raises(MANOModelError, match="non-finite"):
        load_hand("mano", side="right", model_dir=tmp_path)
    npz = tmp_path / "npz"
    npz.mkdir()
    (npz / "MANO_RIGHT.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(MANOModelError, match="MANO_RIGHT.npz"):
        load_hand("mano", side="right", model_dir=npz)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_refuses_foreign_globals(tmp_path):
    """A pickle that would call arbitrary code is refused before anything runs."""
    _write(tmp_path / "MANO_RIGHT.pkl", {**_arrays("right"), "v_template": _Evil()})
    with pytest.raises(MANOModelError, match="refusing to load global"):
        load_hand("mano", side="right", model_dir=tmp_path)


# ------------------------------------------------------------------------------------ real files (opt-in)
@pytest.mark.skipif(not REAL_MANO_DIR, reason="set BGHOP_MANO_DIR to the official MANO files to run")
@pytest.mark.parametrize("side", ["right", "left"])
def test_real_mano_files(side):
    hand = load_hand("mano", side=side, model_dir=REAL_MANO_DIR, flat_hand_mean=False).double()
    pose, orient, transl, betas = _inputs(2, seed=9)
    out = hand(pose, orient, transl, betas)
    assert torch.isfinite(out.vertices).all() and out.joints.shape == (2, 21, 3)
    assert all(len(ids) > 0 for ids in hand.contact_regions.values())

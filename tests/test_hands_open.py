"""The built-in open hand (``bghop.hands.open_hand``) and the named poses."""

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from bghop.core.rotations import axis_angle_to_matrix
from bghop.hands import CONTACT_REGION_NAMES, load_hand
from bghop.hands.frames import palm_frame
from bghop.hands.open_hand import (
    OpenHand,
    _load_asset,
    anatomical_axes_for,
    mirror_pose,
)
from bghop.hands.poses import POSE_NAMES, named_pose

MANO_WRIST = torch.tensor([0.0957, 0.0064, 0.0062])
TIPS = {"thumb": 4, "index": 8, "middle": 12, "ring": 16, "pinky": 20}
MIRROR = torch.tensor([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def right():
    return load_hand("open", side="right")


@pytest.fixture(scope="module")
def left():
    return load_hand("open", side="left")


def _zeros(B=1):
    return torch.zeros(B, 45), torch.zeros(B, 3), torch.zeros(B, 3)


def _pose(hand, pose):
    return hand(pose[None], torch.zeros(1, 3), torch.zeros(1, 3))


def _mesh(hand, out):
    return trimesh.Trimesh(out.vertices[0].detach().numpy(), hand.faces.numpy(), process=False)


def test_mesh_is_closed_single_outward(right, left):
    for hand in (right, left):
        m = _mesh(hand, hand(*_zeros()))
        assert m.is_watertight and m.is_winding_consistent
        assert len(m.split(only_watertight=False)) == 1
        assert m.volume > 0, "normals must point outwards"
        assert 3000 <= len(m.faces) <= 6000
        assert 2.5e-4 < m.volume < 4.5e-4  # m^3: an adult hand is a few hundred cm^3
        assert np.degrees(m.face_angles.min()) > 5  # no slivers


def test_loads_fast_without_assets_in_state_dict():
    _load_asset.cache_clear()
    t0 = time.perf_counter()
    hand = OpenHand("left")
    assert time.perf_counter() - t0 < 0.3
    assert len(hand.state_dict()) == 0
    assert hand.num_vertices == hand.v_template.shape[0]


def test_shapes_dtype_and_validation(right):
    B = 3
    out = right(torch.zeros(B, 45), torch.zeros(B, 3), torch.zeros(B, 3), torch.zeros(B, 10))
    assert out.vertices.shape == (B, right.num_vertices, 3)
    assert out.joints.shape == (B, 21, 3)
    assert right.faces.dtype == torch.long and right.faces.shape[1] == 3
    hand64 = load_hand("open").double()
    out64 = hand64(*(t.double() for t in _zeros(2)))
    assert out64.vertices.dtype == torch.float64 and out64.joints.dtype == torch.float64
    with pytest.raises(ValueError):
        right(torch.zeros(2, 44), torch.zeros(2, 3), torch.zeros(2, 3))


def test_rest_layout_is_manos(right):
    """Fingers along -x, thumb on +z, palm facing -y, wrist at MANO's mean J0; flexion = +z."""
    j = right(*_zeros()).joints[0]
    torch.testing.assert_close(j[0], MANO_WRIST)
    for b in (5, 9, 13, 17):  # each finger runs from its MCP towards -x
        assert (j[b + 3] - j[b])[0] < -0.05
    assert j[5, 2] > j[9, 2] > j[13, 2] > j[17, 2]  # index (+z) ... pinky (-z)
    assert j[4, 2] > j[5, 2]  # thumb on the +z side
    # palm normal (the side fingers curl to) is -y; a positive rotation about +z curls a finger there
    n = palm_frame(j[None], "right")[0, :, 1]
    assert n[1] < -0.95
    # the same pose vector curls every digit towards the palm: +z at every joint of every finger
    pose = torch.zeros(15, 3)
    pose[:, 2] = 0.8
    tips = _pose(right, pose.reshape(45)).joints[0, [4, 8, 12, 16, 20]]
    assert (tips[:, 1] - j[[4, 8, 12, 16, 20], 1] < -0.02).all()


def test_zero_pose_is_flat_and_anthropometric(right):
    out = right(*_zeros())
    j = out.joints[0]
    length = (j[12] - j[0]).norm().item()
    assert 0.18 <= length <= 0.19, length
    # palm plane through wrist and MCPs; every fingertip near it (the thumb lies ~2 cm palmar, as MANO's)
    P = j[[0, 5, 9, 13, 17]]
    c = P.mean(0)
    n = torch.linalg.svd(P - c).Vh[-1]
    dist = ((j[[8, 12, 16, 20]] - c) @ n).abs()
    assert dist.max() < 0.01, dist
    assert ((j[4] - c) @ n).abs() < 0.025
    for b in (5, 9, 13, 17):  # straight fingers
        seg = j[b : b + 4]
        d = torch.nn.functional.normalize(seg[-1] - seg[0], dim=0)
        off = (seg - seg[0]) - ((seg - seg[0]) @ d)[:, None] * d
        assert off.norm(dim=-1).max() < 0.004
    # breadth at the metacarpal heads (skin, without the thumb) ~ 85 mm
    v = out.vertices[0]
    thumb = right.weights[:, 13:16].sum(1) > 0.1
    ax = -(v[:, 0] - j[0, 0])
    band = (ax > -(j[17, 0] - j[0, 0]) - 0.012) & (ax < -(j[5, 0] - j[0, 0]) - 0.004) & ~thumb
    breadth = (v[band, 2].max() - v[band, 2].min()).item()
    assert 0.078 < breadth < 0.092, breadth


def test_betas(right):
    pose, go, tr = _zeros()
    base = right(pose, go, tr)
    b = lambda i, x: torch.tensor([[x if k == i else 0.0 for k in range(10)]])
    hl = lambda j: (j[12] - j[0]).norm().item()
    ratio = lambda j: ((j[12] - j[9]).norm() / (j[9] - j[0]).norm()).item()
    j0 = base.joints[0]
    big = right(pose, go, tr, b(0, 1.0)).joints[0]
    assert 0.007 < hl(big) - hl(j0) < 0.013  # +1 ~ +1 SD (~1 cm)
    torch.testing.assert_close(big[0], j0[0])  # scaled about the wrist
    long_f = right(pose, go, tr, b(1, 1.0)).joints[0]
    assert ratio(long_f) > ratio(j0) * 1.05
    assert abs(hl(long_f) - hl(j0)) < 0.002  # proportion, not size
    wide = right(pose, go, tr, b(2, 1.0)).joints[0]
    assert (wide[5] - wide[17]).norm() > (j0[5] - j0[17]).norm() * 1.04
    reserved = right(pose, go, tr, torch.cat([torch.zeros(1, 3), torch.randn(1, 7)], 1))
    torch.testing.assert_close(reserved.vertices, base.vertices)
    # fewer than 10 betas are padded
    torch.testing.assert_close(right(pose, go, tr, torch.tensor([[1.0]])).joints[0], big)
    # the skin follows the skeleton: the middle tip vertex moves with the fingers
    m = _mesh(right, right(pose, go, tr, b(0, 2.0)))
    assert m.is_watertight and m.volume > _mesh(right, base).volume


def test_mirror_symmetry(right, left):
    g = torch.Generator().manual_seed(0)
    B = 5
    pose = 0.4 * torch.randn(B, 45, generator=g)
    go = torch.randn(B, 3, generator=g)
    tr = 0.1 * torch.randn(B, 3, generator=g)
    betas = torch.randn(B, 10, generator=g)
    r = right(pose, go, tr, betas)
    lft = left(mirror_pose(pose), mirror_pose(go), tr * MIRROR, betas)
    torch.testing.assert_close(lft.vertices, r.vertices * MIRROR, atol=1e-6, rtol=0)
    torch.testing.assert_close(lft.joints, r.joints * MIRROR, atol=1e-6, rtol=0)
    torch.testing.assert_close(left.faces, right.faces.flip(1))
    assert _mesh(left, left(*_zeros())).volume > 0 and _mesh(right, right(*_zeros())).volume > 0
    for name in POSE_NAMES:
        torch.testing.assert_close(named_pose(name, side="left"), mirror_pose(named_pose(name)))
    # limits and anatomical axes mirror too
    torch.testing.assert_close(left.joint_limits.lower, torch.minimum(mirror_pose(right.joint_limits.lower),
                                                                      mirror_pose(right.joint_limits.upper)))
    torch.testing.assert_close(anatomical_axes_for("left"), anatomical_axes_for("right") * torch.tensor([1.0, -1, -1]))
    assert left.joint_limits.violation(named_pose("fist", side="left")[None]).item() < 1e-8


def test_global_rotation_about_wrist(right):
    pose = named_pose("relaxed")[None]
    j0 = right(pose, torch.zeros(1, 3), torch.zeros(1, 3)).joints[0]
    j = right(pose, torch.tensor([[0.4, -1.2, 0.7]]), torch.zeros(1, 3)).joints[0]
    torch.testing.assert_close(j[0], j0[0], atol=1e-6, rtol=0)
    assert (j[12] - j0[12]).norm() > 0.05
    jt = right(pose, torch.zeros(1, 3), torch.tensor([[0.1, 0.2, 0.3]])).joints[0, 0]
    torch.testing.assert_close(jt - j0[0], torch.tensor([0.1, 0.2, 0.3]), atol=1e-6, rtol=0)


def test_gradients_flow_to_every_input(right):
    g = torch.Generator().manual_seed(1)
    args = [0.3 * torch.randn(2, 45, generator=g), torch.randn(2, 3, generator=g),
            0.1 * torch.randn(2, 3, generator=g), torch.randn(2, 10, generator=g)]
    for a in args:
        a.requires_grad_()
    out = right(*args)
    (out.vertices.square().sum() + out.joints.sin().sum()).backward()
    for a in args[:3]:
        assert torch.isfinite(a.grad).all() and (a.grad.abs() > 0).all()
    assert torch.isfinite(args[3].grad).all() and (args[3].grad[:, :3].abs() > 0).all()


def test_joint_limits_and_named_poses(right):
    lim = right.joint_limits
    assert lim.lower.shape == (45,) and lim.upper.shape == (45,)
    assert (lim.lower <= 0).all() and (lim.upper >= 0).all()
    flex_z = lim.upper.view(15, 3)[:12, 2]  # finger flexion is about +z
    assert (flex_z[0::3] > 1.5).all() and (flex_z[1::3] > 1.7).all() and (flex_z[2::3] > 1.3).all()
    assert (lim.lower.view(15, 3)[:12, 2] > -0.6).all()  # little hyperextension
    for name in POSE_NAMES:
        p = named_pose(name)
        assert p.shape == (45,)
        assert lim.violation(p[None]).item() < 1e-8, name
    torch.testing.assert_close(lim.clamp(torch.full((1, 45), 10.0)), lim.upper[None])
    torch.testing.assert_close(named_pose("fist", kind="mano"), named_pose("fist"))
    with pytest.raises(ValueError):
        named_pose("wave")


def test_fist_and_pinch(right):
    flat = right(*_zeros())
    fist = _pose(right, named_pose("fist"))
    jf, jx = flat.joints[0], fist.joints[0]
    n = palm_frame(flat.joints, "right")[0, :, 1]
    center = jf[[0, 5, 9, 13, 17]].mean(0)
    for tip in (8, 12, 16, 20):
        assert (jx[tip] - center).norm() < (jf[tip] - center).norm() - 0.05
        assert ((jx[tip] - jf[tip]) @ n) > 0.02  # towards the palm side
    # the thumb lies across the fingers, in front of the palm
    assert (jx[4] - center) @ n > 0.02
    pinch = _pose(right, named_pose("pinch"))
    v = pinch.vertices[0]
    pads = {k: v[right.contact_regions[k]].mean(0) for k in ("thumb", "index")}
    assert (pads["thumb"] - pads["index"]).norm() < 0.012
    assert (pinch.joints[0, 4] - pinch.joints[0, 8]).norm() < 0.035


def test_skin_does_not_tear(right):
    rest = right(*_zeros()).vertices[0]
    e = right.faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2)
    l0 = (rest[e[:, 0]] - rest[e[:, 1]]).norm(dim=-1)
    for name in ("fist", "pinch", "relaxed"):
        v = _pose(right, named_pose(name)).vertices[0]
        l1 = (v[e[:, 0]] - v[e[:, 1]]).norm(dim=-1)
        assert (l1 / l0).max() < 3.0, name
        m = _mesh(right, _pose(right, named_pose(name)))
        assert 0.9 < m.volume / _mesh(right, right(*_zeros())).volume < 1.1, name  # no collapse


def test_contact_regions(right):
    assert list(right.contact_regions) == list(CONTACT_REGION_NAMES)
    out = right(*_zeros())
    v, j = out.vertices[0], out.joints[0]
    for name, ids in right.contact_regions.items():
        assert ids.dtype == torch.long and ids.min() >= 0 and ids.max() < right.num_vertices
        assert len(ids) == len(torch.unique(ids))
        if name in TIPS:
            assert 20 <= len(ids) <= 80, (name, len(ids))
            assert (v[ids] - j[TIPS[name]]).norm(dim=-1).max() < 0.03, name
            distal = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "pinky": 9}[name]
            assert (right.weights[ids, distal] > 0.5).all(), name  # on the distal phalanx
    palm = v[right.contact_regions["palm"]]
    assert len(palm) >= 50 and (palm[:, 1] < j[0, 1] - 0.005).all()  # palmar side (-y)
    # finger pads face the palm side
    for name in ("index", "middle", "ring", "pinky"):
        assert (v[right.contact_regions[name]][:, 1] < j[TIPS[name], 1] + 0.002).float().mean() > 0.9


def test_tip_vertices_are_finger_ends(right):
    v = right.v_template
    J = right.j_template
    for tid, dip, f in zip(right.tip_ids, (15, 3, 6, 12, 9), TIPS):
        assert right.weights[tid, dip] > 0.9, f
        d = torch.nn.functional.normalize(J[dip] - J[dip - 1], dim=0)  # along the middle phalanx
        own = right.weights[:, dip] > 0.9
        assert ((v[tid] - J[dip]) @ d) > ((v[own] - J[dip]) @ d).max() - 0.002, f


@pytest.mark.slow
def test_build_is_deterministic_and_matches_asset():
    spec = importlib.util.spec_from_file_location("build_open_hand",
                                                  Path(__file__).resolve().parents[1] / "scripts/build_open_hand.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["build_open_hand"] = mod
    spec.loader.exec_module(mod)
    a = mod.build()
    shipped = _load_asset()
    for k, x in a.items():
        if k == "meta":
            continue
        np.testing.assert_allclose(x, shipped[k], atol=1e-6, err_msg=k)


def test_keypoints_alone_match_the_full_forward():
    torch.manual_seed(0)
    for side in ("right", "left"):
        hand = load_hand("open", side=side)
        pose, orient, transl = 0.3 * torch.randn(3, 45), torch.randn(3, 3), torch.randn(3, 3)
        betas = torch.randn(3, 10)
        full = hand(pose, orient, transl, betas)
        torch.testing.assert_close(hand.keypoints(pose, orient, transl, betas), full.joints)
        ids = torch.tensor([7, 0, 2801, 100])
        sub = hand.forward_subset(ids, pose, orient, transl, betas)
        torch.testing.assert_close(sub.vertices, full.vertices[:, ids])
        torch.testing.assert_close(sub.joints, full.joints)
        with pytest.raises(ValueError, match="pose"):
            hand.keypoints(pose[:, :40], orient, transl)


# ------------------------------------------------------------------------------------ rotation-matrix global_orient
def check_matrix_global_orient(hand, pose, orient, transl, betas, ids, grad_tol: tuple[float, float]) -> None:
    """Assert that ``global_orient`` as the ``(B, 3, 3)`` matrix of ``orient`` gives the same hand as
    ``orient`` (atol 1e-6) in ``forward``, ``keypoints`` and ``forward_subset``, that gradients reach
    the matrix, and that through it they equal the axis-angle path's (``grad_tol`` = atol, rtol).
    Shared with tests/test_hands_mano.py."""
    R = axis_angle_to_matrix(orient)
    aa, mat = hand(pose, orient, transl, betas), hand(pose, R, transl, betas)
    torch.testing.assert_close(mat.vertices, aa.vertices, atol=1e-6, rtol=0)
    torch.testing.assert_close(mat.joints, aa.joints, atol=1e-6, rtol=0)
    torch.testing.assert_close(hand.keypoints(pose, R, transl, betas), aa.joints, atol=1e-6, rtol=0)
    sub = hand.forward_subset(ids, pose, R, transl, betas)
    torch.testing.assert_close(sub.vertices, aa.vertices[:, ids], atol=1e-6, rtol=0)
    torch.testing.assert_close(sub.joints, aa.joints, atol=1e-6, rtol=0)
    o1, o2 = orient.clone().requires_grad_(), orient.clone().requires_grad_()
    Rg = axis_angle_to_matrix(o2)
    Rg.retain_grad()
    hand(pose, o1, transl, betas).vertices.square().sum().backward()
    hand(pose, Rg, transl, betas).vertices.square().sum().backward()
    assert Rg.grad is not None and torch.isfinite(Rg.grad).all() and Rg.grad.abs().sum() > 0
    torch.testing.assert_close(o2.grad, o1.grad, atol=grad_tol[0], rtol=grad_tol[1])


@pytest.mark.parametrize("side", ["right", "left"])
def test_rotation_matrix_global_orient_matches_axis_angle(side):
    """``global_orient`` as a ``(B, 3, 3)`` matrix gives the same hand as the axis-angle it encodes."""
    hand = load_hand("open", side=side)
    g = torch.Generator().manual_seed(3)
    pose, transl, betas = 0.3 * torch.randn(4, 45, generator=g), 0.1 * torch.randn(4, 3, generator=g), \
        torch.randn(4, 10, generator=g)
    orient = torch.cat([2.5 * torch.randn(3, 3, generator=g), torch.zeros(1, 3)])  # large angles and the identity
    check_matrix_global_orient(hand, pose, orient, transl, betas, torch.tensor([7, 0, 2801, 100]), (1e-5, 1e-4))


def test_global_orient_shape_errors_name_both_layouts(right):
    pose, transl = torch.zeros(2, 45), torch.zeros(2, 3)
    for bad in (torch.zeros(2, 4), torch.zeros(2, 9), torch.zeros(2, 3, 4), torch.zeros(3, 3, 3), torch.zeros(3, 3),
                torch.zeros(2, 1, 3, 3)):
        for call in (lambda o: right(pose, o, transl), lambda o: right.keypoints(pose, o, transl),
                     lambda o: right.forward_subset(torch.tensor([0, 1]), pose, o, transl)):
            with pytest.raises(ValueError, match=r"global_orient must have shape \(B, 3\) \(axis-angle\) or "
                                                 r"\(B, 3, 3\) \(rotation matrix\) with B=2"):
                call(bad)

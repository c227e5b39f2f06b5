import pytest
import torch
import trimesh

from bghop.hands import CONTACT_REGION_NAMES, load_hand
from bghop.hands.frames import palm_frame
from bghop.hands.open_hand import mirror_pose
from bghop.hands.poses import POSE_NAMES, named_pose


@pytest.fixture(scope="module")
def right():
    return load_hand("open", side="right")


@pytest.fixture(scope="module")
def left():
    return load_hand("open", side="left")


def _zeros(B=1):
    return torch.zeros(B, 45), torch.zeros(B, 3), torch.zeros(B, 3)


def _mesh(hand, out):
    return trimesh.Trimesh(out.vertices[0].detach().numpy(), hand.faces.numpy(), process=False)


def test_mesh_is_closed_single_outward(right, left):
    for hand in (right, left):
        m = _mesh(hand, hand(*_zeros()))
        assert m.is_watertight and m.is_winding_consistent
        assert len(m.split(only_watertight=False)) == 1
        assert m.volume > 0, "normals must point outwards"
        assert 2000 <= len(m.faces) <= 8000
        assert 2e-4 < m.volume < 6e-4  # m³: an adult hand is a few hundred cm³


def test_shapes_and_dtype(right):
    B = 3
    out = right(torch.zeros(B, 45), torch.zeros(B, 3), torch.zeros(B, 3), torch.zeros(B, 10))
    assert out.vertices.shape == (B, right.num_vertices, 3)
    assert out.joints.shape == (B, 21, 3)
    assert right.faces.dtype == torch.long and right.faces.shape[1] == 3
    out64 = right.double()(*(t.double() for t in _zeros(2)))
    assert out64.vertices.dtype == torch.float64
    right.float()
    with pytest.raises(ValueError):
        right(torch.zeros(2, 44), torch.zeros(2, 3), torch.zeros(2, 3))


def test_zero_pose_is_flat_and_anthropometric(right):
    j = right(*_zeros()).joints[0]
    length = (j[12] - j[0]).norm().item()
    assert 0.18 <= length <= 0.19, length
    # fingers straight: index..pinky keypoints lie near the palm plane y ≈ 0
    fingers = j[5:]
    assert fingers[:, 1].abs().max() < 0.01
    # each finger's keypoints are collinear-ish (straight)
    for b in (5, 9, 13, 17):
        seg = j[b : b + 4]
        d = torch.nn.functional.normalize(seg[-1] - seg[0], dim=0)
        off = (seg - seg[0]) - ((seg - seg[0]) @ d)[:, None] * d
        assert off.norm(dim=-1).max() < 0.004
    breadth = (j[5] - j[17]).norm().item()
    assert 0.05 < breadth < 0.09


def test_betas(right):
    pose, go, tr = _zeros()
    base = right(pose, go, tr).joints[0]
    big = right(pose, go, tr, torch.tensor([[1.0] + [0] * 9])).joints[0]
    assert (big[12] - big[0]).norm() > (base[12] - base[0]).norm() + 0.005
    long_f = right(pose, go, tr, torch.tensor([[0, 2.0] + [0] * 8])).joints[0]
    ratio = lambda j: ((j[12] - j[9]).norm() / (j[9] - j[0]).norm()).item()  # noqa: E731
    assert ratio(long_f) > ratio(base) * 1.05
    wide = right(pose, go, tr, torch.tensor([[0, 0, 2.0] + [0] * 7])).joints[0]
    assert (wide[5] - wide[17]).norm() > (base[5] - base[17]).norm() * 1.05
    # fewer than 10 betas are padded
    torch.testing.assert_close(right(pose, go, tr, torch.tensor([[1.0]])).joints[0], big)


def test_mirror_symmetry(right, left):
    g = torch.Generator().manual_seed(0)
    B = 5
    pose = 0.4 * torch.randn(B, 45, generator=g)
    go = torch.randn(B, 3, generator=g)
    tr = 0.1 * torch.randn(B, 3, generator=g)
    betas = torch.randn(B, 10, generator=g)
    m = torch.tensor([-1.0, 1.0, 1.0])
    r = right(pose, go, tr, betas)
    l = left(mirror_pose(pose), mirror_pose(go), tr * m, betas)
    torch.testing.assert_close(l.vertices, r.vertices * m, atol=1e-6, rtol=0)
    torch.testing.assert_close(l.joints, r.joints * m, atol=1e-6, rtol=0)
    assert _mesh(left, left(*_zeros())).volume > 0  # winding flipped with the mirror
    torch.testing.assert_close(left.faces, right.faces.flip(1))
    for name in POSE_NAMES:
        torch.testing.assert_close(named_pose(name, side="left"), mirror_pose(named_pose(name)))


def test_global_rotation_about_wrist(right):
    pose = named_pose("relaxed")[None]
    j0 = right(pose, torch.zeros(1, 3), torch.zeros(1, 3)).joints[0, 0]
    j = right(pose, torch.tensor([[0.4, -1.2, 0.7]]), torch.zeros(1, 3)).joints[0, 0]
    torch.testing.assert_close(j, j0, atol=1e-6, rtol=0)
    jt = right(pose, torch.zeros(1, 3), torch.tensor([[0.1, 0.2, 0.3]])).joints[0, 0]
    torch.testing.assert_close(jt - j0, torch.tensor([0.1, 0.2, 0.3]), atol=1e-6, rtol=0)


def test_gradients_flow_to_every_input(right):
    g = torch.Generator().manual_seed(1)
    args = [0.3 * torch.randn(2, 45, generator=g), torch.randn(2, 3, generator=g),
            torch.randn(2, 3, generator=g), torch.randn(2, 10, generator=g)]
    for a in args:
        a.requires_grad_()
    out = right(*args)
    (out.vertices.square().sum() + out.joints.sin().sum()).backward()
    for a in args[:3]:
        assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    assert args[3].grad[:, :3].abs().sum() > 0  # the used shape coefficients


def test_joint_limits_and_named_poses(right):
    lim = right.joint_limits
    assert lim.lower.shape == (45,) and lim.upper.shape == (45,)
    assert (lim.lower <= 0).all() and (lim.upper >= 0).all()
    # finger flexion (+z for the right hand) reaches ~90° at the MCP
    assert lim.upper[2] > 1.5
    for name in POSE_NAMES:
        p = named_pose(name)[None]
        assert lim.violation(p).item() < 1e-8, name
    torch.testing.assert_close(lim.clamp(torch.full((1, 45), 10.0)), lim.upper[None])


def test_fist_curls_towards_palm(right):
    flat = right(*_zeros()).joints
    fist = right(named_pose("fist")[None], torch.zeros(1, 3), torch.zeros(1, 3)).joints
    n = palm_frame(flat, "right")[0, :, 1]
    center = flat[0, [0, 5, 9, 13, 17]].mean(0)
    for tip in (8, 12, 16, 20):
        assert (fist[0, tip] - center).norm() < (flat[0, tip] - center).norm() - 0.04
        assert ((fist[0, tip] - flat[0, tip]) @ n) > 0.02  # towards the palm side
    pinch = right(named_pose("pinch")[None], torch.zeros(1, 3), torch.zeros(1, 3)).joints[0]
    assert (pinch[4] - pinch[8]).norm() < 0.02


def test_skin_does_not_tear(right):
    rest = right(*_zeros()).vertices[0]
    fist = right(named_pose("fist")[None], torch.zeros(1, 3), torch.zeros(1, 3)).vertices[0]
    e = right.faces[:, [[0, 1], [1, 2], [2, 0]]].reshape(-1, 2)
    l0 = (rest[e[:, 0]] - rest[e[:, 1]]).norm(dim=-1)
    l1 = (fist[e[:, 0]] - fist[e[:, 1]]).norm(dim=-1)
    assert (l1 / l0).max() < 3.0


def test_contact_regions(right):
    assert set(right.contact_regions) == set(CONTACT_REGION_NAMES)
    v = right(*_zeros()).vertices[0]
    j = right(*_zeros()).joints[0]
    tips = {"thumb": 4, "index": 8, "middle": 12, "ring": 16, "pinky": 20}
    for name, ids in right.contact_regions.items():
        assert ids.dtype == torch.long and len(ids) >= 8, name
        assert ids.min() >= 0 and ids.max() < right.num_vertices
        if name in tips:
            assert (v[ids] - j[tips[name]]).norm(dim=-1).max() < 0.035, name
    palm = v[right.contact_regions["palm"]]
    assert (palm[:, 1] < 0).all()  # palmar side (−y)


def test_no_assets_in_state_dict(right):
    assert len(right.state_dict()) == 0


def test_unknown_kind_and_side():
    with pytest.raises(ValueError):
        load_hand("robot")
    with pytest.raises(ValueError):
        load_hand("open", side="middle")
    with pytest.raises(ValueError):
        named_pose("wave")

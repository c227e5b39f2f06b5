import pytest
import torch

from bghop.core.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from bghop.core.transforms import apply_transform, make_transform
from bghop.fields.fit import recover_hands
from bghop.fields.frame import FrameConfig, compute_nTh, compute_oTh
from bghop.fields.layout import ChannelLayout, InteractionGrid
from bghop.fields.skeletal import (
    FieldConfig,
    bimanual_keypoints_n,
    keypoints_from_field,
    skeletal_field,
)
from bghop.hands import load_hand
from bghop.hands.params import HandParams


@pytest.fixture(scope="module")
def hands():
    return load_hand("open", side="right"), load_hand("open", side="left")


def _random_params(B, seed, hand, scale_pose=0.4):
    g = torch.Generator().manual_seed(seed)
    lim = hand.joint_limits
    u = torch.rand(B, 45, generator=g)
    pose = (lim.lower + (lim.upper - lim.lower) * u) * scale_pose
    return HandParams(
        pose=pose,
        global_orient=torch.randn(B, 3, generator=g),
        transl=0.05 * torch.randn(B, 3, generator=g),
        betas=0.5 * torch.randn(B, 10, generator=g) * torch.tensor([1.0, 1.0, 1.0] + [0.0] * 7),
    )


def _left_facing(right: HandParams, left_hand, right_hand, seed=0) -> HandParams:
    """A left hand ~15-25 cm from the right one, in the same frame, inside the grid."""
    g = torch.Generator().manual_seed(seed + 100)
    B = right.pose.shape[0]
    base = _random_params(B, seed + 1, left_hand)
    j_r = right_hand(right.pose, right.global_orient, right.transl, right.betas).joints
    target_wrist = j_r[:, 9] + 0.12 * torch.nn.functional.normalize(torch.randn(B, 3, generator=g), dim=-1)
    j_l = left_hand(base.pose, base.global_orient, torch.zeros(B, 3), base.betas).joints
    base.transl = target_wrist - j_l[:, 9]
    return base


def test_layout_blocks_and_round_trip():
    bi, single = ChannelLayout(3, True), ChannelLayout(3, False)
    assert bi.num_channels == 43 and single.num_channels == 23
    assert bi.slice("left") == slice(23, 43) and bi.slice("right") == slice(3, 23)
    g = torch.randn(2, 43, 4, 4, 4)
    parts = bi.split(g)
    assert parts.left.shape[1] == 20
    torch.testing.assert_close(bi.join(parts), g)
    # single-hand mode: same code path, no left block
    s = single.split(g[:, :23])
    assert s.left is None
    torch.testing.assert_close(single.join(InteractionGrid(s.object, s.right)), g[:, :23])
    with pytest.raises(ValueError):
        bi.split(g[:, :23])
    with pytest.raises(ValueError):
        bi.join(InteractionGrid(parts.object, parts.right, None))
    with pytest.raises(KeyError):
        single.slice("left")


def test_normalised_frame_definition(hands):
    right, _ = hands
    p = _random_params(3, 0, right)
    nTh = compute_nTh(right, p.pose, p.betas)
    j = right(p.pose, torch.zeros(3, 3), torch.zeros(3, 3), p.betas).joints
    c = j[:, 5] + torch.tensor(FrameConfig().offset)
    torch.testing.assert_close(apply_transform(nTh, c[:, None])[:, 0], torch.zeros(3, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(nTh[:, :3, :3], 5 * torch.eye(3).expand(3, 3, 3))
    # c does not depend on articulation (index MCP is a child of the wrist)
    nTh2 = compute_nTh(right, torch.zeros_like(p.pose), p.betas)
    torch.testing.assert_close(nTh, nTh2, atol=1e-6, rtol=0)


def test_oTh_matches_hand_forward(hands):
    for hand in hands:
        p = _random_params(4, 1, hand)
        oTh = compute_oTh(hand, p.global_orient, p.transl, p.betas)
        j_h = hand(p.pose, torch.zeros(4, 3), torch.zeros(4, 3), p.betas).joints
        j_o = hand(p.pose, p.global_orient, p.transl, p.betas).joints
        torch.testing.assert_close(apply_transform(oTh, j_h), j_o, atol=1e-5, rtol=0)


def test_skeletal_field_values_and_clamp():
    cfg = FieldConfig()
    k = torch.zeros(1, 20, 3)
    k[0, 0] = torch.tensor([0.3, -0.2, 0.1])
    f = skeletal_field(k, cfg)
    assert f.shape == (1, 20, 16, 16, 16)
    from bghop.geometry.grid import grid_coordinates

    pts = grid_coordinates(16, -1.5, 1.5)
    expected = ((pts - k[0, 0]) ** 2).sum(-1).clamp(max=0.12)
    torch.testing.assert_close(f[0, 0], expected)
    assert f.max() <= 0.12 + 1e-7


def test_keypoints_from_clean_field_are_exact():
    g = torch.Generator().manual_seed(0)
    k = (torch.rand(2, 20, 3, generator=g) * 2.4 - 1.2)
    est, count = keypoints_from_field(skeletal_field(k))
    assert (count >= 5).all()
    torch.testing.assert_close(est, k, atol=1e-3, rtol=0)


def test_fields_differentiable_wrt_all_hand_params(hands):
    right_hand, left_hand = hands
    r = _random_params(2, 2, right_hand)
    l = _left_facing(r, left_hand, right_hand)
    for t in (r.pose, r.betas, r.global_orient, r.transl, l.pose, l.global_orient, l.transl, l.betas):
        t.requires_grad_()
    kp = bimanual_keypoints_n(right_hand, r, left_hand, l)
    loss = skeletal_field(kp.right[:, 1:]).sum() + skeletal_field(kp.left[:, 1:]).sum()
    loss.backward()
    for name, t in [("r.pose", r.pose), ("r.betas", r.betas), ("l.pose", l.pose),
                    ("l.orient", l.global_orient), ("l.transl", l.transl), ("r.orient", r.global_orient)]:
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
        assert t.grad.abs().sum() > 0, name


def test_left_field_in_right_frame(hands):
    """Moving the left hand changes only the left channels; moving the whole scene changes nothing."""
    right_hand, left_hand = hands
    r = _random_params(2, 3, right_hand)
    l = _left_facing(r, left_hand, right_hand, seed=3)
    kp = bimanual_keypoints_n(right_hand, r, left_hand, l)
    fr, fl = skeletal_field(kp.right[:, 1:]), skeletal_field(kp.left[:, 1:])
    assert (fl < 0.12).any(), "left hand should be inside the grid"
    l2 = HandParams(l.pose, l.global_orient, l.transl + torch.tensor([0.03, -0.02, 0.01]), l.betas)
    kp2 = bimanual_keypoints_n(right_hand, r, left_hand, l2)
    torch.testing.assert_close(skeletal_field(kp2.right[:, 1:]), fr)
    assert (skeletal_field(kp2.left[:, 1:]) - fl).abs().max() > 1e-2
    # a rigid motion of the whole scene (both hands) leaves both fields unchanged
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.7]))
    t = torch.tensor([0.2, 0.1, -0.4])

    def moved(hand, p):
        oTh = compute_oTh(hand, p.global_orient, p.transl, p.betas)
        new = make_transform(R, t) @ oTh
        j0 = hand(torch.zeros_like(p.pose), torch.zeros(2, 3), torch.zeros(2, 3), p.betas).joints[:, 0]
        Rn = new[:, :3, :3]
        transl = new[:, :3, 3] - j0 + (Rn @ j0[..., None])[..., 0]
        return HandParams(p.pose, matrix_to_axis_angle(Rn), transl, p.betas)

    kp3 = bimanual_keypoints_n(right_hand, moved(right_hand, r), left_hand, moved(left_hand, l))
    torch.testing.assert_close(skeletal_field(kp3.right[:, 1:]), fr, atol=1e-5, rtol=0)
    torch.testing.assert_close(skeletal_field(kp3.left[:, 1:]), fl, atol=1e-5, rtol=0)


def test_recover_hands_from_clean_fields(hands):
    right_hand, left_hand = hands
    B = 4
    r = _random_params(B, 4, right_hand, scale_pose=0.6)
    l = _left_facing(r, left_hand, right_hand, seed=4)
    kp = bimanual_keypoints_n(right_hand, r, left_hand, l)
    rec = recover_hands(right_hand, skeletal_field(kp.right[:, 1:]), left_hand, skeletal_field(kp.left[:, 1:]))
    # compare in the right hand's normalised frame n (what the object frame is tied to), in metres
    zeros = torch.zeros(B, 3)
    jr_rec = right_hand(rec.right.pose, zeros, zeros, rec.right.betas).joints
    c_rec = jr_rec[:, 5] + torch.tensor(FrameConfig().offset)
    to_n = lambda j: (j - c_rec[:, None]) * 5.0  # noqa: E731
    err_r = ((to_n(jr_rec) - kp.right)[:, 1:].norm(dim=-1).mean() / 5.0).item()
    jl_rec = left_hand(rec.left.pose, rec.left.global_orient, rec.left.transl, rec.left.betas).joints
    err_l = ((to_n(jl_rec) - kp.left)[:, 1:].norm(dim=-1).mean() / 5.0).item()
    assert err_r < 0.005, f"right mean per-joint error {err_r * 1000:.1f} mm"
    assert err_l < 0.010, f"left mean per-joint error {err_l * 1000:.1f} mm"


def test_recover_hands_works_for_mano(tmp_path):
    from mano_fixture import write_synthetic_mano

    for side in ("right", "left"):
        write_synthetic_mano(tmp_path, side=side)
    rh, lh = (load_hand("mano", side=s, model_dir=tmp_path).double() for s in ("right", "left"))
    g = torch.Generator().manual_seed(7)
    B = 2

    def params(seed_off):
        return HandParams(0.3 * torch.randn(B, 45, generator=g, dtype=torch.float64),
                          torch.randn(B, 3, generator=g, dtype=torch.float64),
                          torch.zeros(B, 3, dtype=torch.float64),
                          0.5 * torch.randn(B, 10, generator=g, dtype=torch.float64))

    r, l = params(0), params(1)
    jr = rh(r.pose, r.global_orient, r.transl, r.betas).joints
    jl = lh(l.pose, l.global_orient, l.transl, l.betas).joints
    l.transl = jr[:, 9] + torch.tensor([0.0, -0.1, 0.08], dtype=torch.float64) - jl[:, 9]
    kp = bimanual_keypoints_n(rh, r, lh, l)
    rec = recover_hands(rh, skeletal_field(kp.right[:, 1:]), lh, skeletal_field(kp.left[:, 1:]))
    z = torch.zeros(B, 3, dtype=torch.float64)
    j = rh(rec.right.pose, z, z, rec.right.betas).joints
    c = j[:, 5] + j.new_tensor(FrameConfig().offset)
    err_r = (((j - c[:, None]) * 5 - kp.right)[:, 1:].norm(dim=-1).mean() / 5).item()
    j2 = lh(rec.left.pose, rec.left.global_orient, rec.left.transl, rec.left.betas).joints
    err_l = (((j2 - c[:, None]) * 5 - kp.left)[:, 1:].norm(dim=-1).mean() / 5).item()
    assert err_r < 0.005 and err_l < 0.010, (err_r, err_l)

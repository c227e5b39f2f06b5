import numpy as np
import torch
import trimesh

from bghop.contact.energies import (ObjectSDF, contact_energy, contact_points, hand_hand_energy, penetration_energy,
                                    wrench_energy)
from bghop.contact.init import wrap_directions as _wrap_directions
from bghop.contact.objective import ObjectiveConfig
from bghop.contact.optimizer import EnergyConfig, optimize_grasps, squeeze_pose
from bghop.hands import load_hand
from bghop.hands.frames import palm_center
from bghop.hands.poses import named_pose


def test_object_sdf_matches_box():
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    sdf = ObjectSDF(box, resolution=48)
    p = torch.tensor([[[0.0, 0.0, 0.0], [0.07, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    v = sdf(p)[0]
    # trilinear on a 4.7 mm grid: the ridge at the centre is off by at most half a cell
    assert abs(v[0] + 0.05) < 3e-3 and abs(v[1] - 0.02) < 2e-3
    assert abs(v[2] - 0.45) < 5e-3  # beyond the grid: border value + distance to the box
    p.requires_grad_()
    sdf(p).sum().backward()
    assert torch.isfinite(p.grad).all() and p.grad[0, 1, 0] > 0.5


def test_energies_known_values():
    s = torch.tensor([[0.01, -0.002, 0.03], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(penetration_energy(s), torch.tensor([4e-6, 0.0]))
    regions = {"thumb": torch.tensor([0, 2])}
    e = contact_energy(s, regions, {"thumb": 1.0})
    assert e[1] < 4e-6 < e[0]  # soft-min has a small bias (temperature 2 mm)
    j = torch.zeros(1, 21, 3)
    assert hand_hand_energy(j, j + 1.0) == 0 and hand_hand_energy(j, j) > 0


def test_optimiser_brings_both_hands_into_contact():
    box = trimesh.creation.box(extents=(0.16, 0.12, 0.1))
    hands = {s: load_hand("open", side=s) for s in ("right", "left")}
    start = optimize_grasps(box, hands, 4, EnergyConfig(iterations=0), seed=1)
    g = optimize_grasps(box, hands, 4, EnergyConfig(iterations=60), seed=1)
    assert set(g.hands) == {"right", "left"} and g.hands["right"].pose.shape == (4, 45)
    assert (g.energy < start.energy).all()
    sdf = ObjectSDF(box)
    for side, h in hands.items():
        p = g.hands[side]
        v = h(p.pose, p.global_orient, p.transl).vertices
        assert (sdf(v).min(dim=1).values < 0.005).all(), side  # touching
    single = optimize_grasps(box, {"right": hands["right"]}, 2, EnergyConfig(iterations=5), seed=0)
    assert set(single.hands) == {"right"}


def test_sdf_normals_on_a_box():
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    sdf = ObjectSDF(box, resolution=48)
    p = torch.tensor([[[0.05, 0.0, 0.01], [0.0, -0.052, 0.0], [-0.01, 0.02, 0.06]]], requires_grad=True)
    n = sdf.normals(p)
    want = torch.tensor([[[1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]]])
    assert (n * want).sum(-1).min() > 0.95
    n.sum().backward()  # differentiable in the points
    assert torch.isfinite(p.grad).all()


def test_wrench_energy_balanced_and_unbalanced():
    c = torch.zeros(3)
    pts = torch.tensor([[[0.05, 0, 0], [-0.05, 0, 0]]])
    nrm = torch.tensor([[[1.0, 0, 0], [-1.0, 0, 0]]])
    both = torch.ones(1, 2)
    assert wrench_energy(pts, nrm, both, c).item() < 1e-12  # opposed pinch: balanced
    assert abs(wrench_energy(pts, nrm, torch.tensor([[1.0, 0.0]]), c).item() - 1.0) < 1e-6  # one push: net force 1
    # opposed forces that are offset make a couple: torque, no force
    off = torch.tensor([[[0.05, 0.02, 0], [-0.05, -0.02, 0]]])
    assert wrench_energy(off, nrm, both, c, scale=0.05).item() > 0.1


def test_contact_points_pick_the_vertices_at_the_surface():
    v = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0]]])
    s = torch.tensor([[0.05, 0.0001, 0.03]])
    p, d = contact_points(v, s, {"a": torch.tensor([0, 1, 2])})
    assert p.shape == (1, 1, 3) and abs(p[0, 0, 0].item() - 1.0) < 1e-3 and d[0, 0] < 1e-3


def test_squeeze_closes_towards_the_fist():
    relaxed = named_pose("relaxed")[None]
    assert torch.equal(squeeze_pose(relaxed, "right", 0.0), relaxed)
    torch.testing.assert_close(squeeze_pose(relaxed, "right", 1.0), named_pose("fist")[None])
    torch.testing.assert_close(squeeze_pose(named_pose("relaxed", side="left")[None], "left", 1.0),
                               named_pose("fist", side="left")[None])
    half = squeeze_pose(relaxed, "right", 0.5)
    assert (half - relaxed).norm() < (named_pose("fist")[None] - relaxed).norm()


def test_one_hand_starts_wrapped_around_the_long_axis():
    bottle = trimesh.creation.cylinder(radius=0.03, height=0.2)  # long axis z
    rng = np.random.default_rng(0)
    d, f = _wrap_directions(64, bottle, rng)
    assert np.abs(d[:, 2]).max() < 1e-9 and np.allclose(np.linalg.norm(d, axis=1), 1)
    assert np.abs((d * f).sum(1)).max() < 1e-9  # fingers run around the axis
    hand = load_hand("open", side="right")
    g = optimize_grasps(bottle, {"right": hand}, 4, EnergyConfig(iterations=0), seed=0)
    palm = palm_center(hand(g.hands["right"].pose, g.hands["right"].global_orient, g.hands["right"].transl).joints)
    assert palm[:, 2].abs().max() < 0.1  # palms start beside the bottle's body, not past its ends


def test_thin_objects_are_optimised_on_every_vertex():
    hands = {"right": load_hand("open", side="right")}
    cfg = EnergyConfig(iterations=0, objective=ObjectiveConfig(skin_stride=3, thin_depth=0.01))
    slab = trimesh.creation.box(extents=(0.2, 0.15, 0.012))  # 6 mm deep at most: a tray bottom, a bowl wall
    block = trimesh.creation.box(extents=(0.2, 0.15, 0.06))
    assert optimize_grasps(slab, hands, 1, cfg).skin_stride == 1
    assert optimize_grasps(block, hands, 1, cfg).skin_stride == 3
    assert optimize_grasps(slab, hands, 1, EnergyConfig(iterations=0, objective=ObjectiveConfig(skin_stride=3, thin_depth=0.0))).skin_stride == 3

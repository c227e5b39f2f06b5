import torch
import trimesh

from bghop.contact.energies import ObjectSDF, contact_energy, hand_hand_energy, penetration_energy
from bghop.contact.optimizer import EnergyConfig, optimize_grasps
from bghop.hands import load_hand


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

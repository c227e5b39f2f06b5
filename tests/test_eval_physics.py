"""Physics and contact metrics on cases with known answers."""

import numpy as np
import pytest
import trimesh

from bghop.eval.metrics import grasp_metrics, in_contact, intersection_volume, penetration
from bghop.eval.physics import PhysicsConfig, convex_pieces, hand_pieces, simulate_stability


def _slab(x):
    s = trimesh.creation.box(extents=(0.02, 0.2, 0.2))
    s.apply_translation([x, 0.0, 0.0])
    return np.asarray(s.vertices)


CUBE = trimesh.creation.box(extents=(0.1, 0.1, 0.1))


def test_object_squeezed_between_two_boxes_holds():
    r = simulate_stability(CUBE, [_slab(0.059), _slab(-0.059)])  # 1 mm of squeeze on each side
    assert r.success, r.displacement
    assert set(r.displacement) == {"+x", "-x", "+y", "-y", "+z", "-z"}
    assert r.mass == pytest.approx(0.1**3 * 500, rel=1e-3)


def test_object_without_hands_falls():
    r = simulate_stability(CUBE, [])
    assert not r.success
    # free fall for 1 s: ½ g t² = 4.905 m in every direction
    for d in r.displacement.values():
        assert d == pytest.approx(0.5 * 9.81, rel=0.01)


def test_stop_early_gives_the_same_verdict_faster():
    # "faster" is counted in simulation steps (mj_step calls), not wall-clock time, so a loaded machine cannot fail it
    loose = [_slab(0.062), _slab(-0.062)]
    full = simulate_stability(CUBE, loose)
    quick = simulate_stability(CUBE, loose, stop_early=True)
    assert not quick.success and not full.success
    per_direction = round(PhysicsConfig().duration / PhysicsConfig().timestep)
    assert full.steps == 6 * per_direction
    # it stopped in the first failing direction, just past the threshold
    assert list(quick.displacement) == ["+x", "-x", "+y"] and 0.02 <= quick.displacement["+y"] < 0.2
    assert quick.displacement["+x"] == pytest.approx(full.displacement["+x"])
    # +x and -x in full, then part of +y (the check runs every 25 steps)
    assert 2 * per_direction < quick.steps < 3 * per_direction and quick.steps % 25 == 0
    assert quick.steps < full.steps
    assert quick.to_dict()["steps"] == quick.steps
    held = simulate_stability(CUBE, [_slab(0.059), _slab(-0.059)], stop_early=True)
    assert held.success and len(held.displacement) == 6  # a grasp that holds runs in full
    assert held.steps == full.steps


def test_loose_holders_drop_the_object_sideways():
    r = simulate_stability(CUBE, [_slab(0.062), _slab(-0.062)])  # 2 mm gaps: no friction
    assert not r.success
    assert r.displacement["+x"] < 0.02  # falls onto a slab and rests there
    assert r.displacement["+y"] > 1.0


def test_density_is_used():
    r = simulate_stability(CUBE, [_slab(0.059), _slab(-0.059)], PhysicsConfig(density=1000.0))
    assert r.mass == pytest.approx(1.0, rel=1e-3)


def test_penetration_depth_known():
    pts = np.array([[0.04, 0.0, 0.0], [0.0, 0.045, 0.0], [0.2, 0.0, 0.0]])  # 1 cm, 5 mm deep, outside
    p = penetration(CUBE, pts)
    assert p.num_inside == 2
    assert p.max_depth == pytest.approx(0.01, abs=1e-6)
    assert p.mean_depth == pytest.approx(0.0075, abs=1e-6)
    assert penetration(CUBE, pts[2:]).max_depth == 0.0


def test_intersection_volume_known():
    other = CUBE.copy()
    other.apply_translation([0.05, 0.0, 0.0])
    v = intersection_volume(CUBE, other)
    assert v == pytest.approx(0.05 * 0.1 * 0.1, rel=0.05)
    assert intersection_volume(other, CUBE) == pytest.approx(v)
    far = CUBE.copy()
    far.apply_translation([0.2, 0.0, 0.0])
    assert intersection_volume(CUBE, far) == 0.0


def test_contact_threshold():
    assert in_contact(CUBE, np.array([[0.054, 0.0, 0.0]]))
    assert not in_contact(CUBE, np.array([[0.056, 0.0, 0.0]]))
    assert in_contact(CUBE, np.array([[0.0, 0.0, 0.0]]))  # inside counts


def test_grasp_metrics_with_meshes():
    right = trimesh.creation.icosphere(3, radius=0.02)
    right.apply_translation([0.06, 0.0, 0.0])  # 1 cm into the cube's +x face
    left = trimesh.creation.icosphere(3, radius=0.02)
    left.apply_translation([-0.08, 0.0, 0.0])  # 1 cm away from the -x face
    m = grasp_metrics(CUBE, {"right": right, "left": left})
    assert m.contact_right and not m.contact_left and not m.contact_both
    assert m.penetration_max_m == pytest.approx(0.01, abs=5e-4)
    assert m.hand_hand_volume_cm3 == 0.0
    assert m.intersection_volume_cm3 > 0
    both = grasp_metrics(CUBE, {"right": right, "left": right.copy()})
    assert both.hand_hand_volume_cm3 == pytest.approx(4 / 3 * np.pi * 2.0**3, rel=0.15)


def test_hand_pieces_and_convex_decomposition():
    v = np.random.default_rng(0).normal(size=(100, 3))
    w = np.zeros((100, 3))
    w[:50, 0] = 1
    w[50:95, 2] = 1
    w[95:, 1] = 1  # too few vertices: dropped
    assert [len(p) for p in hand_pieces(v, w)] == [50, 45]
    assert len(convex_pieces(CUBE)) == 1
    torus = trimesh.creation.torus(0.08, 0.02, major_sections=32, minor_sections=12)
    pieces = convex_pieces(torus)
    assert len(pieces) > 2
    assert convex_pieces(torus) is pieces  # cached

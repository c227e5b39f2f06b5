"""Penetration both ways on cases with known answers: rims and plates between finger vertices."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from bghop.eval.metrics import GraspMetrics, grasp_metrics, object_penetration, penetration
from bghop.eval.runs import metrics_from_dict
from bghop.geometry.surface import surface_points

R = 0.008  # finger radius


def _finger(x: float, y: float) -> trimesh.Trimesh:
    """A vertical capsule finger (axis along z, radius 8 mm, 6 cm long) at (x, y)."""
    f = trimesh.creation.capsule(height=0.06, radius=R, count=[48, 48])
    f.apply_translation([x, y, 0.0])
    return f


def _two_fingers(x: float) -> trimesh.Trimesh:
    return trimesh.util.concatenate([_finger(x, -0.02), _finger(x, 0.02)])


PLATE = trimesh.creation.box(extents=(0.2, 0.2, 0.002))  # a 2 mm plate in the x-y plane, rim at x = 0.1


def test_plate_rim_through_two_fingers_reports_its_true_depth():
    hand = _two_fingers(0.095)  # the rim cuts 13 mm into both fingers, through their axes
    assert hand.is_watertight
    one_way = penetration(PLATE, np.asarray(hand.vertices))
    assert one_way.max_depth <= 0.0011  # hand vertices are at most half the plate's thickness inside it
    obj = object_penetration(PLATE, hand)
    assert obj.max_depth == pytest.approx(R, abs=4e-4)  # the plate reaches the fingers' axes: 8 mm deep
    m = grasp_metrics(PLATE, {"right": hand})
    assert m.two_sided and m.penetration_max_m == pytest.approx(R, abs=4e-4)
    assert m.penetration_hand_max_m == pytest.approx(one_way.max_depth)
    assert m.penetration_object_max_m == pytest.approx(obj.max_depth)
    # the independent check: random surface samples of the plate against the hand's inside
    pts, _ = trimesh.sample.sample_surface_even(PLATE, 40_000, seed=0)
    inside = pts[hand.contains(pts)]
    indep = float(trimesh.proximity.signed_distance(hand, inside).max())  # trimesh: positive inside
    assert indep > 0.007 and m.penetration_max_m >= indep - 5e-4


def test_rim_clear_of_the_fingers_is_zero_and_a_graze_is_shallow():
    assert object_penetration(PLATE, _two_fingers(0.1 + R + 0.002)).max_depth == 0.0
    graze = object_penetration(PLATE, _two_fingers(0.1 + R - 0.002)).max_depth  # rim 2 mm into the fingers
    assert graze == pytest.approx(0.002, abs=4e-4)


def test_hand_vertex_deep_inside_a_box_still_counts():
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    finger = trimesh.creation.capsule(height=0.04, radius=R, count=[32, 32])
    finger.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    finger.apply_translation([0.05 + 0.02 + R - 0.03, 0.0, 0.0])  # its tip 3 cm inside the +x face
    m = grasp_metrics(box, {"right": finger})
    assert m.penetration_hand_max_m == pytest.approx(0.03, abs=5e-4)
    assert m.penetration_object_max_m <= R + 1e-4  # the face cuts the finger at most to its axis
    assert m.penetration_max_m == pytest.approx(0.03, abs=5e-4)


def test_surface_cover_is_within_its_spacing_everywhere():
    mesh = trimesh.creation.icosphere(2, radius=0.05)
    pts = surface_points(mesh, 0.002)
    probe, _ = trimesh.sample.sample_surface(mesh, 5000, seed=1)
    d, _ = cKDTree(pts).query(probe)
    assert d.max() <= 0.002
    lo, hi = np.array([0.0, -1, -1]), np.array([1.0, 1, 1])
    part = surface_points(mesh, 0.002, bounds=np.stack([lo, hi]))
    assert len(part) < len(pts) and (part[:, 0] >= 0).all()
    with pytest.raises(ValueError, match="spacing"):
        surface_points(mesh, 0.0)
    with pytest.raises(ValueError, match="coarser"):
        surface_points(trimesh.creation.box(extents=(10, 10, 10)), 0.001)


def test_records_written_before_two_sided_metrics_still_load():
    old = {"penetration_max_m": 0.001, "penetration_mean_m": 0.0005, "intersection_volume_cm3": 1.0,
           "hand_hand_volume_cm3": 0.0, "contact_right": True, "contact_left": True, "contact_both": True}
    m = metrics_from_dict(old)
    assert isinstance(m, GraspMetrics) and not m.two_sided and m.penetration_object_max_m is None
    assert metrics_from_dict({k: v for k, v in old.items() if k != "contact_both"}) is None

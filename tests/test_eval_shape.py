"""Coarse shape (bghop.eval.shape): known answers on primitive solids, the five shape tests on library
objects, and the contrast's arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from bghop.data.objects import make_object
from bghop.eval.shape import SHAPE_TESTS, CoarseShape, coarse_shape, matches, shape_contrast


def _passing(s: CoarseShape) -> set[str]:
    return {c for c in SHAPE_TESTS if matches(s, c)}


def test_ball_box_and_two_pieces():
    ball = coarse_shape(trimesh.creation.icosphere(subdivisions=4, radius=0.08))
    assert ball.fill == pytest.approx(math.pi / 6, abs=0.06) and ball.genus == 0 and ball.pieces == 1
    assert ball.extents_m[0] == pytest.approx(0.16, abs=0.002) and _passing(ball) == {"ball"}
    box = coarse_shape(trimesh.creation.box(extents=(0.3, 0.2, 0.12)))
    assert np.allclose(box.extents_m, (0.3, 0.2, 0.12), atol=1e-6)
    assert box.fill > 0.95 and box.flatness == pytest.approx(0.6) and box.elongation == pytest.approx(1.5)
    assert _passing(box) == {"box"}
    two = trimesh.util.concatenate([trimesh.creation.icosphere(radius=0.05),
                                    trimesh.creation.icosphere(radius=0.05).apply_translation((0.3, 0, 0))])
    assert coarse_shape(two).pieces == 2


def test_ring_plate_tube_and_handles():
    ring = coarse_shape(trimesh.creation.torus(major_radius=0.1, minor_radius=0.02))
    assert ring.genus == 1 and ring.open_centre == 1.0 and _passing(ring) == {"ring"}
    disc = coarse_shape(trimesh.creation.cylinder(radius=0.12, height=0.02, sections=64))
    assert disc.genus == 0 and disc.open_centre == 0.0 and disc.flatness < 0.1
    assert _passing(disc) == {"plate"}
    pipe = trimesh.creation.annulus(r_min=0.03, r_max=0.05, height=0.4, sections=48)
    tube = coarse_shape(pipe)
    assert tube.genus == 1 and tube.elongation == pytest.approx(4.0, rel=0.02) and _passing(tube) == {"tube"}
    # a closed cavity is no handle (on the occupancy grid: meshes' inner shells are turned outwards by the SDF)
    from bghop.eval.shape import _genus_and_pieces

    solid = np.zeros((9, 9, 9), bool)
    solid[1:8, 1:8, 1:8] = True
    solid[4, 4, 4] = False
    assert _genus_and_pieces(solid)[:2] == (0, 1)
    solid[4, 4, 1:8] = False  # drilled through
    assert _genus_and_pieces(solid)[:2] == (1, 1)


def test_library_objects_pass_their_own_test_only():
    shapes = {c: [coarse_shape(make_object(c, seed).mesh) for seed in (0, 1)] for c in SHAPE_TESTS}
    for c, v in shapes.items():
        for s in v:
            assert matches(s, c), (c, s)
    con = shape_contrast(shapes)
    assert con.contrast >= 0.9 and con.samples == {c: 2 for c in SHAPE_TESTS}


def test_contrast_arithmetic():
    ball = CoarseShape((0.1, 0.1, 0.1), 1.0, 1.0, 0.52, 0, 1, 0.002)
    box = CoarseShape((0.3, 0.2, 0.1), 0.5, 1.5, 1.0, 0, 1, 0.002)
    perfect = shape_contrast({"ball": [ball, ball], "box": [box]})
    assert perfect.contrast == 1.0 and perfect.own == {"ball": 1.0, "box": 1.0}
    same = shape_contrast({"ball": [ball, box], "box": [ball, box]})  # the prompt changes nothing
    assert same.contrast == 0.0 and same.own == {"ball": 0.5, "box": 0.5} and same.other == same.own
    swapped = shape_contrast({"ball": [box], "box": [ball], "mug": [ball]})  # unknown prompts are left out
    assert swapped.contrast == -1.0 and set(swapped.samples) == {"ball", "box"}
    assert math.isnan(shape_contrast({"ball": [ball]}).contrast)
    with pytest.raises(KeyError, match="no coarse-shape test"):
        matches(ball, "teapot")

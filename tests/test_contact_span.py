"""Two-hand starts that span a wide object (issue 20, item 3), and the grid-size checks of grasp
synthesis under the frames anchored to the object."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from bghop.contact.init import InitConfig, initial_hands, span_starts
from bghop.fields.frame import FrameConfig
from bghop.hands import load_hand
from bghop.synthesis.checks import GraspError, check_object

TRAY = trimesh.creation.box((0.55, 0.35, 0.04))


@pytest.fixture(scope="module")
def layers():
    return {s: load_hand("open", side=s) for s in ("right", "left")}


def test_span_zero_draws_exactly_the_old_starts(layers):
    a = initial_hands(layers, TRAY, 6, np.random.default_rng(0), InitConfig())
    b = initial_hands(layers, TRAY, 6, np.random.default_rng(0), InitConfig(span=0.0))
    for s in a:
        assert torch.equal(a[s].transl, b[s].transl) and torch.equal(a[s].pose, b[s].pose)


def test_spanning_starts_put_the_hands_on_the_two_halves_of_the_long_axis(layers):
    starts = initial_hands(layers, TRAY, 16, np.random.default_rng(3), InitConfig(span=1.0))
    mcp = {s: layers[s].keypoints(p.pose, p.global_orient, p.transl)[:, 9] for s, p in starts.items()}
    # the tray's long axis is x: every right hand on +x, every left hand on -x, at least 5 cm out
    assert bool((mcp["right"][:, 0] > 0.05).all()) and bool((mcp["left"][:, 0] < -0.05).all())
    # some pairs come along the axis (palms on the ends), some across it
    beyond = (mcp["right"][:, 0] > TRAY.extents[0] / 2)
    assert 0 < int(beyond.sum()) < 16


def test_span_share_mixes_spanning_and_random_starts(layers):
    starts = initial_hands(layers, TRAY, 32, np.random.default_rng(1), InitConfig(span=0.5))
    mcp = {s: layers[s].keypoints(p.pose, p.global_orient, p.transl)[:, 9] for s, p in starts.items()}
    apart = (mcp["right"][:, 0] - mcp["left"][:, 0]).abs() > 0.2
    assert 8 <= int(apart.sum()) < 32


def test_span_directions_follow_a_rotated_object():
    R = trimesh.transformations.rotation_matrix(0.7, [0.3, 0.2, 1.0])
    tray = TRAY.copy()
    tray.apply_transform(R)
    dirs, targets = span_starts(8, tray, np.random.default_rng(0))
    axis = R[:3, 0]
    along = (targets["right"] - targets["left"]) @ axis
    assert np.all(np.abs(along) > 0.3 * 0.55) and np.allclose(np.cross(targets["right"] - targets["left"], axis), 0,
                                                              atol=1e-6)
    for s in ("right", "left"):
        assert np.allclose(np.linalg.norm(dirs[s], axis=1), 1.0)


def test_object_anchored_grid_takes_a_60cm_pipe_and_refuses_a_bigger_one():
    frame = FrameConfig.with_side(0.8, "object")
    pipe = trimesh.creation.cylinder(0.04, 0.62)
    with pytest.raises(GraspError, match="larger than the prior's grid"):
        check_object(pipe)  # G-HOP's 0.6 m cube around the right hand
    pipe.apply_transform(trimesh.transformations.rotation_matrix(0.9, [1.0, 1.0, 0.0]))  # measured in its own axes
    assert any("ends" in w for w in check_object(pipe, frame))  # fits, with a warning about the hands' room
    assert check_object(trimesh.creation.box((0.4, 0.3, 0.25)), frame) == []  # the carton
    with pytest.raises(GraspError, match="0.80 m cube around the object"):
        check_object(trimesh.creation.box((0.85, 0.1, 0.1)), frame)

"""The object-in-hand term: capsules fitted inside the skin, exact depths, and a gradient that frees a rim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from bghop.contact.capsules import (CAPSULE_SEGMENTS, CapsuleNeighbours, _segment_distance, _segment_distance_bmm,
                                    capsule_depths, fit_capsules, object_in_hand_energy, object_samples)
from bghop.eval.metrics import inside_mask
from bghop.hands import load_hand


@pytest.fixture(scope="module")
def hand():
    layer = load_hand("open", side="right")
    return layer, fit_capsules(layer)


def _rest(layer, transl=(0.0, 0.0, 0.0)):
    z = torch.zeros(1, 3)
    with torch.no_grad():
        return layer(torch.zeros(1, 45), z, torch.tensor([transl], dtype=torch.float32))


def test_capsules_lie_inside_the_skin(hand):
    layer, caps = hand
    out = _rest(layer)
    mesh = trimesh.Trimesh(out.vertices[0].numpy(), layer.faces.numpy(), process=False)
    pa, pb = caps.axes(out.joints)
    rng = np.random.default_rng(0)
    pts = []
    for s in range(len(CAPSULE_SEGMENTS)):
        a, b, r = pa[0, s].numpy(), pb[0, s].numpy(), float(caps.radius[s])
        u = rng.normal(size=(300, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        pts.append(a + rng.random((300, 1)) * (b - a) + u * r * rng.random((300, 1)) ** (1 / 3))
    inside = inside_mask(mesh, np.concatenate(pts))
    assert inside.mean() > 0.97
    assert (caps.radius > 0.004).all() and (caps.radius < 0.02).all()


def test_depths_are_exact_and_only_inside_points_count(hand):
    layer, caps = hand
    j = _rest(layer).joints
    pa, pb = caps.axes(j)
    pts = torch.as_tensor(np.random.default_rng(1).normal(scale=0.04, size=(3000, 3)), dtype=torch.float32) \
        + j[0, 0] + torch.tensor([0.05, 0.0, 0.0])
    brute = torch.relu(caps.radius - _segment_distance(pts[None, :, None], pa[:, None], pb[:, None])).amax(-1)
    depth, ids = capsule_depths(pts, j, caps)
    assert (depth > 0).sum() == (brute > 0).sum() > 0
    np.testing.assert_allclose(depth[0][depth[0] > 0].sort().values, brute[0][brute[0] > 0].sort().values, atol=1e-6)
    np.testing.assert_allclose(brute[0, ids[0]][depth[0] > 0], depth[0][depth[0] > 0], atol=1e-6)
    fast = _segment_distance_bmm(pts[None], pa, pb, j[:, :1])
    np.testing.assert_allclose(fast, _segment_distance(pts[None, :, None], pa[:, None], pb[:, None]), atol=2e-5)
    far = pts + 1.0
    assert float(object_in_hand_energy(far, j, caps)) == 0.0


def test_the_gradient_pulls_a_rim_out_of_the_fingers(hand):
    layer, caps = hand
    j0 = _rest(layer).joints[0]
    # a 2 mm plate across the middle finger's middle bone, its rim 3 mm past the bone's axis
    mid = 0.5 * (j0[10] + j0[11])
    axis = torch.nn.functional.normalize(j0[11] - j0[10], dim=0).numpy()
    plate = trimesh.creation.box(extents=(0.1, 0.1, 0.002))
    rot = trimesh.geometry.align_vectors([0, 0, 1], axis)
    plate.apply_transform(rot)
    u = rot[:3, 0]  # in the plate's plane
    plate.apply_translation(mid.numpy() + (0.05 - 0.003) * u)
    pts = object_samples(plate, 0.002)
    transl = torch.zeros(1, 3, requires_grad=True)
    opt = torch.optim.Adam([transl], lr=1e-3)
    first = None
    for _ in range(60):
        out = layer(torch.zeros(1, 45), torch.zeros(1, 3), transl)
        e = object_in_hand_energy(pts, out.joints, caps)
        first = float(e.detach()) if first is None else first
        opt.zero_grad()
        e.sum().backward()
        opt.step()
    assert first > 0 and float(e.detach()) < 0.05 * first


def test_samples_are_deterministic_and_cover_a_thin_rim():
    ring = trimesh.creation.annulus(r_min=0.1, r_max=0.102, height=0.002)  # a 2 mm rim
    a, b = object_samples(ring, 0.004), object_samples(ring, 0.004)
    assert torch.equal(a, b) and len(a) > 100
    r = a[:, :2].norm(dim=1)
    assert ((r > 0.0995) & (r < 0.1025)).all()
    big = trimesh.creation.box(extents=(0.6, 0.6, 0.6))
    assert len(object_samples(big, 0.004, max_points=5000)) <= 5000


def test_a_kept_neighbour_list_gives_the_depths_of_a_full_search(hand):
    """Hands moving through a plate in small and large steps: the kept list sees every sample
    inside (the same depths, gradients and sample ids as a search of all samples) and is rebuilt
    only after a capsule end has moved by its margin."""
    layer, caps = hand
    plate = trimesh.creation.box(extents=(0.2, 0.2, 0.004))
    pts = object_samples(plate, 0.003)
    near = CapsuleNeighbours(margin=0.01)
    rng = np.random.default_rng(3)
    transl = torch.tensor(rng.normal(scale=0.02, size=(4, 3)), dtype=torch.float32)
    pose = torch.tensor(rng.normal(scale=0.2, size=(4, 45)), dtype=torch.float32)
    seen = 0
    for step in range(40):
        transl = transl + torch.tensor(rng.normal(scale=0.004 if step % 10 else 0.03, size=(4, 3)), dtype=torch.float32)
        j = layer(pose, torch.zeros(4, 3), transl).joints.detach().requires_grad_()
        full, ids_full = capsule_depths(pts, j, caps)
        kept, ids_kept = capsule_depths(pts, j, caps, near)
        inside = full > 0  # (the ids of padding entries are arbitrary)
        assert torch.equal(full, kept) and torch.equal(ids_full[inside], ids_kept[inside])
        g_full, = torch.autograd.grad(full.pow(2).sum(), j, allow_unused=True) if full.numel() else (None,)
        g_kept, = torch.autograd.grad(kept.pow(2).sum(), j, allow_unused=True) if kept.numel() else (None,)
        if g_full is not None:
            assert torch.equal(g_full, g_kept)
        seen += int((full > 0).sum())
    assert seen > 100  # the hands did pass through the plate
    assert 4 <= near.rebuilds < 40  # the big steps force a rebuild, the small ones mostly do not
    with pytest.raises(ValueError, match="margin"):
        CapsuleNeighbours(margin=0.0)


def test_samples_of_the_same_object_are_kept():
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    a = object_samples(box, 0.004)
    a[0] += 1.0  # the caller's copy: the kept samples are not changed by it
    b = object_samples(box, 0.004)
    assert not torch.equal(a, b)
    moved = box.copy()
    moved.apply_translation((0.1, 0.0, 0.0))
    np.testing.assert_allclose(object_samples(moved, 0.004), b + torch.tensor([0.1, 0.0, 0.0]), atol=1e-6)

"""Issue 19, bad inputs that escaped the checks: objects far from the origin, diverging simulations, huge meshes."""

import logging
import os

import numpy as np
import pytest
import trimesh

from bghop.eval import physics
from bghop.eval.physics import (
    CACHE_ENV,
    LARGE_MESH_FACES,
    PhysicsConfig,
    convex_pieces,
    decomposition_warning,
    simulate_stability,
)


def _box(extents, centre):
    b = trimesh.creation.box(extents=extents)
    b.apply_translation(centre)
    return b


def _half_slab_grasp(offset):
    """A 10 cm cube squeezed (1 mm each side) by two slabs that cover only half of its ±x faces: it holds,
    but gravity turns it about the slabs, which is what went wrong far from the origin."""
    offset = np.asarray(offset, dtype=np.float64)
    cube = _box((0.1, 0.1, 0.1), offset)
    slabs = [np.asarray(_box((0.02, 0.1, 0.1), offset + [x, 0.05, 0.0]).vertices) for x in (0.059, -0.059)]
    return cube, slabs


def test_a_grasp_far_from_the_origin_behaves_as_at_the_origin():
    near = simulate_stability(*_half_slab_grasp([0.0, 0.0, 0.0]))
    assert near.success, near.displacement
    for offset in ([100.0, 0.0, 0.0], [-60.0, 80.0, 30.0]):  # 100 m away (before: -x fell 99.9 m)
        far = simulate_stability(*_half_slab_grasp(offset))
        assert far.success == near.success
        assert far.mass == pytest.approx(near.mass, rel=1e-9)
        for d in near.displacement:
            assert far.displacement[d] == pytest.approx(near.displacement[d], abs=1e-6), d


def test_a_diverging_simulation_fails_logs_and_leaves_no_log_file(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    cube, slabs = _half_slab_grasp([0.0, 0.0, 0.0])
    with caplog.at_level(logging.WARNING, logger="bghop.eval.physics"):
        r = simulate_stability(cube, slabs, PhysicsConfig(gravity=1e30))  # NaN/Inf accelerations at once
    # MuJoCo resets a diverged state, which read as "did not move" and so as held
    assert not r.success
    assert r.extra["diverged"] == list(r.displacement) and len(r.displacement) == 6
    assert all(v == float("inf") for v in r.displacement.values())
    assert any("MuJoCo:" in rec.getMessage() and "unstable" in rec.getMessage() for rec in caplog.records)
    assert not os.path.exists(tmp_path / "MUJOCO_LOG.TXT") and os.listdir(tmp_path) == []


def test_decomposition_warning_for_huge_meshes():
    small = trimesh.creation.icosphere(subdivisions=5)  # 20,480 faces
    big = trimesh.creation.icosphere(subdivisions=7)  # 327,680 faces
    assert decomposition_warning(small) is None
    w = decomposition_warning(big)
    assert w is not None and "327,680 faces" in w and "--no-physics" in w and "decimate" in w
    assert len(small.faces) < LARGE_MESH_FACES < len(big.faces)


def test_the_warning_is_logged_before_the_decomposition(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    torus = trimesh.creation.torus(major_radius=0.05, minor_radius=0.02, major_sections=320, minor_sections=320)
    assert len(torus.faces) > LARGE_MESH_FACES
    seen = []

    def fake_decompose(mesh, cfg):  # what was logged when the decomposition started
        seen.append([r.getMessage() for r in caplog.records])
        return [np.asarray(trimesh.creation.box(extents=(0.1, 0.1, 0.04)).vertices)]

    monkeypatch.setattr(physics, "decompose", fake_decompose)
    with caplog.at_level(logging.WARNING, logger="bghop.eval.physics"):
        convex_pieces(torus, PhysicsConfig())
    assert len(seen) == 1 and any("204,800 faces" in m and "--no-physics" in m for m in seen[0])

"""The fast convex decomposition of the stability check (issue 18): settings, cache key, coverage, fallback."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest
import trimesh

from bghop.eval import physics
from bghop.eval.physics import (LEGACY_DECOMPOSITION, PhysicsConfig, decompose, uncovered_share,
                                watertight_remesh)


def _l_shape() -> trimesh.Trimesh:
    """A closed L (two 10 × 3 × 3 cm bars meeting at a corner): not convex."""
    import manifold3d

    a = manifold3d.Manifold.cube([0.10, 0.03, 0.03])
    b = manifold3d.Manifold.cube([0.03, 0.10, 0.03])
    m = (a + b).to_mesh()
    return trimesh.Trimesh(np.asarray(m.vert_properties)[:, :3], np.asarray(m.tri_verts), process=False)


def _torus() -> trimesh.Trimesh:
    return trimesh.creation.torus(major_radius=0.05, minor_radius=0.015, major_sections=48, minor_sections=24)


def _inside_points(mesh: trimesh.Trimesh, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(0)
    lo, hi = mesh.bounds
    p = rng.uniform(lo, hi, size=(4 * n, 3))
    return p[mesh.contains(p)][:n]


def test_legacy_settings_and_key():
    cfg = PhysicsConfig()
    old = PhysicsConfig.legacy()
    assert not cfg.is_legacy and old.is_legacy
    assert all(getattr(old, k) == v for k, v in LEGACY_DECOMPOSITION.items())
    assert old.coacd_threshold == 0.05 and old.max_convex_hulls == 16 and old.remesh_resolution == 0
    assert PhysicsConfig.legacy(density=900.0).density == 900.0
    # the legacy key is the key used before issue 18: its cached decompositions are still found
    mesh = trimesh.creation.annulus(0.02, 0.05, 0.02)
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(mesh.vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(mesh.faces, dtype=np.int64).tobytes())
    h.update(b"16-0.05")
    assert physics._mesh_key(mesh, old) == h.hexdigest()
    assert physics._mesh_key(mesh, cfg) != h.hexdigest()


@pytest.mark.parametrize("field", list(physics._DECOMP_FIELDS) + ["coacd_threshold", "max_convex_hulls"])
def test_cache_key_changes_with_every_decomposition_setting(field):
    mesh = trimesh.creation.annulus(0.02, 0.05, 0.02)
    cfg = PhysicsConfig()
    value = getattr(cfg, field)
    other = replace(cfg, **{field: value + (1 if isinstance(value, int) else 0.5 * value + 0.01)})
    assert physics._mesh_key(mesh, other) != physics._mesh_key(mesh, cfg)
    # settings that do not change the decomposition do not change the key
    assert physics._mesh_key(mesh, replace(cfg, density=1000.0, friction=1.0)) == physics._mesh_key(mesh, cfg)


def test_watertight_remesh_of_an_open_torus():
    torus = _torus()
    open_torus = trimesh.Trimesh(torus.vertices, torus.faces[10:], process=False)  # a hole: not closed
    assert not open_torus.is_watertight
    rm = watertight_remesh(open_torus, 40, offset=0.001, simplify=0.0003)
    assert rm.is_watertight and rm.volume > 0
    # the 1 mm level set: a bit larger than the torus (minor radius 1.5 → 1.6 cm), the hole kept
    grown = 2 * np.pi ** 2 * 0.05 * 0.016 ** 2
    assert rm.volume == pytest.approx(grown, rel=0.08)
    assert not rm.contains(np.zeros((1, 3)))[0]
    assert len(rm.faces) < 12000


def test_watertight_remesh_refuses_what_it_cannot_see():
    sheet = trimesh.Trimesh([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]], [[0, 1, 2]], process=False)  # no inside
    with pytest.raises(ValueError):
        watertight_remesh(sheet, 20)


@pytest.mark.parametrize("make", [_l_shape, _torus])
def test_fast_decomposition_covers_the_volume(make, tmp_path, monkeypatch):
    monkeypatch.setenv(physics.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    mesh = make()
    assert mesh.is_watertight and not mesh.is_convex
    pieces = physics.convex_pieces(mesh)
    assert 2 <= len(pieces) <= PhysicsConfig().max_convex_hulls
    inside = _inside_points(mesh)
    assert len(inside) > 500
    assert uncovered_share(pieces, inside, 1e-5) == 0.0  # every point inside the mesh is in some hull (10 µm: cuts)
    surface, _ = trimesh.sample.sample_surface(mesh, 2000, seed=1)
    assert uncovered_share(pieces, surface, 0.002) <= physics.COVERAGE_SHARE
    # a non-convex shape is not one hull: its pieces leave out most of the hull's excess
    hull_excess = mesh.convex_hull.volume - mesh.volume
    pieces_volume = sum(trimesh.convex.convex_hull(p).volume for p in pieces)
    assert pieces_volume - mesh.volume < 0.7 * hull_excess


def test_uncovered_share():
    cube = np.asarray(trimesh.creation.box((0.1, 0.1, 0.1)).vertices)
    far = cube + [1.0, 0, 0]
    pts = np.array([[0, 0, 0], [0.049, 0, 0], [0.06, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
    assert uncovered_share([cube], pts, 0.005) == pytest.approx(3 / 5)
    assert uncovered_share([cube, far], pts, 0.005) == pytest.approx(2 / 5)
    assert uncovered_share([cube], pts, 0.02) == pytest.approx(2 / 5)
    flat = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0.0]])
    assert uncovered_share([flat], pts[:1], 0.005) == 1.0  # a flat piece covers nothing


class _SpyCoacd:
    """Stands in for ``coacd.run_coacd``: records the calls, answers ``answer(call_index, vertices)``."""

    def __init__(self, answer):
        self.calls, self.answer = [], answer

    def __call__(self, mesh, **kw):
        self.calls.append(kw)
        return [(p, np.zeros((0, 3), dtype=np.int64)) for p in self.answer(len(self.calls) - 1)]


def _box_pieces(extent):
    return [np.asarray(trimesh.creation.box((extent,) * 3).vertices)]


def test_fallback_when_pieces_miss_the_surface(monkeypatch):
    import coacd

    mesh = _l_shape()
    spy = _SpyCoacd(lambda i: _box_pieces(0.01) if i == 0 else _box_pieces(1.0))  # first: far too small
    monkeypatch.setattr(coacd, "run_coacd", spy)
    pieces = decompose(mesh)
    assert [c["preprocess_mode"] for c in spy.calls] == ["off", "auto"]
    assert np.allclose(np.ptp(pieces[0], axis=0), 1.0)  # the fallback's answer
    cfg = PhysicsConfig()
    assert spy.calls[1]["mcts_iterations"] == cfg.coacd_mcts_iterations  # same search settings
    assert spy.calls[1]["preprocess_resolution"] == cfg.coacd_preprocess_resolution


def test_fallback_when_the_remesh_fails(monkeypatch):
    import coacd

    spy = _SpyCoacd(lambda i: _box_pieces(1.0))
    monkeypatch.setattr(coacd, "run_coacd", spy)

    def broken(*a, **k):
        raise ValueError("no inside")

    monkeypatch.setattr(physics, "watertight_remesh", broken)
    decompose(_l_shape())
    assert [c["preprocess_mode"] for c in spy.calls] == ["auto"]


def test_no_fallback_when_covered_and_legacy_call_unchanged(monkeypatch):
    import coacd

    spy = _SpyCoacd(lambda i: _box_pieces(1.0))
    monkeypatch.setattr(coacd, "run_coacd", spy)
    decompose(_l_shape())
    assert [c["preprocess_mode"] for c in spy.calls] == ["off"]
    cfg = PhysicsConfig()
    assert spy.calls[0]["threshold"] == cfg.coacd_threshold and spy.calls[0]["resolution"] == cfg.coacd_resolution
    decompose(_l_shape(), PhysicsConfig.legacy())
    assert spy.calls[1] == {"threshold": 0.05, "max_convex_hull": 16, "seed": 0}


def test_merge_pieces_joins_neighbours_first():
    def cube(x):
        return np.asarray(trimesh.creation.box((0.02, 0.02, 0.02)).vertices) + [x, 0.0, 0.0]

    pieces = [cube(0.0), cube(0.02), cube(0.5)]  # two touching cubes, one far away
    out = physics.merge_pieces(pieces, 2)
    assert len(out) == 2
    spans = sorted(float(np.ptp(p[:, 0])) for p in out)
    assert spans == pytest.approx([0.02, 0.04])  # the touching pair became one 4 cm box
    assert physics.merge_pieces(pieces, 3)[0] is not None and len(physics.merge_pieces(pieces, 3)) == 3
    assert all(a is b for a, b in zip(physics.merge_pieces(pieces, 16), pieces))  # nothing to merge: as given
    assert len(physics.merge_pieces(pieces, 1)) == 1  # far pieces too when nothing else is left


def test_settings_written_before_the_fast_decomposition_read_as_legacy():
    # a run record or data config written before issue 18: the old fields only
    old = {"density": 500.0, "friction": 3.0, "duration": 1.0, "timestep": 0.002, "gravity": 9.81,
           "success_threshold": 0.02, "skin_margin": 0.0, "max_convex_hulls": 16, "coacd_threshold": 0.05}
    cfg = PhysicsConfig.from_dict(old)
    assert cfg.is_legacy and cfg == PhysicsConfig.legacy()
    assert cfg.to_dict() == old  # the legacy identity is unchanged
    new = PhysicsConfig(friction=2.0)
    assert PhysicsConfig.from_dict(new.to_dict()) == new and not new.is_legacy
    with pytest.raises(TypeError):
        PhysicsConfig.from_dict({**old, "nonsense": 1})


def test_run_records_without_the_new_fields_keep_their_stored_stability():
    from bghop.eval.runs import RunRecord

    rec = RunRecord(kind="grasp", physics={"density": 500.0, "coacd_threshold": 0.05})
    assert rec.physics_config() == PhysicsConfig.legacy()
    assert RunRecord(kind="grasp", physics=PhysicsConfig().to_dict()).physics_config() == PhysicsConfig()


def test_watertight_remesh_refines_flat_objects_within_its_cap():
    """A plate gets finer cells than a cube of the same longest side (its thickness is seen), never
    finer than MAX_REFINE times; both keep the 1 mm grown level set."""
    import trimesh

    from bghop.eval.decompose import MAX_REFINE

    cube = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    plate = trimesh.creation.box(extents=(0.2, 0.2, 0.01))
    rc, rp = watertight_remesh(cube, 16, 0.001), watertight_remesh(plate, 16, 0.001)
    edge = lambda m: float(np.median(m.edges_unique_length))  # noqa: E731
    assert edge(rp) < 0.8 * edge(rc) and edge(rp) > 0.9 * edge(rc) / MAX_REFINE / 1.5
    np.testing.assert_allclose(rp.extents, (0.202, 0.202, 0.012), atol=0.2 / 16 / MAX_REFINE)


@pytest.mark.parametrize("resolution", [16, 24, 32])
def test_watertight_remesh_of_boxes_whose_faces_fall_on_grid_planes(resolution):
    """The grown faces of an axis-aligned box land on grid points at these resolutions: still closed."""
    import trimesh

    for ext in ((0.2, 0.2, 0.01), (0.2, 0.2, 0.02), (0.2, 0.2, 0.2), (0.1, 0.3, 0.05)):
        out = watertight_remesh(trimesh.creation.box(extents=ext), resolution, 0.001)
        assert out.is_watertight
        np.testing.assert_allclose(out.extents, np.asarray(ext) + 0.002, atol=1e-4)

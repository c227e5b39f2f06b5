import numpy as np
import pytest
import torch
import trimesh

from bghop.geometry import (GridSpec, SDFError, grid_coordinates, mesh_to_sdf_grid, sample_grid, sdf_at_points,
                            sdf_grid_to_mesh)

SPEC = GridSpec(48, -0.15, 0.15)  # 6.4 mm voxels over a 30 cm cube (metres)


def _points(spec: GridSpec) -> np.ndarray:
    return spec.points(dtype=torch.float64).reshape(-1, 3).numpy()


def _near_surface(sdf_true: np.ndarray, spec: GridSpec, voxels: float = 2.0) -> np.ndarray:
    return np.abs(sdf_true) < voxels * spec.spacing


def _box_sdf(p: np.ndarray, ext) -> np.ndarray:
    q = np.abs(p) - np.asarray(ext) / 2
    return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)


# ---------------------------------------------------------------- grid convention


def test_grid_convention():
    spec = GridSpec(5, -1.0, 3.0)
    g = spec.points(dtype=torch.float64)
    x = torch.linspace(-1.0, 3.0, 5, dtype=torch.float64)
    assert g.shape == (5, 5, 5, 3)
    assert torch.equal(g[1, 2, 3], torch.stack([x[1], x[2], x[3]]))  # [i, j, k] = (x_i, y_j, z_k)
    assert g[0, 0, 0].tolist() == [-1.0, -1.0, -1.0] and g[-1, -1, -1].tolist() == [3.0, 3.0, 3.0]  # ends included
    assert spec.spacing == 1.0 and spec.extent == 4.0
    assert torch.equal(grid_coordinates(5, -1.0, 3.0, dtype=torch.float64), g)
    idx = spec.world_to_index(g)
    torch.testing.assert_close(idx, torch.stack(torch.meshgrid(*[torch.arange(5.0, dtype=torch.float64)] * 3,
                                                               indexing="ij"), -1))
    torch.testing.assert_close(spec.index_to_world(idx), g)
    assert np.allclose(spec.world_to_index(np.array([0.5, -1.0, 3.0])), [1.5, 0.0, 4.0])
    with pytest.raises(ValueError):
        GridSpec(1, -1.0, 1.0)
    with pytest.raises(ValueError):
        GridSpec(8, 1.0, -1.0)


def test_sample_grid_linear_is_exact_and_axes_are_not_swapped():
    spec = GridSpec(20, -1.0, 1.0)
    pts = spec.points(dtype=torch.float64)
    f = lambda p: 2 * p[..., 0] - 3 * p[..., 1] + 0.5 * p[..., 2] + 1.0  # noqa: E731  (distinct per-axis slopes)
    vol = torch.stack([f(pts), -f(pts)])[None]  # (1, 2, R, R, R)
    q = torch.rand(1, 200, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = sample_grid(vol, q, spec)
    assert out.shape == (1, 2, 200)
    torch.testing.assert_close(out[0, 0], f(q[0]), atol=1e-9, rtol=0)
    torch.testing.assert_close(out[0, 1], -f(q[0]), atol=1e-9, rtol=0)


def test_sample_grid_smooth_function_and_grads():
    spec = GridSpec(33, -1.5, 1.5)
    pts = spec.points(dtype=torch.float64)
    f = lambda p: torch.sin(2 * p[..., 0]) * torch.cos(p[..., 1]) + p[..., 2] ** 2  # noqa: E731
    vol = f(pts)[None, None].expand(2, 1, -1, -1, -1).contiguous()
    q = (torch.rand(2, 500, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3 - 1.5)
    q.requires_grad_(True)
    out = sample_grid(vol, q, spec)[:, 0]
    # trilinear error <= h²/8 · (|f_xx| + |f_yy| + |f_zz|) <= h²/8 · (4 + 1 + 2)
    h = spec.spacing
    assert (out - f(q)).abs().max() <= h * h / 8 * 7 + 1e-12
    out.sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
    # exact at the grid points themselves
    idx = torch.tensor([[3, 17, 30], [0, 0, 32]])
    gp = pts[idx[:, 0], idx[:, 1], idx[:, 2]][None]
    torch.testing.assert_close(sample_grid(vol[:1], gp, spec)[0, 0], vol[0, 0, idx[:, 0], idx[:, 1], idx[:, 2]])


# ---------------------------------------------------------------- accuracy against analytic SDFs


def test_sphere_accuracy():
    r = 0.08
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=r)  # vertices on the sphere, faces inside it
    # Tessellation: the polytope P lies between the balls of radius r - sag and r, where sag = r minus the
    # smallest distance from the centre to a face plane; so sdf_P - sdf_sphere lies in [0, sag] everywhere.
    n = mesh.face_normals
    sag = r - np.einsum("ij,ij->i", n, mesh.triangles[:, 0]).min()
    assert 0 < sag < 1e-4
    sdf = mesh_to_sdf_grid(mesh, SPEC).reshape(-1)
    true = np.linalg.norm(_points(SPEC), axis=1) - r
    err = sdf.astype(np.float64) - true
    assert err.min() >= -1e-6 and err.max() <= sag + 1e-6
    assert np.abs(err)[_near_surface(true, SPEC)].max() <= 0.5 * SPEC.spacing


def test_box_accuracy():
    ext = np.array([0.16, 0.09, 0.05])
    mesh = trimesh.creation.box(extents=ext)
    true = _box_sdf(_points(SPEC), ext)
    sdf = mesh_to_sdf_grid(mesh, SPEC).reshape(-1)
    assert np.abs(sdf - true)[_near_surface(true, SPEC)].max() <= 0.5 * SPEC.spacing
    assert np.abs(sdf - true).max() < 1e-6  # a box is represented exactly: float32 rounding only


def test_cylinder_accuracy():
    r, h, sections = 0.05, 0.12, 128
    mesh = trimesh.creation.cylinder(radius=r, height=h, sections=sections)
    assert np.linalg.norm(mesh.vertices[:, :2], axis=1).max() == pytest.approx(r)
    sag = r * (1 - np.cos(np.pi / sections))  # the prism lies between the cylinders of radius r - sag and r
    p = _points(SPEC)
    d = np.stack([np.linalg.norm(p[:, :2], axis=1) - r, np.abs(p[:, 2]) - h / 2], axis=1)
    true = np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
    err = mesh_to_sdf_grid(mesh, SPEC).reshape(-1).astype(np.float64) - true
    assert err.min() >= -1e-6 and err.max() <= sag + 1e-6
    assert np.abs(err)[_near_surface(true, SPEC)].max() <= 0.5 * SPEC.spacing


# ---------------------------------------------------------------- sign on broken meshes

BOX_EXT = (0.1, 0.1, 0.1)
INSIDE = np.array([[0.0, 0.0, 0.0], [0.03, 0.02, -0.01], [-0.035, 0.0, 0.02], [0.0, 0.0, 0.04]])
OUTSIDE = np.array([[0.1, 0.0, 0.0], [0.0, 0.12, 0.0], [0.06, 0.06, 0.06], [0.0, 0.0, -0.07], [0.0, 0.0, 0.3]])


def _damaged_box(damage: str) -> trimesh.Trimesh:
    box = trimesh.creation.box(extents=BOX_EXT)
    v, f = np.asarray(box.vertices), np.asarray(box.faces)
    rng = np.random.default_rng(0)
    if damage == "holes":  # two triangles removed: one square side of the box open
        keep = np.ones(len(f), bool)
        keep[np.argsort(box.triangles_center[:, 0])[:2]] = False  # the -x side
        f = f[keep]
    elif damage == "duplicates":  # some faces twice, some of those reversed
        f = np.concatenate([f, f[:5], f[5:8, ::-1]])
    elif damage == "flipped":  # half the faces reversed
        f = f.copy()
        f[::2] = f[::2, ::-1]
    elif damage == "inverted_open":  # every face reversed AND a side missing: no volume test can fix it blindly
        f = f[2:, ::-1]
    elif damage == "soup":  # every triangle with its own vertices, shuffled, some flipped
        tri = box.triangles[rng.permutation(len(f))]
        tri[::3] = tri[::3, ::-1]
        v, f = tri.reshape(-1, 3), np.arange(3 * len(tri)).reshape(-1, 3)
    elif damage == "everything":  # holes + flips + duplicates at once
        f = np.concatenate([f[2:], f[4:7]]).copy()
        f[1::2] = f[1::2, ::-1]
    return trimesh.Trimesh(v, f, process=False)


@pytest.mark.parametrize("damage", ["holes", "duplicates", "flipped", "inverted_open", "soup", "everything"])
def test_sign_on_damaged_box(damage):
    mesh = _damaged_box(damage)
    if damage in ("holes", "inverted_open", "everything"):
        assert not mesh.is_watertight
    if damage in ("flipped", "soup", "everything"):
        assert not mesh.is_winding_consistent or not mesh.is_watertight
    s_in, s_out = sdf_at_points(mesh, INSIDE), sdf_at_points(mesh, OUTSIDE)
    assert (s_in < 0).all(), s_in
    assert (s_out > 0).all(), s_out
    if damage in ("duplicates", "flipped", "soup"):  # same surface: the exact box distances
        np.testing.assert_allclose(np.abs(np.concatenate([s_in, s_out])),
                                   np.abs(_box_sdf(np.concatenate([INSIDE, OUTSIDE]), BOX_EXT)), atol=1e-9)


def test_sign_on_overlapping_components():
    a = trimesh.creation.icosphere(3, radius=0.045)
    b = trimesh.creation.icosphere(3, radius=0.03)
    b.apply_translation([0.03, 0.0, 0.0])
    b.invert()  # one piece inside out, too
    mesh = trimesh.util.concatenate([a, b])  # two separate, overlapping closed pieces (not a union)
    inside = np.array([[-0.01, 0.0, 0.0], [0.04, 0.01, 0.0], [0.055, 0.0, 0.0]])  # a only, overlap, b only
    outside = np.array([[0.0, 0.06, 0.0], [0.075, 0.0, 0.0], [-0.06, 0.0, 0.0]])
    assert (sdf_at_points(mesh, inside) < 0).all()
    assert (sdf_at_points(mesh, outside) > 0).all()


def _shells() -> trimesh.Trimesh:
    """A closed box shell with a smaller box floating inside its hollow (inward-facing inner wall)."""
    outer = trimesh.creation.box(extents=(0.2, 0.16, 0.12))
    hollow = trimesh.creation.box(extents=(0.16, 0.12, 0.08))
    hollow.invert()
    core = trimesh.creation.box(extents=(0.04, 0.04, 0.04))
    return trimesh.util.concatenate([outer, hollow, core])


@pytest.mark.parametrize("name", ["torus", "two_boxes", "shells", "mug", "damaged"])
def test_grid_sign_from_regions_equals_every_winding_number(name, monkeypatch):
    """`mesh_to_sdf_grid` takes the sign of far regions from a few points (closed meshes only): the grid must
    equal `sdf_at_points` on the same points, which evaluates the winding number at every one."""
    import bghop.geometry.sdf as sdf_mod
    from bghop.data.objects import make_object

    meshes = {"torus": trimesh.creation.torus(0.08, 0.025),
              "two_boxes": trimesh.util.concatenate([trimesh.creation.box((0.05,) * 3).apply_translation([-0.08, 0, 0]),
                                                     trimesh.creation.box((0.05,) * 3).apply_translation([0.08, 0, 0])]),
              "shells": _shells(), "mug": make_object("mug", seed=3).mesh, "damaged": _damaged_box("holes")}
    mesh = meshes[name]
    calls = []
    real = sdf_mod._grid_inside
    monkeypatch.setattr(sdf_mod, "_grid_inside", lambda *a: calls.append(1) or real(*a))
    spec = GridSpec(40, -0.15, 0.15)
    grid = mesh_to_sdf_grid(mesh, spec, max_distance=0.03)
    points = sdf_at_points(mesh, _points(spec), max_distance=0.03).reshape(grid.shape).astype(np.float32)
    assert calls == ([] if name == "damaged" else [1])  # the shortcut only where the mesh is closed
    np.testing.assert_array_equal(grid, points)
    assert (grid < 0).any() and (grid > 0).any()


# ---------------------------------------------------------------- transforms, clamping, shapes


def _similarity(scale: float, translation=(0.1, -0.2, 0.3)) -> np.ndarray:
    T = trimesh.transformations.rotation_matrix(0.7, [1.0, 2.0, -0.5])
    T[:3, :3] *= scale
    T[:3, 3] = translation
    return T


def test_transform_equals_transforming_the_query():
    mesh = trimesh.creation.box(extents=(0.1, 0.06, 0.04))
    T = _similarity(5.0)  # like nTo: 5 units per metre
    q = np.random.default_rng(2).uniform(-0.6, 0.9, (300, 3))  # grid-frame points
    q_obj = (q - T[:3, 3]) @ np.linalg.inv(T[:3, :3]).T
    expected = 5.0 * _box_sdf(q_obj, (0.1, 0.06, 0.04))
    np.testing.assert_allclose(sdf_at_points(mesh, q, transform=T), expected, atol=1e-9)
    np.testing.assert_allclose(sdf_at_points(mesh, torch.from_numpy(q), transform=torch.from_numpy(T)), expected,
                               atol=1e-9)
    R = np.diag([-1.0, 1.0, 1.0, 1.0]) @ T  # a reflection flips the winding; the sign must survive
    q_obj = (q - R[:3, 3]) @ np.linalg.inv(R[:3, :3]).T
    np.testing.assert_allclose(sdf_at_points(mesh, q, transform=R), 5.0 * _box_sdf(q_obj, (0.1, 0.06, 0.04)),
                               atol=1e-9)
    spec = GridSpec(12, -1.0, 1.0)
    grid = mesh_to_sdf_grid(mesh, spec, transform=T)
    np.testing.assert_allclose(grid.reshape(-1), sdf_at_points(mesh, _points(spec), transform=T), atol=1e-6)
    assert sdf_at_points(mesh, q.reshape(10, 30, 3)).shape == (10, 30)


def test_max_distance_clamp_is_exact():
    spec = GridSpec(32, -0.15, 0.15)
    for mesh in (trimesh.creation.box(extents=(0.16, 0.09, 0.05)), trimesh.creation.icosphere(4, radius=0.07)):
        full = mesh_to_sdf_grid(mesh, spec)
        for md in (0.01, 0.04):
            np.testing.assert_array_equal(mesh_to_sdf_grid(mesh, spec, max_distance=md), np.clip(full, -md, md))


def test_band_clip_is_exact():
    """sdf_clipped equals the exact field clipped, for bands on either side of the surface and across it."""
    from bghop.geometry.sdf import sdf_clipped

    spec = GridSpec(32, -0.15, 0.15)
    pts = _points(spec)
    for mesh in (trimesh.creation.box(extents=(0.16, 0.09, 0.05)), trimesh.creation.icosphere(4, radius=0.07)):
        full = sdf_at_points(mesh, pts)
        for lo, hi in ((0.001, 0.012), (-0.02, 0.005), (-0.03, -0.004), (-1.0, 1.0)):
            np.testing.assert_allclose(sdf_clipped(mesh, pts, lo, hi), np.clip(full, lo, hi), atol=1e-12)
    with pytest.raises(SDFError, match="below"):
        sdf_clipped(mesh, pts[:3], 0.01, 0.01)


def test_bad_inputs():
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    with pytest.raises(SDFError, match="no triangles"):
        sdf_at_points(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), int), process=False), np.zeros((1, 3)))
    with pytest.raises(SDFError, match="4, 4"):
        sdf_at_points(box, np.zeros((1, 3)), transform=np.eye(3))
    with pytest.raises(SDFError, match=r"\(\.\.\., 3\)"):
        sdf_at_points(box, np.zeros((4, 2)))
    with pytest.raises(SDFError, match="positive"):
        sdf_at_points(box, np.zeros((1, 3)), max_distance=0.0)


# ---------------------------------------------------------------- marching cubes


def _chamfer(a: trimesh.Trimesh, b: trimesh.Trimesh) -> float:
    _, d_ab, _ = trimesh.proximity.closest_point(b, a.sample(3000, seed=0))
    _, d_ba, _ = trimesh.proximity.closest_point(a, b.sample(3000, seed=1))
    return 0.5 * (d_ab.mean() + d_ba.mean())


@pytest.mark.parametrize("shape", ["sphere", "box"])
def test_marching_cubes_round_trip_in_caller_frame(shape):
    mesh = trimesh.creation.icosphere(4, radius=0.07) if shape == "sphere" else \
        trimesh.creation.box(extents=(0.12, 0.08, 0.06))
    oTn = _similarity(0.2, (0.01, -0.01, 0.02))  # grid (n) frame -> caller's (object) frame, 0.2 m per unit
    nTo = np.linalg.inv(oTn)
    spec = GridSpec(40, -0.8, 0.8)  # 8 mm voxels
    sdf = mesh_to_sdf_grid(mesh, spec, transform=nTo)
    back = sdf_grid_to_mesh(sdf, spec, transform=oTn)
    assert back.is_watertight and back.volume > 0
    voxel_m = spec.spacing * 0.2
    assert _chamfer(back, mesh) < 0.5 * voxel_m  # vertices are in the caller's (object) frame, metres
    np.testing.assert_allclose(back.bounds, mesh.bounds, atol=voxel_m)
    if shape == "sphere":  # every triangle faces outwards
        assert (np.einsum("ij,ij->i", back.face_normals, back.triangles_center) > 0).all()
    grid_frame = sdf_grid_to_mesh(torch.from_numpy(sdf), spec)  # no transform: grid frame
    np.testing.assert_allclose(grid_frame.vertices, trimesh.transform_points(back.vertices, nTo), atol=1e-9)


def test_empty_level_set_and_bad_grids():
    spec = GridSpec(8, -1, 1)
    with pytest.raises(SDFError, match="outside the object"):
        sdf_grid_to_mesh(np.ones((8, 8, 8), np.float32), spec)
    with pytest.raises(SDFError, match="inside the object"):
        sdf_grid_to_mesh(-np.ones((8, 8, 8), np.float32), spec)
    with pytest.raises(SDFError, match="shape"):
        sdf_grid_to_mesh(np.ones((8, 8, 9), np.float32), spec)
    bad = np.linspace(-1, 1, 512, dtype=np.float32).reshape(8, 8, 8)
    bad[0, 0, 0] = np.nan
    with pytest.raises(SDFError, match="NaN"):
        sdf_grid_to_mesh(bad, spec)

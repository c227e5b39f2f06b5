import numpy as np
import pytest
import torch
import trimesh

from bghop.geometry import GridSpec, SDFError, mesh_to_sdf_grid, sample_grid, sdf_at_points, sdf_grid_to_mesh

SPEC = GridSpec(48, -0.15, 0.15)


def _near_surface(sdf_true, spec, voxels=2.0):
    return np.abs(sdf_true) < voxels * spec.spacing


def _points(spec):
    return spec.points(dtype=torch.float64).reshape(-1, 3).numpy()


def test_sphere_accuracy():
    r = 0.08
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=r)
    # the tessellation sits inside the true sphere by at most r (1 - cos(edge angle / 2)) < 0.1 mm
    sdf = mesh_to_sdf_grid(mesh, SPEC).reshape(-1)
    true = np.linalg.norm(_points(SPEC), axis=1) - r
    near = _near_surface(true, SPEC)
    assert np.abs(sdf - true)[near].max() <= 0.5 * SPEC.spacing
    assert np.abs(sdf - true)[near].max() < 2e-4


def test_box_accuracy():
    ext = np.array([0.16, 0.09, 0.05])
    mesh = trimesh.creation.box(extents=ext)
    p = _points(SPEC)
    q = np.abs(p) - ext / 2
    true = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(1), 0)
    sdf = mesh_to_sdf_grid(mesh, SPEC).reshape(-1)
    near = _near_surface(true, SPEC)
    assert np.abs(sdf - true)[near].max() <= 0.5 * SPEC.spacing
    assert np.abs(sdf - true).max() < 1e-5  # a box is represented exactly


def test_cylinder_accuracy():
    r, h = 0.05, 0.12
    mesh = trimesh.creation.cylinder(radius=r, height=h, sections=128)
    p = _points(SPEC)
    d = np.stack([np.linalg.norm(p[:, :2], axis=1) - r, np.abs(p[:, 2]) - h / 2], axis=1)
    true = np.linalg.norm(np.maximum(d, 0), axis=1) + np.minimum(d.max(1), 0)
    sdf = mesh_to_sdf_grid(mesh, SPEC).reshape(-1)
    near = _near_surface(true, SPEC)
    assert np.abs(sdf - true)[near].max() <= 0.5 * SPEC.spacing


def _inside_outside_points():
    inside = np.array([[0.0, 0.0, 0.0], [0.03, 0.02, -0.01], [-0.035, 0.0, 0.02]])
    outside = np.array([[0.1, 0.0, 0.0], [0.0, 0.12, 0.0], [0.06, 0.06, 0.06]])
    return inside, outside


@pytest.mark.parametrize("damage", ["holes", "duplicates", "flipped", "components"])
def test_sign_on_non_watertight_meshes(damage):
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    v, f = np.asarray(box.vertices), np.asarray(box.faces)
    if damage == "holes":
        f = f[2:]  # one square side open
    elif damage == "duplicates":
        f = np.concatenate([f, f[:5]])
    elif damage == "flipped":
        f = f.copy()
        f[::2] = f[::2, ::-1]
    mesh = trimesh.Trimesh(v, f, process=False)
    if damage == "components":
        a = trimesh.creation.icosphere(3, radius=0.045)
        b = trimesh.creation.icosphere(3, radius=0.03)
        b.apply_translation([0.03, 0.0, 0.0])
        mesh = trimesh.util.concatenate([a, b])  # overlapping, not a manifold union
    if damage == "flipped":
        assert not mesh.is_winding_consistent
    elif damage != "components":
        assert not mesh.is_watertight or damage == "duplicates"
    inside, outside = _inside_outside_points()
    if damage == "components":
        inside = np.array([[-0.01, 0.0, 0.0], [0.04, 0.01, 0.0], [0.055, 0.0, 0.0]])  # a only, overlap, b only
    s_in, s_out = sdf_at_points(mesh, inside), sdf_at_points(mesh, outside)
    assert (s_in < 0).all(), s_in
    assert (s_out > 0).all(), s_out


def test_transform_is_applied_to_the_mesh():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.05)
    T = np.eye(4)
    T[:3, :3] *= 5.0  # e.g. the normalised frame scale
    T[:3, 3] = [0.1, -0.2, 0.3]
    pts = np.array([[0.1, -0.2, 0.3], [0.1 + 0.25, -0.2, 0.3], [0.6, -0.2, 0.3]])
    s = sdf_at_points(mesh, pts, transform=T)
    np.testing.assert_allclose(s, [-0.25, 0.0, 0.25], atol=2e-3)


def test_marching_cubes_round_trip_in_caller_frame():
    mesh = trimesh.creation.box(extents=(0.12, 0.08, 0.06))
    sdf = mesh_to_sdf_grid(mesh, SPEC)
    T = np.eye(4)
    T[:3, 3] = [1.0, 2.0, 3.0]
    back = sdf_grid_to_mesh(sdf, SPEC, transform=T)
    assert back.is_watertight and back.volume > 0
    moved = mesh.copy()
    moved.apply_translation([1.0, 2.0, 3.0])
    _, d_back, _ = trimesh.proximity.closest_point(moved, back.vertices)
    _, d_orig, _ = trimesh.proximity.closest_point(back, moved.sample(2000, seed=0))
    chamfer = 0.5 * (d_back.mean() + d_orig.mean())
    assert chamfer < 0.5 * SPEC.spacing


def test_empty_level_set_errors():
    with pytest.raises(SDFError):
        sdf_grid_to_mesh(np.ones((8, 8, 8), np.float32), GridSpec(8, -1, 1))


def test_sample_grid_matches_function():
    spec = GridSpec(20, -1.0, 1.0)
    pts = spec.points(dtype=torch.float64)
    f = lambda p: 2 * p[..., 0] - 3 * p[..., 1] + 0.5 * p[..., 2] + 1.0  # noqa: E731  (linear: exact)
    vol = f(pts)[None, None]
    q = torch.rand(1, 50, 3, dtype=torch.float64) * 1.8 - 0.9
    torch.testing.assert_close(sample_grid(vol, q, spec)[0, 0], f(q[0]), atol=1e-9, rtol=0)

import os
import stat

import numpy as np
import pytest
import trimesh

from bghop.geometry import MeshError, load_mesh, save_mesh_atomic
from bghop.geometry.mesh_io import MAX_EXTENT_M, MIN_EXTENT_M


def test_loads_obj_ply_stl(tmp_path):
    box = trimesh.creation.box(extents=(0.1, 0.2, 0.05))
    for ext in ("obj", "ply", "stl"):
        box.export(tmp_path / f"b.{ext}")
        m = load_mesh(tmp_path / f"b.{ext}")
        assert isinstance(m, trimesh.Trimesh) and len(m.faces) == 12
        np.testing.assert_allclose(np.ptp(m.vertices, axis=0), [0.1, 0.2, 0.05], atol=1e-6)


def test_glb_scene_is_flattened_with_node_transforms(tmp_path):
    box = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
    ball = trimesh.creation.icosphere(subdivisions=2, radius=0.02)
    scene = trimesh.Scene()
    scene.add_geometry(box, node_name="box", transform=trimesh.transformations.translation_matrix([0.5, 0, 0]))
    rot = trimesh.transformations.rotation_matrix(np.pi / 2, [0, 0, 1])
    rot[:3, 3] = [0.0, -0.3, 0.0]
    scene.add_geometry(ball, node_name="ball", transform=rot)
    scene.export(tmp_path / "s.glb")
    m = load_mesh(tmp_path / "s.glb")
    assert len(m.faces) == len(box.faces) + len(ball.faces)
    assert m.bounds[1, 0] == pytest.approx(0.55, abs=1e-6)  # box moved by its node transform
    assert m.bounds[0, 1] == pytest.approx(-0.32, abs=1e-6)  # ball moved too


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MeshError, match="does not exist: check the path"):
        load_mesh(tmp_path / "nope.obj")
    with pytest.raises(MeshError, match="not a file"):
        load_mesh(tmp_path)


@pytest.mark.parametrize("name", ["bad.obj", "bad.ply", "bad.glb", "bad.stl", "bad.xyz123"])
def test_garbage_files(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x00\x01garbage\xff\xfe" * 20)
    with pytest.raises(MeshError) as e:
        load_mesh(tmp_path / name)
    msg = str(e.value).lower()
    assert name in msg
    assert "re-export" in msg or "export the object" in msg  # every message says what to do


def test_empty_point_cloud_and_nan(tmp_path):
    (tmp_path / "empty.obj").write_text("# nothing here\n")
    with pytest.raises(MeshError, match="no triangles"):
        load_mesh(tmp_path / "empty.obj")
    (tmp_path / "pts.obj").write_text("v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\n")
    with pytest.raises(MeshError, match="point cloud"):
        load_mesh(tmp_path / "pts.obj")
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv 0.1 0 nan\nv 0 0.1 0\nf 1 2 3\n")
    with pytest.raises(MeshError, match="NaN"):
        load_mesh(tmp_path / "nan.obj")


def test_units_check(tmp_path):
    trimesh.creation.box(extents=(100.0, 80.0, 50.0)).export(tmp_path / "mm.obj")  # a 10 cm box in mm
    with pytest.raises(MeshError, match="--scale 0.001") as e:
        load_mesh(tmp_path / "mm.obj")
    assert "100 m across" in str(e.value)  # the size found
    m = load_mesh(tmp_path / "mm.obj", scale=0.001)
    assert np.ptp(m.vertices, axis=0).max() == pytest.approx(0.1)
    assert load_mesh(tmp_path / "mm.obj", check_units=False).extents.max() == pytest.approx(100.0)

    trimesh.creation.box(extents=(0.001, 0.001, 0.001)).export(tmp_path / "tiny.obj")
    with pytest.raises(MeshError, match="fingertip") as e:
        load_mesh(tmp_path / "tiny.obj")
    assert "--scale 1000" in str(e.value) and "units" in str(e.value)
    with pytest.raises(MeshError, match="positive"):
        load_mesh(tmp_path / "mm.obj", scale=-1.0)
    assert MIN_EXTENT_M < 0.01 < 1.0 < MAX_EXTENT_M < 10.0


def test_atomic_save_round_trip_and_no_temp_files(tmp_path):
    box = trimesh.creation.box(extents=(0.1, 0.2, 0.3))
    out = save_mesh_atomic(box, tmp_path / "sub" / "m.obj")
    assert out == tmp_path / "sub" / "m.obj" and out.is_file()
    assert os.listdir(tmp_path / "sub") == ["m.obj"]
    assert stat.S_IMODE(out.stat().st_mode) & 0o044  # readable by others, not mkstemp's 0600
    np.testing.assert_allclose(load_mesh(out).extents, [0.1, 0.2, 0.3], atol=1e-6)
    save_mesh_atomic(trimesh.creation.icosphere(radius=0.05), out)  # overwrite
    assert os.listdir(tmp_path / "sub") == ["m.obj"]
    assert load_mesh(out).extents.max() == pytest.approx(0.1, abs=1e-6)


def test_atomic_save_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    out = save_mesh_atomic(trimesh.creation.box(extents=(0.1, 0.1, 0.1)), tmp_path / "m.ply")
    before = out.read_bytes()
    mesh = trimesh.creation.icosphere(radius=0.05)

    def broken_export(file_obj=None, file_type=None, **kw):
        file_obj.write(b"ply\nformat binary_little_endian 1.0\n")  # half a file, then a crash
        raise OSError("disk full")

    monkeypatch.setattr(mesh, "export", broken_export)
    with pytest.raises(MeshError, match="disk full"):
        save_mesh_atomic(mesh, out)
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.ply"]
    with pytest.raises(MeshError, match="suffix"):
        save_mesh_atomic(mesh, tmp_path / "noext")
    assert os.listdir(tmp_path) == ["m.ply"]


def test_mujoco_primitive_matches_the_geom_sizes():
    """MuJoCo's half sizes become full extents; both detail levels give closed meshes of the same size."""
    mujoco = pytest.importorskip("mujoco")
    from bghop.geometry.mesh_io import mujoco_primitive

    G = mujoco.mjtGeom
    box = mujoco_primitive(G.mjGEOM_BOX, np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(box.extents, [0.2, 0.4, 0.6])
    for detail in ("fine", "coarse"):
        cap = mujoco_primitive(G.mjGEOM_CAPSULE, np.array([0.02, 0.05, 0.0]), detail=detail)
        np.testing.assert_allclose(cap.extents, [0.04, 0.04, 0.14], atol=1e-9)
        ell = mujoco_primitive(G.mjGEOM_ELLIPSOID, np.array([0.1, 0.05, 0.02]), detail=detail)
        np.testing.assert_allclose(ell.extents, [0.2, 0.1, 0.04], atol=1e-9)
        cyl = mujoco_primitive(G.mjGEOM_CYLINDER, np.array([0.03, 0.1, 0.0]), detail=detail)
        assert cyl.is_watertight and abs(cyl.extents[2] - 0.2) < 1e-9
    fine = mujoco_primitive(G.mjGEOM_SPHERE, np.array([0.05, 0, 0]), detail="fine")
    coarse = mujoco_primitive(G.mjGEOM_SPHERE, np.array([0.05, 0, 0]), detail="coarse")
    assert len(fine.vertices) > len(coarse.vertices)
    assert mujoco_primitive(G.mjGEOM_PLANE, np.array([1.0, 1.0, 0.1])) is None
    with pytest.raises(ValueError, match="detail"):
        mujoco_primitive(G.mjGEOM_BOX, np.ones(3), detail="medium")

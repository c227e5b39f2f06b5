import os

import numpy as np
import pytest
import trimesh

from bghop.geometry import MeshError, load_mesh, save_mesh_atomic


def test_loads_formats_and_scenes(tmp_path):
    box = trimesh.creation.box(extents=(0.1, 0.2, 0.05))
    for ext in ("obj", "ply", "stl"):
        box.export(tmp_path / f"b.{ext}")
        m = load_mesh(tmp_path / f"b.{ext}")
        np.testing.assert_allclose(np.ptp(m.vertices, axis=0), [0.1, 0.2, 0.05], atol=1e-6)
    a = trimesh.creation.icosphere(radius=0.02)
    scene = trimesh.Scene()
    scene.add_geometry(box, transform=trimesh.transformations.translation_matrix([0.5, 0, 0]))
    scene.add_geometry(a)
    scene.export(tmp_path / "s.glb")
    m = load_mesh(tmp_path / "s.glb")
    assert len(m.faces) == len(box.faces) + len(a.faces)
    assert m.bounds[1, 0] == pytest.approx(0.55, abs=1e-6)  # node transform applied


def test_missing_and_garbage(tmp_path):
    with pytest.raises(MeshError, match="does not exist"):
        load_mesh(tmp_path / "nope.obj")
    (tmp_path / "bad.ply").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(MeshError):
        load_mesh(tmp_path / "bad.ply")
    (tmp_path / "empty.obj").write_text("# nothing here\n")
    with pytest.raises(MeshError, match="no triangles"):
        load_mesh(tmp_path / "empty.obj")


def test_units_check(tmp_path):
    trimesh.creation.box(extents=(100.0, 80.0, 50.0)).export(tmp_path / "mm.obj")
    with pytest.raises(MeshError, match="--scale 0.001"):
        load_mesh(tmp_path / "mm.obj")
    m = load_mesh(tmp_path / "mm.obj", scale=0.001)
    assert np.ptp(m.vertices, axis=0).max() == pytest.approx(0.1)
    trimesh.creation.box(extents=(0.001, 0.001, 0.001)).export(tmp_path / "tiny.obj")
    with pytest.raises(MeshError, match="fingertip"):
        load_mesh(tmp_path / "tiny.obj")
    with pytest.raises(MeshError, match="scale"):
        load_mesh(tmp_path / "mm.obj", scale=-1.0)


def test_atomic_save_leaves_no_temp_files(tmp_path):
    out = save_mesh_atomic(trimesh.creation.box(), tmp_path / "sub" / "m.obj")
    assert out.is_file()
    assert os.listdir(tmp_path / "sub") == ["m.obj"]

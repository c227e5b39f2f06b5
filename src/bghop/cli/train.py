"""``bghop train autoencoder|prior``: train the models on shard folders (CPU, one GPU, or DDP)."""

from __future__ import annotations

import argparse

from bghop.cli.checks import check_resumable_out, float_in, int_in
from bghop.cli.main import add_common, add_threads, check_threads, command_group, user_errors


def _common_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", nargs="+", required=True, metavar="DIR[@right][:WEIGHT]",
                   help="shard folders (bghop data synth/arctic), optionally with a mixing weight, e.g. synth:1 "
                        "arctic:3; DIR@right uses the right hands of a bimanual folder as single-hand samples")
    p.add_argument("--out", required=True, help="run folder; rerun the same command to resume from its last checkpoint")
    p.add_argument("--steps", type=int_in(1), default=2000, help="optimiser steps (default 2000)")
    p.add_argument("--batch-size", type=int_in(1, 65536), default=16, help="batch size per device (default 16)")
    p.add_argument("--lr", type=float_in(0.0, 1.0, lo_open=True), default=2e-4, help="learning rate (default 2e-4)")
    p.add_argument("--warmup", type=int_in(0), default=100, help="linear learning-rate warm-up steps (default 100)")
    p.add_argument("--ema-decay", type=float_in(0.0, 1.0, hi_open=True), default=0.999, help="EMA decay per step (default 0.999)")
    p.add_argument("--val-every", type=int_in(1), default=250, help="validate every N steps (default 250)")
    p.add_argument("--checkpoint-every", type=int_in(1), default=250, help="checkpoint every N steps (default 250)")
    p.add_argument("--devices", default="auto", help="GPUs per node (default: all visible); DDP when more than one (with --device cpu: "
                        "that many CPU processes)")
    p.add_argument("--num-nodes", type=int_in(1), default=1, help="nodes for multi-node DDP (default 1)")
    p.add_argument("--precision", default=None, help="Lightning precision (default: 16-mixed on GPU, 32-true on CPU)")
    p.add_argument("--workers", type=int_in(0, 256), default=0, help="data loader worker processes (default 0)")
    add_threads(p)
    add_common(p)


def register(sub: argparse._SubParsersAction) -> None:
    _, ts = command_group(sub, "train", "train the object autoencoder or the prior",
                           "Train on shard folders. Same command on CPU, one GPU (--device cuda) or many "
                           "(--devices N --num-nodes M, DDP). Interrupt and rerun to resume.", metavar="MODEL")
    a = ts.add_parser("autoencoder", help="object SDF autoencoder (64³ ↔ 3×16³)",
                      description="Train the object autoencoder on the objects of every sample; exports OUT/model.")
    _common_train(a)
    a.add_argument("--channels", type=int_in(1, 1024), nargs=3, default=[8, 16, 64], help="channels at 64³, 32³, 16³")
    a.set_defaults(func=_autoencoder)
    q = ts.add_parser("prior", help="text-conditioned diffusion prior over interaction grids",
                      description="Train the bimanual (default) or single-hand prior; exports OUT/model. With "
                                  "--init-from a single-hand prior, a bimanual run widens it first (BG-HOP).")
    _common_train(q)
    q.add_argument("--autoencoder", required=True, help="trained autoencoder folder (…/model)")
    q.add_argument("--single-hand", action="store_true", help="train the 23-channel right-hand prior")
    q.add_argument("--init-from", default=None, help="start from this prior (a single-hand one is widened)")
    q.add_argument("--input-init", choices=["zero", "copy"], default="zero",
                   help="left-hand input weights of a widened prior (default zero: starts as the single-hand model)")
    q.add_argument("--freeze-body", action="store_true", help="train only the widened first/last layers")
    q.add_argument("--base-channels", type=int_in(4, 1024), default=32, help="UNet width (default 32)")
    q.add_argument("--no-input-skip", dest="input_skip", action="store_false",
                   help="leave out the per-channel input skip of a new or widened UNet (models before 2026-12-01 had none)")
    q.add_argument("--cfg-dropout", type=float_in(0.0, 1.0), default=0.2, help="empty-prompt probability (default 0.2)")
    q.add_argument("--loss-shares", type=float_in(0.0, lo_open=True), nargs="+", default=None,
                   metavar="SHARE",
                   help="share of the training loss for each channel block: OBJECT RIGHT LEFT (two hands) or OBJECT "
                        "RIGHT (--single-hand), normalised to sum 1 (default: every channel alike, so the 3 object "
                        "channels carry 3/43 of the bimanual loss); validation losses stay unweighted")
    q.add_argument("--render-every", type=int_in(0), default=500, help="render samples every N steps (0: never)")
    q.add_argument("--snapshot-every", type=int_in(0), default=0,
                   help="export the EMA prior to OUT/snapshots/step_N every N steps (0: never, the default); "
                        "scripts/learning_curve.py measures them")
    q.set_defaults(func=_prior)


def _settings(args: argparse.Namespace):
    import logging

    from bghop.train.run import TrainSettings

    if getattr(args, "verbose", 0) == 0:  # Lightning's start-up chatter only with -v
        for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
            logging.getLogger(name).setLevel(logging.WARNING)

    from bghop.train.data import parse_source

    try:
        sources = [parse_source(d).folder for d in args.data]
    except (ValueError, AttributeError):
        sources = []
    check_resumable_out(args.out, "training run", ("run.json", "checkpoints", "model"),
                        inputs=[*sources, getattr(args, "autoencoder", None), getattr(args, "init_from", None)])
    check_threads(args, apply=False)  # the run sets them (in every DDP process)
    dev = str(args.device)
    accelerator = "gpu" if dev.startswith("cuda") else ("cpu" if dev == "cpu" else "auto")
    devices = args.devices
    if dev.startswith("cuda:"):
        devices = [int(dev.split(":")[1])]
    elif devices != "auto":
        devices = int(devices)
    return TrainSettings(out=args.out, data=args.data, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                         warmup=args.warmup,
                         ema_decay=args.ema_decay, val_every=args.val_every, checkpoint_every=args.checkpoint_every,
                         accelerator=accelerator, devices=devices, num_nodes=args.num_nodes,
                         precision=args.precision, seed=args.seed, workers=args.workers, threads=args.threads,
                         render_every=getattr(args, "render_every", 0),
                         snapshot_every=getattr(args, "snapshot_every", 0))


def _autoencoder(args: argparse.Namespace) -> int:
    from bghop.models.autoencoder import AutoencoderConfig
    from bghop.train.run import train_autoencoder

    with user_errors(FileNotFoundError, ValueError):
        folder = train_autoencoder(_settings(args), AutoencoderConfig(channels=tuple(args.channels)))
    print(f"autoencoder written to {folder}")
    return 0


def _prior(args: argparse.Namespace) -> int:
    from bghop.models.checkpoint import CheckpointError
    from bghop.models.unet import UNetConfig
    from bghop.train.run import train_prior

    with user_errors(FileNotFoundError, ValueError, CheckpointError):
        res = train_prior(_settings(args), args.autoencoder, bimanual=not args.single_hand,
                          unet=UNetConfig(base_channels=args.base_channels), init_from=args.init_from,
                          input_init=args.input_init, trainable="io" if args.freeze_body else "all",
                          cfg_dropout=args.cfg_dropout, input_skip=args.input_skip,
                          loss_shares=None if args.loss_shares is None else tuple(args.loss_shares))
    print(f"prior written to {res.model}")
    for k, v in sorted(res.metrics.items()):
        print(f"  {k}: {v:.5f}")
    return 0

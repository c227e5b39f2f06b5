"""Which grid frame does a prior learn best? The same two-hand grasps in each frame, one prior each
(issue 20, item 1: "the prior's validation loss").

    python scripts/compare_frames.py --out runs/frames                        # resumes every step
    python scripts/compare_frames.py --out runs/frames --shards 8 --steps 300 --frames right_hand@0.6 object@0.8

For every frame ``anchor@side`` this

1. rebuilds the first ``--shards`` two-hand shards of the shipped set from its grasp records with the
   two-hand samples in that frame (``SynthConfig.bimanual_grid``; the same grasps in every frame, so
   only the representation differs) into ``OUT/data/<frame>``;
2. trains a bimanual prior from scratch on it (``bghop train prior``, same seed, steps, batch and
   learning rate for every frame; the shipped autoencoder) into ``OUT/prior/<frame>``;
3. measures its validation ε-MSE (the held-out objects of its own folder,
   :func:`bghop.train.run.prior_validation_loss`) and the error per channel group (object, right hand,
   left hand) at a few timesteps, with the same noise for every frame.

The set's two-hand grasps were kept by G-HOP's frame when it was made, so this compares how well
each representation is learnt, not how much each frame clips (``scripts/measure_frames.py`` measures
that on a set no grid filtered). Prints a table and writes ``OUT/frames.md`` and ``OUT/frames.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

FRAMES = ("right_hand@0.6", "palms@0.8", "object@0.8")
TIMESTEPS = (50, 250, 500, 750, 950)


def build_data(frame: str, out: Path, shards: int) -> Path:
    """The first ``shards`` two-hand shards of the shipped set, two-hand samples in ``frame``."""
    from bghop.core.io import write_json_atomic
    from bghop.data.records import builtin_records_dir
    from bghop.data.synthetic import SHIPPED_SET, collect_manifest, generate_shard, plan_jobs
    from bghop.fields.encode import GridSettings
    from bghop.fields.frame import FrameConfig
    from bghop.fields.skeletal import FieldConfig

    fr = FrameConfig.from_spec(frame)
    grid = None if fr == FrameConfig() else GridSettings(field=FieldConfig(frame=fr))
    cfg = replace(SHIPPED_SET, bimanual_grid=grid, repair_of=replace(SHIPPED_SET.repair_of, bimanual_grid=grid))
    folder = out / "data" / frame
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "config.json", cfg.to_dict())
    jobs = [j for j in plan_jobs(cfg) if j.bimanual][:shards]
    for job in jobs:
        generate_shard(job, cfg, folder, records=[builtin_records_dir()])
    collect_manifest(folder, cfg)
    return folder


def train(frame: str, data: Path, out: Path, steps: int, threads: int) -> Path:
    folder = out / "prior" / frame
    model = folder / "model"
    if (model / "model.safetensors").is_file():
        return model
    from bghop.models.checkpoint import default_model_dir

    cmd = ["bghop", "train", "prior", "--data", str(data), "--autoencoder", str(default_model_dir("autoencoder")),
           "--out", str(folder), "--steps", str(steps),
           "--batch-size", "16", "--lr", "5e-4", "--val-every", str(max(50, steps // 2)),
           "--checkpoint-every", str(max(50, steps // 4)), "--device", "cpu", "--threads", str(threads)]
    subprocess.run(cmd, check=True)
    return model


def measure(model: Path, data: Path, n: int) -> dict:
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.checkpoint import default_model_dir
    from bghop.models.prior import InteractionPrior
    from bghop.train.run import held_out_grids, prior_validation_loss

    ae = ObjectAutoencoder.from_pretrained()
    val, count = prior_validation_loss(model, default_model_dir("autoencoder"), [str(data)])
    prior = InteractionPrior.from_pretrained(model).eval()
    grid, texts = held_out_grids(ae, [str(data)], True)
    x0 = prior.normalize(grid)[:n]
    ctx = prior.encode_text(texts[:n])
    gen = torch.Generator().manual_seed(0)
    groups = {k: prior.layout.slice(k) for k in ("object", "right", "left")}
    per_t = {}
    for tv in TIMESTEPS:
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.full((x0.shape[0],), tv)
        with torch.no_grad():
            err = (prior(prior.add_noise(x0, noise, t), t, ctx) - noise).pow(2)
        per_t[tv] = {k: float(err[:, s].mean()) for k, s in groups.items()}
    return {"val_loss": val, "val_samples": count, "per_t": per_t}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", nargs="+", default=list(FRAMES))
    ap.add_argument("--shards", type=int, default=16, help="two-hand shards of the shipped set (64 samples each)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-n", type=int, default=64, help="held-out samples for the per-group errors")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    from bghop.fields.frame import FrameConfig

    for f in args.frames:
        FrameConfig.from_spec(f)
    results = {}
    res_path = args.out / "frames.json"
    if res_path.is_file():
        results = json.loads(res_path.read_text())
    for frame in args.frames:
        key = f"{frame} shards={args.shards} steps={args.steps}"
        if key in results:
            continue
        data = build_data(frame, args.out, args.shards)
        model = train(frame, data, args.out, args.steps, args.threads)
        results[key] = {"frame": frame, **measure(model, data, args.n)}
        args.out.mkdir(parents=True, exist_ok=True)
        res_path.write_text(json.dumps(results, indent=1))
    lines = [f"{args.shards} two-hand shards of the shipped set ({args.shards * 64} grasps) per frame, a bimanual "
             f"prior from scratch, {args.steps} steps, batch 16, lr 5e-4, seed 0, the shipped autoencoder", "",
             "| frame | val ε-MSE | " + " | ".join(f"t={t}: object / right / left" for t in TIMESTEPS) + " |",
             "|---|---:|" + "---:|" * len(TIMESTEPS)]
    for frame in args.frames:
        r = results[f"{frame} shards={args.shards} steps={args.steps}"]
        cells = [" / ".join(f"{r['per_t'][str(t) if str(t) in r['per_t'] else t][k]:.3f}"
                            for k in ("object", "right", "left")) for t in TIMESTEPS]
        lines.append(f"| {frame} | {r['val_loss']:.4f} ({r['val_samples']}) | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    (args.out / "frames.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

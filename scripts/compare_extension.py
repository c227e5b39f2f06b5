"""Does single-hand initialisation help the bimanual prior? (the BG-HOP extension, measured)

Trains two bimanual priors on the same bimanual data, with the same steps, batch, seed and
architecture: (a) from scratch, (b) widened from a trained single-hand prior. Prints the
validation denoising loss (fixed noise and timesteps, EMA weights) of both at every validation
step, and writes the table to OUT/extension.json and the curves to OUT/extension.png.

    python scripts/compare_extension.py --data DATA_BI --autoencoder AE/model \
        --single SINGLE/model --out runs/extension --steps 600

    # or only compare two finished runs (their OUT/logs):
    python scripts/compare_extension.py --report RUN_SCRATCH RUN_FROM_SINGLE --out runs/extension

    # ... and recompute both exported models' final validation loss on the same held-out batches
    # (a run folder whose logs are gone, or a bare model folder such as the shipped prior, still
    # gets its final point; --recorded-from-single adds losses recorded elsewhere, e.g. the model card):
    python scripts/compare_extension.py --report RUN_SCRATCH src/bghop/assets/models/prior \
        --data DATA --autoencoder AE/model --recorded-from-single 499=0.395 --out runs/extension
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from bghop.models.prior import InteractionPrior
from bghop.train.run import TrainSettings, prior_validation_loss, train_prior


def _val_curve(run: Path) -> dict[int, float]:
    out: dict[int, float] = {}
    for f in sorted((run / "logs").glob("version_*/metrics.csv")):
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                if r.get("val/loss"):
                    out[int(r["step"])] = float(r["val/loss"])
    return out


def _model_folder(path: Path) -> Path:
    """``RUN/model`` for a run folder, else the folder itself (an exported model)."""
    return path / "model" if (path / "model" / "config.json").is_file() else path


def _final_point(path: Path, data: list[str], autoencoder: str, batch_size: int) -> tuple[int, float, int]:
    """(last logged step, recomputed validation loss, held-out samples) of the exported model in ``path``."""
    folder = _model_folder(path)
    steps = int(json.loads((folder / "config.json").read_text()).get("training", {}).get("steps", 0))
    loss, n = prior_validation_loss(folder, autoencoder, data, batch_size=batch_size)
    return steps - 1, loss, n  # Lightning logs validation at global step - 1


def _parse_points(items: list[str]) -> dict[int, float]:
    out = {}
    for it in items:
        step, _, loss = it.partition("=")
        try:
            out[int(step)] = float(loss)
        except ValueError:
            raise SystemExit(f"--recorded-from-single takes STEP=LOSS pairs (e.g. 499=0.395), got {it!r}") from None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", help="bimanual shard folders")
    ap.add_argument("--autoencoder")
    ap.add_argument("--single", help="trained single-hand prior folder")
    ap.add_argument("--report", nargs=2, metavar=("SCRATCH_RUN", "FROM_SINGLE_RUN"),
                    help="do not train: compare two finished run folders")
    ap.add_argument("--recorded-from-single", nargs="+", default=[], metavar="STEP=LOSS",
                    help="with --report: validation losses of the widened run recorded elsewhere (its logs lost)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    sources: dict[str, dict] = {}
    if args.report:
        runs = {"scratch": _val_curve(Path(args.report[0])), "from_single": _val_curve(Path(args.report[1]))}
        sources = {k: {str(st): "run log" for st in v} for k, v in runs.items()}
        for st, loss in _parse_points(args.recorded_from_single).items():
            runs["from_single"].setdefault(st, loss)
            sources["from_single"].setdefault(str(st), "recorded (--recorded-from-single)")
        if args.data and args.autoencoder:
            for name, path in zip(("scratch", "from_single"), args.report):
                st, loss, n = _final_point(Path(path), args.data, args.autoencoder, args.batch_size)
                logged = runs[name].get(st)
                print(f"{name}: exported model {_model_folder(Path(path))}, step {st}: validation loss recomputed "
                      f"{loss:.4f} on {n} held-out samples" + (f" (logged {logged:.4f})" if logged is not None else ""))
                if logged is None:
                    runs[name][st] = loss
                    sources[name][str(st)] = "recomputed from the exported model"
    elif not (args.data and args.autoencoder and args.single):
        ap.error("--data, --autoencoder and --single are needed unless --report is given")
    else:
        single = InteractionPrior.from_pretrained(args.single)
    for name, init in (() if args.report else (("scratch", None), ("from_single", args.single))):
        s = TrainSettings(out=str(out / name), data=args.data, steps=args.steps, batch_size=args.batch_size,
                          lr=args.lr, val_every=args.val_every, checkpoint_every=args.val_every, seed=args.seed,
                          render_every=0, threads=args.threads)
        res = train_prior(s, args.autoencoder, bimanual=True, unet=single.config.unet, init_from=init)
        runs[name] = _val_curve(out / name)
        print(f"{name}: final {res.metrics}")
    steps = sorted(set(runs["scratch"]) | set(runs["from_single"]))
    print(f"\n{'step':>6s} {'scratch':>10s} {'from single':>12s}")
    for st in steps:
        a, b = runs["scratch"].get(st), runs["from_single"].get(st)
        print(f"{st:6d} {a if a is not None else float('nan'):10.4f} {b if b is not None else float('nan'):12.4f}")
    (out / "extension.json").write_text(json.dumps({"val_loss": runs, "sources": sources, "settings": vars(args)},
                                                   indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bghop.viz.render import save_figure

    fig, ax = plt.subplots(figsize=(4.5, 3))
    for name, curve in runs.items():
        xs = sorted(curve)
        ax.plot(xs, [curve[x] for x in xs], marker="o", label=name.replace("_", " "))
    ax.set_xlabel("bimanual fine-tuning step")
    ax.set_ylabel("validation ε-MSE (EMA)")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out / "extension.png")


if __name__ == "__main__":
    main()

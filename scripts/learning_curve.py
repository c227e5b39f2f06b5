"""Learning curve of a prior training run: validation loss and generation figures at every snapshot.

    bghop train prior ... --out RUN --snapshot-every 250          # writes RUN/snapshots/step_N/
    python scripts/learning_curve.py RUN --data DATA... [-n 4] [--prompts ball box plate ring tube]

For each exported model of RUN (``RUN/snapshots/step_N`` and ``RUN/model``), in step order:

* ``val``: the validation ε-MSE ``bghop train prior`` logs (:func:`bghop.train.run.prior_validation_loss`
  on the held-out split of ``--data``, the run's own sources);
* generation, ``-n`` samples per prompt (same seed for every snapshot): the share decoded, the share that
  is one solid piece, the share with both hands within 5 mm of their object, and the coarse-shape
  contrast over ball, box, plate, ring and tube (:mod:`bghop.eval.shape`; no learned model in it);
* ``text_gain``: how much the object block's held-out ε-MSE drops when the model gets each sample's own
  prompt instead of another sample's (:func:`bghop.train.diagnostics.text_use`, timesteps 250/500/750;
  0 means the text is ignored). Rows without it (written before this column existed, or from a split of
  fewer than two held-out samples) get it on the next run.

Appends one JSON line per model to ``RUN/learning_curve.jsonl`` (a model already there is skipped, so an
interrupted run resumes), then writes ``RUN/learning_curve.md`` and ``RUN/learning_curve.png``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from bghop.eval.shape import SHAPE_TESTS, coarse_shape, shape_contrast

logger = logging.getLogger("learning_curve")


def models_of(run: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every exported model of a run, by step (the final model at its recorded step)."""
    out = []
    for f in sorted((run / "snapshots").glob("step_*")):
        if (f / "model.safetensors").is_file():
            out.append((int(f.name.split("_")[1]), f))
    final = run / "model"
    if (final / "config.json").is_file():
        step = int(json.loads((final / "config.json").read_text()).get("training", {}).get("steps", 0))
        if step not in {s for s, _ in out}:
            out.append((step, final))
    return sorted(out)


def generation_figures(prior, ae, prompts: list[str], n: int, seed: int) -> dict:
    from bghop.eval.metrics import in_contact
    from bghop.hands.posing import HandLayers, pose_hands
    from bghop.synthesis.generate import generate

    layers = HandLayers()
    shapes, decoded, pieces, contact, total = {}, 0, 0, 0, 0
    for c in prompts:
        res = generate(prior, ae, c, n=n, seed=seed, progress=False)
        total += n
        decoded += len(res.samples)
        shapes[c] = []
        for s in res.samples:
            cs = coarse_shape(s.object_mesh)
            shapes[c].append(cs)
            pieces += cs.pieces == 1
            posed = pose_hands(s.hands, layers)
            contact += all(in_contact(s.object_mesh, p.vertices) for p in posed.values())
        shapes[c] += [None] * (n - len(res.samples))
    five = {c: [s for s in v if s is not None] for c, v in shapes.items() if c in SHAPE_TESTS}
    con = shape_contrast(five) if len(five) >= 2 else None
    return {"decoded": decoded / total, "one_piece": pieces / max(total, 1), "both_hands_contact": contact / total,
            "contrast": None if con is None else con.contrast, "own": None if con is None else con.own}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(steps, [r["val"] for r in rows], "o-")
    ax[0].set(xlabel="step", ylabel="validation ε-MSE", title="denoising")
    for key, label in (("decoded", "decoded"), ("one_piece", "one piece"), ("both_hands_contact", "both hands touch"),
                       ("contrast", "shape contrast"), ("text_gain", "text gain (object ε-MSE)")):
        ax[1].plot(steps, [np.nan if r.get(key) is None else r[key] for r in rows], "o-", label=label)
    ax[1].set(xlabel="step", ylim=(-0.05, 1.05), title="generation")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a `bghop train prior` run folder")
    ap.add_argument("--data", nargs="+", required=True, help="the run's --data sources (validation split)")
    ap.add_argument("--autoencoder", default=None, help="default: the one the run recorded")
    ap.add_argument("--prompts", nargs="+", default=list(SHAPE_TESTS))
    ap.add_argument("-n", type=int, default=4, help="samples per prompt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--text-samples", type=int, default=128, help="held-out samples for text_gain (default 128)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.prior import InteractionPrior
    from bghop.train.diagnostics import text_use
    from bghop.train.run import held_out_grids, prior_validation_loss

    run_cfg = json.loads((args.run / "run.json").read_text())
    ae_path = args.autoencoder or run_cfg["autoencoder"]
    ae = ObjectAutoencoder.from_pretrained(ae_path).eval()
    log = args.run / "learning_curve.jsonl"
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            done[r["step"]] = r
    batch = int(run_cfg.get("settings", {}).get("batch_size", 16))
    held: dict = {}

    def gain_of(prior) -> float | None:
        try:
            if "grid" not in held:  # the held-out split, encoded once for every model
                held["grid"], held["texts"] = held_out_grids(ae, args.data, prior.config.bimanual)
            k = args.text_samples
            return text_use(prior, prior.normalize(held["grid"])[:k], list(held["texts"][:k])).gain
        except ValueError as e:  # e.g. fewer than two held-out samples: no gain to measure
            logger.warning("no text gain: %s", e)
            return None

    for step, folder in models_of(args.run):
        if step in done:
            if done[step].get("text_gain") is None:
                done[step]["text_gain"] = gain_of(InteractionPrior.from_pretrained(folder).eval())
                logger.info("step %d: text_gain %s (added)", step, done[step]["text_gain"])
            continue
        prior = InteractionPrior.from_pretrained(folder).eval()
        val, _ = prior_validation_loss(prior, ae_path, args.data, batch_size=batch)
        row = {"step": step, "model": str(folder), "val": val,
               **generation_figures(prior, ae, args.prompts, args.n, args.seed), "text_gain": gain_of(prior)}
        logger.info("step %d: %s", step, {k: v for k, v in row.items() if k not in ("model", "own")})
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        done[step] = row
    if log.is_file():  # rewrite whole (rows that gained a text_gain), through a temporary file
        tmp = log.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(done[s]) + "\n" for s in sorted(done)))
        tmp.replace(log)
    rows = [done[s] for s in sorted(done)]
    if not rows:
        ap.error(f"{args.run} has no exported models (RUN/snapshots/step_N or RUN/model)")
    lines = ["| step | val ε-MSE | decoded | one piece | both hands touch | shape contrast | text gain |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        con = "-" if r.get("contrast") is None else f"{r['contrast']:.2f}"
        gain = "-" if r.get("text_gain") is None else f"{r['text_gain']:.1%}"
        lines.append(f"| {r['step']} | {r['val']:.4f} | {r['decoded']:.0%} | {r['one_piece']:.0%} | "
                     f"{r['both_hands_contact']:.0%} | {con} | {gain} |")
    md = "\n".join(lines)
    print(md)
    (args.run / "learning_curve.md").write_text(md + "\n")
    plot(rows, args.run / "learning_curve.png")


if __name__ == "__main__":
    sys.exit(main())

"""Where does a prior's denoising error sit? ε-MSE per channel group (object, right, left) and timestep.

    python scripts/diagnose_prior.py --data DATA [--prior MODEL ...] [--autoencoder AE] [-n 64]

Scores each prior on the held-out split of DATA (the split training uses), with the same
noise for every prior. At large t the noisy grid is almost pure noise and ε ≈ x_t, so a
healthy ε-predictor's error there is close to 0. A floor that stays flat across timesteps
means the network cannot pass its input through. That is how the missing input skip of the
first bimanual priors showed up (see bghop.models.unet).

``--text`` also scores each sample with the empty prompt and with another sample's prompt (same
noise; :func:`bghop.train.diagnostics.text_use`). A prior that uses its text predicts better with
its own prompt than with either; equal rows mean the text is ignored, which is what a coarse-shape
contrast of zero in generation looks like from the inside.
"""

from __future__ import annotations

import argparse

import torch

from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.train.diagnostics import PROMPT_KINDS, text_use
from bghop.train.run import held_out_grids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True, help="shard folders (DIR[@right][:WEIGHT])")
    ap.add_argument("--prior", nargs="+", default=[None], help="prior folders (default: the shipped bimanual prior)")
    ap.add_argument("--autoencoder", default=None, help="autoencoder folder (default: the shipped one)")
    ap.add_argument("-n", type=int, default=64, help="held-out samples to score (default 64)")
    ap.add_argument("--timesteps", type=int, nargs="+", default=[50, 250, 500, 750, 950])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--text", action="store_true",
                    help="also score with the empty prompt and with other samples' prompts (does the prior use text?)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ae = ObjectAutoencoder.from_pretrained(args.autoencoder)
    cache: dict[bool, tuple] = {}
    kinds = PROMPT_KINDS if args.text else ("own",)
    print(f"{'prior':40s} {'t':>5s} {'prompt':>6s} {'object':>8s} {'right':>8s} {'left':>8s}")
    for folder in args.prior:
        prior = InteractionPrior.from_pretrained(folder).eval()
        bi = prior.config.bimanual
        if bi not in cache:
            try:
                cache[bi] = held_out_grids(ae, args.data, bi)
            except ValueError as e:
                raise SystemExit(str(e)) from None
        grid, texts = cache[bi]
        res = text_use(prior, prior.normalize(grid)[:args.n], list(texts[:args.n]), timesteps=tuple(args.timesteps),
                       kinds=kinds)
        for i, tv in enumerate(res.timesteps):
            for kind in kinds:
                cols = [f"{res.mse[kind][k][i]:8.4f}" if k in res.mse[kind] else f"{'':>8s}"
                        for k in ("object", "right", "left")]
                print(f"{str(folder or 'shipped default')[-40:]:40s} {tv:5d} {kind:>6s} {' '.join(cols)}")
        if args.text:
            print(f"{str(folder or 'shipped default')[-40:]:40s} object-block gain of the own prompt over another's: "
                  f"{res.gain:.1%} (over the empty prompt: {res.gain_of('object', 'empty'):.1%})")


if __name__ == "__main__":
    main()

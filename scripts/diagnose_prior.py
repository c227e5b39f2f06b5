"""Where does a prior's denoising error sit? ε-MSE per channel group (object, right, left) and timestep.

    python scripts/diagnose_prior.py --data DATA [--prior MODEL ...] [--autoencoder AE] [-n 64]

Scores each prior on the held-out split of DATA (the split training uses), with the same
noise for every prior. At large t the noisy grid is almost pure noise and ε ≈ x_t, so a
healthy ε-predictor's error there is close to 0. A floor that stays flat across timesteps
means the network cannot pass its input through. That is how the missing input skip of the
first bimanual priors showed up (see bghop.models.unet).
"""

from __future__ import annotations

import argparse

import torch

from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.train.run import held_out_grids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True, help="shard folders (DIR[@right][:WEIGHT])")
    ap.add_argument("--prior", nargs="+", default=[None], help="prior folders (default: the shipped bimanual prior)")
    ap.add_argument("--autoencoder", default=None, help="autoencoder folder (default: the shipped one)")
    ap.add_argument("-n", type=int, default=64, help="held-out samples to score (default 64)")
    ap.add_argument("--timesteps", type=int, nargs="+", default=[50, 250, 500, 750, 950])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ae = ObjectAutoencoder.from_pretrained(args.autoencoder)
    cache: dict[bool, tuple] = {}
    print(f"{'prior':40s} {'t':>5s} {'object':>8s} {'right':>8s} {'left':>8s}")
    for folder in args.prior:
        prior = InteractionPrior.from_pretrained(folder).eval()
        bi = prior.config.bimanual
        if bi not in cache:
            try:
                cache[bi] = held_out_grids(ae, args.data, bi)
            except ValueError as e:
                raise SystemExit(str(e)) from None
        grid, texts = cache[bi]
        x0 = prior.normalize(grid)[:args.n]
        tx = texts[:args.n]
        ctx = prior.encode_text(tx)
        gen = torch.Generator().manual_seed(0)
        groups = {name: prior.layout.slice(name) for name in ("object", "right", "left") if bi or name != "left"}
        for tv in args.timesteps:
            noise = torch.randn(x0.shape, generator=gen)
            t = torch.full((x0.shape[0],), tv)
            with torch.no_grad():
                err = (prior(prior.add_noise(x0, noise, t), t, ctx) - noise).pow(2)
            cols = [f"{float(err[:, s].mean()):8.3f}" if (s := groups.get(k)) is not None else f"{'':>8s}"
                    for k in ("object", "right", "left")]
            print(f"{str(folder or 'shipped default')[-40:]:40s} {tv:5d} {' '.join(cols)}")


if __name__ == "__main__":
    main()

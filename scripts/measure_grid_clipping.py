"""How often does the right-hand-centred 0.6 m grid clip the left hand? (DESIGN.md §2)

For every bimanual sample of a data folder, maps the left hand's keypoints into the right hand's
normalised frame (stored nTo) and counts samples with keypoints outside [-extent, extent]³.

    python scripts/measure_grid_clipping.py data/synth
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bghop.data.shards import ShardDataset
from bghop.hands import load_hand
from bghop.hands.params import HandParams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--extent", type=float, default=1.5)
    ap.add_argument("--mano-dir", default=None)
    args = ap.parse_args()
    ds = ShardDataset(args.data, bimanual=True)
    layers = {}
    any_out, frac = 0, []
    for i in range(len(ds)):
        meta = ds.meta(i)
        h = meta["hands"]["left"]
        kind = h.get("kind", "open")
        if kind not in layers:
            layers[kind] = load_hand(kind, side="left", model_dir=args.mano_dir)
        p = HandParams.from_json_dict(h)
        with torch.no_grad():
            j = layers[kind](p.pose, p.global_orient, p.transl, p.betas).joints[0, 1:].numpy()
        jn = j @ meta["nTo"][:3, :3].T + meta["nTo"][:3, 3]
        out = (np.abs(jn) > args.extent).any(axis=1)
        any_out += bool(out.any())
        frac.append(out.mean())
    n = len(ds)
    print(f"bimanual samples: {n}")
    print(f"left hand partly outside the grid: {any_out} ({any_out / max(n, 1):.1%})")
    print(f"mean share of left keypoints outside: {np.mean(frac) if frac else 0:.1%}")


if __name__ == "__main__":
    main()

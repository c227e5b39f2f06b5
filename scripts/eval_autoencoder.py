"""Reconstruction quality of the object autoencoder on held-out samples: IoU and chamfer (mm).

    python scripts/eval_autoencoder.py --model runs/ae/model --data data/synth [--max 64]

Held-out = the validation split used by training (every 20th sample of each folder). IoU is
volumetric on the 64³ grid (inside = SDF < 0); chamfer is the symmetric mean nearest-point
distance between 5,000 points sampled on each marching-cubes surface, in millimetres.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.spatial import cKDTree

from bghop.geometry.sdf import SDFError, sdf_grid_to_mesh
from bghop.models.autoencoder import ObjectAutoencoder, sdf_iou
from bghop.train.data import open_grid_data, parse_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="autoencoder folder (default: the shipped one)")
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--max", type=int, default=64)
    ap.add_argument("--points", type=int, default=5000)
    args = ap.parse_args()
    ae = ObjectAutoencoder.from_pretrained(args.model)
    data = open_grid_data([parse_source(d) for d in args.data], bimanual=None)
    grid = data.grid
    metres_per_n = 1.0 / grid.field.frame.scale
    rng = np.random.default_rng(0)
    ious, chamfers, failed = [], [], 0
    n = min(args.max, len(data.val))
    for i in range(n):
        sdf = data.val[i]["object_sdf"][None]
        with torch.no_grad():
            rec = ae.decode(ae.encode(sdf).mean)
        ious.append(float(sdf_iou(rec, sdf)[0]))
        try:
            a = sdf_grid_to_mesh(sdf[0, 0].numpy(), grid.sdf_spec)
            b = sdf_grid_to_mesh(rec[0, 0].numpy(), grid.sdf_spec)
        except SDFError:
            failed += 1
            continue
        pa = np.asarray(a.sample(args.points, seed=int(rng.integers(1 << 31))))
        pb = np.asarray(b.sample(args.points, seed=int(rng.integers(1 << 31))))
        d = 0.5 * (cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean())
        chamfers.append(d * metres_per_n * 1000.0)
    print(f"held-out samples: {n} (no surface decoded: {failed})")
    print(f"IoU      mean {np.mean(ious):.3f}  median {np.median(ious):.3f}  min {np.min(ious):.3f}")
    if chamfers:
        print(f"chamfer  mean {np.mean(chamfers):.2f} mm  median {np.median(chamfers):.2f} mm  "
              f"max {np.max(chamfers):.2f} mm")


if __name__ == "__main__":
    main()

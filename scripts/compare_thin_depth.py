"""Two-hand pass rate on the thin procedural categories with and without ``ObjectiveConfig.thin_depth``.

For each category, 2 objects (seed 11), 32 initialisations, the 8 lowest-energy candidates checked
as the synthetic-set builder checks them (``check_grip``: penetration ≤ 5 mm, squeezes, MuJoCo).
Run the two settings side by side, one core each::

    python scripts/compare_thin_depth.py 0    > thin0.jsonl &    # every 3rd vertex throughout
    python scripts/compare_thin_depth.py 0.01 > thin1.jsonl &    # every vertex on thin objects
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import torch

from bghop.contact.energies import ObjectSDF
from bghop.contact.optimizer import optimize_grasps
from bghop.data.objects import make_object
from bghop.data.synthetic import SynthConfig
from bghop.eval.grip import GripConfig, check_grip
from bghop.hands import load_hand

THIN = ["bowl", "mug", "plate", "pan", "pot", "bucket", "laptop", "tray", "tube", "basket", "vase"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("thin_depth", type=float, help="ObjectiveConfig.thin_depth in metres (0 = off)")
    ap.add_argument("--categories", nargs="*", default=THIN)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = SynthConfig()
    energy = replace(cfg.energy, objective=replace(cfg.energy.objective, thin_depth=args.thin_depth))
    grip = GripConfig(squeeze=cfg.squeeze, max_penetration_m=cfg.max_penetration_m,
                      max_hand_hand_cm3=cfg.max_hand_hand_cm3, physics_config=cfg.physics, simulate_failures=False)
    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    tot = {"candidates": 0, "passed": 0, "seconds": 0.0}
    for cat in args.categories:
        rng = np.random.default_rng(11)
        for k in range(2):
            obj = make_object(cat, rng)
            t0 = time.perf_counter()
            batch = optimize_grasps(obj.mesh, layers, 32, energy, seed=int(rng.integers(1 << 31)),
                                    obj_sdf=ObjectSDF(obj.mesh))
            order = torch.argsort(batch.energy).tolist()[:8]
            passed = sum(check_grip(obj.mesh, {s: batch.hands[s].index(i) for s in layers}, layers, grip).passed
                         for i in order)
            dt = time.perf_counter() - t0
            tot["candidates"] += len(order)
            tot["passed"] += passed
            tot["seconds"] += dt
            print(json.dumps({"thin": args.thin_depth, "cat": cat, "k": k, "passed": passed, "of": len(order),
                              "seconds": round(dt, 1)}), flush=True)
    print(json.dumps({"thin": args.thin_depth, "total": tot}))


if __name__ == "__main__":
    main()

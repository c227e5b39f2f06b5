"""A set of two-hand grasps that no interaction grid has filtered (issue 20, the frame measurement).

    python scripts/two_hand_grasps.py --out runs/two_hand --objects 96 --workers 2     # resumes
    python scripts/two_hand_grasps.py --out runs/two_hand --summary-only              # counts per source

The synthetic set drops every grasp whose object or left hand does not fit the grid around the
right hand, so clipping measured on it cannot show the problem. This script makes grasps the same
way (the prior-free energy optimiser, :func:`bghop.contact.optimizer.optimize_grasps`; the physics
filter, :func:`bghop.eval.grip.check_grip`: both hands in contact, ≤ 5 mm deep both ways, hands
apart, MuJoCo six-direction stability) on objects made for two hands, and **never encodes a grid**:

* object ``i`` is fixed by ``--seed`` and ``i`` alone: every third one a GRAB object scaled to a
  30–60 cm two-hand size (:mod:`bghop.data.grab`), the others the two-hand procedural categories
  in turn (:data:`bghop.data.wide_objects.TWO_HAND_CATEGORIES`, 25–60 cm);
* ``OUT/object-<i>.json`` holds the object's spec (enough to rebuild it), its extents, the
  candidates checked and passed, and up to ``--keep`` passing grasps (both hands' parameters in
  the object frame, metres, as in ``hands.json``, with their metrics). Files are written
  atomically, so an interrupted run resumes where it stopped.

Frames are then compared on these grasps by ``scripts/measure_frames.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm import tqdm


def object_spec(seed: int, i: int) -> dict:
    """The ``i``-th object of the set: ``{"source": "wide", "category", "seed"}`` or
    ``{"source": "grab", "name", "scale"}`` (fixed by ``seed`` and ``i``)."""
    from bghop.data.grab import grab_mesh, grab_object_names, two_hand_scale
    from bghop.data.wide_objects import TWO_HAND_CATEGORIES

    rng = np.random.default_rng([seed, i])
    if i % 3 == 2:
        names = grab_object_names()
        name = names[(i // 3) % len(names)]
        return {"source": "grab", "name": name, "scale": two_hand_scale(grab_mesh(name), rng)}
    cats = TWO_HAND_CATEGORIES
    k = i - i // 3  # the procedural objects in turn
    return {"source": "wide", "category": cats[k % len(cats)], "seed": int(rng.integers(1 << 31))}


def build_object(spec: dict):
    """The object (:class:`bghop.data.objects.ObjectSample`) of :func:`object_spec`."""
    from bghop.data.grab import grab_object
    from bghop.data.wide_objects import make_wide_object

    if spec["source"] == "grab":
        return grab_object(spec["name"], spec["scale"])
    return make_wide_object(spec["category"], spec["seed"])


def run_one(i: int, out: str, seed: int, inits: int, keep: int) -> dict:
    import torch

    from bghop.contact.energies import ObjectSDF
    from bghop.contact.optimizer import EnergyConfig, optimize_grasps
    from bghop.core.io import write_json_atomic
    from bghop.eval.grip import GripConfig, check_grip
    from bghop.hands import Hands, load_hand

    torch.set_num_threads(1)
    spec = object_spec(seed, i)
    obj = build_object(spec)
    layers = {s: load_hand("open", side=s) for s in ("right", "left")}
    batch = optimize_grasps(obj.mesh, layers, inits, EnergyConfig(), seed=int(np.random.default_rng([seed, i, 1]).integers(1 << 31)),
                            obj_sdf=ObjectSDF(obj.mesh))
    grip = GripConfig(simulate_failures=False)
    grasps, candidates = [], 0
    for k in torch.argsort(batch.energy).tolist():
        if len(grasps) >= keep or candidates >= 4 * keep:
            break
        candidates += 1
        check = check_grip(obj.mesh, {s: batch.hands[s].index(k) for s in layers}, layers, grip)
        if check.passed:
            hands = Hands.from_params(check.hands, "open")
            grasps.append({"hands": hands.to_json_dict(), "metrics": check.metrics.to_dict(),
                           "squeeze": check.squeeze, "energy": float(batch.energy[k])})
    rec = {"index": i, "spec": spec, "category": obj.category, "extents_m": [float(e) for e in obj.mesh.extents],
           "candidates": candidates, "passed": len(grasps), "grasps": grasps}
    write_json_atomic(Path(out) / f"object-{i:05d}.json", rec)
    return rec


def summarize(out: Path) -> str:
    rows: dict[str, list[int]] = {}
    for p in sorted(out.glob("object-*.json")):
        r = json.loads(p.read_text())
        key = "grab (scaled)" if r["spec"]["source"] == "grab" else r["category"]
        a = rows.setdefault(key, [0, 0, 0])
        a[0] += 1
        a[1] += r["candidates"]
        a[2] += r["passed"]
    lines = ["| objects | count | candidates | passed (grasps kept) |", "|---|---:|---:|---:|"]
    for k in sorted(rows):
        lines.append(f"| {k} | {rows[k][0]} | {rows[k][1]} | {rows[k][2]} |")
    tot = [sum(v[j] for v in rows.values()) for j in range(3)]
    lines.append(f"| all | {tot[0]} | {tot[1]} | {tot[2]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--objects", type=int, default=96, help="objects to try (default 96)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inits", type=int, default=32, help="initialisations optimised per object")
    ap.add_argument("--keep", type=int, default=2, help="passing grasps kept per object (at most 4x as many checked)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        todo = [i for i in range(args.objects) if not (args.out / f"object-{i:05d}.json").is_file()]
        bar = tqdm(total=args.objects, initial=args.objects - len(todo), unit="object", disable=args.quiet)
        with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
            futs = [pool.submit(run_one, i, str(args.out), args.seed, args.inits, args.keep) for i in todo]
            for f in as_completed(futs):
                f.result()
                bar.update(1)
        bar.close()
    print(summarize(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

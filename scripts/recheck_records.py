"""Re-check the shipped synthetic set's grasps with penetration measured both ways.

    python scripts/recheck_records.py --out runs/recheck            # every shipped record (resumes)
    python scripts/recheck_records.py --out runs/recheck --shards 0 1 2
    python scripts/recheck_records.py --out docs/records_recheck --summary-only   # the committed results

The first built-in set was filtered with penetration measured one way only (hand vertices inside
the object); ``docs/records_recheck`` holds this script's results on its records (shipped until
commit a2ba3b8; ``git show a2ba3b8^:src/bghop/assets/synth_records/...`` recovers them). The
package now ships the repaired set's records (``bghop.data.records.builtin_records_dir``), so a
run today re-checks the repaired set independently of the repair's own filter. For every recorded sample
this script rebuilds its object (the same draw as the generator and the rebuild:
``bghop.data.synthetic.recorded_samples``), poses the recorded hands and measures the depth both
ways (:func:`bghop.eval.metrics.grasp_metrics`). Under the current rule
(:mod:`bghop.eval.validity`) a sample fails when either way is deeper than 5 mm: its stability is
no longer credited and it would not pass the data filter (the recorded stability, contact and
hand–hand checks are unchanged by the new definition, so no simulation is needed).

Writes OUT/shard-<k>.json per shard (skipped when present, so an interrupted run resumes) and
OUT/summary.json + a table per category: samples, failures, failure rate, mean and max depth of
the object in the hands.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm


def recheck_shard(job, cfg, record, layers) -> dict:
    from bghop.data.synthetic import recorded_samples
    from bghop.eval.metrics import grasp_metrics
    from bghop.eval.validity import MAX_DEPTH_M
    from bghop.hands.posing import pose_hands

    rows = [None] * len(record.meta)
    for i, obj_id, cat, obj, hands in recorded_samples(job, cfg, record):
        posed = pose_hands(hands, layers)
        m = grasp_metrics(obj.mesh, {s: p.mesh for s, p in posed.items()}, object_volume=False)
        rows[i] = {"object_id": obj_id, "category": cat, "hand_mm": 1e3 * m.penetration_hand_max_m,
                   "object_mm": 1e3 * m.penetration_object_max_m,
                   "recorded_mm": 1e3 * float(record.meta[i]["meta"]["metrics"]["penetration_max_m"]),
                   "fails": bool(m.penetration_max_m > MAX_DEPTH_M)}
    return {"index": job.index, "bimanual": job.bimanual, "samples": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (resumes)")
    ap.add_argument("--shards", type=int, nargs="*", default=None, help="only these shard indices")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--summary-only", action="store_true", help="only summarise the shards already in OUT")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    from bghop.data.records import builtin_records_dir, read_record, record_path, records_config
    from bghop.data.synthetic import SynthConfig, plan_jobs
    from bghop.hands import load_hand
    from bghop.hands.posing import HandLayers

    folder = builtin_records_dir()
    made = records_config(folder)  # the draws depend on these settings only (and the object library)
    cfg = replace(SynthConfig(), **{k: made[k] for k in ("bimanual", "single", "shard_size", "seed", "hand",
                                                         "single_max_extent", "single_max_width")})
    jobs = plan_jobs(cfg)
    if args.shards is not None:
        jobs = [j for j in jobs if j.index in set(args.shards)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layers = HandLayers(None, torch.device("cpu"))
    load_hand(cfg.hand, side="right")  # fail early when the hand cannot be built
    results = []
    for job in tqdm(jobs, desc="shards", disable=args.quiet):
        path = out / f"shard-{job.index:05d}.json"
        if path.is_file():
            results.append(json.loads(path.read_text()))
            continue
        if args.summary_only or not record_path(folder, job.index).is_file():
            continue  # not recorded (the shipped records may hold part of the set)
        record = read_record(record_path(folder, job.index))
        res = recheck_shard(job, cfg, record, layers)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(res))
        tmp.replace(path)
        results.append(res)
    cats: dict[str, list[dict]] = {}
    for r in results:
        for s in r["samples"]:
            cats.setdefault(("two-hand " if r["bimanual"] else "one-hand ") + s["category"], []).append(s)
    lines = ["| kind · category | samples | fail (> 5 mm either way) | rate | object in hand mm: mean / max | "
             "hand in object mm: max |", "|---|---:|---:|---:|---:|---:|"]
    total = fails = 0
    for k in sorted(cats):
        v = cats[k]
        f = sum(s["fails"] for s in v)
        total, fails = total + len(v), fails + f
        lines.append(f"| {k} | {len(v)} | {f} | {100 * f / len(v):.0f} % | "
                     f"{np.mean([s['object_mm'] for s in v]):.1f} / {max(s['object_mm'] for s in v):.1f} | "
                     f"{max(s['hand_mm'] for s in v):.1f} |")
    lines.append(f"| **all** | **{total}** | **{fails}** | **{100 * fails / max(total, 1):.1f} %** | | |")
    table = "\n".join(lines)
    print(table)
    (out / "summary.md").write_text(table + "\n")
    (out / "summary.json").write_text(json.dumps({"samples": total, "fails": fails, "shards": len(results),
                                                  "per_category": {k: {"samples": len(v),
                                                                       "fails": sum(s["fails"] for s in v)}
                                                                   for k, v in cats.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

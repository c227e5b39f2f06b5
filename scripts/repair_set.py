"""Repair the shipped synthetic set against penetration measured both ways (issue 18, item 5).

    git archive a2ba3b8^ src/bghop/assets/synth_records | tar -x -C runs/v1   # the first set's records
    python scripts/repair_set.py --out runs/set_v2 --records-out runs/records_v2 --workers 2 \
        --base-records runs/v1/src/bghop/assets/synth_records

For every shard of the shipped settings (``bghop.data.synthetic.SHIPPED_SET``: the first set,
``SHIPPED_SET_V1``, repaired) this writes the repaired shard into ``--out``
(:func:`bghop.data.repair.repair_shard`: the first set's samples deeper than 5 mm either way
dropped, the rest kept as they were, the shard filled back to its count with grasps made with
today's energy and physics) and its grasp record into ``--records-out``, one shard at a time.

Resumable across machines: shards already complete in ``--out`` are skipped, and shards already
in ``--records-out`` (commit that folder as you go) are rebuilt from it in seconds instead of
repaired again. The depths both ways of the first set's samples are taken from
``--depths`` (the committed results of ``scripts/recheck_records.py``, the same measurement:
:func:`bghop.data.repair.sample_depth`) to save about 1 s per sample; ``--depths none`` measures
them again. The repair is done and the package ships its records (commit a2ba3b8): with the
default ``--base-records`` (the package's, now the repaired set's) every shard is rebuilt from
them; give the first set's records (above) to repair it again.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm


def _depths(folder: Path | None, index: int) -> list[tuple[float, float]] | None:
    if folder is None:
        return None
    path = folder / f"shard-{index:05d}.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())["samples"]
    return [(1e-3 * r["hand_mm"], 1e-3 * r["object_mm"]) for r in rows]


def run_one(index: int, out: str, records: list[str], depths_dir: str | None) -> tuple[dict, bool]:
    """Shard ``index`` of the repaired set: ``(stats, whether it was rebuilt from its record)``."""
    import torch

    from bghop.data.records import find_record
    from bghop.data.repair import repair_shard
    from bghop.data.synthetic import SHIPPED_SET, generate_shard, plan_jobs

    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cfg = SHIPPED_SET
    job = {j.index: j for j in plan_jobs(cfg)}[index]
    if any(find_record(r, job, cfg.to_dict()) is not None for r in records):
        return generate_shard(job, cfg, out, records=records), True
    return repair_shard(job, cfg, out, records, depths=_depths(Path(depths_dir) if depths_dir else None, index)), False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="data folder of the repaired set (resumes)")
    ap.add_argument("--records-out", required=True, type=Path, help="record folder of the repaired set (resumes)")
    ap.add_argument("--base-records", type=Path, default=None, help="records of the first set (default: shipped)")
    ap.add_argument("--depths", default="docs/records_recheck", help="recheck results folder, or 'none'")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--shards", type=int, nargs="*", default=None, help="only these shard indices")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    log = logging.getLogger("repair_set")
    from bghop.core.io import write_json_atomic
    from bghop.data.records import builtin_records_dir, export_records
    from bghop.data.synthetic import SHIPPED_SET, _done, collect_manifest, plan_jobs

    cfg = SHIPPED_SET
    base = args.base_records or builtin_records_dir()
    records = [str(args.records_out), str(base)] if (args.records_out / "records.json").is_file() else [str(base)]
    depths = None if args.depths == "none" else args.depths
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "config.json", cfg.to_dict())
    jobs = [j for j in plan_jobs(cfg) if args.shards is None or j.index in set(args.shards)]
    todo = [j for j in jobs if not _done(args.out, j)]
    log.info("%d of %d shards to do", len(todo), len(jobs))
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="shard", desc="repair", disable=args.quiet)
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        futs = {pool.submit(run_one, j.index, str(args.out), records, depths): j for j in todo}
        for f in as_completed(futs):
            st, rebuilt = f.result()
            j = futs[f]
            collect_manifest(args.out, cfg)
            if not rebuilt:
                export_records(args.out, args.records_out, only={j.index})
            r = st["repair"]
            log.info("shard %d: %s", j.index, "rebuilt from its record" if rebuilt else
                     f"{r['kept']} kept, {r['dropped']} dropped, {st['count'] - r['kept']} new in {r['seconds']:.0f} s")
            bar.update(1)
    bar.close()
    m = collect_manifest(args.out, cfg)
    log.info("%d samples in %d shards", m.num_samples, len(m.shards))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Repairing a synthetic set against stricter checks, shard by shard, without regenerating it.

When a check becomes stricter (issue 18: penetration measured both ways, the object's surface
inside the hands as well as the hands inside the object), part of an existing set no longer
passes. Regenerating the whole set would cost its full generation time (10 worker-hours for the
built-in 6,000 samples) and change every shard. A **repair** (``SynthConfig.repair_of``) keeps
what still passes and only makes what is missing:

1. the base shard (the shard of the set being repaired: from a record folder of its settings,
   else generated into ``OUT/base/``) is walked on its objects (the same draws as the generator);
2. every sample is checked again with today's geometric checks (:func:`sample_depth`); those
   deeper than ``max_penetration_m`` either way are dropped, the rest kept as they were (same
   hands, same figures: a shard that loses nothing is byte-identical to the base shard);
3. the shard is filled back to its count by the generator's own loop
   (:func:`bghop.data.synthetic.fill_shard`) with the repairing settings (energy, physics),
   on the objects the base shard had not drawn yet (draws ``record.draws + 1, …``).

The repaired shard's stats carry the base shard's figures updated for the drop (candidates,
passes, seconds and per-category counts of both runs) and a ``"repair"`` block: samples kept and
dropped (per category), the new candidates, passes and seconds, and the base shard's sha1. The
result is fixed by the base set and the repairing settings, so ``bghop data synth`` with the
shipped settings rebuilds, repairs or generates the same shards wherever it runs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import trimesh

from bghop.core.io import write_json_atomic
from bghop.data.records import GraspRecord, find_record, shard_record
from bghop.data.shards import Sample, shard_path, shard_stats_path, write_shard
from bghop.hands import Hands
from bghop.hands.posing import HandLayers, pose_hands

logger = logging.getLogger(__name__)

__all__ = ["sample_depth", "repair_shard"]


def sample_depth(object_mesh: trimesh.Trimesh, hands: Hands, layers: HandLayers) -> tuple[float, float]:
    """Penetration both ways of a recorded grasp, metres: ``(hands in object, object in hands)``
    (:func:`bghop.eval.metrics.grasp_metrics`, the definition of the data filter)."""
    from bghop.eval.metrics import grasp_metrics

    posed = pose_hands(hands, layers)
    m = grasp_metrics(object_mesh, {s: p.mesh for s, p in posed.items()}, object_volume=False)
    return float(m.penetration_hand_max_m), float(m.penetration_object_max_m)


def _base_record(job: Any, cfg: Any, out: Path, records: Sequence[Path], threads: int) -> GraspRecord:
    from bghop.data.synthetic import generate_shard

    base = cfg.repair_of
    for folder in records:
        rec = find_record(folder, job, base.to_dict())
        if rec is not None:
            return rec
    logger.info("shard %d: no record of the set it repairs; generating that shard first (into %s)",
                job.index, out / "base")
    generate_shard(job, base, out / "base", threads=threads, records=list(records) or None)
    return shard_record(shard_path(out / "base", job.index))


def _merge_categories(a: dict, b: dict, dropped: dict[str, int]) -> dict:
    keys = ("objects", "candidates", "passed", "kept")
    out = {c: {k: int(a.get(c, {}).get(k, 0)) + int(b.get(c, {}).get(k, 0)) for k in keys}
           for c in sorted(set(a) | set(b))}
    for c, n in dropped.items():
        out[c]["passed"] -= n
        out[c]["kept"] -= n
    return out


def repair_shard(job: Any, cfg: Any, out: str | Path, records: Sequence[str | Path] = (), threads: int = 1,
                 progress: Any = None, depths: Sequence[tuple[float, float]] | None = None) -> dict:
    """Write shard ``job`` of the repair ``cfg`` (a :class:`~bghop.data.synthetic.SynthConfig`
    whose ``repair_of`` is set) into ``out``, and its stats; returns the stats.

    Args:
        records: record folders to find the base shard in (one made with ``cfg.repair_of``);
            when none holds it, it is generated (or repaired, for a chain) into ``out/base``.
        progress: told ``put(1)`` per sample written (kept or new).
        depths: the base shard's :func:`sample_depth` per sample, when already measured (e.g.
            by ``scripts/recheck_records.py``; about 1 s per sample otherwise); one per sample.
    """
    from bghop.data.synthetic import _draw_objects, fill_shard, recorded_sample, recorded_samples

    out = Path(out)
    if cfg.repair_of is None:
        raise ValueError("repair_shard needs settings with repair_of set")
    t0 = time.perf_counter()
    base_cfg = cfg.repair_of
    base = _base_record(job, cfg, out, [Path(r) for r in records], threads)
    layers = HandLayers()
    if depths is not None and len(depths) != len(base.meta):
        raise ValueError(f"shard {job.index}: {len(depths)} depths given for {len(base.meta)} samples")
    kept: dict[int, Sample] = {}
    dropped: dict[str, int] = {}
    for i, obj_id, cat, obj, hands in recorded_samples(job, base_cfg, base):
        hand_d, obj_d = sample_depth(obj.mesh, hands, layers) if depths is None else depths[i]
        if max(hand_d, obj_d) > cfg.max_penetration_m:
            dropped[cat] = dropped.get(cat, 0) + 1
            logger.debug("shard %d sample %d (%s): %.1f / %.1f mm deep, dropped", job.index, i, cat,
                         1e3 * hand_d, 1e3 * obj_d)
            continue
        kept[i] = recorded_sample(obj, hands, obj_id, base.meta[i], cfg)
        if progress is not None:
            progress.put(1)
    samples = [kept[i] for i in sorted(kept)]
    n_kept = len(samples)
    t_check = time.perf_counter() - t0
    draws = _draw_objects(job, cfg)
    for _ in range(base.draws):
        next(draws)
    per_cat: dict[str, dict[str, int]] = {}
    candidates, passed = fill_shard(job, cfg, samples, draws, per_cat, progress)
    path = shard_path(out, job.index)
    sha = write_shard(path, samples)
    seconds = time.perf_counter() - t0
    n_dropped = sum(dropped.values())
    bst = base.stats
    repair = {"kept": n_kept, "dropped": n_dropped, "dropped_by_category": dict(sorted(dropped.items())),
              "candidates": candidates, "passed": passed, "seconds": seconds, "check_seconds": t_check,
              "base_sha1": bst.get("sha1")}
    if n_dropped == 0:
        stats = {**bst, "file": path.name, "sha1": sha, "repair": repair}
    else:
        stats = {"file": path.name, "count": len(samples), "sha1": sha, "bimanual": job.bimanual,
                 "candidates": int(bst["candidates"]) + candidates,
                 "passed": int(bst["passed"]) - n_dropped + passed,
                 "seconds": float(bst["seconds"]) + seconds,
                 "categories": _merge_categories(bst.get("categories", {}), per_cat, dropped), "repair": repair}
    stats.pop("rebuilt", None)
    stats.pop("rebuild_seconds", None)
    write_json_atomic(shard_stats_path(path), stats)
    base_file = shard_path(out / "base", job.index)
    for f in (base_file, shard_stats_path(base_file)):
        f.unlink(missing_ok=True)  # a generated base shard is only needed until its repair is written
    logger.info("shard %d repaired: %d kept, %d dropped, %d new (%.0f s)", job.index, n_kept, n_dropped,
                len(samples) - n_kept, seconds)
    return stats


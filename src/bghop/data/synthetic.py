"""The built-in synthetic grasp set: procedural objects, energy-optimised grasps, physics-filtered.

Work is split into **shard jobs** fixed by the configuration alone (job ``k`` always draws the
same objects and initialisations from ``seed + k``), so:

* a rerun skips every shard whose files are complete (resume after an interruption; shards
  and their stats are written atomically, so a killed worker leaves nothing half-written);
* jobs run anywhere — in this process, in a process pool (``workers``), or on a Ray cluster
  (``executor="ray"``) — through the same function, :func:`generate_shard`.

Each job repeatedly draws an object (from the configured library, :mod:`bghop.data.library`: by
default one of the 21 procedural categories uniformly, random dimensions), optimises a batch
of grasps (:func:`bghop.contact.optimizer.optimize_grasps`), and walks its candidates from the
lowest energy up, keeping those that pass the checks of :mod:`bghop.eval` (every hand in
contact, penetration at most ``max_penetration_m``, hand–hand intersection under
``max_hand_hand_cm3``, MuJoCo six-direction stability), each tried as optimised and then with
the fingers squeezed a little further (soft pads pressing give a held hand its grip), until
``keep_per_object`` are kept. Every candidate evaluated is counted, so the pass rate before
filtering is reported. One-hand samples use hand-sized objects only (:func:`bghop.data.synth_config.hand_sized`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from bghop.contact.energies import ObjectSDF
from bghop.contact.optimizer import optimize_grasps
from bghop.core.io import write_json_atomic
from bghop.data.library import object_name
from bghop.data.objects import ObjectSample
from bghop.data.prompts import prompt
from bghop.data.records import GraspRecord, RecordError, find_record, grasp_identity, records_config, same_grids
from bghop.data.shards import TRUNCATION, Manifest, Sample, shard_path, shard_stats_path, write_shard
from bghop.data.synth_config import (
    SHIPPED_SET,
    SHIPPED_SET_ENERGY,
    SHIPPED_SET_PHYSICS,
    SHIPPED_SET_V1,
    ShardJob,
    SynthConfig,
    plan_jobs,
)
from bghop.data.synth_config import draw_objects as _draw_objects
from bghop.eval.grip import GripConfig, check_grip
from bghop.fields.encode import encode_grid
from bghop.hands import Hands, load_hand

logger = logging.getLogger(__name__)

__all__ = ["SynthConfig", "ShardJob", "plan_jobs", "generate_shard", "synthesize", "collect_manifest",
           "recorded_samples", "recorded_sample", "fill_shard", "SHIPPED_SET", "SHIPPED_SET_V1", "SHIPPED_SET_ENERGY",
           "SHIPPED_SET_PHYSICS"]


def _stats_path(out: Path, index: int) -> Path:
    return shard_stats_path(shard_path(out, index))


def _done(out: Path, job: ShardJob) -> bool:
    """Whether shard ``job`` is complete (a shard of another plan, e.g. another mode, is not)."""
    sp, st = shard_path(out, job.index), _stats_path(out, job.index)
    if not (sp.is_file() and st.is_file()):
        return False
    try:
        st = json.loads(st.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return st.get("count") == job.count and st.get("bimanual", job.bimanual) == job.bimanual


def recorded_samples(job: ShardJob, cfg: SynthConfig,
                     record: GraspRecord) -> Iterator[tuple[int, str, str, ObjectSample, Hands]]:
    """The samples of shard ``job``'s record on their objects, in draw order:
    ``(sample index, object id, category, object, hands)`` (the same draws as the generator).

    Raises:
        RecordError: a recorded object that the shard does not draw (another object library).
    """
    by_id: dict[str, list[int]] = {}
    for i, entry in enumerate(record.meta):
        by_id.setdefault(entry["object_id"], []).append(i)
    draws = _draw_objects(job, cfg)
    for _ in range(record.draws):
        if not by_id:
            break
        obj_id, cat, obj, _seed = next(draws)
        for i in by_id.pop(obj_id, []):
            yield i, obj_id, cat, obj, Hands.from_params(record.hands(i), cfg.hand)
    if by_id:
        raise RecordError(f"{record.path}: objects {sorted(by_id)[:3]} are not among the objects shard {job.index} "
                          "draws; the record was made by another version of the object library")


def recorded_sample(obj: ObjectSample, hands: Hands, obj_id: str, entry: dict, cfg: SynthConfig) -> Sample:
    """A recorded sample (``entry``: its record's ``{"text", "meta"}``) with its grids encoded again."""
    grid = encode_grid(obj.mesh, hands, cfg.grid_for(hands.bimanual), truncate=TRUNCATION)
    return Sample(object_sdf=grid.object_sdf, right_field=grid.right_field, left_field=grid.left_field,
                  text=entry["text"], object_id=obj_id, hands=grid.hands, nTo=grid.nTo, meta=entry["meta"])


def _rebuild_shard(job: ShardJob, cfg: SynthConfig, out: Path, record: GraspRecord, progress: Any = None) -> dict:
    """Write shard ``job`` from its record: the recorded grasps on the same objects, grids encoded
    again (no optimisation, no physics). Returns the recorded stats, marked ``"rebuilt": True``,
    with the new file's sha1 (a warning says so when it differs from the recorded one)."""
    t0 = time.perf_counter()
    samples: list[Sample | None] = [None] * len(record.meta)
    for i, obj_id, _cat, obj, hands in recorded_samples(job, cfg, record):
        samples[i] = recorded_sample(obj, hands, obj_id, record.meta[i], cfg)
        if progress is not None:
            progress.put(1)
    path = shard_path(out, job.index)
    sha = write_shard(path, samples)  # type: ignore[arg-type]
    stats = {**record.stats, "sha1": sha, "rebuilt": True, "rebuild_seconds": time.perf_counter() - t0}
    made = records_config(record.path.parent)
    if made is not None and not same_grids(made, cfg.to_dict()):
        stats["recorded_sha1"] = record.stats.get("sha1")  # the same grasps in another grid frame
        stats["regridded"] = True
    elif sha != record.stats.get("sha1"):
        logger.warning("shard %d rebuilt from its record differs from the recorded file (sha1 %s, recorded %s): "
                       "same grasps, but the grids came out differently (other library versions?)",
                       job.index, sha[:10], str(record.stats.get("sha1"))[:10])
        stats["recorded_sha1"] = record.stats.get("sha1")
    write_json_atomic(_stats_path(out, job.index), stats)
    return stats


def generate_shard(job: ShardJob, cfg: SynthConfig, out: str | os.PathLike, threads: int = 1,
                   progress: Any = None, records: str | os.PathLike | Sequence[str | os.PathLike] | None = None
                   ) -> dict:
    """Generate and write one shard (skipped if already complete); returns its stats.

    Args:
        job: which shard.
        cfg: set settings.
        out: data folder.
        threads: torch CPU threads for this worker.
        progress: anything with ``put(n)`` (e.g. a multiprocessing queue), told ``put(1)`` per kept sample.
        records: grasp-record folders (:mod:`bghop.data.records`; one or several); when one holds
            this shard (same settings), the shard is rebuilt from it instead of generated. With
            ``cfg.repair_of`` set, the shard is otherwise repaired (:func:`bghop.data.repair.repair_shard`)
            from the base set's record in these folders (or from the base shard, generated).
    Returns:
        ``{"file", "count", "sha1", "bimanual", "candidates", "passed", "seconds", "categories"}``;
        ``categories`` maps each category to the objects tried and the candidates checked,
        passed and kept for it (:mod:`bghop.data.stats` reports the per-category pass rates).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if _done(out, job):
        return json.loads(_stats_path(out, job.index).read_text())
    torch.set_num_threads(max(1, threads))
    folders = _record_folders(records)
    for folder in folders:
        record = find_record(folder, job, cfg.to_dict())
        if record is not None:
            return _rebuild_shard(job, cfg, out, record, progress)
    if cfg.repair_of is not None:
        from bghop.data.repair import repair_shard

        return repair_shard(job, cfg, out, folders, threads=threads, progress=progress)
    t0 = time.perf_counter()
    samples: list[Sample] = []
    per_cat: dict[str, dict[str, int]] = {}
    candidates, passed = fill_shard(job, cfg, samples, _draw_objects(job, cfg), per_cat, progress)
    path = shard_path(out, job.index)
    sha = write_shard(path, samples)
    stats = {"file": path.name, "count": len(samples), "sha1": sha, "bimanual": job.bimanual,
             "candidates": candidates, "passed": passed, "seconds": time.perf_counter() - t0,
             "categories": dict(sorted(per_cat.items()))}
    write_json_atomic(_stats_path(out, job.index), stats)
    return stats


def _record_folders(records: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[Path]:
    if records is None:
        return []
    if isinstance(records, (str, os.PathLike)):
        return [Path(records)]
    return [Path(r) for r in records]


def fill_shard(job: ShardJob, cfg: SynthConfig, samples: list[Sample],
               draws: Iterator[tuple[str, str, ObjectSample, int]], per_cat: dict[str, dict[str, int]],
               progress: Any = None) -> tuple[int, int]:
    """Optimise and check grasps of the objects ``draws`` yields until ``samples`` holds
    ``job.count`` (appended in place); returns ``(candidates checked, candidates passed)``.

    ``per_cat`` (updated in place) counts per category the objects tried and the candidates
    checked, passed and kept. ``progress.put(1)`` per kept sample.

    Raises:
        RuntimeError: far too few grasps pass (50 objects per missing sample tried).
    """
    sides = ("right", "left") if job.bimanual else ("right",)
    layers = {s: load_hand(cfg.hand, side=s) for s in sides}
    grip = GripConfig(squeeze=cfg.squeeze, max_penetration_m=cfg.max_penetration_m,
                      max_hand_hand_cm3=cfg.max_hand_hand_cm3, physics_config=cfg.physics, simulate_failures=False)
    candidates = passed = 0
    tried = 0
    missing = job.count - len(samples)
    while len(samples) < job.count:
        if tried >= 50 * max(missing, 1):
            raise RuntimeError(f"shard {job.index}: too few grasps pass the checks ({passed}/{candidates}); "
                               "loosen the filters or raise the optimiser's iterations")
        obj_id, cat, obj, opt_seed = next(draws)
        tried += 1
        pc = per_cat.setdefault(cat, {"objects": 0, "candidates": 0, "passed": 0, "kept": 0})
        pc["objects"] += 1
        sdf = ObjectSDF(obj.mesh)
        batch = optimize_grasps(obj.mesh, layers, cfg.inits, cfg.energy, seed=opt_seed, obj_sdf=sdf)
        kept = 0
        for i in torch.argsort(batch.energy).tolist():
            if kept >= cfg.keep_per_object or len(samples) >= job.count:
                break  # the rest of this object's candidates are not evaluated (nor counted)
            candidates += 1
            pc["candidates"] += 1
            check = check_grip(obj.mesh, {s: batch.hands[s].index(i) for s in sides}, layers, grip)
            if not check.passed:
                continue
            passed += 1
            pc["passed"] += 1
            hp, curl, m, stab = check.hands, check.squeeze, check.metrics, check.stability
            hands = Hands.from_params(hp, cfg.hand)
            try:
                grid = encode_grid(obj.mesh, hands, cfg.grid_for(hands.bimanual), truncate=TRUNCATION)
            except ValueError as e:
                logger.debug("skip: %s", e)
                continue
            samples.append(Sample(object_sdf=grid.object_sdf, right_field=grid.right_field, left_field=grid.left_field,
                                  text=prompt(object_name(cat, obj), job.bimanual), object_id=obj_id, hands=grid.hands, nTo=grid.nTo,
                                  meta={"source": "synthetic", "category": cat, "params": obj.params,
                                        "metrics": m.to_dict(), "stability": stab.to_dict(), "squeeze": curl,
                                        "energy": float(batch.energy[i])}))
            kept += 1
            pc["kept"] += 1
            if progress is not None:
                progress.put(1)
    return candidates, passed


def _check_same_config(out: Path, cfg: SynthConfig) -> None:
    """Refuse to add shards made with other settings to a folder (its shards would not be one set)."""
    path = out / "config.json"
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return  # unreadable: it is rewritten below
    new = json.loads(json.dumps(cfg.to_dict()))  # tuples -> lists, as stored
    if old != new:
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise ValueError(f"{out} holds a synthetic set made with other settings (differs in: {', '.join(diff)}); "
                         "rerun with the same settings to resume it, or give a new --out folder")


def collect_manifest(out: str | os.PathLike, cfg: SynthConfig) -> Manifest:
    """Manifest of the complete shards in ``out`` (with the pass rate), written atomically."""
    out = Path(out)
    m = Manifest(settings={"source": "synthetic", "config": cfg.to_dict()})
    cand = passed = 0
    secs = 0.0
    for job in plan_jobs(cfg):
        if _done(out, job):
            st = json.loads(_stats_path(out, job.index).read_text())
            m.shards.append({k: st[k] for k in ("file", "count", "sha1", "bimanual")})
            cand, passed, secs = cand + st["candidates"], passed + st["passed"], secs + st["seconds"]
    m.settings["pass_rate_before_filtering"] = passed / cand if cand else None
    m.settings["candidates"] = cand
    m.settings["worker_seconds"] = secs
    m.save(out)
    return m


def synthesize(out: str | os.PathLike, cfg: SynthConfig, workers: int = 1, executor: str = "process",
               progress: bool = True, records: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
               only: str | None = None) -> Manifest:
    """Generate every missing shard; the manifest is rewritten after every finished shard, so a
    folder whose run is still going (or was interrupted) can already be trained on or shown.

    Args:
        out: data folder (created; complete shards already there are kept).
        cfg: settings.
        workers: parallel worker processes (``executor="process"``); ignored by Ray.
        executor: ``"process"`` (local pool; 1 worker runs in this process) or ``"ray"``: every
            missing shard becomes one Ray task (one CPU, one thread), scheduled over the cluster
            that ``ray.init()`` joins (``RAY_ADDRESS``) or a local one. Same shards, byte for byte.
        progress: show a progress bar.
        records: grasp-record folders made with these settings (:mod:`bghop.data.records`; one
            or several): the shards they hold are rebuilt instead of generated; folders made with
            the settings of a set these repair (``cfg.repair_of``) supply the shards to repair.
        only: ``"bimanual"`` or ``"single"``: make only that kind's shards of the plan (e.g. a set's two-hand
            samples in another frame, where its one-hand samples would be the same as before); the folder then
            holds part of the set, readable as it is, and a later run without ``only`` completes it.
    Raises:
        ValueError: ``out`` holds shards of other settings, or ``records`` was made with other settings.
    """
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(out, cfg)
    folders = _record_folders(records)
    lineage = cfg.grasp_lineage()
    for folder in folders:
        rc = records_config(folder)
        if rc is None:
            raise ValueError(f"{folder} is not a grasp-record folder (no records.json); "
                             "make one with `bghop data records DATA --out DIR`")
        rc = grasp_identity(rc)
        if rc not in lineage:
            want = lineage[0]
            diff = sorted(k for k in set(rc) | set(want) if rc.get(k) != want.get(k))
            raise ValueError(f"the records in {folder} were made with other settings (differs in: {', '.join(diff)})")
    records = [str(f) for f in folders] or None
    write_json_atomic(out / "config.json", cfg.to_dict())
    if only not in (None, "bimanual", "single"):
        raise ValueError(f"only must be 'bimanual', 'single' or None, not {only!r}")
    wanted = [j for j in plan_jobs(cfg) if only is None or j.bimanual == (only == "bimanual")]
    todo = [j for j in wanted if not _done(out, j)]
    total = sum(j.count for j in wanted)
    bar = tqdm(total=total, initial=total - sum(j.count for j in todo),
               unit="sample", desc="synthetic grasps", disable=not progress)
    if executor == "ray":  # progress per finished shard
        try:
            import ray
        except ImportError as e:
            raise RuntimeError("executor 'ray' needs Ray: pip install 'bghop[ray]'") from e
        if not ray.is_initialized():
            ray.init()
        remote = ray.remote(generate_shard)
        pending = [remote.remote(j, cfg, str(out), 1, None, records) for j in todo]
        while pending:
            ready, pending = ray.wait(pending)
            for r in ready:
                bar.update(ray.get(r)["count"])
                collect_manifest(out, cfg)
    elif workers <= 1:  # progress per kept sample
        class _Bar:
            def put(self, n: int) -> None:
                bar.update(n)

        for j in todo:
            generate_shard(j, cfg, out, threads=torch.get_num_threads(), progress=_Bar(), records=records)
            collect_manifest(out, cfg)
    else:  # progress per kept sample, through a queue that a thread here drains
        import multiprocessing
        import threading
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with multiprocessing.Manager() as manager:
            queue = manager.Queue()

            def drain() -> None:
                while (n := queue.get()) is not None:
                    bar.update(n)

            reader = threading.Thread(target=drain, daemon=True)
            reader.start()
            try:
                with ProcessPoolExecutor(max_workers=workers) as pool:
                    futs = [pool.submit(generate_shard, j, cfg, out, 1, queue, records) for j in todo]
                    for f in as_completed(futs):
                        f.result()
                        collect_manifest(out, cfg)
            finally:
                queue.put(None)
                reader.join(timeout=5)
    bar.close()
    return collect_manifest(out, cfg)

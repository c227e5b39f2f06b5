"""Running the benchmark: every method on every object, result folders, resuming, one evaluation.

Every (method, object) run writes a DESIGN §4 result folder ``OUT/<method>/<object>/`` (built in a
hidden temporary sibling and renamed into place, so a killed run never leaves a half-written
folder); a rerun skips folders whose run record holds the same resume key (settings, object,
models and code format). All folders are then measured with :func:`bghop.eval.report.evaluate_folders`,
which reuses the stability and prior score a method already measured on the hands it wrote (unless
``recompute``), and summarised per method and per object (:mod:`bghop.bench.tables`).

Timing: ``seconds`` is the wall time of the method's synthesis call(s) for an object, including
its own ranking (MuJoCo and the prior score for ``bghop`` and ``random``), excluding writing and
evaluation. The convex decomposition of each object (and of its mirror image for ``single-prior``)
for the physics test is computed once before any method runs (and cached on disk,
:func:`bghop.eval.physics.convex_pieces`), so no method pays for it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bghop.bench.config import BenchConfig, BenchInputError, BenchModels
from bghop.bench.methods import Method, MethodOutput, bench_layers, build_methods
from bghop.bench.objects import BenchObject, canonical_mesh, mirror_mesh
from bghop.bench.tables import BenchResult, JobRecord, MethodRow, ObjectRow, method_row, object_rows
from bghop.core.tables import json_safe
from bghop.eval.physics import convex_pieces
from bghop.eval.ranking import BEST_OF_N
from bghop.eval.report import EvalReport, evaluate_folders, write_report
from bghop.eval.runs import RunRecord, SampleRecord, read_run
from bghop.geometry.mesh_io import mesh_digest
from bghop.synthesis.checks import GraspError, check_object
from bghop.synthesis.prompts import expand_prompt
from bghop.synthesis.score import PriorScorer
from bghop.viz.results import ResultSample, write_run

logger = logging.getLogger(__name__)

__all__ = ["run_benchmark"]

_FORMAT = 2  # bumped when what a result folder holds changes (invalidates resumed folders)


def _job_key(method: Method, obj: BenchObject, config: BenchConfig) -> dict:
    return json_safe({"format": _FORMAT, "method": method.name, "object": obj.name, "mesh_sha1": mesh_digest(obj.mesh),
                      "text": obj.text, "n": config.n, "seed": config.seed, "hand": config.hand_kind,
                      "config": method.config_dict(), "models": method.fingerprints()})


def _complete(folder: Path, key: dict) -> RunRecord | None:
    """The folder's record when it holds a finished run with this ``key``, else None."""
    rec = read_run(folder)
    if rec is None or not isinstance(rec.extra.get("bench"), dict) or rec.extra["bench"].get("key") != key:
        return None
    if not all((folder / s.name / "hands.json").is_file() for s in rec.samples):
        return None
    return rec


def _write_job(folder: Path, obj: BenchObject, method: Method, out: MethodOutput, key: dict, config: BenchConfig,
               layers: dict, mano_dir: str | os.PathLike | None, device: torch.device) -> None:
    """Write the (method, object) result folder atomically: build it in a hidden sibling, then rename."""
    prompt = expand_prompt(obj.text, bimanual=True)
    samples, records = [], []
    for k, g in enumerate(out.grasps):
        info = {"method": method.name, "object": obj.name, "rank": k, "text": prompt}
        samples.append(ResultSample(obj.mesh, g.hands, title=f"{method.name} #{k} ({obj.name})",
                                    extra={**info, "method_scores": g.scores}, posed=g.posed))
        records.append(SampleRecord(name=str(k), rank=k, text=prompt, group=obj.name, metrics=g.metrics,
                                    stability=g.stability, prior_score=g.prior_score, scores=g.scores))
    n_out = len(out.grasps)
    settings = {"mesh": obj.source, "object": obj.name, "n": config.n, "seed": config.seed, "hand": config.hand_kind,
                "device": str(device), "method_config": method.config_dict()}
    bench = {"key": key, "seconds": out.seconds, "grasps": n_out, "dropped": out.dropped,
             "grasps_per_minute": 60.0 * n_out / out.seconds if out.seconds > 0 else None}
    record = RunRecord(kind="grasp", samples=records, text=prompt, group=obj.name, method=method.name,
                       settings=settings, physics=out.physics, prior=out.prior, dropped=out.dropped,
                       extra={"bench": bench, "method_text": out.text, "method_summary": out.details})
    write_run(folder, samples, record, layers=layers, mano_dir=mano_dir, render=config.render, progress=False)


def _check_objects(objects: Sequence[BenchObject], models: BenchModels, config: BenchConfig) -> None:
    if not objects:
        raise BenchInputError("no objects given")
    names = [o.name for o in objects]
    if len(set(names)) != len(names):
        raise BenchInputError(f"object names must be unique, got {names}")
    if "single-prior" in config.methods and models.prior_single is None:
        raise BenchInputError("the single-prior method needs a single-hand prior (BenchModels.prior_single)")
    frame = models.prior.config.grid_settings.field.frame
    for o in objects:
        try:
            check_object(o.mesh, frame)
        except GraspError as e:
            raise BenchInputError(f"{o.name}: {e}") from e


def _notes(jobs: list[JobRecord], config: BenchConfig) -> list[str]:
    notes = []
    failed = [j for j in jobs if j.error]
    if failed:
        notes.append(f"{len(failed)} run(s) failed: " + "; ".join(f"{j.method}/{j.object}: {j.error}" for j in failed))
    resumed = sum(j.resumed for j in jobs)
    if resumed:
        notes.append(f"{resumed} of {len(jobs)} runs were complete already and were not recomputed (their timings "
                     "are from the run that made them)")
    if not config.physics:
        notes.append("physics off: no stability or displacement")
    if config.score:
        notes.append("prior score: mean denoising error of the interaction grid under the bimanual prior at "
                     f"t = {', '.join(str(x) for x in config.grasp.rank.score_levels)}·T with fixed noise; lower is "
                     "more plausible")
    return notes


def run_benchmark(objects: Sequence[BenchObject], models: BenchModels, out_dir: str | os.PathLike,
                  config: BenchConfig = BenchConfig(), mano_dir: str | os.PathLike | None = None,
                  device: torch.device | str = "cpu", progress: bool = True,
                  on_job: Callable[[JobRecord], None] | None = None) -> BenchResult:
    """Run every method on every object, write ``OUT/<method>/<object>/`` and evaluate them all.

    Folders that already hold a finished run with the same settings, mesh, models and method
    configuration are not recomputed (resumable); each method's evaluation is written to
    ``OUT/<method>/metrics*.{csv,json}``. The comparison files are written by
    :func:`bghop.bench.write_comparison`.

    Args:
        objects: the objects (names must be unique).
        models: the priors and autoencoder.
        out_dir: output folder.
        config: what every method shares.
        mano_dir: MANO folder for ``hand_kind="mano"``.
        device: torch device.
        progress: tqdm progress bars.
        on_job: called after each (method, object) run (e.g. to print a line).
    Returns:
        :class:`~bghop.bench.tables.BenchResult`.
    Raises:
        BenchInputError: no objects, duplicate names, an object the prior cannot use, or
            ``single-prior`` without a single-hand prior (all before any work).
    """
    t_start = time.perf_counter()
    device = torch.device(device)
    out = Path(out_dir)
    _check_objects(objects, models, config)
    names = [o.name for o in objects]
    objects = [replace(o, mesh=canonical_mesh(o.mesh)) for o in objects]
    layers = bench_layers(config, mano_dir, device)
    methods = build_methods(models, config, mano_dir, device, layers)
    settings: dict[str, Any] = {"config": config.to_dict(), "device": str(device), "threads": torch.get_num_threads(),
                                "objects": [{"name": o.name, "text": o.text, "source": o.source} for o in objects],
                                "best_of_n": BEST_OF_N.to_dict(),
                                "model_fingerprints": {k: v for m in methods.values()
                                                       for k, v in m.fingerprints().items()}}
    if config.physics:  # once per object, before any method is timed (and cached on disk)
        t0 = time.perf_counter()
        for o in tqdm(objects, desc="convex decomposition", disable=not progress, leave=False):
            convex_pieces(o.mesh, config.physics_config)
            if "single-prior" in config.methods:  # its left hands are ranked on the mirror image
                convex_pieces(mirror_mesh(o.mesh), config.physics_config)
        settings["convex_decomposition_s"] = time.perf_counter() - t0
    jobs: list[JobRecord] = []
    bar = tqdm([(o, m) for o in objects for m in config.methods], desc="bench", unit="run", disable=not progress)
    for obj, name in bar:
        bar.set_postfix_str(f"{name} {obj.name}")
        method = methods[name]
        folder = out / name / obj.name
        key = _job_key(method, obj, config)
        done = _complete(folder, key)
        if done is not None:
            b = done.extra["bench"]
            rec = JobRecord(name, obj.name, str(folder), grasps=int(b.get("grasps", 0)),
                            dropped=len(b.get("dropped", [])), seconds=float(b.get("seconds", 0.0)), resumed=True)
            logger.info("%s %s: complete already, skipped", name, obj.name)
        else:
            try:
                res = method.run(obj)
                if not res.grasps:
                    why = "; ".join(str(d.get("reason")) for d in res.dropped)
                    raise RuntimeError(f"every grasp was dropped: {why}")
                _write_job(folder, obj, method, res, key, config, layers, mano_dir, device)
                rec = JobRecord(name, obj.name, str(folder), grasps=len(res.grasps), dropped=len(res.dropped),
                                seconds=res.seconds)
            except BenchInputError:
                raise
            except Exception as e:  # noqa: BLE001 - one failed run is reported; the others go on
                logger.error("%s on %s failed: %s: %s", name, obj.name, type(e).__name__, e)
                rec = JobRecord(name, obj.name, None, error=f"{type(e).__name__}: {e}")
        jobs.append(rec)
        if on_job is not None:
            on_job(rec)
    bar.close()
    scorer = None
    if config.score:
        gcfg = config.grasp
        scorer = PriorScorer(models.prior, models.autoencoder, hand_kind=config.hand_kind, mano_dir=mano_dir,
                             levels=gcfg.rank.score_levels, seed=config.seed, prompts={o.name: o.text for o in objects},
                             sdf_resolution=gcfg.sdf_resolution, sdf_margin=gcfg.sdf_margin, device=device)
    reports: dict[str, EvalReport] = {}
    rows: list[MethodRow] = []
    per_object: list[ObjectRow] = []
    for name in config.methods:
        mj = [j for j in jobs if j.method == name]
        folders = [j.folder for j in mj if j.folder is not None]
        report = None
        if folders:
            report = evaluate_folders(folders, physics=config.physics, physics_config=config.physics_config,
                                      scorer=scorer, device=device, mano_dir=mano_dir, seed=config.seed,
                                      progress=progress, recompute=config.recompute)
            report.settings["method"] = name
            write_report(report, out / name)
            reports[name] = report
        objs = object_rows(name, report, {j.object: j for j in mj}) if report else []
        per_object += objs
        rows.append(method_row(name, report, objs, mj))
    order = {n: i for i, n in enumerate(names)}
    per_object.sort(key=lambda r: (order.get(r.object, len(order)), config.methods.index(r.method)))
    return BenchResult(rows=rows, per_object=per_object, jobs=jobs, reports=reports, objects=names, settings=settings,
                       notes=_notes(jobs, config), seconds=time.perf_counter() - t_start)

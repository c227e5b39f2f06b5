"""The robot benchmark, ``bghop bench grasp --robot ROBOT`` (issue 22 item 4). Methods (:data:`ROBOT_METHODS`):
``robot-energy`` (the prior-free energy optimiser on the robot hands directly), ``energy``
(:class:`~bghop.bench.methods.EnergyMethod`, each grasp retargeted) and ``bghop`` (the prior, retargeted).

Each (method, object) writes ``OUT/<method>/<object>/``: ``<k>/`` best first by the robot ranking and a
``summary.json`` whose samples' ``scores["robot"]`` are their verdicts, swapped in whole and skipped on a rerun
when its record holds the same resume key. ``robot-energy`` folders hold ``object.obj``, ``robot.json``,
``<side>_robot.obj``, ``robot_render.png`` (no human hands; kind ``"robot-grasp"``); the others also the human
grasp. Time per grasp: the method's synthesis + robot fit, depth check and MuJoCo verification, over ``n``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from bghop.bench.config import BenchConfig, BenchInputError, BenchModels
from bghop.bench.methods import EnergyMethod, MethodGrasp, PriorMethod, bench_layers
from bghop.bench.objects import BenchObject, canonical_mesh
from bghop.contact.optimizer import EnergyConfig
from bghop.core.io import write_text_atomic
from bghop.core.tables import cell, csv_text, json_safe, markdown_table, text_table
from bghop.eval.runs import RunRecord, SampleRecord, read_run
from bghop.geometry.mesh_io import mesh_digest
from bghop.hands.posing import HandLayers
from bghop.hands.robot_spec import RobotSpec, load_robot_spec
from bghop.synthesis.checks import GraspError, check_object
from bghop.synthesis.grasp_config import GraspConfig
from bghop.synthesis.robot import ROBOT_JSON, RobotGraspConfig, RobotGraspResult, human_keypoints, robot_grasps, robot_meshes
from bghop.viz.results import ResultSample, write_run

logger = logging.getLogger(__name__)

__all__ = ["ROBOT_METHODS", "RobotBenchConfig", "RobotBenchResult", "RobotJob", "RobotMethodRow",
           "robot_comparison_markdown", "robot_comparison_table", "run_robot_benchmark", "write_robot_comparison"]

#: the robot benchmark's methods, in table order
ROBOT_METHODS: tuple[str, ...] = ("robot-energy", "energy", "bghop")
_SIDES = ("right", "left")
_FORMAT = 1  # bumped when what a robot result folder holds changes (invalidates resumed folders)
_PROTOCOL = ("Protocol: bghop's robot protocol (issue 22), not BimanGrasp's: bases fixed, the position actuators "
             "holding the squeeze targets, a {object_mass:g} kg object with friction {friction:g}, gravity along ±x, "
             "±y, ±z for {duration:g} s each; success = moved at most {cm:g} cm in every direction, at least "
             "{min_links} links of each hand in contact, no penetration deeper than {mm:g} mm.")


@dataclass(frozen=True)
class RobotBenchConfig:
    """What the robot benchmark's methods share: ``methods`` (of :data:`ROBOT_METHODS`, table order), ``n``
    grasps per object and method (requested; dropped ones count as failures), ``seed``, the human ``hand_kind``
    of ``energy`` and ``bghop``, the ``robot`` fit and verification, the human ``energy`` optimiser, the prior's
    ``grasp`` synthesis (its MuJoCo ranking of the human hands included) and ``render`` (PNGs per grasp)."""

    methods: tuple[str, ...] = ROBOT_METHODS
    n: int = 8
    seed: int = 0
    hand_kind: str = "open"
    robot: RobotGraspConfig = RobotGraspConfig()
    energy: EnergyConfig = EnergyConfig()
    grasp: GraspConfig = GraspConfig()
    render: bool = True

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in ROBOT_METHODS]
        if bad or not self.methods or len(set(self.methods)) != len(self.methods):
            raise BenchInputError(f"unknown or repeated robot method(s) in {list(self.methods)}; choose from "
                                  f"{', '.join(ROBOT_METHODS)}")
        if self.n < 1:
            raise BenchInputError(f"the number of grasps must be at least 1, got {self.n}")
        if not self.robot.simulate:
            raise BenchInputError("the robot benchmark needs the MuJoCo verification (RobotGraspConfig.simulate)")


@dataclass
class RobotJob:
    """One (method, object) run: its folder, ``n`` requested, ``verdicts`` (:meth:`RobotGraspResult.summary`
    per grasp written, best first; ``depth_max_m`` in m), ``seconds`` of the method's synthesis and
    ``robot_seconds`` of the fit + check + MuJoCo, ``resumed`` (complete already) or ``error``."""

    method: str
    object: str
    folder: str | None
    n: int
    verdicts: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    robot_seconds: float = 0.0
    resumed: bool = False
    error: str | None = None

    def row(self) -> dict:
        """The per-object row: successful grasps of ``n`` and whether the best succeeds (None: failed)."""
        ok = self.error is None
        return {"object": self.object, "method": self.method, "n": self.n, "grasps": len(self.verdicts),
                "success": sum(bool(d.get("success")) for d in self.verdicts) if ok else None,
                "best_success": bool(self.verdicts and self.verdicts[0].get("success")) if ok else None,
                "seconds": self.seconds + self.robot_seconds, "resumed": self.resumed, "error": self.error}


@dataclass
class RobotMethodRow:
    """One method over all objects (rates in %, lengths in mm, time in s per requested grasp)."""

    method: str
    objects: int
    grasps: int
    success_pct: float | None
    held_pct: float | None
    best_success: int
    best_success_pct: float | None
    links_right: float | None
    links_left: float | None
    depth_mean_mm: float | None
    depth_max_mm: float | None
    seconds_per_grasp: float | None
    failed: int = 0


@dataclass
class RobotBenchResult:
    """Per-method rows, the (method, object) jobs (per-object rows: :meth:`RobotJob.row`), settings and notes of
    :func:`run_robot_benchmark` (``seconds``: its wall time)."""

    robot: str
    rows: list[RobotMethodRow]
    jobs: list[RobotJob]
    objects: list[str]
    methods: list[str]
    settings: dict
    notes: list[str]
    seconds: float = 0.0


def _method_row(name: str, jobs: list[RobotJob]) -> RobotMethodRow:
    ok = [j for j in jobs if j.error is None]
    v = [d for j in ok for d in j.verdicts]
    n = sum(j.n for j in ok)
    good = [d for d in v if d.get("success")]
    best = sum(bool(j.verdicts and j.verdicts[0].get("success")) for j in ok)
    depth = [1000 * float(d["depth_max_m"]) for d in v if d.get("depth_max_m") is not None]

    def links(side: str) -> float | None:
        xs = [float(d["links_in_contact"][side]) for d in good if side in (d.get("links_in_contact") or {})]
        return float(np.mean(xs)) if xs else None

    return RobotMethodRow(
        method=name, objects=len(ok), grasps=len(v), success_pct=100 * len(good) / n if n else None,
        held_pct=100 * sum(bool(d.get("held")) for d in v) / n if n else None, best_success=best,
        best_success_pct=100 * best / len(ok) if ok else None, links_right=links("right"), links_left=links("left"),
        depth_mean_mm=float(np.mean(depth)) if depth else None, depth_max_mm=max(depth) if depth else None,
        seconds_per_grasp=sum(j.seconds + j.robot_seconds for j in ok) / n if n else None,
        failed=len(jobs) - len(ok))


def _key(method: str, obj: BenchObject, config: RobotBenchConfig, spec: dict, extra: dict) -> dict:
    return json_safe({"format": _FORMAT, "method": method, "object": obj.name, "mesh_sha1": mesh_digest(obj.mesh),
                      "n": config.n, "seed": config.seed, "robot": spec, "robot_config": asdict(config.robot),
                      **extra})


def _complete(folder: Path, key: dict) -> RunRecord | None:
    """The folder's record when it holds a finished run with this ``key``, else None."""
    rec = read_run(folder)
    ok = rec is not None and isinstance(rec.extra.get("bench"), dict) and rec.extra["bench"].get("key") == key
    return rec if ok and all((folder / s.name / ROBOT_JSON).is_file() for s in rec.samples) else None


def _write(folder: Path, obj: BenchObject, spec: RobotSpec, robot: list[RobotGraspResult], record: RunRecord,
           config: RobotBenchConfig, human: list[MethodGrasp] | None, layers: dict) -> None:
    """The folder (``write_run``): each robot grasp beside its human grasp, or robot grasps only."""
    samples = []
    for k, rg in enumerate(robot):
        h = None if human is None else human[rg.source]
        samples.append(ResultSample(obj.mesh, None if h is None else h.hands, title=f"{record.method} #{k} ({obj.name})",
                                    extra={} if h is None else {"method": record.method, "object": obj.name, "rank": k,
                                                                "method_scores": h.scores},
                                    posed=None if h is None else h.posed,
                                    robot=rg.to_json(spec.name, config.robot.physics), robot_meshes=robot_meshes(rg),
                                    robot_title=f"{obj.name} {rg.title(k)}"))
    write_run(folder, samples, record, layers=layers, render=config.render, progress=False)


def run_robot_benchmark(objects: Sequence[BenchObject], robot_spec: RobotSpec | str, methods: Sequence[str],
                        out_dir: str | os.PathLike, n: int = 8, seed: int = 0, device: torch.device | str = "cpu",
                        models: BenchModels | None = None, progress: bool = True,
                        config: RobotBenchConfig | None = None, mano_dir: str | os.PathLike | None = None,
                        on_job: Callable[[RobotJob], None] | None = None) -> RobotBenchResult:
    """Run every robot method on every object, write ``OUT/<method>/<object>/`` (module docstring) and
    ``OUT/robot_comparison.md``, ``.csv`` and ``robot_comparison_per_object.csv``.

    Args:
        objects: names unique, meshes in metres.
        robot_spec: the robot pair, or its name / mapping file (:func:`~bghop.hands.robot_spec.load_robot_spec`).
        methods / n / seed: of :data:`ROBOT_METHODS` in table order, grasps per object and method, random seed
            (they override ``config``'s, default :class:`RobotBenchConfig`).
        models: prior and autoencoder of ``bghop`` (None: the shipped ones, loaded only if ``bghop`` runs).
        progress: a tqdm bar over the runs; mano_dir: MANO folder (``hand_kind="mano"``); on_job: called per run.
    Raises:
        BenchInputError: an unknown method, no or duplicate objects, an object the prior cannot use (before any
            work).
        RobotSpecError: a robot that cannot be loaded.
    """
    t_start = time.perf_counter()
    config = replace(config or RobotBenchConfig(), methods=tuple(methods), n=n, seed=seed)
    device, out = torch.device(device), Path(out_dir)
    names = [o.name for o in objects]
    if not objects or len(set(names)) != len(names):
        raise BenchInputError(f"give objects with unique names, got {names}")
    spec = robot_spec if isinstance(robot_spec, RobotSpec) else load_robot_spec(robot_spec)
    spec_key = {"name": spec.name, "source": str(spec.source),
                "mjcf": {s: hashlib.sha1(Path(h.mjcf).read_bytes()).hexdigest() for s, h in spec.hands.items()}}
    objects = [replace(o, mesh=canonical_mesh(o.mesh)) for o in objects]
    human_cfg = BenchConfig(methods=("energy",), n=config.n, seed=config.seed, hand_kind=config.hand_kind,
                            grasp=config.grasp, energy=config.energy, score=False, render=config.render)
    layers = bench_layers(human_cfg, mano_dir, device)
    runners: dict = {"energy": EnergyMethod(human_cfg, layers, device)} if "energy" in config.methods else {}
    if "bghop" in config.methods:
        if models is None:
            from bghop.models.autoencoder import ObjectAutoencoder
            from bghop.models.prior import InteractionPrior

            models = BenchModels(prior=InteractionPrior.from_pretrained(None, device=device),
                                 autoencoder=ObjectAutoencoder.from_pretrained(None, device=device))
        for o in objects:  # what the prior cannot use fails here, before any work
            try:
                check_object(o.mesh, models.prior.config.grid_settings.field.frame)
            except GraspError as e:
                raise BenchInputError(f"{o.name}: {e}") from e
        runners["bghop"] = PriorMethod("bghop", models, human_cfg, mano_dir, device)
    jobs: list[RobotJob] = []
    bar = tqdm([(o, m) for o in objects for m in config.methods], desc="robot bench", unit="run", disable=not progress)
    for obj, name in bar:
        bar.set_postfix_str(f"{name} {obj.name}")
        folder = out / name / obj.name
        extra = {} if name == "robot-energy" else {"hand": config.hand_kind, "config": runners[name].config_dict(),
                                                    "models": runners[name].fingerprints()}
        key = _key(name, obj, config, spec_key, extra)
        if (done := _complete(folder, key)) is not None:
            b = done.extra["bench"]
            job = RobotJob(name, obj.name, str(folder), config.n, [s.scores.get("robot", {}) for s in done.samples],
                           float(b["seconds"]), float(b["robot_seconds"]), resumed=True)
            logger.info("%s %s: complete already, skipped", name, obj.name)
        else:
            try:
                job = _run_job(name, obj, folder, key, spec, config, runners, layers, device)
            except Exception as e:  # noqa: BLE001 - one failed run is reported; the others go on
                logger.error("%s on %s failed: %s: %s", name, obj.name, type(e).__name__, e)
                job = RobotJob(name, obj.name, None, config.n, error=f"{type(e).__name__}: {e}")
        jobs.append(job)
        if on_job is not None:
            on_job(job)
    bar.close()
    rows = [_method_row(m, [j for j in jobs if j.method == m]) for m in config.methods]
    ph = config.robot.physics
    notes = [_PROTOCOL.format(**asdict(ph), cm=100 * ph.success_threshold, mm=1000 * ph.depth_limit)]
    if failed := [j for j in jobs if j.error]:
        notes.append(f"{len(failed)} run(s) failed: " + "; ".join(f"{j.method}/{j.object}: {j.error}" for j in failed))
    if resumed := sum(j.resumed for j in jobs):
        notes.append(f"{resumed} of {len(jobs)} runs were complete already and were not recomputed (their timings "
                     "are from the run that made them)")
    settings = json_safe({"robot": spec_key, "n": config.n, "seed": config.seed, "device": str(device),
                          "threads": torch.get_num_threads(), "robot_config": asdict(config.robot),
                          "objects": [{"name": o.name, "source": o.source} for o in objects]})
    result = RobotBenchResult(spec.name, rows, jobs, names, list(config.methods), settings, notes,
                              time.perf_counter() - t_start)
    write_robot_comparison(result, out)
    return result


def _run_job(name: str, obj: BenchObject, folder: Path, key: dict, spec: RobotSpec, config: RobotBenchConfig,
             runners: dict, layers: dict, device: torch.device) -> RobotJob:
    """One (method, object): synthesise, fit and verify the robot grasps, write the folder."""
    human, seconds, dropped = None, 0.0, []
    if name != "robot-energy":
        res = runners[name].run(obj)
        human, seconds, dropped = res.grasps, res.seconds, res.dropped
        if not human:
            raise RuntimeError("every grasp was dropped: " + "; ".join(str(d.get("reason")) for d in dropped))
    t0 = time.perf_counter()
    kp = None if human is None else human_keypoints(human, HandLayers(layers=layers))
    robot = robot_grasps(spec, kp, obj.mesh, config.robot, device, False, n=config.n, seed=config.seed)
    robot_s = time.perf_counter() - t0
    samples = []
    for k, rg in enumerate(robot):
        g = None if human is None else human[rg.source]
        samples.append(SampleRecord(name=str(k), rank=k, group=obj.name, metrics=g and g.metrics,
                                    stability=g and g.stability, prior_score=g and g.prior_score,
                                    scores={**(g.scores if g else {}), "robot": rg.summary(),
                                            "robot_retarget_error_m": rg.retarget_error_m}))
    bench = {"key": key, "seconds": seconds, "robot_seconds": robot_s, "grasps": len(robot), "dropped": dropped}
    record = RunRecord(kind="robot-grasp" if human is None else "grasp", samples=samples, group=obj.name,
                       method=name, dropped=dropped, settings={"object": obj.name, "mesh": obj.source,
                                                                "robot": spec.name},
                       extra={"bench": bench, "robot_protocol": asdict(config.robot.physics)})
    _write(folder, obj, spec, robot, record, config, human, layers)
    return RobotJob(name, obj.name, str(folder), config.n, [rg.summary() for rg in robot], seconds, robot_s)


_HEADER = ("method", "objects", "grasps", "success %", "held %", "best succeeds", "links R/L (successful)",
           "depth mean / max mm", "s / grasp")


def _tables(result: RobotBenchResult, table: Callable = markdown_table) -> tuple[str, str]:
    """The per-method and per-object (successful / n) tables, made by ``table`` (markdown or text)."""
    def method(r: RobotMethodRow) -> list[str]:
        best = f"{r.best_success} ({cell(r.best_success_pct, 0)}%)" if r.best_success_pct is not None else "-"
        return [r.method, str(r.objects), str(r.grasps), cell(r.success_pct, 0), cell(r.held_pct, 0), best,
                f"{cell(r.links_right, 1)} / {cell(r.links_left, 1)}",
                f"{cell(r.depth_mean_mm, 1)} / {cell(r.depth_max_mm, 1)}", cell(r.seconds_per_grasp, 1)]

    def obj(r: dict | None) -> str:
        if r is None or r["success"] is None:
            return "failed" if r is not None else "-"
        return f"{r['success']}/{r['n']}" + (" (best ok)" if r["best_success"] else "")

    by = {(j.object, j.method): j.row() for j in result.jobs}
    return (table(_HEADER, [method(r) for r in result.rows]),
            table(["object", *result.methods], [[o, *(obj(by.get((o, m))) for m in result.methods)]
                                                for o in result.objects]))


def robot_comparison_markdown(result: RobotBenchResult) -> str:
    """The comparison as Markdown: per method, per object, the protocol and the notes."""
    per_method, per_object = _tables(result)
    return "\n".join([f"# Robot grasps: {result.robot} hands", "", per_method, "", (
        "Rates over the grasps requested (dropped ones fail); links: per hand, touching the object, in the successful "
        "grasps; depth: deepest penetration either way; time: the method's synthesis + robot fit + verification per "
        "grasp."), "", "## Per object (successful / n)", "", per_object, "", *(f"- {n}" for n in result.notes), ""])


def robot_comparison_table(result: RobotBenchResult) -> str:
    """The two tables as plain text for the terminal."""
    return "\n\n".join(_tables(result, text_table))


def write_robot_comparison(result: RobotBenchResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``robot_comparison.md``, ``.csv`` (per method) and ``robot_comparison_per_object.csv`` (atomically)."""
    out = Path(out_dir)
    return {"md": write_text_atomic(out / "robot_comparison.md", robot_comparison_markdown(result)),
            "csv": write_text_atomic(out / "robot_comparison.csv", csv_text([asdict(r) for r in result.rows])),
            "per_object_csv": write_text_atomic(out / "robot_comparison_per_object.csv",
                                                csv_text([j.row() for j in result.jobs]))}

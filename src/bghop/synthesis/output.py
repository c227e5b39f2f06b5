"""Grasp-synthesis runs as result folders (DESIGN.md §4): the run record and the writer.

The folders are written by :func:`bghop.viz.results.write_run` (each sample folder atomically,
``summary.json`` last), from :func:`grasp_summary`'s :class:`~bghop.eval.runs.RunRecord`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from bghop.eval.runs import SUMMARY_NAME, RunRecord, SampleRecord
from bghop.hands import HandModel
from bghop.viz.results import CONTACT_SHEET_NAME, ResultSample, write_run

if TYPE_CHECKING:
    from bghop.synthesis.grasp import Grasp, GraspSynthesisResult
    from bghop.synthesis.robot import RobotRun

__all__ = ["CONTACT_SHEET_NAME", "SUMMARY_NAME", "grasp_record", "grasp_summary", "save_grasps", "write_run"]


def grasp_record(result: GraspSynthesisResult, method: str = "bghop", group: str | None = None,
                 robot: RobotRun | None = None) -> RunRecord:
    """The run record of a synthesis result: settings, timings, one sample record per grasp (best first),
    dropped grasps, and the provenance of the stored stability and prior scores.

    Args:
        result: from :class:`~bghop.synthesis.grasp.GraspSynthesizer`.
        method: the method's name.
        group: the object's name (default: the stem of ``settings["mesh"]`` when the caller set it).
        robot: the robot grasps of ``result``'s grasps (``bghop grasp --robot``): the samples then follow the
            robot ranking and each sample's ``scores["robot"]`` holds its robot verdict.
    """
    grasps = result.grasps if robot is None else [result.grasps[g.source] for g in robot.grasps]
    mesh = result.settings.get("mesh")
    if group is None and isinstance(mesh, str) and mesh:
        group = Path(mesh).stem
    samples = [SampleRecord(name=str(k), rank=k, text=result.text, group=group, metrics=g.metrics,
                            stability=g.stability, prior_score=g.prior_score,
                            scores={"init_index": g.index, "rank_score": g.rank_score, "sds_score": g.sds_score,
                                    "energy": g.energy, "energy_terms": dict(g.energy_terms), "squeeze": g.squeeze})
               for k, g in enumerate(grasps)]
    extra = {"sds_error_per_iteration": result.sds_error}
    if robot is not None:
        for rec, g in zip(samples, robot.grasps):
            rec.scores["robot"] = g.summary()
        extra["robot"] = robot.describe()
    stored_stability = any(g.stability is not None for g in result.grasps)
    return RunRecord(kind="grasp", samples=samples, text=result.text, group=group, method=method,
                     settings=result.settings, physics=result.physics if stored_stability else None,
                     prior=result.prior, timings_s=result.timings, warnings=result.warnings,
                     dropped=[d.to_dict() for d in result.dropped], extra=extra)


def grasp_summary(result: GraspSynthesisResult) -> dict:
    """``summary.json`` content of :func:`grasp_record` (a JSON-ready dict)."""
    return grasp_record(result).to_json()


def _title(k: int, g: Grasp) -> str:
    parts = [f"#{k}"]
    if g.stability is not None:
        parts.append("valid" if g.valid else "stable" if g.stable else "unstable")
    parts.append("contact" if g.metrics.contact_both else "no contact")
    parts.append(f"pen {g.metrics.penetration_max_m * 1000:.1f} mm")
    return " · ".join(parts)


def save_grasps(result: GraspSynthesisResult, out_dir: str | os.PathLike, layers: dict[str, HandModel] | None = None,
                mano_dir: str | os.PathLike | None = None, render: bool = True, progress: bool = True,
                robot: RobotRun | None = None) -> Path:
    """Write the grasps best first as result folders ``DIR/<k>/``, a contact sheet and ``summary.json``.

    The hand meshes are the ones the ranking posed (:attr:`Grasp.posed <bghop.synthesis.grasp.Grasp>`);
    hands are posed again only for grasps that lack them.

    Args:
        result: from :class:`~bghop.synthesis.grasp.GraspSynthesizer`.
        out_dir: run folder.
        layers: hand layers to reuse (loaded by kind otherwise).
        mano_dir: MANO folder for MANO hands.
        render: write renders and the contact sheet.
        progress: tqdm progress bar.
        robot: robot grasps of the grasps (:func:`bghop.synthesis.robot.robot_run`): written best first by
            the robot ranking, each beside the human grasp it came from (``robot.json``, ``<side>_robot.obj``,
            ``robot_render.png``); the contact sheet then shows the robot hands.
    Returns:
        the folder.
    """
    samples = []
    order = range(len(result.grasps)) if robot is None else [g.source for g in robot.grasps]
    for k, i in enumerate(order):
        g = result.grasps[i]
        extra = {"rank": k, "rank_score": g.rank_score, "sds_score": g.sds_score, "text": result.text}
        sample = ResultSample(result.object_mesh, g.hands, title=_title(k, g), extra=extra, posed=g.posed or None)
        if robot is not None:
            rg = robot.grasps[k]
            sample.robot = rg.to_json(robot.name, robot.physics)
            sample.robot_meshes = robot.meshes(rg)
            sample.robot_title = rg.title(k)
        samples.append(sample)
    return write_run(out_dir, samples, grasp_record(result, robot=robot), layers=layers, mano_dir=mano_dir,
                     render=render, progress=progress)

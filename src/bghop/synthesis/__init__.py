"""Using the prior: score-distillation guidance, grasp synthesis for a given object, text → HOI generation.

>>> from bghop.synthesis import GraspSynthesizer, example_mesh_path
>>> from bghop.models.prior import InteractionPrior
>>> from bghop.models.autoencoder import ObjectAutoencoder
>>> from bghop.geometry.mesh_io import load_mesh
>>> syn = GraspSynthesizer(InteractionPrior.from_pretrained(), ObjectAutoencoder.from_pretrained())
>>> result = syn(load_mesh(example_mesh_path()), "box", n=8)   # GraspSynthesisResult, best first
"""

from __future__ import annotations

from pathlib import Path

from bghop.synthesis.generate import (
    GenerateConfig,
    GeneratedSample,
    GenerationResult,
    generate,
    generation_summary,
    save_generation,
)
from bghop.synthesis.grasp import (
    DroppedGrasp,
    Grasp,
    GraspConfig,
    GraspError,
    GraspSynthesisResult,
    GraspSynthesizer,
    RankConfig,
    RefineConfig,
    SDSStageConfig,
    check_object,
    grasp_summary,
    initial_grasps,
    save_grasps,
    with_iterations,
)
from bghop.synthesis.hoi import GraspVariables, InteractionGridBuilder
from bghop.synthesis.prompts import expand_prompt
from bghop.synthesis.sds import SDSConfig, SDSGuidance, SDSOutput

__all__ = [
    "SDSConfig", "SDSGuidance", "SDSOutput",
    "GraspVariables", "InteractionGridBuilder",
    "GraspConfig", "SDSStageConfig", "RefineConfig", "RankConfig", "GraspError", "Grasp", "DroppedGrasp",
    "GraspSynthesisResult", "GraspSynthesizer", "check_object", "initial_grasps", "grasp_summary", "save_grasps",
    "with_iterations",
    "GenerateConfig", "GeneratedSample", "GenerationResult", "generate", "generation_summary", "save_generation",
    "expand_prompt", "example_mesh_path",
]  # fmt: skip


def example_mesh_path() -> Path:
    """The bundled example object: a 12 × 8 × 20 cm box (watertight OBJ, metres)."""
    return Path(__file__).resolve().parent.parent / "assets" / "examples" / "box.obj"

"""Text → bimanual hand–object interaction: sample grids from the prior and decode them.

Sampling uses respaced DDIM steps with classifier-free guidance
(:meth:`bghop.models.prior.InteractionPrior.sample`; upstream: 100 respaced steps, guidance 4).
Each sampled grid is decoded by :func:`bghop.models.decode.samples_to_grids` (object latent →
SDF through the autoencoder) and :func:`bghop.fields.encode.decode_grid` (marching cubes for the
object, both hands fitted to their skeletal fields). The object frame of a generated sample is
the grid's normalised frame in metres, centred on the grid. With ``refine`` (``bghop generate
--refine``) each sample's hands are then refined against its own decoded object by grasp synthesis's
contact refinement (:meth:`bghop.synthesis.grasp.GraspSynthesizer.refine`): the sampled fields put the
hands near the object, the refinement lays the finger pads on it and takes them out of it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field

import torch
import trimesh
from tqdm.auto import tqdm

from bghop.core.prompts import vocabulary_note
from bghop.eval.runs import RunRecord, SampleRecord
from bghop.fields.encode import decode_grid
from bghop.fields.fit import FitConfig
from bghop.hands import HandModel
from bghop.hands.params import Hands
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.decode import samples_to_grids
from bghop.models.prior import InteractionPrior
from bghop.synthesis.prompts import expand_prompt
from bghop.viz.results import ResultSample, write_run

logger = logging.getLogger(__name__)

__all__ = ["GenerateConfig", "GeneratedSample", "GenerationResult", "generate", "refine_generated", "generation_record",
           "generation_summary", "save_generation"]


@dataclass(frozen=True)
class GenerateConfig:
    """Sampling settings.

    Attributes:
        steps: respaced sampling steps (upstream 100; 50 DDIM steps are close on our prior).
        guidance: classifier-free guidance scale (4 upstream).
        sampler: ``"ddim"`` (deterministic given the start noise) or ``"ddpm"``.
        hand_kind: hand model fitted to the fields (``"open"``, or ``"mano"`` with ``mano_dir``);
            None uses the prior's own.
        fit: field → hand fitting settings.
    """

    steps: int = 50
    guidance: float = 4.0
    sampler: str = "ddim"
    hand_kind: str | None = None
    fit: FitConfig = FitConfig()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GeneratedSample:
    """One generated interaction (frame: the right hand's normalised frame, metres).

    Attributes:
        index: sample number in the batch.
        object_mesh: marching-cubes surface of the decoded SDF.
        hands: :class:`~bghop.hands.params.Hands` (batch 1).
        right_residual / left_residual: RMS keypoint residual of the field fits (n units).
        refine_energy: the refinement's final energy (:func:`refine_generated`), or None.
    """

    index: int
    object_mesh: trimesh.Trimesh
    hands: Hands
    right_residual: float
    left_residual: float | None
    refine_energy: float | None = None

    def to_dict(self) -> dict:
        d = {"index": self.index, "fit_residual_n": {"right": self.right_residual, "left": self.left_residual},
             "object_vertices": int(len(self.object_mesh.vertices)),
             "object_extent_m": [float(x) for x in self.object_mesh.extents]}
        if self.refine_energy is not None:
            d["refine_energy"] = self.refine_energy
        return d


@dataclass
class GenerationResult:
    """Output of :func:`generate`.

    Attributes:
        text: the prompt used.
        samples: decoded samples, in batch order.
        failed: ``[{"index", "reason"}]`` for samples that could not be decoded (e.g. an empty object).
        settings: run settings (``outside_vocabulary``: the prompt's object name is not one the prior
            was trained on; None when the prior does not record its training names).
        timings: seconds per stage.
        warnings: warnings about the input (e.g. a prompt outside the training vocabulary).
    """

    text: str
    samples: list[GeneratedSample]
    failed: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def generate(prior: InteractionPrior, autoencoder: ObjectAutoencoder, text: str, n: int = 4,
             config: GenerateConfig = GenerateConfig(), seed: int = 0, device: torch.device | str = "cpu",
             mano_dir: str | os.PathLike | None = None, progress: bool = True) -> GenerationResult:
    """Sample ``n`` interactions for a text and decode them.

    Args:
        prior: bimanual prior (two hands) or single-hand prior (one).
        autoencoder: its object autoencoder.
        text: object name or full prompt ("box" → "grasp a box with both hands").
        n: number of samples (one batch).
        config: sampling settings.
        seed: seed of the start noise.
        device: torch device.
        mano_dir: MANO folder when fitting MANO hands.
        progress: progress bars.
    Returns:
        :class:`GenerationResult`.
    """
    if n < 1:
        raise ValueError(f"the number of samples must be at least 1, got {n}")
    device = torch.device(device)
    prior = prior.to(device).eval()
    autoencoder = autoencoder.to(device).eval()
    prompt = expand_prompt(text, prior.config.bimanual)
    note = vocabulary_note(prompt, prior.config.vocabulary)
    if note:
        logger.warning("%s", note)
    timings = {}
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    x = prior.sample([prompt] * n, steps=config.steps, guidance=config.guidance, generator=gen,
                     sampler=config.sampler, progress=progress)
    timings["sample"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    grids = samples_to_grids(prior, autoencoder, x)
    kind = config.hand_kind or prior.config.hand_kind
    samples, failed = [], []
    for i, g in enumerate(tqdm(grids, desc="decoding", disable=not progress, leave=False)):
        g.hand_kind = kind
        try:
            d = decode_grid(g, mano_dir=mano_dir, fit=config.fit)
        except (ValueError, RuntimeError) as e:  # e.g. an SDF without a zero crossing
            logger.warning("sample %d could not be decoded: %s", i, e)
            failed.append({"index": i, "reason": f"{type(e).__name__}: {e}"})
            continue
        samples.append(GeneratedSample(index=i, object_mesh=d.object_mesh, hands=d.hands,
                                       right_residual=d.right_residual, left_residual=d.left_residual))
    timings["decode"] = time.perf_counter() - t1
    timings["total"] = time.perf_counter() - t0
    settings = {"text": prompt, "n": n, "seed": seed, "bimanual": prior.config.bimanual, "hand": kind,
                "device": str(device), "config": config.to_dict(),
                "outside_vocabulary": None if prior.config.vocabulary is None else note is not None}
    return GenerationResult(text=prompt, samples=samples, failed=failed, settings=settings, timings=timings,
                            warnings=[note] if note else [])


def refine_generated(result: GenerationResult, prior: InteractionPrior, autoencoder: ObjectAutoencoder,
                     iterations: int | None = None, mano_dir: str | os.PathLike | None = None,
                     device: torch.device | str = "cpu", progress: bool = True) -> GenerationResult:
    """Refine each sample's hands against its own decoded object (in place; returns ``result``).

    Uses grasp synthesis's contact refinement (finger pads and palm onto the surface, penetration both
    ways, hand–hand, joint limits, damping towards the sampled hands); ``iterations`` overrides its
    count. The hands' ``betas`` become zero (refinement keeps the mean shape). Samples whose refinement
    goes non-finite keep their sampled hands and say so in ``result.settings["refine"]``.
    """
    from bghop.synthesis.grasp import GraspSynthesizer, with_iterations
    from bghop.synthesis.grasp_config import GraspConfig

    kind = result.settings.get("hand") or prior.config.hand_kind
    syn = GraspSynthesizer(prior, autoencoder, hand_kind=kind, mano_dir=mano_dir,
                           config=with_iterations(GraspConfig(), refine=iterations), device=device)
    t0 = time.perf_counter()
    kept = []
    for s in tqdm(result.samples, desc="refining", disable=not progress, leave=False):
        hands, value, dropped = syn.refine(s.object_mesh, {side: p for side, p in s.hands.items()})
        if dropped:
            kept.append(s.index)
            continue
        cpu = {side: p.to("cpu", torch.float32) for side, p in hands.items()}
        s.hands = Hands(s.hands.kind, cpu["right"], cpu.get("left"))
        s.refine_energy = float(value.total[0])
    result.timings["refine"] = time.perf_counter() - t0
    result.timings["total"] = result.timings.get("total", 0.0) + result.timings["refine"]
    result.settings["refine"] = {"iterations": syn.config.refine.iterations, "not_refined": kept}
    return result


def generation_record(result: GenerationResult) -> RunRecord:
    """The run record of a generation result: one sample record per decoded sample (the prompt, fit
    residuals, object size), the samples that could not be decoded under ``dropped``."""
    samples = [SampleRecord(name=str(k), text=result.text, scores=s.to_dict()) for k, s in enumerate(result.samples)]
    return RunRecord(kind="generate", samples=samples, text=result.text, settings=result.settings,
                     timings_s=result.timings, dropped=list(result.failed), warnings=list(result.warnings))


def generation_summary(result: GenerationResult) -> dict:
    """``summary.json`` content of :func:`generation_record` (a JSON-ready dict)."""
    return generation_record(result).to_json()


def save_generation(result: GenerationResult, out_dir: str | os.PathLike,
                    layers: dict[str, HandModel] | None = None, mano_dir: str | os.PathLike | None = None,
                    render: bool = True, progress: bool = True):
    """Write ``DIR/<k>/`` per decoded sample, a contact sheet and ``summary.json``; returns the folder."""
    samples = [ResultSample(s.object_mesh, s.hands, title=f"#{k} {result.text}",
                            extra={"text": result.text, "sample_index": s.index,
                                   "fit_residual_n": {"right": s.right_residual, "left": s.left_residual}})
               for k, s in enumerate(result.samples)]
    return write_run(out_dir, samples, generation_record(result), layers=layers, mano_dir=mano_dir, render=render,
                     progress=progress)

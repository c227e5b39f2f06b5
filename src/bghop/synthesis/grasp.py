"""Bimanual (or single-hand) grasp synthesis for a given object with the interaction prior.

Pipeline (G-HOP §4.3 / BG-HOP, adapted to a CPU budget):

1. **Checks** before any optimisation (:func:`~bghop.synthesis.checks.check_object`): the object
   must fit the prior's grid (a ``2·extent/scale`` cube: 0.6 m around the right hand in G-HOP's
   frame, or the frame the prior was trained with, e.g. 0.8 m around the object;
   :mod:`bghop.fields.frame`) and be larger than a fingertip (1 cm).
2. **Initialisation** (:func:`bghop.contact.init.initial_hands`; or, with ``init="prior"`` and a prior
   anchored to the object, hands sampled from the prior for this object,
   :mod:`bghop.synthesis.conditional`): ``N`` diverse starts, relaxed
   hands whose palms face the object centre from random directions, ``offset`` off the bounding
   box; the left hand starts on the opposite side with its own random roll.
3. **Score distillation** (:class:`~bghop.synthesis.sds.SDSGuidance`) on all ``N`` grasps in
   one batch: both hands' articulation, the right hand's pose relative to the object and the
   left hand's pose relative to the right (:mod:`bghop.synthesis.hoi`). The object block is
   re-encoded every ``object_every`` iterations; in between only the hand fields move.
4. **Refinement** on the grasp objective (:class:`bghop.contact.objective.GraspObjective`, the
   data builder's objective with the refinement's weights :data:`~bghop.contact.objective.REFINE_OBJECTIVE`:
   contact, penetration, hand–hand, joint limits (penalty + projection), opposition and damping
   towards the SDS result).
5. **Ranking** (:func:`bghop.eval.ranking.rank_score`, lexicographic): MuJoCo six-direction
   stability (with the finger squeeze of :func:`bghop.eval.grip.check_grip`), both-hands contact,
   penetration both ways and hand–hand intersection decide the class (valid grasps first,
   :mod:`bghop.eval.validity`), physical margins order each class and the prior's denoising
   score only breaks ties.

Non-finite values are caught per grasp after every step (:class:`~bghop.synthesis.guard.NaNGuard`):
the grasp is frozen, dropped from the results and reported; the others finish.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field

import torch
import trimesh
from torch import Tensor
from tqdm.auto import tqdm

from bghop.contact.energies import ObjectSDF
from bghop.contact.objective import GraspObjective, ObjectiveValue
from bghop.contact.optimizer import adam_groups
from bghop.core.prompts import vocabulary_note
from bghop.eval.grip import GripConfig, check_grip
from bghop.eval.metrics import GraspMetrics
from bghop.eval.physics import StabilityResult
from bghop.eval.ranking import prior_excess_percent, rank_score
from bghop.eval.validity import credited_stable, is_valid
from bghop.hands import load_hand
from bghop.hands.params import HandParams, Hands
from bghop.hands.posing import HandLayers, PosedHand
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.synthesis.checks import MIN_OBJECT_EXTENT_M, GraspError, check_object
from bghop.synthesis.conditional import ConditionalConfig, sample_grasps
from bghop.synthesis.grasp_config import (
    PRECISIONS,
    GraspConfig,
    RankConfig,
    RefineConfig,
    SDSStageConfig,
    with_iterations,
)
from bghop.synthesis.guard import DroppedGrasp, NaNGuard
from bghop.synthesis.hoi import GraspVariables, InteractionGridBuilder, initial_grasps, variables_from_params
from bghop.synthesis.output import grasp_summary, save_grasps
from bghop.synthesis.prompts import expand_prompt
from bghop.synthesis.score import PriorScorer
from bghop.synthesis.sds import SDSGuidance

logger = logging.getLogger(__name__)

__all__ = [
    "GraspError",
    "SDSStageConfig",
    "RefineConfig",
    "RankConfig",
    "GraspConfig",
    "Grasp",
    "DroppedGrasp",
    "GraspSynthesisResult",
    "GraspSynthesizer",
    "check_object",
    "initial_grasps",
    "MIN_OBJECT_EXTENT_M",
    "grasp_summary",
    "save_grasps",
    "with_iterations",
    "PRECISIONS",
]

@dataclass
class Grasp:
    """One synthesised grasp (object frame, metres).

    Attributes:
        index: which initialisation it came from.
        hands: the hands (batch 1, on the run's device), squeezed if ``squeeze > 0``.
        sds_score: the prior's denoising score of the optimised grasp (lower = more plausible).
        energy: final refinement energy.
        metrics: geometric metrics.
        stability: MuJoCo result, or None when physics is off.
        rank_score: the ranking score (lower is better).
        squeeze: how far the fingers were closed towards the fist to make it hold (0 = as optimised).
        energy_terms: the final refinement energy's terms (:data:`bghop.contact.objective.TERM_NAMES`).
        posed: ``hands`` posed (what the checks measured; writers reuse them).
        prior_score: the bimanual prior's score of ``hands`` as written (:class:`~bghop.synthesis.score.PriorScorer`;
            None for one hand).
    """

    index: int
    hands: Hands
    sds_score: float
    energy: float
    metrics: GraspMetrics
    stability: StabilityResult | None
    rank_score: float = 0.0
    squeeze: float = 0.0
    energy_terms: dict[str, float] = field(default_factory=dict)
    posed: dict[str, PosedHand] = field(default_factory=dict)
    prior_score: float | None = None

    @property
    def stable(self) -> bool | None:
        """The stability it is credited with (:func:`bghop.eval.validity.credited_stable`: never when
        deeper than 5 mm either way); None without physics."""
        return credited_stable(None if self.stability is None else self.stability.success,
                               self.metrics.penetration_max_m)

    @property
    def valid(self) -> bool | None:
        """Stable, both hands in contact, shallow both ways, hands apart (:mod:`bghop.eval.validity`)."""
        return is_valid(None if self.stability is None else self.stability.success, self.metrics.contact_both,
                        self.metrics.penetration_max_m, self.metrics.hand_hand_volume_cm3)

    def to_dict(self) -> dict:
        """Metrics and scores (no hand parameters) for ``summary.json``."""
        return {"init_index": self.index, "rank_score": self.rank_score, "sds_score": self.sds_score,
                "prior_score": self.prior_score, "energy": self.energy, "energy_terms": dict(self.energy_terms),
                "squeeze": self.squeeze,
                "metrics": self.metrics.to_dict(),
                "stability": None if self.stability is None else self.stability.to_dict()}


@dataclass
class GraspSynthesisResult:
    """Output of :class:`GraspSynthesizer`.

    Attributes:
        object_mesh: the object (metres, its own frame; everything else is in this frame).
        grasps: best first.
        dropped: grasps lost to non-finite values.
        text: the prompt used.
        settings: run settings (for ``summary.json``).
        timings: seconds per stage.
        warnings: warnings about the input.
        sds_error: mean prior denoising error ``|ε̂ − ε|²`` over the live grasps at each SDS
            iteration (noisy: the timestep and noise change every iteration).
        physics: the physics settings the grasps' stability was simulated with (None without physics).
        prior: what :attr:`Grasp.prior_score` was computed with (:attr:`PriorScorer.identity
            <bghop.synthesis.score.PriorScorer.identity>`), or None.
    """

    object_mesh: trimesh.Trimesh
    grasps: list[Grasp]
    dropped: list[DroppedGrasp]
    text: str
    settings: dict
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sds_error: list[float] = field(default_factory=list)
    physics: dict | None = None
    prior: dict | None = None


class GraspSynthesizer:
    """Grasps for a user's object from the interaction prior.

    Args:
        prior: the interaction prior (bimanual for two hands, single-hand for one).
        autoencoder: its object autoencoder.
        hand_kind: ``"open"`` (default) or ``"mano"``.
        mano_dir: MANO folder for ``hand_kind="mano"``.
        config: settings.
        device: torch device for all computation.
        conditional: how ``init="prior"`` samples hands for the object (:mod:`bghop.synthesis.conditional`).
    """

    def __init__(self, prior: InteractionPrior, autoencoder: ObjectAutoencoder, hand_kind: str = "open",
                 mano_dir: str | os.PathLike | None = None, config: GraspConfig = GraspConfig(),
                 device: torch.device | str = "cpu", conditional: ConditionalConfig = ConditionalConfig()) -> None:
        self.device = torch.device(device)
        self.conditional = conditional
        self.prior = prior.to(self.device).eval()
        self.autoencoder = autoencoder.to(self.device).eval()
        self.config = config
        self.hand_kind = hand_kind
        self.mano_dir = mano_dir
        self.bimanual = prior.config.bimanual
        self.sides = ("right", "left") if self.bimanual else ("right",)
        self.layers = {s: load_hand(hand_kind, side=s, model_dir=mano_dir).to(self.device) for s in self.sides}
        if hand_kind != prior.config.hand_kind:
            logger.warning("the prior was trained on %r hands, synthesising with %r hands", prior.config.hand_kind,
                           hand_kind)
        self.guidance = SDSGuidance(self.prior, config.sds.guidance)
        #: scores the written grasps as ``bghop eval --prior`` / the benchmark would (two hands only)
        self.scorer = None if not self.bimanual else PriorScorer(
            self.prior, self.autoencoder, hand_kind, mano_dir, levels=config.rank.score_levels,
            sdf_resolution=config.sdf_resolution, sdf_margin=config.sdf_margin, device=self.device,
            layers=HandLayers(mano_dir, self.device, layers=self.layers))

    @property
    def precision(self) -> str:
        """The precision of the SDS network passes (``"fp32"`` or ``"bf16"``)."""
        return self.config.sds.precision

    def _autocast(self):
        """bf16 autocast of the SDS network passes when asked for (:attr:`SDSStageConfig.precision`)."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _limits_penalty(self, v: GraspVariables, weight: float) -> Tensor:
        reg = torch.zeros(v.batch_size, device=self.device)
        for side, pose in (("right", v.right_pose), ("left", v.left_pose)):
            lim = self.layers[side].joint_limits if side in self.layers else None
            if pose is not None and lim is not None:
                reg = reg + weight * lim.violation(pose)
        return reg

    def _project_limits(self, v: GraspVariables) -> None:
        with torch.no_grad():
            for side, pose in (("right", v.right_pose), ("left", v.left_pose)):
                lim = self.layers[side].joint_limits if side in self.layers else None
                if pose is not None and lim is not None:
                    pose.copy_(lim.clamp(pose))

    # -- stages --------------------------------------------------------------------------------
    def _sds(self, builder: InteractionGridBuilder, v: GraspVariables, texts: list[str], guard: NaNGuard,
             generator: torch.Generator, progress: bool, trace: list[float]) -> GraspVariables:
        cfg = self.config.sds
        v = v.clone(requires_grad=True)
        opt = torch.optim.Adam(adam_groups(v.groups(), cfg.lr_pose, cfg.lr_rot, cfg.lr_transl))
        latent = None
        its = cfg.iterations
        for it in tqdm(range(its), desc="SDS", disable=not progress, leave=False):
            opt.zero_grad()
            fresh = latent is None or it % max(1, cfg.object_every) == 0
            with self._autocast():
                grid, lat = builder(v, None if fresh else latent)
                latent = lat.detach()
                x0 = self.prior.normalize(grid).float()
                out = self.guidance(x0, texts, progress=it / max(1, its - 1), generator=generator)
            per = 0.5 * (out.grad.float().pow(2)).flatten(1).sum(1)  # (B,) for NaN detection only
            if guard.alive.any():
                trace.append(float(out.error[guard.alive].mean()))
            reg = self._limits_penalty(v, cfg.w_limits)
            reg = torch.where(guard.alive, reg, torch.zeros_like(reg))
            (out.loss + reg.sum()).backward()
            guard.mask_grads(v)
            opt.step()
            guard.check(v, per + reg + torch.where(torch.isfinite(x0).flatten(1).all(1), 0.0, float("nan")), "sds", it)
        return v.clone()

    def _energy(self, objective: GraspObjective, builder: InteractionGridBuilder, v: GraspVariables,
                anchor: GraspVariables) -> ObjectiveValue:
        hands = builder.pose_hands(v, vertices=True, vertex_ids=objective.vertex_ids)
        poses = {"right": v.right_pose, "left": v.left_pose}
        return objective({s: poses[s] for s in self.sides}, hands.vertices_o, hands.joints_o,
                         damping=(v.tensors(), anchor.tensors()))

    def _refine(self, builder: InteractionGridBuilder, v0: GraspVariables, objective: GraspObjective,
                guard: NaNGuard, progress: bool) -> tuple[GraspVariables, ObjectiveValue]:
        cfg = self.config.refine
        anchor = v0.clone()
        v = v0.clone(requires_grad=True)
        opt = torch.optim.Adam(adam_groups(v.groups(), cfg.lr_pose, cfg.lr_rot, cfg.lr_transl))
        for it in tqdm(range(cfg.iterations), desc="refine", disable=not progress, leave=False):
            opt.zero_grad()
            e = self._energy(objective, builder, v, anchor).total
            torch.where(guard.alive, e, torch.zeros_like(e)).sum().backward()
            guard.mask_grads(v)
            opt.step()
            self._project_limits(v)
            guard.check(v, e, "refine", it)
        with torch.no_grad():
            value = self._energy(objective, builder, v, anchor)
        return v.clone(), value

    def refine(self, mesh: trimesh.Trimesh, hands: dict[str, HandParams], progress: bool = False
               ) -> tuple[dict[str, HandParams], ObjectiveValue, list[DroppedGrasp]]:
        """Stage 4 alone: the contact refinement of given hands on ``mesh`` (e.g. generated hands against
        their generated object, ``bghop generate --refine``).

        Args:
            mesh: the object, metres.
            hands: ``{side: HandParams}`` in the object's frame, batch ``B`` (``betas`` are not refined and
                are taken as zero, as in grasp synthesis).
            progress: progress bar.
        Returns:
            the refined hands (``betas`` zero), the objective's value per grasp, and the grasps dropped
            for non-finite values.
        """
        from bghop.fields.encode import GridSettings

        cfg = self.config
        sdf = ObjectSDF(mesh, resolution=cfg.sdf_resolution, margin=cfg.sdf_margin, device=self.device)
        builder = InteractionGridBuilder(self.layers, GridSettings(), sdf, self.autoencoder)  # no grid is built
        v = variables_from_params({s: hands[s].to(self.device, torch.float32) for s in self.sides}, builder.j0)
        dropped: list[DroppedGrasp] = []
        guard = NaNGuard(v, dropped, list(range(v.batch_size)))
        objective = GraspObjective(sdf, self.layers, mesh, cfg.refine.objective, self.device)
        v, value = self._refine(builder, v, objective, guard, progress)
        return builder.hand_params(v), value, dropped

    def _rank(self, mesh: trimesh.Trimesh, hands: dict[str, HandParams], keep: list[int], ids: list[int],
              sds_scores: Tensor, value: ObjectiveValue, progress: bool) -> list[Grasp]:
        rcfg = self.config.rank
        grasps = []
        grip = GripConfig(squeeze=rcfg.squeeze, max_penetration_m=rcfg.max_penetration_m, max_hand_hand_cm3=math.inf,
                          require_contact=False, physics=rcfg.physics, physics_config=rcfg.physics_config)
        energy = value.total.cpu()
        terms = {k: t.detach().cpu() for k, t in value.terms.items()}
        for i in tqdm(keep, desc="rank", disable=not progress, leave=False):
            c = check_grip(mesh, {s: hands[s].index(i) for s in self.sides}, self.layers, grip)
            grasps.append(Grasp(index=ids[i], hands=Hands.from_params(c.hands, self.hand_kind),
                                sds_score=float(sds_scores[i]), energy=float(energy[i]), metrics=c.metrics,
                                stability=c.stability, squeeze=c.squeeze,
                                energy_terms={k: float(t[i]) for k, t in terms.items()}, posed=c.posed))
        if grasps:
            excess = prior_excess_percent([g.sds_score for g in grasps])
            for g, zi in zip(grasps, excess):
                g.rank_score = rank_score(None if g.stability is None else g.stability.success, g.metrics.contact_both,
                                          g.metrics.penetration_max_m, g.metrics.hand_hand_volume_cm3, float(zi),
                                          rcfg.weights, None if g.stability is None else g.stability.max_displacement)
            grasps.sort(key=lambda g: g.rank_score)
        return grasps

    # -- entry point ---------------------------------------------------------------------------
    def __call__(self, mesh: trimesh.Trimesh, text: str, n: int = 8, seed: int = 0,
                 init: GraspVariables | str | None = None, progress: bool = True) -> GraspSynthesisResult:
        """Synthesise ``n`` grasps of ``mesh`` in one batch and rank them.

        Args:
            mesh: the object, metres (its frame is the output frame).
            text: object name or prompt ("box" → "grasp a box with both hands").
            n: number of grasps (one batch).
            seed: random seed (initialisations, SDS noise).
            init: ``"random"`` or None (:func:`initial_grasps`), ``"prior"`` (hands sampled from the prior with
                the object held, :func:`bghop.synthesis.conditional.sample_grasps`; a bimanual prior anchored to
                the object), or a starting state (``n`` is then its batch size).
            progress: tqdm progress bars.
        Returns:
            :class:`GraspSynthesisResult` with the grasps best first.
        Raises:
            GraspError: unusable object (before any optimisation).
        """
        if n < 1:
            raise GraspError(f"the number of grasps must be at least 1, got {n}")
        settings = self.prior.config.grid_settings
        warns = check_object(mesh, settings.field.frame)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        prompt = expand_prompt(text, self.bimanual)
        if note := vocabulary_note(prompt, self.prior.config.vocabulary):
            logger.warning("%s", note)
            warns = [*warns, note]
        cfg = self.config
        sdf = ObjectSDF(mesh, resolution=cfg.sdf_resolution, margin=cfg.sdf_margin, device=self.device)
        timings["object_sdf"] = time.perf_counter() - t0
        builder = InteractionGridBuilder(self.layers, settings, sdf, self.autoencoder, mesh=mesh)
        init_kind = init if isinstance(init, str) else ("random" if init is None else "given")
        if init_kind not in ("random", "prior", "given"):
            raise GraspError(f"unknown start {init!r}: use 'random', 'prior' or GraspVariables")
        if init_kind == "random":
            v = initial_grasps(self.layers, mesh, n, seed, cfg.init, self.device)
        elif init_kind == "prior":
            tp = time.perf_counter()
            v = sample_grasps(self.prior, self.autoencoder, self.layers, mesh, text, n, seed, self.conditional,
                              object_sdf=sdf, progress=progress)
            timings["prior_init"] = time.perf_counter() - tp
        else:
            if init.bimanual != self.bimanual:
                raise GraspError("the initial grasps' hand count does not match the prior")
            v = init.clone()
            n = v.batch_size
        ids = list(range(n))
        dropped: list[DroppedGrasp] = []
        guard = NaNGuard(v, dropped, ids)
        texts = [prompt] * n
        gen = torch.Generator().manual_seed(seed)
        t1 = time.perf_counter()
        trace: list[float] = []
        v = self._sds(builder, v, texts, guard, gen, progress, trace)
        timings["sds"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        objective = GraspObjective(sdf, self.layers, mesh, cfg.refine.objective, self.device)
        v, value = self._refine(builder, v, objective, guard, progress)
        timings["refine"] = time.perf_counter() - t2
        t3 = time.perf_counter()
        with torch.no_grad():
            grid, _ = builder(v)
            scores = self.guidance.score(self.prior.normalize(grid), texts, levels=cfg.rank.score_levels,
                                         seed=seed).cpu()
        hands = builder.hand_params(v)
        energy = value.total.cpu()
        keep = [i for i in range(n) if bool(guard.alive[i]) and math.isfinite(float(scores[i]))
                and math.isfinite(float(energy[i]))]
        for i in range(n):
            if bool(guard.alive[i]) and i not in keep:
                dropped.append(DroppedGrasp(ids[i], "rank", 0, "non-finite score or energy"))
        timings["score"] = time.perf_counter() - t3
        t4 = time.perf_counter()
        grasps = self._rank(mesh, hands, keep, ids, scores, value, progress)
        prior_identity = None
        if self.scorer is not None:  # the score of each grasp as written (squeezed), as evaluation computes it
            scorer = self.scorer.with_seed(seed)
            scorer.object_sdf(mesh, sdf)
            for g in grasps:
                g.prior_score = scorer.score_hands(mesh, g.hands, prompt)
            prior_identity = scorer.identity
        timings["rank"] = time.perf_counter() - t4
        timings["total"] = time.perf_counter() - t0
        run = {"text": prompt, "n": n, "seed": seed, "bimanual": self.bimanual, "hand": self.hand_kind,
               "device": str(self.device), "precision": self.precision, "config": cfg.to_dict()}
        if init_kind == "prior":  # settings written before starts could be sampled keep their identity
            run["init"] = init_kind
            run["conditional"] = self.conditional.to_dict()
        logger.info("grasp synthesis: %d grasps (%d dropped) in %.1f s", len(grasps), len(dropped), timings["total"])
        physics = cfg.rank.physics_config.to_dict() if cfg.rank.physics else None
        return GraspSynthesisResult(object_mesh=mesh, grasps=grasps, dropped=dropped, text=prompt, settings=run,
                                    timings=timings, warnings=warns, sds_error=trace, physics=physics,
                                    prior=prior_identity)

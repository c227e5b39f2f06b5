"""The benchmark's methods, one class each behind one small protocol (:class:`Method`).

* ``bghop`` (:class:`PriorMethod`): the bimanual prior, exactly what ``bghop grasp`` does.
* ``prior-init`` (:class:`PriorMethod` with ``init="prior"``): ``bghop grasp --init prior``: the prior
  samples the hands for the object (its channels held), then the same SDS, refinement and ranking; needs
  a bimanual prior whose grid is anchored to the object.
* ``random`` (:class:`PriorMethod` with no score distillation): random placement + contact
  refinement + ranking, the floor the prior has to beat.
* ``single-prior`` (:class:`SinglePriorMethod`): what a user of single-hand G-HOP would do: the
  single-hand prior on each hand on its own. The right hand is synthesised on the object; the left
  hand is a right hand synthesised on the object mirrored across its ``x = 0`` plane and mirrored
  back (:func:`~bghop.bench.objects.mirror_mesh`, :func:`~bghop.bench.objects.mirror_hand_params`).
  The k-th right grasp is paired with the k-th left grasp, with no coordination between them.
* ``energy`` (:class:`EnergyMethod`): the prior-free optimiser of the data builder
  (:func:`bghop.contact.optimizer.optimize_grasps`), lowest energy first, as optimised.

A method returns its grasps best first (:class:`MethodOutput`), with whatever it already measured
on the hands it returns (geometric metrics, MuJoCo stability, the bimanual prior's score) and the
settings those were measured with, so the evaluation does not measure them again.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Protocol

import torch

from bghop.bench.config import BenchConfig, BenchInputError, BenchModels
from bghop.bench.objects import BenchObject, mirror_hand_params, mirror_mesh
from bghop.contact.optimizer import optimize_grasps
from bghop.core.checkpoint import model_fingerprint
from bghop.eval.metrics import GraspMetrics
from bghop.eval.physics import StabilityResult
from bghop.hands import HandModel, load_hand
from bghop.hands.params import Hands
from bghop.hands.posing import PosedHand
from bghop.synthesis.grasp import GraspSynthesisResult, GraspSynthesizer
from bghop.synthesis.output import grasp_summary

__all__ = ["MethodGrasp", "MethodOutput", "Method", "PriorMethod", "SinglePriorMethod", "EnergyMethod",
           "bench_layers", "build_methods"]


@dataclass
class MethodGrasp:
    """One grasp a method produced (object frame).

    Attributes:
        hands: the hands, batch 1.
        scores: the method's own numbers (rank score, energy and its terms, …).
        metrics / stability / prior_score: what the method measured on exactly these hands (None:
            not measured).
        posed: the hands posed, when the method has them (writers reuse them).
    """

    hands: Hands
    scores: dict = field(default_factory=dict)
    metrics: GraspMetrics | None = None
    stability: StabilityResult | None = None
    prior_score: float | None = None
    posed: dict[str, PosedHand] | None = None


@dataclass
class MethodOutput:
    """What a method produced for one object.

    Attributes:
        grasps: best first.
        seconds: wall time of the method's synthesis call(s), its own ranking included.
        dropped: grasps lost (non-finite values, or unpaired for ``single-prior``).
        details: the method's own summary (kept in ``summary.json``).
        text: the prompt it used.
        physics: the physics settings its stored stability was simulated with (None: none stored).
        prior: what its stored prior scores were computed with (None: none stored).
    """

    grasps: list[MethodGrasp]
    seconds: float
    dropped: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    text: str = ""
    physics: dict | None = None
    prior: dict | None = None


class Method(Protocol):
    """A grasp-synthesis method of the benchmark."""

    name: str

    def config_dict(self) -> dict:
        """Its settings (part of the resume key and of ``summary.json``)."""

    def fingerprints(self) -> dict[str, str | None]:
        """The models it depends on, by name (part of the resume key)."""

    def run(self, obj: BenchObject) -> MethodOutput:
        """Grasps of one object."""


def _grasps_of(res: GraspSynthesisResult) -> list[MethodGrasp]:
    keep = ("metrics", "stability", "prior_score")
    return [MethodGrasp(g.hands, {k: v for k, v in g.to_dict().items() if k not in keep}, g.metrics, g.stability,
                        g.prior_score, g.posed or None) for g in res.grasps]


class PriorMethod:
    """``bghop`` (score distillation from the bimanual prior), ``prior-init`` (the same from hands the prior
    samples for the object) or, with ``sds.iterations = 0``, ``random``."""

    def __init__(self, name: str, models: BenchModels, config: BenchConfig, mano_dir: str | os.PathLike | None,
                 device: torch.device) -> None:
        if name == "prior-init" and models.prior.config.grid_settings.field.frame.anchor != "object":
            raise BenchInputError("the prior-init method samples hands for the object with its channels held: it "
                                  "needs a bimanual prior whose grid is anchored to the object (the given one is "
                                  "in G-HOP's right-hand frame); leave prior-init out of --methods or pass --prior "
                                  "with a prior trained on `bghop data synth --frame object@0.8` data")
        self.name = name
        self.init = "prior" if name == "prior-init" else None
        self.config = config
        self.models = models
        self.synth = GraspSynthesizer(models.prior, models.autoencoder, hand_kind=config.hand_kind, mano_dir=mano_dir,
                                      config=config.method_config(name), device=device)

    def config_dict(self) -> dict:
        return asdict(self.config.method_config(self.name))

    def fingerprints(self) -> dict[str, str | None]:
        return {"prior": model_fingerprint(self.models.prior),
                "autoencoder": model_fingerprint(self.models.autoencoder)}

    def run(self, obj: BenchObject) -> MethodOutput:
        t0 = time.perf_counter()
        res = self.synth(obj.mesh, obj.text, n=self.config.n, seed=self.config.seed, init=self.init, progress=False)
        dt = time.perf_counter() - t0
        return MethodOutput(_grasps_of(res), dt, [d.to_dict() for d in res.dropped], grasp_summary(res), res.text,
                            res.physics, res.prior)


class SinglePriorMethod(PriorMethod):
    """``single-prior``: the single-hand prior on each hand on its own (module docstring)."""

    def __init__(self, models: BenchModels, config: BenchConfig, mano_dir: str | os.PathLike | None,
                 device: torch.device) -> None:
        if models.prior_single is None:
            raise BenchInputError("the single-prior method needs a single-hand prior (BenchModels.prior_single)")
        self.name = "single-prior"
        self.config = config
        self.models = models
        self.synth = GraspSynthesizer(models.prior_single, models.autoencoder, hand_kind=config.hand_kind,
                                      mano_dir=mano_dir, config=config.method_config(self.name), device=device)

    def fingerprints(self) -> dict[str, str | None]:
        return {"prior_single": model_fingerprint(self.models.prior_single),
                "autoencoder": model_fingerprint(self.models.autoencoder)}

    def run(self, obj: BenchObject) -> MethodOutput:
        n, seed = self.config.n, self.config.seed
        t0 = time.perf_counter()
        right = self.synth(obj.mesh, obj.text, n=n, seed=seed, progress=False)
        left = self.synth(mirror_mesh(obj.mesh), obj.text, n=n, seed=seed + 1, progress=False)
        dt = time.perf_counter() - t0
        k = min(len(right.grasps), len(left.grasps))
        grasps = []
        for i in range(k):  # each hand was checked alone: nothing measured holds for the pair
            gr, gl = right.grasps[i], left.grasps[i]
            hands = Hands(gr.hands.kind, gr.hands.right, mirror_hand_params(gl.hands.right))
            grasps.append(MethodGrasp(hands, {"right": gr.to_dict(), "left_mirrored": gl.to_dict()}))
        dropped = [{"hand": "right", **d.to_dict()} for d in right.dropped]
        dropped += [{"hand": "left", **d.to_dict()} for d in left.dropped]
        dropped += [{"hand": "right" if len(right.grasps) > k else "left", "index": i, "stage": "pairing",
                     "iteration": 0, "reason": "no partner grasp for the other hand"}
                    for i in range(k, max(len(right.grasps), len(left.grasps)))]
        details = {"right": grasp_summary(right), "left_on_mirrored_object": grasp_summary(left), "left_seed": seed + 1}
        return MethodOutput(grasps, dt, dropped, details, right.text)


class EnergyMethod:
    """``energy``: the data builder's prior-free optimiser, lowest energy first, as optimised."""

    name = "energy"

    def __init__(self, config: BenchConfig, layers: dict[str, HandModel], device: torch.device) -> None:
        self.config = config
        self.layers = layers
        self.device = device

    def config_dict(self) -> dict:
        return self.config.energy.to_dict()

    def fingerprints(self) -> dict[str, str | None]:
        return {}

    def run(self, obj: BenchObject) -> MethodOutput:
        cfg, n = self.config.energy, self.config.n
        t0 = time.perf_counter()
        batch = optimize_grasps(obj.mesh, self.layers, n, cfg, seed=self.config.seed, device=self.device)
        dt = time.perf_counter() - t0
        energy = batch.energy.detach().cpu()
        terms = {k: v.detach().cpu() for k, v in batch.terms.items()}
        finite = [i for i in range(n) if math.isfinite(float(energy[i]))
                  and all(bool(torch.isfinite(t[i]).all()) for p in batch.hands.values()
                          for t in (p.pose, p.global_orient, p.transl))]
        order = sorted(finite, key=lambda i: float(energy[i]))
        hands = Hands.from_params(batch.hands, self.config.hand_kind)
        grasps = [MethodGrasp(hands.index(i), {"init_index": i, "energy": float(energy[i]),
                                               "energy_terms": {k: float(t[i]) for k, t in terms.items()}})
                  for i in order]
        dropped = [{"index": i, "stage": "energy", "iteration": cfg.iterations, "reason": "non-finite values"}
                   for i in range(n) if i not in finite]
        return MethodOutput(grasps, dt, dropped, {"energy_config": cfg.to_dict()}, "(no prompt: prior-free)")


def bench_layers(config: BenchConfig, mano_dir: str | os.PathLike | None, device: torch.device) -> dict[str, HandModel]:
    """The two hand layers every method and writer of a benchmark shares."""
    return {s: load_hand(config.hand_kind, side=s, model_dir=mano_dir).to(device) for s in ("right", "left")}


def build_methods(models: BenchModels, config: BenchConfig, mano_dir: str | os.PathLike | None,
                  device: torch.device, layers: dict[str, HandModel] | None = None) -> dict[str, Method]:
    """The methods of ``config.methods``, by name (``layers``: :func:`bench_layers`, built if None)."""
    layers = layers if layers is not None else bench_layers(config, mano_dir, device)
    out: dict[str, Method] = {}
    for m in config.methods:
        if m in ("bghop", "prior-init", "random"):
            out[m] = PriorMethod(m, models, config, mano_dir, device)
        elif m == "single-prior":
            out[m] = SinglePriorMethod(models, config, mano_dir, device)
        elif m == "energy":
            out[m] = EnergyMethod(config, layers, device)
        else:
            raise BenchInputError(f"unknown method {m!r}")
    return out

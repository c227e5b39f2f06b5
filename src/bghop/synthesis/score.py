"""The prior's plausibility score of a grasp that any method produced (lower = more plausible).

Used by ``bghop eval --prior`` and ``bghop bench grasp`` to put every method's grasps under the
same bimanual prior: the sample's interaction grid is built exactly as in grasp synthesis and
scored with :meth:`bghop.synthesis.sds.SDSGuidance.score` at fixed noise levels and noise.
"""

from __future__ import annotations

import copy
import os

import torch
import trimesh

from bghop.contact.energies import ObjectSDF
from bghop.core.prompts import is_bimanual_prompt
from bghop.eval.report import SampleInputs
from bghop.geometry.mesh_io import mesh_digest
from bghop.core.checkpoint import model_fingerprint
from bghop.hands.params import Hands
from bghop.hands.posing import HandLayers
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.synthesis.hoi import InteractionGridBuilder, variables_from_params
from bghop.synthesis.prompts import expand_prompt
from bghop.synthesis.sds import SDSGuidance

__all__ = ["PriorScorer"]


class PriorScorer:
    """A :data:`bghop.eval.report.Scorer`: a sample's denoising score under the bimanual prior.

    The score is :meth:`SDSGuidance.score` of the sample's interaction grid (lower = more
    plausible), with the same fixed noise for every sample, so scores of different methods on one
    object are comparable. The prompt is the sample's text when it is a bimanual prompt, else the
    group's object name expanded to one (``"grasp a mug with both hands"``).

    Args:
        prior: bimanual prior.
        autoencoder: its object autoencoder.
        hand_kind / mano_dir: hand layers (samples of another kind are posed with their own kind).
        levels: noise levels (fractions of ``T``), as in the ranking.
        seed: noise seed.
        prompts: group (object) name → object text, used when a sample has no bimanual prompt.
        sdf_resolution / sdf_margin: the object SDF grid (as in grasp synthesis).
        device: torch device.
        layers: hand layers to use (built on first use otherwise).
    """

    def __init__(self, prior: InteractionPrior, autoencoder: ObjectAutoencoder, hand_kind: str = "open",
                 mano_dir: str | os.PathLike | None = None, levels: tuple[float, ...] = (0.35, 0.65), seed: int = 0,
                 prompts: dict[str, str] | None = None, sdf_resolution: int = 64, sdf_margin: float = 0.06,
                 device: torch.device | str = "cpu", layers: HandLayers | None = None) -> None:
        if not prior.config.bimanual:
            raise ValueError("PriorScorer needs a bimanual prior")
        self.device = torch.device(device)
        self.prior = prior.to(self.device).eval()
        self.autoencoder = autoencoder.to(self.device).eval()
        self.guidance = SDSGuidance(self.prior)
        self.levels = tuple(levels)
        self.seed = seed
        self.prompts = dict(prompts or {})
        self.sdf_resolution = sdf_resolution
        self.sdf_margin = sdf_margin
        self.mano_dir = mano_dir
        self.layers = layers if layers is not None else HandLayers(mano_dir, self.device)
        self._sdf: dict[str, ObjectSDF] = {}
        self._builders: dict[tuple, InteractionGridBuilder] = {}
        self.hand_kind = hand_kind
        self._fingerprints: dict = {}

    @property
    def identity(self) -> dict:
        """What the scores depend on besides the sample (model fingerprints, noise levels and seed, the
        object SDF grid): a score stored with the same identity is the score this scorer gives."""
        if not self._fingerprints:  # filled in place: copies made by with_seed share it
            self._fingerprints.update(prior=model_fingerprint(self.prior), autoencoder=model_fingerprint(self.autoencoder))
        return {**self._fingerprints, "levels": list(self.levels), "seed": self.seed,
                "sdf_resolution": self.sdf_resolution, "sdf_margin": self.sdf_margin}

    def with_seed(self, seed: int) -> "PriorScorer":
        """The same scorer with another noise seed (models, layers, caches and fingerprints shared)."""
        other = copy.copy(self)
        other.seed = seed
        return other

    def object_sdf(self, mesh: trimesh.Trimesh, sdf: ObjectSDF | None = None) -> ObjectSDF:
        """The object's SDF grid (cached per mesh; ``sdf``, when given, is kept for this mesh: it must have
        this scorer's resolution and margin)."""
        key = mesh_digest(mesh)
        if key not in self._sdf:
            if len(self._sdf) >= 8:
                self._sdf.pop(next(iter(self._sdf)))
            self._sdf[key] = sdf if sdf is not None else ObjectSDF(mesh, resolution=self.sdf_resolution,
                                                                   margin=self.sdf_margin, device=self.device)
        return self._sdf[key]

    def prompt(self, sample: SampleInputs) -> str:
        """The bimanual prompt a sample is scored with."""
        if is_bimanual_prompt(sample.text):
            return sample.text
        return expand_prompt(self.prompts.get(sample.group, sample.group.replace("_", " ")), bimanual=True)

    @torch.no_grad()
    def score_hands(self, mesh: trimesh.Trimesh, hands: Hands, prompt: str) -> float:
        """The score of one two-hand grasp (batch 1) of ``mesh`` under ``prompt``."""
        if not hands.bimanual:
            raise ValueError("the bimanual prior scores two-hand samples only")
        params = {s: p.to(self.device, torch.float32) for s, p in hands.items()}
        layers = self.layers.for_hands(hands)
        key = (mesh_digest(mesh), tuple(id(layers[s]) for s in sorted(layers)))
        builder = self._builders.get(key)
        if builder is None:  # one per object and hand kind: an object-anchored grid encodes its object once
            if len(self._builders) >= 8:
                self._builders.pop(next(iter(self._builders)))
            builder = InteractionGridBuilder(layers, self.prior.config.grid_settings, self.object_sdf(mesh),
                                             self.autoencoder, mesh=mesh)
            self._builders[key] = builder
        v = variables_from_params(params, builder.j0)
        grid, _ = builder(v)
        score = self.guidance.score(self.prior.normalize(grid), [prompt], levels=self.levels, seed=self.seed)
        return float(score[0])

    def __call__(self, sample: SampleInputs) -> float:
        return self.score_hands(sample.object_mesh, sample.hands, self.prompt(sample))

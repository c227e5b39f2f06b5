"""The prior's plausibility score of a grasp that any method produced (lower = more plausible).

Used by ``bghop eval --prior`` and ``bghop bench grasp`` to put every method's grasps under the
same bimanual prior: the sample's interaction grid is built exactly as in grasp synthesis and
scored with :meth:`bghop.synthesis.sds.SDSGuidance.score` at fixed noise levels and noise.
"""

from __future__ import annotations

import os

import torch
import trimesh

from bghop.contact.energies import ObjectSDF
from bghop.eval.report import SampleInputs
from bghop.geometry.mesh_io import mesh_digest
from bghop.hands import HandModel, load_hand
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
    """

    def __init__(self, prior: InteractionPrior, autoencoder: ObjectAutoencoder, hand_kind: str = "open",
                 mano_dir: str | os.PathLike | None = None, levels: tuple[float, ...] = (0.35, 0.65), seed: int = 0,
                 prompts: dict[str, str] | None = None, sdf_resolution: int = 64, sdf_margin: float = 0.06,
                 device: torch.device | str = "cpu") -> None:
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
        self._layers: dict[tuple[str, str], HandModel] = {}
        self._sdf: dict[str, ObjectSDF] = {}
        self.hand_kind = hand_kind

    def _layer(self, kind: str, side: str) -> HandModel:
        if (kind, side) not in self._layers:
            self._layers[(kind, side)] = load_hand(kind, side=side, model_dir=self.mano_dir).to(self.device)
        return self._layers[(kind, side)]

    def _object_sdf(self, mesh: trimesh.Trimesh) -> ObjectSDF:
        key = mesh_digest(mesh)
        if key not in self._sdf:
            if len(self._sdf) >= 8:
                self._sdf.pop(next(iter(self._sdf)))
            self._sdf[key] = ObjectSDF(mesh, resolution=self.sdf_resolution, margin=self.sdf_margin,
                                       device=self.device)
        return self._sdf[key]

    def prompt(self, sample: SampleInputs) -> str:
        """The bimanual prompt a sample is scored with."""
        if sample.text and "both hands" in sample.text:
            return sample.text
        return expand_prompt(self.prompts.get(sample.group, sample.group.replace("_", " ")), bimanual=True)

    @torch.no_grad()
    def __call__(self, sample: SampleInputs) -> float:
        if set(sample.hands) != {"right", "left"}:
            raise ValueError("the bimanual prior scores two-hand samples only")
        layers = {s: self._layer(sample.hands.kind, s) for s in sample.hands.sides}
        params = {s: p.to(self.device, torch.float32) for s, p in sample.hands.items()}
        builder = InteractionGridBuilder(layers, self.prior.config.grid_settings,
                                         self._object_sdf(sample.object_mesh), self.autoencoder)
        v = variables_from_params(params, builder.j0)
        grid, _ = builder(v)
        score = self.guidance.score(self.prior.normalize(grid), [self.prompt(sample)], levels=self.levels,
                                    seed=self.seed)
        return float(score[0])

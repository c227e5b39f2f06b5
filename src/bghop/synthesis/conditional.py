"""Hands for a given object, sampled from the prior (the amortised start of grasp synthesis).

Score distillation moves hands that start anywhere towards the prior's mode, one small step per
iteration. When the prior's grid is anchored to the object (``FrameConfig.anchor == "object"``) the
object's half of the grid is known before any hand is, so the prior can *sample* the hands instead:

1. the object's SDF on the grid of its own frame (principal axes, :func:`bghop.fields.frame.object_frame`)
   is encoded once by the autoencoder (:class:`~bghop.synthesis.hoi.InteractionGridBuilder`);
2. reverse diffusion draws ``N`` grids with the object channels held to that latent
   (:meth:`bghop.models.prior.InteractionPrior.sample` with ``known=``: replacement plus reconstruction
   guidance, so the hands follow the object);
3. each grid's hand fields are fitted by the field fit (both hands placed in the grid,
   :func:`bghop.fields.fit.recover_hands`) and mapped back into the object's frame.

The result is a :class:`~bghop.synthesis.hoi.GraspVariables` start for the usual stages (SDS,
refinement, ranking): ``bghop grasp --init prior``, or
``GraspSynthesizer(...)(mesh, text, init=sample_grasps(...))`` in Python.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import torch
import trimesh

from bghop.contact.energies import ObjectSDF
from bghop.core.prompts import expand_prompt
from bghop.core.transforms import invert_transform
from bghop.fields.fit import FitConfig, recover_hands
from bghop.fields.encode import hand_params_in
from bghop.fields.frame import compute_oTh
from bghop.fields.layout import InteractionGrid
from bghop.hands.base import HandModel
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.synthesis.checks import GraspError
from bghop.synthesis.hoi import GraspVariables, InteractionGridBuilder, variables_from_params

logger = logging.getLogger(__name__)

__all__ = ["ConditionalConfig", "sample_grasps"]


@dataclass(frozen=True)
class ConditionalConfig:
    """How hands are sampled for a given object.

    Attributes:
        steps: DDIM steps.
        guidance: classifier-free guidance scale of the text.
        known_guidance: weight of the reconstruction guidance that makes the hands follow the held
            object channels (:meth:`~bghop.models.prior.InteractionPrior.sample`).
        resample: RePaint takes per step (1: none).
        fit_iters: L-BFGS iterations of the keypoint fit of each hand (then 20 on the field).
    """

    steps: int = 50
    guidance: float = 4.0
    known_guidance: float = 1000.0
    resample: int = 1
    fit_iters: int = 80

    def to_dict(self) -> dict:
        return asdict(self)


def sample_grasps(prior: InteractionPrior, autoencoder: ObjectAutoencoder, layers: dict[str, HandModel],
                  mesh: trimesh.Trimesh, text: str, n: int, seed: int = 0,
                  config: ConditionalConfig = ConditionalConfig(), object_sdf: ObjectSDF | None = None,
                  progress: bool = True) -> GraspVariables:
    """``n`` two-hand grasps of ``mesh`` drawn from the prior with the object held (module docstring).

    Args:
        prior: a bimanual prior whose grid is anchored to the object.
        autoencoder: its autoencoder.
        layers: hand layers ``{"right", "left"}``.
        mesh: the object, metres (its frame is the output frame).
        text: object name or prompt.
        n: number of grasps.
        seed: seed of the sampling noise.
        config: sampling and fitting settings.
        object_sdf: the object's SDF grid when already computed (grasp synthesis passes its own).
        progress: progress bars.
    Returns:
        :class:`GraspVariables` in the object's frame (``betas`` zero).
    Raises:
        GraspError: a single-hand prior, or one whose grid is not anchored to the object.
    """
    settings = prior.config.grid_settings
    frame = settings.field.frame
    if not prior.config.bimanual or frame.anchor != "object":
        raise GraspError(f"sampling hands for a given object needs a bimanual prior whose grid is anchored to the object "
                         f"(this one: {'bimanual' if prior.config.bimanual else 'single-hand'}, frame "
                         f"{frame.spec}); use --init random, or a prior trained with `bghop data synth --frame "
                         "object@0.8` data")
    device = prior.device
    sdf = object_sdf if object_sdf is not None else ObjectSDF(mesh, device=device)
    builder = InteractionGridBuilder(layers, settings, sdf, autoencoder, mesh=mesh)
    latent = builder.fixed_latent  # (1, C, r, r, r)
    r = settings.field.resolution
    zeros = latent.new_zeros(1, 20, r, r, r)
    known = prior.normalize(InteractionGrid(object=latent, right=zeros, left=zeros))
    prompt = expand_prompt(text, True)
    gen = torch.Generator().manual_seed(seed)
    x = prior.sample([prompt] * n, steps=config.steps, guidance=config.guidance, generator=gen, progress=progress,
                     known=known, known_guidance=config.known_guidance, resample=config.resample)
    parts = prior.denormalize(x)
    fit = FitConfig(keypoint_iters=config.fit_iters, fit_betas=False)
    rec = recover_hands(layers["right"], parts.right.detach(), layers["left"], parts.left.detach(), settings.field, fit)
    s = frame.scale
    with torch.no_grad():
        oTm = invert_transform(builder.fixed_nTo).expand(n, 4, 4) @ torch.diag(
            torch.tensor([s, s, s, 1.0], device=device))
        hands = {}
        for side, p in (("right", rec.right), ("left", rec.left)):
            mTh = compute_oTh(layers[side], p.global_orient, p.transl, p.betas)
            hands[side] = hand_params_in(layers[side], oTm @ mTh, p.pose, p.betas)
    return variables_from_params(hands, builder.j0)

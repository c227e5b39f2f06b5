"""What every method of the benchmark shares: the settings, the models, the errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from bghop.contact.optimizer import EnergyConfig
from bghop.core.tables import json_safe
from bghop.eval.physics import PhysicsConfig
from bghop.hands import HAND_KINDS
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.models.prior import InteractionPrior
from bghop.synthesis.grasp_config import GraspConfig, with_iterations

__all__ = ["METHODS", "DEFAULT_METHODS", "BenchInputError", "BenchConfig", "BenchModels"]

#: every method, in table order (``prior-init``: ``bghop grasp --init prior``, which needs a bimanual prior
#: whose grid is anchored to the object)
METHODS: tuple[str, ...] = ("bghop", "prior-init", "single-prior", "energy", "random")
#: the methods run when none are named (every prior can run them)
DEFAULT_METHODS: tuple[str, ...] = ("bghop", "single-prior", "energy", "random")


class BenchInputError(ValueError):
    """Input the benchmark cannot use (unknown object or method, missing package, bad mesh)."""


@dataclass(frozen=True)
class BenchConfig:
    """What every method shares.

    Attributes:
        methods: which of :data:`METHODS` to run, in table order (default :data:`DEFAULT_METHODS`).
        n: grasps per object and method (one batch).
        seed: random seed (the left hand of ``single-prior`` uses ``seed + 1``).
        hand_kind: ``"open"`` or ``"mano"`` for every method.
        grasp: settings of ``bghop``, ``prior-init`` (the same, started from hands the prior samples for
            the object), ``random`` (the same with no SDS iterations) and ``single-prior`` (the same, with
            the single-hand prior).
        energy: settings of ``energy``.
        physics: MuJoCo stability in the evaluation and in the methods' ranking.
        physics_config: simulation settings (evaluation and ranking).
        score: plausibility score under the bimanual prior in the evaluation.
        render: write ``render.png`` per grasp and a contact sheet per folder.
        recompute: evaluate every grasp from scratch, even where its folder holds the stability and
            prior score that the evaluation would compute (``--recompute``).
    """

    methods: tuple[str, ...] = DEFAULT_METHODS
    n: int = 8
    seed: int = 0
    hand_kind: str = "open"
    grasp: GraspConfig = GraspConfig()
    energy: EnergyConfig = EnergyConfig()
    physics: bool = True
    physics_config: PhysicsConfig = PhysicsConfig()
    score: bool = True
    render: bool = True
    recompute: bool = False

    def __post_init__(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise BenchInputError(f"unknown method(s) {bad}; choose from {', '.join(METHODS)}" if bad
                                  else "no method given")
        if len(set(self.methods)) != len(self.methods):
            raise BenchInputError(f"a method is listed twice: {list(self.methods)}")
        if self.n < 1:
            raise BenchInputError(f"the number of grasps must be at least 1, got {self.n}")
        if self.hand_kind not in HAND_KINDS:
            raise BenchInputError(f"unknown hand kind {self.hand_kind!r}; choose one of {HAND_KINDS}")

    def method_config(self, method: str) -> GraspConfig | EnergyConfig:
        """The configuration ``method`` runs with."""
        if method == "energy":
            return self.energy
        rank = replace(self.grasp.rank, physics=self.physics, physics_config=self.physics_config)
        cfg = replace(self.grasp, rank=rank)
        if method == "random":
            return with_iterations(cfg, sds=0)
        return cfg

    def to_dict(self) -> dict:
        d = asdict(self)
        d["energy"] = self.energy.to_dict()
        return json_safe(d)


@dataclass
class BenchModels:
    """The models the methods use.

    Attributes:
        prior: the bimanual prior (``bghop``, ``random``'s ranking, the evaluation score).
        autoencoder: its object autoencoder (also used with ``prior_single``).
        prior_single: the single-hand prior (``single-prior``; required only for that method).
    """

    prior: InteractionPrior
    autoencoder: ObjectAutoencoder
    prior_single: InteractionPrior | None = None

    def __post_init__(self) -> None:
        if not self.prior.config.bimanual:
            raise BenchInputError("BenchModels.prior must be a bimanual prior")
        if self.prior_single is not None and self.prior_single.config.bimanual:
            raise BenchInputError("BenchModels.prior_single must be a single-hand prior")
        for p in (self.prior, self.prior_single):
            if p is not None and p.config.object_channels != self.autoencoder.config.latent_channels:
                raise BenchInputError(f"the autoencoder has {self.autoencoder.config.latent_channels} latent "
                                      f"channels, a prior expects {p.config.object_channels}")

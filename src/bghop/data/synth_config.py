"""The synthetic set's settings and its plan: :class:`SynthConfig`, the shipped sets' settings, the
shard jobs and the objects each job draws.

Everything here is fixed by the configuration alone, so the generator
(:func:`bghop.data.synthetic.generate_shard`) and the rebuild from grasp records draw the very
same objects for the same shard. :mod:`bghop.data.synthetic` re-exports every public name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
import trimesh

from bghop.contact.optimizer import EnergyConfig
from bghop.data.library import LIBRARIES, draw_object
from bghop.data.objects import ObjectSample
from bghop.data.records import grasp_identity
from bghop.eval.physics import PhysicsConfig
from bghop.fields.encode import GridSettings

__all__ = ["SynthConfig", "ShardJob", "plan_jobs", "draw_objects", "hand_sized", "SHIPPED_SET", "SHIPPED_SET_V1",
           "SHIPPED_SET_ENERGY", "SHIPPED_SET_PHYSICS"]


#: the energy optimiser's settings the shipped set (its grasp records) was made with: without the
#: object-in-hand term and the start's back-off, which came later. ``SynthConfig(energy=EnergyConfig())``
#: builds a set with them.
SHIPPED_SET_ENERGY = EnergyConfig.from_dict({k: v for k, v in EnergyConfig().to_dict().items()
                                             if k not in ("w_object_in_hand", "init_back_off")})
#: the physics settings of the shipped set: the convex decomposition before issue 18
SHIPPED_SET_PHYSICS = PhysicsConfig.legacy()


@dataclass(frozen=True)
class SynthConfig:
    """Settings of the synthetic set.

    Attributes:
        bimanual: number of two-hand samples.
        single: number of right-hand samples (small objects only).
        shard_size: samples per shard.
        inits: grasp initialisations optimised per object.
        keep_per_object: at most this many samples per object (diversity across objects).
        single_max_extent: single-hand grasps only for objects up to this size, metres.
        single_max_width: ... and whose second-largest box extent (what the hand wraps) is at most
            this, metres (about a hand's breadth, 9 cm; REFERENCE.md anthropometry).
        max_penetration_m: largest allowed penetration either way (hand in object, object in hand), metres.
        max_hand_hand_cm3: largest allowed hand–hand intersection.
        squeeze: finger closures (fractions of the way to the fist) tried in turn on a candidate
            that does not hold yet, until it holds or penetrates too deep
            (:func:`bghop.eval.grip.check_grip`).
        seed: base seed.
        hand: hand kind.
        energy, physics, grid: component settings (``grid``: the interaction grid of the samples).
        library: the objects drawn (:data:`bghop.data.library.LIBRARIES`): ``"base"`` (the 21 procedural
            categories) or ``"two_hand"`` (wide procedural categories and GRAB objects).
        bimanual_grid: the grid of the two-hand samples when it differs from ``grid`` (e.g. a frame
            anchored to the object, while one-hand samples keep G-HOP's right-hand frame); None: ``grid``.
        repair_of: None, or the settings of a set this one repairs (:mod:`bghop.data.repair`):
            each shard is that set's shard without the samples that fail today's checks, filled
            back to its count with new draws made with these settings. The shipped set
            (:data:`SHIPPED_SET`) is the repair of the first set (:data:`SHIPPED_SET_V1`).
    """

    bimanual: int = 3000
    single: int = 3000
    shard_size: int = 64
    inits: int = 32
    keep_per_object: int = 8
    single_max_extent: float = 0.25
    single_max_width: float = 0.09
    max_penetration_m: float = 0.005
    max_hand_hand_cm3: float = 0.5
    squeeze: tuple[float, ...] = (0.04, 0.08, 0.12, 0.16)
    seed: int = 0
    hand: str = "open"
    energy: EnergyConfig = EnergyConfig()
    physics: PhysicsConfig = PhysicsConfig()
    grid: GridSettings = GridSettings()
    repair_of: "SynthConfig | None" = None
    library: str = "base"
    bimanual_grid: GridSettings | None = None

    def __post_init__(self) -> None:
        if self.library not in LIBRARIES:
            raise ValueError(f"unknown object library {self.library!r}; use one of {', '.join(LIBRARIES)}")

    def grid_for(self, bimanual: bool) -> GridSettings:
        """The grid of two-hand (``bimanual``) or one-hand samples."""
        return self.bimanual_grid if bimanual and self.bimanual_grid is not None else self.grid

    def to_dict(self) -> dict:
        """Plain JSON-able settings (the identity that records and data folders are matched by;
        ``repair_of``, ``library`` and ``bimanual_grid`` only when set, so settings written before they
        existed keep their identity)."""
        d = asdict(self)
        d["energy"] = self.energy.to_dict()
        d["physics"] = self.physics.to_dict()
        d["grid"] = self.grid.to_dict()
        if self.repair_of is None:
            d.pop("repair_of")
        else:
            d["repair_of"] = self.repair_of.to_dict()
        if self.library == "base":
            d.pop("library")
        if self.bimanual_grid is None:
            d.pop("bimanual_grid")
        else:
            d["bimanual_grid"] = self.bimanual_grid.to_dict()
        return d

    def lineage(self) -> list["SynthConfig"]:
        """These settings and those of every set they repair, newest first."""
        out, c = [], self
        while c is not None:
            out.append(c)
            c = c.repair_of
        return out

    def stored_lineage(self) -> list[dict]:
        """:meth:`lineage` as stored in ``config.json`` and ``records.json`` (tuples as lists):
        the settings a record folder usable for these settings was made with."""
        return [json.loads(json.dumps(c.to_dict())) for c in self.lineage()]

    def grasp_lineage(self) -> list[dict]:
        """:meth:`stored_lineage` without the grid settings (:func:`bghop.data.records.grasp_identity`):
        records made with any of these rebuild this set's shards, in this set's grids."""
        return [grasp_identity(d) for d in self.stored_lineage()]


#: the first built-in set (issue 14): energy without the object-in-hand term, penetration
#: filtered one way, the convex decomposition before issue 18
SHIPPED_SET_V1 = SynthConfig(energy=SHIPPED_SET_ENERGY, physics=SHIPPED_SET_PHYSICS)
#: the shipped set: :data:`SHIPPED_SET_V1` without its samples deeper than 5 mm either way,
#: filled back with grasps made with today's energy and physics (issue 18)
SHIPPED_SET = SynthConfig(repair_of=SHIPPED_SET_V1)


@dataclass(frozen=True)
class ShardJob:
    """One unit of work: shard ``index`` with ``count`` samples of one mode."""

    index: int
    bimanual: bool
    count: int


def plan_jobs(cfg: SynthConfig) -> list[ShardJob]:
    """All shard jobs, fixed by the configuration: two-hand and one-hand shards interleaved in
    proportion, so that a partial run (interrupted, or still going) already holds both kinds."""
    sizes: dict[bool, list[int]] = {}
    for bimanual, total in ((True, cfg.bimanual), (False, cfg.single)):
        sizes[bimanual] = [min(cfg.shard_size, total - k) for k in range(0, total, cfg.shard_size)]
    jobs: list[ShardJob] = []
    pos = {True: 0, False: 0}
    while any(pos[m] < len(sizes[m]) for m in pos):
        # the mode whose next shard is earliest in its own sequence (ties: two-hand first)
        mode = min((m for m in (True, False) if pos[m] < len(sizes[m])),
                   key=lambda m: ((pos[m] + 0.5) / len(sizes[m]), not m))
        jobs.append(ShardJob(len(jobs), mode, sizes[mode][pos[mode]]))
        pos[mode] += 1
    return jobs


def hand_sized(mesh: trimesh.Trimesh, cfg: SynthConfig) -> bool:
    """Whether one hand can hold ``mesh``: not too long, and narrow enough to wrap."""
    e = np.sort(mesh.extents)
    return bool(e[2] <= cfg.single_max_extent and e[1] <= cfg.single_max_width)


def draw_objects(job: ShardJob, cfg: SynthConfig) -> Iterator[tuple[str, str, ObjectSample, int]]:
    """The objects shard ``job`` tries, in order: ``(object id, category, object, optimiser seed)``.

    Fixed by ``cfg.seed`` and the shard index alone, so the generator and the rebuild from
    records (:func:`bghop.data.synthetic.recorded_samples`) draw the very same objects. One-hand shards skip objects
    that are not hand-sized; the object id counts every draw (``"<category>-<shard>-<draw>"``).
    """
    rng = np.random.default_rng([cfg.seed, job.index])
    attempts = 0
    while True:
        attempts += 1
        cat, obj = draw_object(cfg.library, rng)
        if not job.bimanual and not hand_sized(obj.mesh, cfg):
            continue
        yield f"{cat}-{job.index}-{attempts}", cat, obj, int(rng.integers(1 << 31))

"""Result folders on disk (DESIGN.md §4): where the samples of a run are, and its typed record.

A run folder ``DIR`` holds one folder per sample, ``DIR/<k>/`` with ``object.obj``, the hand
meshes and ``hands.json``, and ``DIR/summary.json``: the run's typed, versioned record
(:class:`RunRecord`, one :class:`SampleRecord` per sample). ``bghop eval``, ``bghop bench`` and
``bghop view`` read folders through this module only: a field is where the schema says, or absent.

Version 2 (this one) adds ``version``, per-sample ``group`` and the provenance of stored checks:
``physics`` (the :class:`~bghop.eval.physics.PhysicsConfig` the stored stability was simulated
with) and ``prior`` (what the stored prior scores were computed with), plus a digest of each
sample's hand parameters (``hands_digest``), so a reader can reuse a stored result only where it
is the result it would compute. Version 1 (earlier releases, no ``version`` key) is read too:
its samples' numbers are kept, with no provenance, so nothing stored is reused from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from dataclasses import MISSING, dataclass, field
from pathlib import Path

from bghop.core.io import write_json_atomic
from bghop.core.tables import json_safe
from bghop.eval.metrics import GraspMetrics
from bghop.eval.physics import PhysicsConfig, StabilityResult

logger = logging.getLogger(__name__)

__all__ = ["RunFolderError", "find_sample_folders", "natural_key", "SUMMARY_NAME", "SCHEMA_VERSION", "RunRecord",
           "SampleRecord", "read_run", "write_run_record", "hands_digest", "metrics_from_dict",
           "stability_from_dict"]

#: the run-level record of a result folder
SUMMARY_NAME = "summary.json"
#: the version this module writes
SCHEMA_VERSION = 2

#: keys of a version-1 sample entry that are not scores
_V1_SAMPLE_KEYS = {"name", "rank", "text", "object", "method", "metrics", "stability"}
#: keys of a version-1 run that have a place in :class:`RunRecord`
_V1_RUN_KEYS = {"kind", "text", "settings", "timings_s", "warnings", "samples", "dropped", "failed", "method",
                "object"}


class RunFolderError(ValueError):
    """A result folder that cannot be read (missing, not a folder, no samples); the message says why."""


def natural_key(name: str) -> tuple:
    """Sort key that puts ``2`` before ``10`` (numbers and text never compared with each other)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name) if t)


def find_sample_folders(folder: str | os.PathLike) -> list[Path]:
    """Sample folders of a result folder (``DIR/<k>/object.obj``), or ``[folder]`` if it is a sample itself.

    Hidden folders (temporary siblings of atomic writes) are skipped; samples come in natural
    order (``2`` before ``10``).

    Raises:
        RunFolderError: the folder does not exist, is a file, or holds no samples.
    """
    folder = Path(folder)
    if not folder.exists():
        raise RunFolderError(f"{folder} does not exist")
    if not folder.is_dir():
        raise RunFolderError(f"{folder} is not a folder (give a result folder DIR with DIR/<k>/object.obj)")
    if (folder / "object.obj").is_file():
        return [folder]
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "object.obj").is_file()]
    if not subs:
        raise RunFolderError(f"{folder} holds no result samples (expected {folder}/<k>/object.obj, hands.json, "
                             "right_hand.obj)")
    return sorted(subs, key=lambda p: natural_key(p.name))


def hands_digest(hands_json: dict) -> str:
    """SHA-1 of the hand parameters of a ``hands.json`` content (its ``right``/``left`` entries only)."""
    core = {s: hands_json[s] for s in ("right", "left") if s in hands_json}
    return hashlib.sha1(json.dumps(core, sort_keys=True).encode()).hexdigest()


def metrics_from_dict(d: dict | None) -> GraspMetrics | None:
    """:class:`~bghop.eval.metrics.GraspMetrics` from its ``to_dict`` (None for None or a partial dict)."""
    if not isinstance(d, dict):
        return None
    fields = GraspMetrics.__dataclass_fields__
    try:
        return GraspMetrics(**{k: d[k] if f.default is MISSING else d.get(k, f.default)
                               for k, f in fields.items()})
    except KeyError:
        return None


def stability_from_dict(d: dict | None) -> StabilityResult | None:
    """:class:`~bghop.eval.physics.StabilityResult` from its ``to_dict`` (None for None or a partial dict)."""
    if not isinstance(d, dict) or not isinstance(d.get("displacement"), dict) or "success" not in d:
        return None
    known = set(StabilityResult.__dataclass_fields__)
    out = {k: v for k, v in d.items() if k in known}
    # JSON has no infinity: a displacement that blew up was stored as null
    out["displacement"] = {k: math.inf if v is None else float(v) for k, v in d["displacement"].items()}
    return StabilityResult(**out)


@dataclass
class SampleRecord:
    """What a run says about one of its samples.

    Attributes:
        name: the sample's folder name (``"0"``).
        rank: its place in the run's order (0 = best), or None.
        text: the prompt it was made with, or None.
        group: the object it belongs to (a benchmark object, the mesh's name), or None.
        category: the prompted object category when the run knows it (e.g. training data), or None.
        metrics: geometric metrics of the written hands, or None.
        stability: MuJoCo result of the written hands, or None.
        prior_score: the prior's denoising score of the written hands (see :attr:`RunRecord.prior`).
        hands_digest: :func:`hands_digest` of the written ``hands.json`` (stored checks apply to it).
        scores: other numbers of the method (``rank_score``, ``sds_score``, ``energy``,
            ``energy_terms``, ``squeeze``, ``init_index``, fit residuals, …).
    """

    name: str
    rank: int | None = None
    text: str | None = None
    group: str | None = None
    category: str | None = None
    metrics: GraspMetrics | None = None
    stability: StabilityResult | None = None
    prior_score: float | None = None
    hands_digest: str | None = None
    scores: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return json_safe({"name": self.name, "rank": self.rank, "text": self.text, "group": self.group,
                           "category": self.category,
                           "metrics": None if self.metrics is None else self.metrics.to_dict(),
                           "stability": None if self.stability is None else self.stability.to_dict(),
                           "prior_score": self.prior_score, "hands_digest": self.hands_digest,
                           "scores": self.scores})

    @classmethod
    def from_json(cls, d: dict, version: int = SCHEMA_VERSION) -> "SampleRecord":
        if version < 2:  # earlier releases: scores at the top level, the object under "object"
            return cls(name=str(d.get("name")), rank=d.get("rank"), text=d.get("text"), group=d.get("object"),
                       metrics=metrics_from_dict(d.get("metrics")), stability=stability_from_dict(d.get("stability")),
                       scores={k: v for k, v in d.items() if k not in _V1_SAMPLE_KEYS})
        return cls(name=str(d["name"]), rank=d.get("rank"), text=d.get("text"), group=d.get("group"),
                   category=d.get("category"), metrics=metrics_from_dict(d.get("metrics")),
                   stability=stability_from_dict(d.get("stability")), prior_score=d.get("prior_score"),
                   hands_digest=d.get("hands_digest"), scores=dict(d.get("scores") or {}))


@dataclass
class RunRecord:
    """A run folder's ``summary.json``.

    Attributes:
        kind: ``"grasp"`` (grasp synthesis, benchmark methods), ``"generate"`` (text → HOI) or
            ``"data"`` (training samples shown).
        samples: one per sample folder written, in order.
        text: the run's prompt (None when samples have their own).
        group: the object of the whole run (the mesh's name, a benchmark object), or None.
        method: the method that made it (``"bghop"``, a benchmark method), or None.
        settings: how it was made (configuration, seed, device, precision, …).
        physics: the physics settings (:class:`~bghop.eval.physics.PhysicsConfig` as a dict) the
            samples' stored stability was simulated with; None when none is stored.
        prior: what the samples' ``prior_score`` was computed with (model fingerprints, noise
            levels, seed, SDF grid); None when none is stored.
        timings_s: seconds per stage.
        warnings: warnings about the input.
        dropped: samples that were not written, with the reason (``{"index", "stage", "reason", …}``).
        extra: anything else the method records (e.g. the benchmark's resume key, the SDS trace).
        version: the schema version it was read from.
    """

    kind: str
    samples: list[SampleRecord] = field(default_factory=list)
    text: str | None = None
    group: str | None = None
    method: str | None = None
    settings: dict = field(default_factory=dict)
    physics: dict | None = None
    prior: dict | None = None
    timings_s: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    version: int = SCHEMA_VERSION

    def sample(self, name: str) -> SampleRecord | None:
        """The record of the sample folder ``name``, or None."""
        return next((s for s in self.samples if s.name == name), None)

    def physics_config(self) -> PhysicsConfig | None:
        """The physics settings of the stored stability, or None (records written before issue 18
        hold the legacy decomposition: :meth:`PhysicsConfig.from_dict`)."""
        if not isinstance(self.physics, dict):
            return None
        try:
            return PhysicsConfig.from_dict(self.physics)
        except TypeError:
            return None

    def to_json(self) -> dict:
        return json_safe({"version": SCHEMA_VERSION, "kind": self.kind, "text": self.text, "group": self.group,
                           "method": self.method, "settings": self.settings, "physics": self.physics,
                           "prior": self.prior, "timings_s": self.timings_s, "warnings": self.warnings,
                           "samples": [s.to_json() for s in self.samples], "dropped": self.dropped,
                           "extra": self.extra})

    @classmethod
    def from_json(cls, d: dict) -> "RunRecord":
        """Read a version-2 record, or the version-1 layout of earlier releases.

        Raises:
            ValueError: not a run record, or a version newer than this one.
        """
        if not isinstance(d, dict) or not isinstance(d.get("kind"), str):
            raise ValueError("not a bghop run record (no 'kind')")
        version = int(d.get("version", 1))
        if version > SCHEMA_VERSION:
            raise ValueError(f"written by a newer bghop (schema version {version}; this one reads up to "
                             f"{SCHEMA_VERSION}): upgrade bghop")
        samples = [SampleRecord.from_json(e, version) for e in d.get("samples") or [] if isinstance(e, dict)]
        if version < 2:
            settings = d.get("settings") if isinstance(d.get("settings"), dict) else {}
            mesh = settings.get("mesh")
            group = d.get("object") or settings.get("object") or (Path(mesh).stem if isinstance(mesh, str) and mesh
                                                                   else None)
            return cls(kind=d["kind"], samples=samples, text=d.get("text"), group=group, method=d.get("method"),
                       settings=settings, timings_s=d.get("timings_s") or {}, warnings=d.get("warnings") or [],
                       dropped=list(d.get("dropped") or d.get("failed") or []),
                       extra={k: v for k, v in d.items() if k not in _V1_RUN_KEYS}, version=version)
        return cls(kind=d["kind"], samples=samples, text=d.get("text"), group=d.get("group"), method=d.get("method"),
                   settings=d.get("settings") or {}, physics=d.get("physics"), prior=d.get("prior"),
                   timings_s=d.get("timings_s") or {}, warnings=d.get("warnings") or [],
                   dropped=list(d.get("dropped") or []), extra=d.get("extra") or {}, version=version)


def read_run(folder: str | os.PathLike) -> RunRecord | None:
    """The record of a run folder, or None when it has no ``summary.json`` (a folder other tools wrote).

    An unreadable or foreign ``summary.json`` is reported with a warning and read as None.
    """
    path = Path(folder) / SUMMARY_NAME
    if not path.is_file():
        return None
    try:
        return RunRecord.from_json(json.loads(path.read_text()))
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as e:
        logger.warning("ignoring %s: %s", path, e)
        return None


def write_run_record(folder: str | os.PathLike, record: RunRecord) -> Path:
    """Write ``folder/summary.json`` atomically."""
    return write_json_atomic(Path(folder) / SUMMARY_NAME, record.to_json())

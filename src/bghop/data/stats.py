"""What a data folder holds: sample counts by kind and category, and how the synthetic set was made.

``bghop data stats DIR`` prints this; the README's synthetic-set figures (pass rates before
filtering, worker-seconds per kept sample, quality of the kept grasps) come from it.

Works on any shard folder (synthetic or ARCTIC). The generator figures need the per-shard
``shard-*.json`` files that ``bghop data synth`` writes next to each shard; for other folders
they are ``None``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bghop.core.tables import markdown_table
from bghop.data.shards import Manifest, ShardError, read_shard_meta, shard_stats_path

__all__ = ["KindStats", "DataStats", "data_stats", "format_stats"]


@dataclass
class KindStats:
    """Figures for one kind of sample (two-hand or one-hand).

    Attributes:
        samples: kept samples in complete shards.
        shards: complete shards.
        objects: distinct object ids.
        candidates: grasps the generator checked (``None`` when the folder has no generator stats).
        passed: candidates that passed the physics check (kept or dropped by the per-object cap).
        worker_seconds: generator time summed over workers (one worker = one single-threaded process).
        penetration_max_mm: mean over kept samples of their ``penetration_max_m``: the deeper of hand
            vertices in the object and object surface in the hands for samples made since issue 18, the
            hand side only for older ones.
        squeezed: share of kept samples that needed a squeeze towards a fist to hold.
        stable_max_displacement_mm: mean over kept samples of the largest of the six MuJoCo
            displacements (all are < 20 mm by construction).
    """

    samples: int = 0
    shards: int = 0
    objects: int = 0
    candidates: int | None = None
    passed: int | None = None
    worker_seconds: float | None = None
    penetration_max_mm: float | None = None
    squeezed: float | None = None
    stable_max_displacement_mm: float | None = None

    @property
    def pass_rate(self) -> float | None:
        """Share of candidates that passed the physics check, before the per-object cap."""
        return self.passed / self.candidates if self.candidates else None

    @property
    def seconds_per_sample(self) -> float | None:
        """Worker-seconds per kept sample; divide by the worker count for wall-clock time."""
        return self.worker_seconds / self.samples if self.worker_seconds is not None and self.samples else None


@dataclass
class DataStats:
    """Summary of a data folder (see :func:`data_stats`).

    Attributes:
        folder: the folder.
        source: ``"synthetic"``, ``"arctic"``… (from the manifest).
        bimanual: two-hand samples.
        single: one-hand samples.
        categories: ``{category: {"bimanual": n, "single": n}}``, sorted by name.
        planned: ``{"bimanual": n, "single": n}`` the generator was asked for (synthetic sets only).
        generation: ``{category: {"bimanual"|"single": {"objects", "candidates", "passed", "kept"}}}``
            summed over the shards whose stats record it (shards written since per-category
            counting was added); empty for other folders.
        generation_shards: how many shards ``generation`` covers.
    """

    folder: str
    source: str
    bimanual: KindStats
    single: KindStats
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    planned: dict[str, int] | None = None
    generation: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    generation_shards: int = 0

    def category_pass_rate(self, category: str, kind: str) -> float | None:
        """Share of a category's checked candidates that passed (``kind``: "bimanual" or "single")."""
        g = self.generation.get(category, {}).get(kind)
        return g["passed"] / g["candidates"] if g and g["candidates"] else None

    def to_dict(self) -> dict:
        d = asdict(self)
        for kind in ("bimanual", "single"):
            k = getattr(self, kind)
            d[kind].update(pass_rate=k.pass_rate, seconds_per_sample=k.seconds_per_sample)
        return d


def _mean(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


def data_stats(folder: str | os.PathLike) -> DataStats:
    """Count what ``folder`` holds (complete shards listed in its manifest) and how it was made.

    Reads only each shard's small ``meta`` member, not the grids.

    Raises:
        FileNotFoundError: no manifest (not a data folder) or a shard listed in it is missing.
        ShardError: a damaged manifest, shard or shard stats file (the message names it and what to do).
    """
    folder = Path(folder)
    manifest = Manifest.load(folder)
    kinds = {"bimanual": KindStats(), "single": KindStats()}
    objects: dict[str, set] = {"bimanual": set(), "single": set()}
    quality: dict[str, dict[str, list]] = {k: {"pen": [], "squeeze": [], "disp": []} for k in kinds}
    categories: dict[str, Counter] = {}
    generation: dict[str, dict[str, Counter]] = {}
    generation_shards = 0
    for entry in manifest.shards:
        kind = "bimanual" if entry["bimanual"] else "single"
        ks = kinds[kind]
        path = folder / entry["file"]
        if not path.is_file():
            raise FileNotFoundError(f"{path} is listed in {folder / 'manifest.json'} but missing; rerun the command "
                                    "that made the folder to regenerate it")
        metas = read_shard_meta(path)
        ks.samples += len(metas)
        ks.shards += 1
        for m in metas:
            objects[kind].add(m["object_id"])
            info = m.get("meta", {})
            cat = info.get("category") or m["object_id"]
            categories.setdefault(cat, Counter())[kind] += 1
            q = quality[kind]
            if "metrics" in info:
                q["pen"].append(1000.0 * info["metrics"]["penetration_max_m"])
            if "squeeze" in info:
                q["squeeze"].append(float(info["squeeze"] > 0))
            if "stability" in info and info["stability"].get("max_displacement") is not None:
                q["disp"].append(1000.0 * info["stability"]["max_displacement"])
        stats_file = shard_stats_path(path)
        if stats_file.is_file():
            try:
                st = json.loads(stats_file.read_text())
                cand, passed, secs = int(st["candidates"]), int(st["passed"]), float(st["seconds"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ShardError(f"{stats_file} (the generator's stats of {path.name}) is unreadable "
                                 f"({type(e).__name__}: {e}): delete it and {path.name}, then rerun `bghop data "
                                 "synth` with the same settings and --out to make the shard again") from e
            ks.candidates = (ks.candidates or 0) + cand
            ks.passed = (ks.passed or 0) + passed
            ks.worker_seconds = (ks.worker_seconds or 0.0) + secs
            if "categories" in st:
                generation_shards += 1
                for cat, counts in st["categories"].items():
                    generation.setdefault(cat, {}).setdefault(kind, Counter()).update(counts)
    for kind, ks in kinds.items():
        ks.objects = len(objects[kind])
        ks.penetration_max_mm = _mean(quality[kind]["pen"])
        ks.squeezed = _mean(quality[kind]["squeeze"])
        ks.stable_max_displacement_mm = _mean(quality[kind]["disp"])
    cfg = manifest.settings.get("config", {})
    planned = ({"bimanual": int(cfg["bimanual"]), "single": int(cfg["single"])}
               if "bimanual" in cfg and "single" in cfg else None)
    names = sorted(set(categories) | set(generation))
    cats = {c: {"bimanual": categories.get(c, Counter())["bimanual"], "single": categories.get(c, Counter())["single"]}
            for c in names}
    gen = {c: {k: dict(v) for k, v in sorted(generation[c].items())} for c in sorted(generation)}
    return DataStats(str(folder), str(manifest.settings.get("source", "unknown")), kinds["bimanual"],
                     kinds["single"], cats, planned, gen, generation_shards)


def _fmt(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def format_stats(s: DataStats, categories: bool = True) -> str:
    """Markdown tables of :class:`DataStats` (as the README shows them)."""
    header = ["kind", "samples", "planned", "objects", "pass rate", "worker-s / sample", "max penetration mm",
              "squeezed", "max displacement mm"]
    rows = []
    for name, kind, k in (("two-hand", "bimanual", s.bimanual), ("one-hand", "single", s.single)):
        plan = s.planned[kind] if s.planned else None
        rows.append([name, str(k.samples), _fmt(plan, "d"), str(k.objects), _fmt(k.pass_rate, ".1%"),
                     _fmt(k.seconds_per_sample, ".1f"), _fmt(k.penetration_max_mm, ".1f"), _fmt(k.squeezed, ".0%"),
                     _fmt(k.stable_max_displacement_mm, ".1f")])
    secs = [k.worker_seconds for k in (s.bimanual, s.single) if k.worker_seconds is not None]
    lines = [f"{s.folder} ({s.source}): {s.bimanual.samples + s.single.samples} samples", "",
             markdown_table(header, rows)]
    if secs:
        lines += ["", f"generator time: {sum(secs) / 3600:.2f} worker-hours "
                      "(wall-clock = worker-hours / workers when the workers had a core each)"]
    if categories and s.categories:
        if s.generation:
            total = s.bimanual.shards + s.single.shards
            lines += ["", f"pass rate per category: from the {s.generation_shards} of {total} shards that record it"]
        rows = [[c, str(n["bimanual"]), _fmt(s.category_pass_rate(c, "bimanual"), ".0%"), str(n["single"]),
                 _fmt(s.category_pass_rate(c, "single"), ".0%")] for c, n in s.categories.items()]
        lines += ["", markdown_table(["category", "two-hand", "pass rate", "one-hand", "pass rate"], rows)]
    return "\n".join(lines)

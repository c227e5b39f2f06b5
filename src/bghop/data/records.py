"""Grasp records: a synthetic set without its grids, from which the set is rebuilt in minutes.

Generating the built-in set costs hours of optimisation and simulation (``bghop data synth``);
what that work finds is small: per sample, the object (fixed by the shard's seed and its draw
number, see :func:`bghop.data.synthetic._draw_objects`), both hands' parameters and the
checks' figures. A **record folder** keeps exactly that, per shard:

* ``records.json``: the record format and the :class:`~bghop.data.synthetic.SynthConfig` the
  shards were made with;
* ``record-00007.npz``: ``right`` ``(N, 61)`` and, for two-hand shards, ``left`` ``(N, 61)``
  float32 hand parameters (pose 45, global_orient 3, transl 3, betas 10, object frame; the
  values stored in the shard's ``hands``), and ``meta`` / ``stats`` (UTF-8 JSON): each sample's
  text, object id and generator figures, and the shard's stats file (pass counts, seconds, sha1).

``bghop data records DATA --out DIR`` writes one from a data folder;
``bghop data synth --records DIR`` rebuilds every recorded shard from it (same objects, same
hands, grids encoded again: about 0.5 s per sample instead of 4–5 worker-seconds) and generates
the rest. The package ships the records of the default set (:func:`builtin_records_dir`), so
the default ``bghop data synth`` only optimises what is not recorded. The rebuilt shard's
stats keep the generator's figures (pass rates, worker-seconds) and say ``"rebuilt": true``.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bghop.core.io import write_bytes_atomic, write_json_atomic
from bghop.data.shards import Manifest, read_shard_meta, shard_stats_path
from bghop.hands.params import HAND_PARAM_SIZES, HandParams

logger = logging.getLogger(__name__)

__all__ = ["RecordError", "GraspRecord", "record_path", "read_record", "find_record", "grasp_identity", "same_grids",
           "export_records", "builtin_records_dir", "builtin_record_dirs", "records_config", "shard_record"]

RECORD_FORMAT = 1
_WIDTH = sum(HAND_PARAM_SIZES.values())  # 61
_INDEX = "records.json"


class RecordError(ValueError):
    """A record file or folder that cannot be used (corrupt, other format, other settings)."""


@dataclass
class GraspRecord:
    """One shard's record.

    Attributes:
        path: the record file.
        index: shard index.
        arrays: ``{"right": (N, 61), "left": (N, 61)}`` float32 (``left`` only for two-hand shards).
        meta: per sample ``{"text", "object_id", "meta"}``.
        stats: the shard's generator stats (``count``, ``bimanual``, ``candidates``, ``passed``,
            ``seconds``, ``sha1``, ``categories``).
    """

    path: Path
    index: int
    arrays: dict[str, np.ndarray]
    meta: list[dict]
    stats: dict

    @property
    def draws(self) -> int:
        """How many objects the shard drew up to its last kept one (from the object ids)."""
        return max(int(m["object_id"].rsplit("-", 1)[1]) for m in self.meta)

    def hands(self, i: int) -> dict[str, HandParams]:
        """Sample ``i``'s hands, batch of one, float32."""
        out = {}
        for side, a in self.arrays.items():
            row = torch.from_numpy(np.array(a[i], dtype=np.float32))
            parts, k = [], 0
            for n in HAND_PARAM_SIZES.values():
                parts.append(row[k:k + n][None])
                k += n
            out[side] = HandParams(*parts)
        return out


def record_path(folder: str | os.PathLike, index: int) -> Path:
    return Path(folder) / f"record-{index:05d}.npz"


def builtin_records_dir() -> Path:
    """The records of the default synthetic set shipped in the package (all of its shards)."""
    return Path(str(resources.files("bghop") / "assets" / "synth_records"))


def builtin_record_dirs() -> list[Path]:
    """Every record folder shipped in the package: :func:`builtin_records_dir` (the records of
    :data:`bghop.data.synthetic.SHIPPED_SET`) and ``synth_records_two_hand`` (the two-hand set,
    ``bghop data synth --library two_hand --bimanual 3000 --single 0 --frame object@0.8``); only
    those installed."""
    base = builtin_records_dir()
    dirs = [base, base.with_name("synth_records_two_hand")]
    return [d for d in dirs if (d / _INDEX).is_file()]


def records_config(folder: str | os.PathLike) -> dict | None:
    """The settings a record folder was made with, or None when it is not a record folder."""
    path = Path(folder) / _INDEX
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        fmt, config = d["format"], d["config"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise RecordError(f"{path} is unreadable ({e}); export the records again") from e
    if fmt != RECORD_FORMAT:
        raise RecordError(f"{folder} holds record format {fmt}; this bghop reads format {RECORD_FORMAT}")
    return config


def _json_bytes(obj: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)


def read_record(path: str | os.PathLike) -> GraspRecord:
    """Read one record file.

    Raises:
        RecordError: unreadable, another format, or inconsistent arrays.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        fmt = int(d["format"])
        meta = json.loads(bytes(d["meta"]).decode())
        stats = json.loads(bytes(d["stats"]).decode())
        index = int(d["index"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise RecordError(f"{path} is not a readable grasp record ({e}); delete it and export it again") from e
    if fmt != RECORD_FORMAT:
        raise RecordError(f"{path} is record format {fmt}; this bghop reads format {RECORD_FORMAT}")
    arrays = {s: d[s] for s in ("right", "left") if s in d}
    n = len(meta)
    if "right" not in arrays or any(a.shape != (n, _WIDTH) for a in arrays.values()) or n != stats.get("count"):
        raise RecordError(f"{path}: arrays {({s: a.shape for s, a in arrays.items()})} do not match its "
                          f"{n} samples; delete it and export it again")
    if ("left" in arrays) != bool(stats.get("bimanual")):
        raise RecordError(f"{path}: hands do not match the shard kind; delete it and export it again")
    return GraspRecord(path, index, arrays, meta, stats)


#: settings that say how grasps are stored as grids, not which grasps a set holds
_GRID_KEYS = ("grid", "bimanual_grid")


def grasp_identity(config: dict) -> dict:
    """A set's settings without its grid settings (also in the sets it repairs): two sets with the same
    grasp identity hold the same grasps, so records of one rebuild the other in its own grid frame."""
    d = {k: v for k, v in json.loads(json.dumps(config)).items() if k not in _GRID_KEYS}
    if isinstance(d.get("repair_of"), dict):
        d["repair_of"] = grasp_identity(d["repair_of"])
    return d


def same_grids(a: dict, b: dict) -> bool:
    """Whether two sets' settings store their grasps in the same grids."""
    a, b = json.loads(json.dumps(a)), json.loads(json.dumps(b))
    return all(a.get(k) == b.get(k) for k in _GRID_KEYS)


def find_record(folder: str | os.PathLike, job: Any, config: dict) -> GraspRecord | None:
    """The record of shard ``job`` (a :class:`~bghop.data.synthetic.ShardJob`) in ``folder`` when
    the folder was made with the same grasps as ``config`` (:func:`grasp_identity`: its grid settings
    may differ, the grids are encoded again) and the record matches the job's kind and size, else None."""
    cfg = records_config(folder)
    if cfg is None or grasp_identity(cfg) != grasp_identity(config):
        return None
    path = record_path(folder, job.index)
    if not path.is_file():
        return None
    rec = read_record(path)
    if rec.index != job.index or rec.stats.get("count") != job.count or bool(rec.stats.get("bimanual")) != job.bimanual:
        return None
    return rec


def shard_record(shard: str | os.PathLike) -> GraspRecord:
    """The record of one shard of a synthetic data folder, in memory (``path`` is the shard).

    Raises:
        RecordError: the generator's stats file beside the shard is missing or unreadable.
        ShardError: the shard is damaged.
    """
    shard = Path(shard)
    stats_file = shard_stats_path(shard)
    if not stats_file.is_file():
        raise RecordError(f"{stats_file} is missing: records need the generator's stats beside each shard")
    try:
        stats = json.loads(stats_file.read_text())
    except (OSError, ValueError) as e:
        raise RecordError(f"{stats_file} (the generator's stats of {shard.name}) is unreadable ({type(e).__name__}: "
                          f"{e}): delete it and {shard.name}, then rerun `bghop data synth` with the same settings "
                          "and --out to make the shard again") from e
    meta = read_shard_meta(shard)
    arrays = {}
    for side in ("right", "left"):
        if side in meta[0]["hands"]:
            arrays[side] = np.array([[x for k in HAND_PARAM_SIZES for x in m["hands"][side][k]] for m in meta],
                                    dtype=np.float32)
    return GraspRecord(shard, int(shard.stem.split("-")[1]), arrays,
                       [{"text": m["text"], "object_id": m["object_id"], "meta": m["meta"]} for m in meta], stats)


def export_records(data: str | os.PathLike, out: str | os.PathLike, only: set[int] | None = None) -> int:
    """Write the record of every complete shard of a synthetic data folder into ``out``.

    Existing records in ``out`` of the same settings are kept or overwritten shard by shard, so
    exporting a growing set again adds the new shards. Files are written atomically.

    Args:
        data: a folder made by ``bghop data synth`` (manifest, ``config.json``, shard stats).
        out: the record folder (created).
        only: shard indices to record (default: all complete shards).
    Returns:
        the number of shards recorded.
    Raises:
        RecordError: ``data`` is not a synthetic set, or ``out`` holds records of other settings.
    """
    data, out = Path(data), Path(out)
    manifest = Manifest.load(data)
    config = manifest.settings.get("config")
    if manifest.settings.get("source") != "synthetic" or config is None:
        raise RecordError(f"{data} is not a synthetic set made by `bghop data synth` (no generator settings)")
    old = records_config(out)
    if old is not None and old != config:
        raise RecordError(f"{out} holds records of other settings; export into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / _INDEX, {"format": RECORD_FORMAT, "config": config})
    n = 0
    for entry in manifest.shards:
        if only is not None and int(Path(entry["file"]).stem.split("-")[1]) not in only:
            continue
        rec = shard_record(data / entry["file"])
        arrays = {"format": np.int64(RECORD_FORMAT), "index": np.int64(rec.index), "meta": _json_bytes(rec.meta),
                  "stats": _json_bytes(rec.stats), **rec.arrays}
        write_bytes_atomic(record_path(out, rec.index), lambda f, a=arrays: np.savez_compressed(f, **a))
        n += 1
    logger.info("recorded %d shards in %s", n, out)
    return n

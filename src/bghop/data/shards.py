"""Sharded storage of training samples and a lazy ``torch.utils.data.Dataset`` over it.

A data folder holds ``shard-00000.npz, shard-00001.npz, …`` and ``manifest.json``. Each shard
stacks its samples' arrays; per-sample metadata (text, object id, hand parameters, ``nTo``)
is a JSON string inside the shard. Arrays are stored compactly:

* ``object_tsdf`` ``(N, 64, 64, 64)`` float16: the object SDF in the right hand's normalised
  frame, truncated at ±0.2 n and divided by 0.2 (the autoencoder's input, as upstream), so it
  lies in [-1, 1] and compresses well;
* ``right_field`` / ``left_field`` ``(N, 20, 16, 16, 16)`` float16 (``left_field`` absent for a
  single-hand shard).

Shards and the manifest are written atomically (temporary file, then rename), so an
interrupted writer leaves only complete shards, and a rerun can skip them. A shard or manifest
that is damaged anyway (a truncated copy, a full disk, a hand edit) raises :class:`ShardError`
naming the file and how to make it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from bghop.core.io import write_bytes_atomic

logger = logging.getLogger(__name__)

__all__ = ["TRUNCATION", "ShardError", "Sample", "write_shard", "read_shard", "read_shard_meta", "Manifest",
           "ShardDataset", "shard_path", "shard_stats_path"]

#: SDF truncation in n units before the autoencoder (upstream: clamp ±0.2 then divide by 0.2)
TRUNCATION = 0.2
MANIFEST = "manifest.json"
#: arrays every shard holds (``left_field`` only in bimanual shards)
_SHARD_KEYS = ("object_tsdf", "right_field", "nTo", "meta")
#: how to make a data folder's files again, by the manifest's ``settings["source"]``
_REMAKE = {"synthetic": "rerun `bghop data synth` with the same settings and --out (it makes missing shards again "
                        "and rewrites the manifest)",
           "arctic": "rerun `bghop data arctic` into the same --out"}
_REMAKE_ANY = ("rerun the command that made the folder (`bghop data synth` with the same settings and --out makes "
               "missing shards again and rewrites the manifest; or `bghop data arctic`)")


class ShardError(ValueError):
    """A data folder's shard or manifest that cannot be read; the message names the file and what to do."""


def _remake(folder: Path) -> str:
    """How to make the files of ``folder`` again (from its manifest's source when it can be read)."""
    try:
        source = json.loads((folder / MANIFEST).read_text()).get("settings", {}).get("source")
    except Exception:  # noqa: BLE001 - only a hint
        source = None
    return _REMAKE.get(source, _REMAKE_ANY)


@dataclass
class Sample:
    """One training sample.

    Attributes:
        object_sdf: ``(R, R, R)`` SDF in n units (truncated on write).
        right_field: ``(20, r, r, r)``.
        left_field: ``(20, r, r, r)`` or None for a single-hand sample.
        text: the prompt, e.g. "grasp a mug with both hands".
        object_id: identifier of the object (category + seed, or ARCTIC object name).
        hands: ``hands.json``-style dict in the object's frame.
        nTo: ``(4, 4)`` object frame → normalised frame.
        meta: anything else (source, subject, frame index, …).
    """

    object_sdf: np.ndarray
    right_field: np.ndarray
    left_field: np.ndarray | None
    text: str
    object_id: str
    hands: dict
    nTo: np.ndarray
    meta: dict = field(default_factory=dict)


def shard_path(folder: str | os.PathLike, index: int) -> Path:
    return Path(folder) / f"shard-{index:05d}.npz"


def shard_stats_path(shard: str | os.PathLike) -> Path:
    """The generator's stats file beside a shard (``shard-00007.json``; written by ``bghop data synth``)."""
    return Path(shard).with_suffix(".json")


def write_shard(path: str | os.PathLike, samples: list[Sample]) -> str:
    """Write samples (all bimanual or all single-hand) to one shard atomically; returns its sha1."""
    if not samples:
        raise ValueError("a shard needs at least one sample")
    bimanual = {s.left_field is not None for s in samples}
    if len(bimanual) != 1:
        raise ValueError("a shard holds either bimanual or single-hand samples, not both")
    arrays = {
        "object_tsdf": np.stack([np.clip(s.object_sdf, -TRUNCATION, TRUNCATION) / TRUNCATION for s in samples])
        .astype(np.float16),
        "right_field": np.stack([s.right_field for s in samples]).astype(np.float16),
        "nTo": np.stack([s.nTo for s in samples]).astype(np.float64),
    }
    if bimanual.pop():
        arrays["left_field"] = np.stack([s.left_field for s in samples]).astype(np.float16)
    meta = [{"text": s.text, "object_id": s.object_id, "hands": s.hands, "meta": s.meta} for s in samples]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = Path(path)
    write_bytes_atomic(path, lambda f: np.savez_compressed(f, **arrays))
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _decode_meta(raw: np.ndarray) -> list[dict]:
    meta = json.loads(bytes(raw).decode())
    if not isinstance(meta, list) or not all(isinstance(m, dict) and "text" in m and "object_id" in m for m in meta):
        raise ValueError("its meta is not a list of per-sample records")
    return meta


def _broken(path: Path, why: str) -> ShardError:
    return ShardError(f"{path} is not a readable bghop shard ({why}): delete it and {_remake(path.parent)}")


def _read_npz(path: Path, keys: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    """The arrays ``keys`` (None: all) of the shard ``path``; :class:`ShardError` for anything unreadable."""
    if not path.is_file():
        raise ShardError(f"shard {path} is missing: {_remake(path.parent)}")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise _broken(path, "a single .npy array, not an .npz archive")
        with z:
            if not z.files:
                raise _broken(path, "an empty archive: it holds no arrays")
            missing = [k for k in _SHARD_KEYS if k not in z.files]
            if missing:
                raise _broken(path, f"it has no {', '.join(missing)} array")
            return {k: z[k] for k in (z.files if keys is None else keys)}
    except (MemoryError, ShardError):
        raise
    except Exception as e:  # noqa: BLE001 - numpy and zipfile raise many types for damaged files
        name = type(e).__name__ if type(e).__name__ != "error" else f"{type(e).__module__}.error"  # zlib.error
        raise _broken(path, "an empty file" if isinstance(e, EOFError) else f"{name}: {e}") from e


def read_shard(path: str | os.PathLike) -> dict:
    """Load a shard fully: arrays plus ``"meta"`` (list of dicts).

    Raises:
        ShardError: missing, empty, truncated or corrupt file, arrays missing or of inconsistent
            sample counts; the message says how to make it again.
    """
    path = Path(path)
    d = _read_npz(path, None)
    try:
        d["meta"] = _decode_meta(d["meta"])
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _broken(path, f"{type(e).__name__}: {e}") from e
    n = len(d["meta"])
    shapes = {k: d[k].shape for k in ("object_tsdf", "right_field", "left_field", "nTo") if k in d}
    ndims = {"object_tsdf": 4, "right_field": 5, "left_field": 5, "nTo": 3}
    if any(len(sh) != ndims[k] or sh[0] != n for k, sh in shapes.items()) or shapes["nTo"][1:] != (4, 4):
        raise _broken(path, f"array shapes {shapes} do not match its {n} samples")
    return d


def read_shard_meta(path: str | os.PathLike) -> list[dict]:
    """Only a shard's per-sample metadata (text, object id, hands, source fields), not its grids.

    Raises:
        ShardError: as :func:`read_shard`.
    """
    path = Path(path)
    raw = _read_npz(path, ("meta",))["meta"]
    try:
        return _decode_meta(raw)
    except ValueError as e:
        raise _broken(path, f"{type(e).__name__}: {e}") from e


@dataclass
class Manifest:
    """What a data folder holds.

    Attributes:
        shards: ``[{"file", "count", "sha1", "bimanual"}]`` in order.
        settings: how the samples were made (grid settings, generator settings, source).
    """

    shards: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return sum(s["count"] for s in self.shards)

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / MANIFEST
        write_bytes_atomic(path, lambda f: f.write(json.dumps(asdict(self), indent=1).encode()))
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "Manifest":
        """Read ``folder/manifest.json``.

        Raises:
            FileNotFoundError: no manifest (not a data folder).
            ShardError: not JSON, or not a manifest (``{"shards": [{"file", "count", "bimanual", …}],
                "settings": {…}}``); the message says how to make it again.
        """
        path = Path(folder) / MANIFEST
        if not path.is_file():
            raise FileNotFoundError(f"{folder} has no {MANIFEST}: not a bghop data folder "
                                    "(make one with `bghop data synth` or `bghop data arctic`)")
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ShardError(f"{path} is not valid JSON ({type(e).__name__}: {e}): delete it and "
                             f"{_REMAKE_ANY}") from e
        why = _manifest_problem(d)
        if why is not None:
            hint = _REMAKE.get(d.get("settings", {}).get("source") if isinstance(d, dict) and
                               isinstance(d.get("settings"), dict) else None, _REMAKE_ANY)
            raise ShardError(f"{path} is not a bghop manifest ({why}): delete it and {hint}")
        return cls(shards=d.get("shards", []), settings=d.get("settings", {}))


def _manifest_problem(d: object) -> str | None:
    """What is wrong with a decoded manifest, or None."""
    if not isinstance(d, dict):
        return f"a JSON {type(d).__name__}, not an object"
    shards, settings = d.get("shards", []), d.get("settings", {})
    if not isinstance(settings, dict):
        return "'settings' is not an object"
    if not isinstance(shards, list):
        return "'shards' is not a list"
    for i, e in enumerate(shards):
        if not isinstance(e, dict):
            return f"shards[{i}] is not an object"
        missing = [k for k in ("file", "count", "bimanual") if k not in e]
        if missing:
            return f"shards[{i}] has no {', '.join(missing)}"
        if not isinstance(e["file"], str) or Path(e["file"]).name != e["file"]:
            return f"shards[{i}].file is not a file name: {e['file']!r}"
        if isinstance(e["count"], bool) or not isinstance(e["count"], int) or e["count"] < 0:
            return f"shards[{i}].count is not a sample count: {e['count']!r}"
        if not isinstance(e["bimanual"], bool):
            return f"shards[{i}].bimanual is not true/false: {e['bimanual']!r}"
    return None


class ShardDataset(Dataset):
    """Lazy dataset over one data folder: shards are read on first use and kept in a small LRU cache.

    Items are dicts of tensors: ``object_tsdf (1, R, R, R)``, ``right_field (20, r, r, r)``,
    ``left_field`` (bimanual shards only), plus ``text`` and ``object_id`` strings.

    Args:
        folder: a data folder with a manifest.
        bimanual: keep only bimanual (True), only single-hand (False) or all (None) shards.
        cache_shards: how many decoded shards to keep in memory.
        check: open every kept shard now (its zip directory only, not its arrays), so that a
            missing, empty, truncated or foreign file fails here rather than in the middle of training.
    Raises:
        FileNotFoundError: no manifest.
        ShardError: a bad manifest or (``check``) a bad shard; later, when read, a shard whose
            contents are damaged or whose sample count differs from the manifest's.
    """

    def __init__(self, folder: str | os.PathLike, bimanual: bool | None = None, cache_shards: int = 4,
                 check: bool = True) -> None:
        self.folder = Path(folder)
        self.manifest = Manifest.load(self.folder)
        self.shards = [s for s in self.manifest.shards if bimanual is None or s["bimanual"] == bimanual]
        if check:
            for s in self.shards:
                _read_npz(self.folder / s["file"], ())
        self.offsets = np.cumsum([0] + [s["count"] for s in self.shards])
        self._cache: OrderedDict[str, dict] = OrderedDict()
        self._cache_size = cache_shards

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _shard(self, i: int) -> dict:
        name = self.shards[i]["file"]
        if name not in self._cache:
            path = self.folder / name
            d = read_shard(path)
            if len(d["meta"]) != self.shards[i]["count"]:
                raise ShardError(f"{path} holds {len(d['meta'])} samples but {self.folder / MANIFEST} lists "
                                 f"{self.shards[i]['count']}: delete both and {_remake(self.folder)}")
            self._cache[name] = d
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(name)
        return self._cache[name]

    def __getitem__(self, idx: int) -> dict:
        if not 0 <= idx < len(self):
            raise IndexError(idx)
        s = int(np.searchsorted(self.offsets, idx, side="right") - 1)
        j = idx - int(self.offsets[s])
        d = self._shard(s)
        item = {
            "object_tsdf": torch.from_numpy(d["object_tsdf"][j].astype(np.float32))[None],
            "right_field": torch.from_numpy(d["right_field"][j].astype(np.float32)),
            "text": d["meta"][j]["text"],
            "object_id": d["meta"][j]["object_id"],
        }
        if "left_field" in d:
            item["left_field"] = torch.from_numpy(d["left_field"][j].astype(np.float32))
        return item

    def meta(self, idx: int) -> dict:
        """Full metadata of sample ``idx``: text, object_id, hands, nTo and the source fields (subject, frame…)."""
        s = int(np.searchsorted(self.offsets, idx, side="right") - 1)
        d = self._shard(s)
        j = idx - int(self.offsets[s])
        entry = d["meta"][j]
        return {**entry["meta"], "text": entry["text"], "object_id": entry["object_id"], "hands": entry["hands"],
                "nTo": d["nTo"][j]}

"""Training data for the autoencoder and the prior: one or more shard folders, mixed by weight.

A source is ``DIR``, ``DIR:WEIGHT`` (e.g. synthetic and ARCTIC mixed 1:3) or ``DIR@right[:WEIGHT]``:
the right hands of a bimanual folder used as single-hand samples (prompt "… with the right
hand"), for single-hand training when one-hand captures are scarce. Each folder's
samples are split deterministically into train/validation, so a rerun or a resumed run sees the
same split: in a synthetic folder, where every object is a fresh random instance, every
``val_every``-th *object* goes to validation with all its grasps (the validation loss then
measures new shapes, not new grasps of shapes seen in training); in other folders (ARCTIC, whose
few objects recur in every sequence) every ``val_every``-th sample.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    Subset,
    WeightedRandomSampler,
)

from bghop.core.prompts import right_hand_prompt
from bghop.data.shards import TRUNCATION, Manifest, ShardDataset, ShardError
from bghop.fields.encode import GridSettings

__all__ = ["DataSource", "parse_source", "as_right_hand_prompt", "GridData", "open_grid_data", "collate_grids", "grid_settings_of"]

logger = logging.getLogger(__name__)

VAL_EVERY = 20
"""Default stride of the validation split: every N-th object (synthetic folders) or sample of a folder."""


@dataclass(frozen=True)
class DataSource:
    """A shard folder, its mixing weight, and whether to use only the right hands of its bimanual samples."""

    folder: str
    weight: float = 1.0
    right_only: bool = False


def parse_source(spec: str) -> DataSource:
    """``"DIR"``, ``"DIR:WEIGHT"``, ``"DIR@right"`` or ``"DIR@right:WEIGHT"`` → :class:`DataSource`.

    A Windows drive letter (``C:/data``) is not a weight.
    """
    weight = 1.0
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail.replace(".", "", 1).isdigit():
        spec, weight = head, float(tail)
    right_only = spec.endswith("@right")
    if right_only:
        spec = spec[: -len("@right")]
    return DataSource(spec, weight, right_only)


#: "grasp a box with both hands" → "grasp a box with the right hand" (kept name of
#: :func:`bghop.core.prompts.right_hand_prompt`)
as_right_hand_prompt = right_hand_prompt


def grid_settings_of(folder: str | os.PathLike, bimanual: bool | None = None) -> GridSettings:
    """The grid settings a data folder was built with (from its manifest): of its two-hand samples
    (``bimanual=True``; a synthetic set may store them in another frame than its one-hand samples,
    ``SynthConfig.bimanual_grid``) or of its one-hand samples (otherwise).

    Raises:
        FileNotFoundError: no manifest.
        ShardError: a bad manifest, or one without (readable) grid settings.
    """
    s = Manifest.load(folder).settings
    config = s.get("config")
    d = config["grid"] if isinstance(config, dict) and "grid" in config else s.get("grid")
    if bimanual and isinstance(config, dict) and isinstance(config.get("bimanual_grid"), dict):
        d = config["bimanual_grid"]
    path = Path(folder) / "manifest.json"
    if d is None:
        raise ShardError(f"{path} does not record grid settings: it was not made by `bghop data synth` or "
                         "`bghop data arctic`; make the folder again with one of them")
    try:
        return GridSettings.from_dict(d)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ShardError(f"{path} holds unreadable grid settings ({type(e).__name__}: {e}): delete it and rerun "
                         "the command that made the folder (`bghop data synth` with the same settings and --out, or "
                         "`bghop data arctic`)") from e


class _Items(Dataset):
    """A ShardDataset view that returns the SDF in n-units and drops the left hand when asked."""

    def __init__(self, ds: ShardDataset, keep_left: bool, right_prompt: bool = False) -> None:
        self.ds, self.keep_left, self.right_prompt = ds, keep_left, right_prompt

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        item = self.ds[i]
        text = right_hand_prompt(item["text"]) if self.right_prompt else item["text"]
        out = {"object_sdf": item["object_tsdf"] * TRUNCATION, "right_field": item["right_field"],
               "text": text, "object_id": item["object_id"]}
        if self.keep_left:
            out["left_field"] = item["left_field"]
        return out


def collate_grids(items: list[dict]) -> dict:
    """Stack tensors, keep strings as lists."""
    out: dict = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        out[k] = torch.stack(vals) if isinstance(vals[0], torch.Tensor) else vals
    return out


@dataclass
class GridData:
    """Train/validation datasets and the per-sample weights of the train set."""

    train: Dataset
    val: Dataset
    train_weights: torch.Tensor
    grid: GridSettings

    def train_loader(self, batch_size: int, seed: int, workers: int = 0) -> DataLoader:
        g = torch.Generator().manual_seed(seed)
        sampler = WeightedRandomSampler(self.train_weights, num_samples=len(self.train), replacement=True, generator=g)
        return DataLoader(self.train, batch_size=batch_size, sampler=sampler, collate_fn=collate_grids,
                          num_workers=workers, drop_last=len(self.train) >= batch_size,
                          persistent_workers=workers > 0)

    def val_loader(self, batch_size: int, workers: int = 0) -> DataLoader:
        return DataLoader(self.val, batch_size=batch_size, shuffle=False, collate_fn=collate_grids,
                          num_workers=workers)


def _validation_indices(ds: ShardDataset, val_every: int) -> list[int]:
    """Held-out sample indices of one folder (see the module docstring)."""
    n = len(ds)
    if ds.manifest.settings.get("source") != "synthetic":
        return list(range(val_every - 1, n, val_every)) if n >= val_every else []
    order: dict[str, int] = {}
    ids = [order.setdefault(ds.meta(i)["object_id"], len(order)) for i in range(n)]
    if len(order) < val_every:
        return []
    return [i for i in range(n) if ids[i] % val_every == val_every - 1]


def open_grid_data(sources: list[DataSource], bimanual: bool | None, val_every: int = VAL_EVERY) -> GridData:
    """Open shard folders for training.

    Args:
        sources: folders and weights.
        bimanual: True = bimanual shards only (items carry ``left_field``); False = single-hand
            shards only; None = all shards, left hand dropped (the autoencoder needs only the object).
        val_every: every N-th object (synthetic folders) or sample (others) of each folder is
            held out for validation (see the module docstring).
    Raises:
        FileNotFoundError / ValueError with what to do when a folder is missing, empty or its grid
        settings differ from the others; :class:`~bghop.data.shards.ShardError` (a ValueError) for
        a damaged manifest or shard (every shard is opened here, its arrays are read on first use).
    """
    if not sources:
        raise ValueError("no data folders given")
    trains, vals, weights = [], [], []
    grid: GridSettings | None = None
    for src in sources:
        folder = Path(src.folder)
        if not (folder / "manifest.json").is_file():
            raise FileNotFoundError(f"{folder} is not a bghop data folder (no manifest.json); make one with "
                                    "`bghop data synth` or `bghop data arctic`")
        g = grid_settings_of(folder, bimanual=bimanual is True or src.right_only)
        if src.right_only and g != grid_settings_of(folder, bimanual=False):
            raise ValueError(f"{src.folder}@right: the two-hand samples of {folder} are stored in another grid frame "
                             f"({g.field.frame.spec}) than single-hand samples ({grid_settings_of(folder).field.frame.spec}"
                             f"); train the single-hand prior on its one-hand samples ({folder}) or on a folder "
                             "rebuilt with `bghop data synth --frame right_hand@0.6`")
        if bimanual is None and g != grid_settings_of(folder, bimanual=True):
            logger.info("%s stores two-hand and one-hand samples in different grid frames; the autoencoder "
                        "learns both", folder)
        if grid is None:
            grid = g
        elif g != grid:
            raise ValueError(f"{folder} was built with different grid settings than {sources[0].folder}; "
                             "train on folders with one grid setting")
        # keep every shard once read: random access over a few thousand float16 samples fits in memory
        if src.right_only and bimanual is not False:
            raise ValueError(f"{src.folder}@right gives single-hand samples: use it for single-hand training")
        shards = ShardDataset(folder, bimanual=True if src.right_only else bimanual, cache_shards=1_000_000)
        ds = _Items(shards, keep_left=bimanual is True, right_prompt=src.right_only)
        n = len(ds)
        if n == 0:
            kind = {True: "bimanual", False: "single-hand", None: ""}[bimanual]
            logger.warning("%s holds no %s samples; skipped", folder, kind)
            continue
        val_idx = _validation_indices(shards, val_every)
        held = set(val_idx)
        train_idx = [i for i in range(n) if i not in held]
        trains.append(Subset(ds, train_idx))
        vals.append(Subset(ds, val_idx))
        weights.append(torch.full((len(train_idx),), src.weight / max(len(train_idx), 1)))
        logger.info("%s: %d train, %d val samples (weight %g)", folder, len(train_idx), len(val_idx), src.weight)
    if not trains:
        raise ValueError("the data folders hold no samples of the requested kind "
                         f"({'bimanual' if bimanual else 'single-hand' if bimanual is False else 'any'})")
    assert grid is not None
    return GridData(ConcatDataset(trains), ConcatDataset(vals), torch.cat(weights), grid)

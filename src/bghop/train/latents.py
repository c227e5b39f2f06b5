"""Object latents of a training split, encoded once and kept in the run folder for resumes.

Encoding every sample's 64³ object with the frozen autoencoder is the slow part of starting a prior run
(about 7 minutes for 6,000 samples on 2 CPU cores). :func:`encode_grids` can keep the latents in a
safetensors file whose metadata holds a key of everything they depend on (:func:`latent_key`: the
autoencoder's weights, each source's manifest and grid config, the split and the layout), so a resumed
run reads them back instead of encoding again; any change of those inputs encodes again and replaces the
file. The hand fields and prompts are read from the data as before (cheap next to the encoder).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from bghop.core.checkpoint import model_fingerprint
from bghop.fields.layout import InteractionGrid
from bghop.models.autoencoder import ObjectAutoencoder
from bghop.train.data import DataSource, collate_grids

__all__ = ["encode_grids", "latent_key"]

logger = logging.getLogger(__name__)

_FORMAT = "bghop-latents-1"


def latent_key(ae: ObjectAutoencoder, sources: list[DataSource], bimanual: bool | None, split: str,
               val_every: int) -> str:
    """A hex key of what a split's latents depend on: the autoencoder's weights
    (:func:`~bghop.core.checkpoint.model_fingerprint`), each source's ``manifest.json`` (which names every
    shard with its SHA-1) and ``config.json``, whether only its right hands are used, the layout, the split
    (``"train"``/``"val"``) and the validation stride."""
    h = hashlib.sha256(f"{_FORMAT}|{model_fingerprint(ae)}".encode())
    for src in sources:
        folder = Path(src.folder)
        for name in ("manifest.json", "config.json"):
            if (folder / name).is_file():
                h.update((folder / name).read_bytes())
        h.update(f"|right_only={src.right_only}".encode())
    h.update(f"|bimanual={bimanual}|split={split}|val_every={val_every}".encode())
    return h.hexdigest()


def _read_cache(path: Path, key: str, n: int) -> torch.Tensor | None:
    try:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("key") != key:
                return None
            lat = f.get_tensor("latents")
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        logger.warning("ignoring the latent cache %s (%s); encoding again", path, e)
        return None
    return lat if lat.shape[0] == n else None


@torch.no_grad()
def encode_grids(ae: ObjectAutoencoder, ds: Dataset, bimanual: bool, batch_size: int = 32,
                 desc: str = "encoding objects", cache: str | os.PathLike | None = None,
                 key: str | None = None) -> tuple[InteractionGrid, list[str]]:
    """Encode every sample's object with the (frozen) autoencoder.

    Args:
        ae: the autoencoder.
        ds: items with ``object_sdf`` (64³), ``right_field`` (and ``left_field`` when ``bimanual``), ``text``.
        bimanual: keep the left hands' fields.
        cache: a safetensors file to read the latents from when its key equals ``key``, else to write them to
            (atomically) after encoding; None encodes without a cache.
        key: :func:`latent_key` of ``ds`` (required with ``cache``).
    Returns:
        ``InteractionGrid`` (object latents ``(N, C, r, r, r)``, the posterior means; fields
        ``(N, 20, r, r, r)``) and the N prompts.
    """
    if cache is not None and key is None:
        raise ValueError("a latent cache needs the key of what it holds (latent_key)")
    n = len(ds)
    cached = _read_cache(Path(cache), key, n) if cache is not None and Path(cache).is_file() else None
    if cached is not None:
        logger.info("object latents of %d samples read from %s", n, cache)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate_grids)
    lat, right, left, texts = [], [], [], []
    for b in tqdm(loader, desc=desc if cached is None else "reading fields", leave=False):
        if cached is None:
            lat.append(ae.encode(b["object_sdf"]).mean)
        right.append(b["right_field"])
        if bimanual:
            left.append(b["left_field"])
        texts += b["text"]
    if not texts:
        return InteractionGrid(torch.zeros(0), torch.zeros(0), None), []
    latents = cached if cached is not None else torch.cat(lat)
    if cache is not None and cached is None:
        path = Path(cache)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # one per process (DDP ranks write alike)
        save_file({"latents": latents.detach().cpu().contiguous()}, str(tmp), metadata={"key": key})
        os.replace(tmp, path)
    return InteractionGrid(latents, torch.cat(right), torch.cat(left) if bimanual else None), texts

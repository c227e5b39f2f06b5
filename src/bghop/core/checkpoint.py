"""Model folders: ``config.json`` + ``model.safetensors``, written atomically, read with clear errors.

Every bghop network (the models in :mod:`bghop.models`, the evaluation classifier in
:mod:`bghop.eval.faithfulness`) is rebuilt from its own config (never from an experiment file), and
only persistent parameters and buffers are saved, so hand-model assets or caches registered as
non-persistent buffers never end up in a checkpoint. This module sits in ``core`` so that every
layer that owns a network can use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bghop.core.outputs import staged_folder
import bghop

__all__ = ["CheckpointError", "save_model_folder", "read_model_config", "load_model_folder", "shipped_model_dir",
           "model_fingerprint", "CONFIG_NAME", "WEIGHTS_NAME"]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class CheckpointError(ValueError):
    """A model folder that is missing, corrupt, or does not match the model it is loaded into."""


def shipped_model_dir(name: str) -> Path:
    """Folder of a model shipped inside the package (``assets/models/<name>``)."""
    with resources.as_file(resources.files("bghop") / "assets" / "models" / name) as p:
        return Path(p)


def save_model_folder(model: nn.Module, model_type: str, config: dict, folder: str | os.PathLike,
                      extra: dict | None = None) -> Path:
    """Write ``folder/config.json`` and ``folder/model.safetensors`` atomically.

    The files are written to a staging folder beside ``folder`` which is then swapped in
    (:func:`bghop.core.outputs.staged_folder`): an interrupted save never leaves a half-written
    model behind, and files other than the model's own two that someone put into ``folder`` are
    kept.

    Args:
        model: the module (its ``state_dict()``: persistent parameters and buffers only).
        model_type: a tag checked on load (``"autoencoder"``, ``"prior"``).
        config: the JSON-serialisable config that rebuilds the module.
        folder: destination.
        extra: more JSON-serialisable metadata stored beside the config (training summary…).
    Returns:
        The folder.
    """
    folder = Path(folder)
    with staged_folder(folder, "model", legacy=_model_files, marker=False) as tmp:
        state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"model_type": model_type})
        meta = {"model_type": model_type, "bghop_version": bghop.__version__, "config": config, **(extra or {})}
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=1))
    return folder


def _model_files(folder: Path) -> tuple[str, set[str]]:
    """A model folder's own files (it carries no marker)."""
    return "model", {n for n in (CONFIG_NAME, WEIGHTS_NAME) if (folder / n).is_file()}


def read_model_config(folder: str | os.PathLike, model_type: str) -> dict:
    """The ``config.json`` of a model folder, checked for ``model_type``.

    Raises:
        CheckpointError: no folder, no/garbled config, or a different model type.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist (expected a folder with {CONFIG_NAME} and "
                              f"{WEIGHTS_NAME}, as written by save_pretrained / bghop train)")
    cfg_path = folder / CONFIG_NAME
    if not cfg_path.is_file():
        raise CheckpointError(f"{folder} has no {CONFIG_NAME}: not a bghop model folder")
    try:
        meta = json.loads(cfg_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg_path} is not valid JSON ({e}); the model folder is corrupt") from e
    if not isinstance(meta, dict) or "config" not in meta:
        raise CheckpointError(f"{cfg_path} has no 'config' entry; the model folder is corrupt")
    if meta.get("model_type") != model_type:
        raise CheckpointError(f"{folder} holds a {meta.get('model_type')!r} model, not a {model_type!r} model")
    return meta


def load_model_folder(model: nn.Module, folder: str | os.PathLike, map_location: str | torch.device = "cpu") -> None:
    """Load ``folder/model.safetensors`` into ``model`` (strict: every key and shape must match).

    Raises:
        CheckpointError: missing or corrupt weights, or weights that do not fit the model built
            from the folder's config (missing/unexpected keys, wrong shapes).
    """
    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        raise CheckpointError(f"{Path(folder)} has no {WEIGHTS_NAME}")
    try:
        state = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}. The file is corrupt or truncated; re-save or re-download "
                              "the model") from e
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}")
        if wrong:
            parts.append("wrong shapes " + ", ".join(f"{k} {tuple(state[k].shape)}≠{tuple(expected[k].shape)}"
                                                     for k in wrong[:5]))
        raise CheckpointError(f"weights in {path} do not match the model described by its config.json: "
                              + "; ".join(parts))
    model.load_state_dict(state, strict=True)
    logger.debug("loaded %d tensors from %s", len(state), path)


def model_fingerprint(module: nn.Module | None) -> str | None:
    """SHA-1 of a model's persistent weights (names and float32 values), or None for None.

    Two models with this fingerprint compute the same thing; results stored with one (resumable
    benchmark folders, stored prior scores) are valid for the other.
    """
    if module is None:
        return None
    h = hashlib.sha1()
    for k, t in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()

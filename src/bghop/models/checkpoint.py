"""Model folders for :mod:`bghop.models` (``config.json`` + ``model.safetensors``).

The reading and writing lives in :mod:`bghop.core.checkpoint`, shared with the evaluation
classifier; this module re-exports it and names the models shipped inside the package.
"""

from __future__ import annotations

from pathlib import Path

from bghop.core.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    CheckpointError,
    load_model_folder,
    read_model_config,
    save_model_folder,
    shipped_model_dir,
)

__all__ = ["CheckpointError", "save_model_folder", "read_model_config", "load_model_folder", "default_model_dir",
           "CONFIG_NAME", "WEIGHTS_NAME"]


def default_model_dir(name: str) -> Path:
    """Folder of a model shipped inside the package (``assets/models/<name>``)."""
    return shipped_model_dir(name)

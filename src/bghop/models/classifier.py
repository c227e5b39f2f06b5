"""The object-category classifier: a small 3D CNN that names the category of an object SDF.

``bghop generate`` samples an object for a prompt such as "grasp a mug with both hands". A sample
is **text faithful** when this classifier, trained on the procedural object categories of the
built-in synthetic set (:mod:`bghop.data.objects`), predicts the prompted category from the
generated object's shape (the evaluation side, prompt → category and the verdict, lives in
:mod:`bghop.eval.faithfulness`; training in :mod:`bghop.train.classifier`).

Input convention (the interaction grid's, :mod:`bghop.fields.encode`): an SDF on a ``R³`` grid
(``R = 64``) spanning ``[-extent, extent]³`` of the right hand's normalised frame ``n``
(``extent = 1.5``, 1 n-unit = ``1/scale`` m = 0.2 m), in n-units, negative inside. The network
truncates it at ``±truncation`` (0.2 n = 4 cm) and divides by it, like the object autoencoder and
the shards (values in [-1, 1]), then average-pools by ``pool`` (64³ → 32³, a 19 mm cell) before
four conv blocks and a global pooling head. An object's orientation in the grid is arbitrary
(generated objects sit in the right hand's frame), so training uses uniformly random rotations
and small shifts (:func:`bghop.train.classifier.random_rigid_augment`), and
:meth:`CategoryClassifier.predict` averages the probabilities over proper rotations of the cube
(:func:`cube_rotations`, exact on the grid).

A mesh (a result folder's ``object.obj``, metres) is turned into the classifier's input by
:func:`mesh_to_classifier_sdf`: scaled by ``scale`` (n-units), its bounding box centred in the
grid, SDF by :func:`bghop.geometry.sdf.mesh_to_sdf_grid`.

Model folders: ``config.json`` (``model_type: "category_classifier"``, the config, the category
names and a training summary) + ``model.safetensors``; :func:`load_category_classifier` with no
argument loads the one shipped in ``bghop/assets/models/category_classifier``. The category names
are stored in the folder, so loading never needs :mod:`bghop.data`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf
import trimesh
from torch import Tensor, nn

from bghop.core.checkpoint import (
    CONFIG_NAME,
    CheckpointError,
    load_model_folder,
    read_model_config,
    save_model_folder,
    shipped_model_dir,
)
from bghop.core.config import config_from_dict
from bghop.geometry.grid import GridSpec
from bghop.geometry.sdf import mesh_to_sdf_grid

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "MODEL_TYPE",
    "CategoryClassifier",
    "CategoryPrediction",
    "ClassifierConfig",
    "ClassifierError",
    "cube_rotations",
    "default_classifier_dir",
    "load_category_classifier",
    "mesh_to_classifier_sdf",
    "read_classifier_meta",
    "truncate_sdf",
]

#: ``model_type`` tag of the classifier's ``config.json``
MODEL_TYPE = "category_classifier"
#: folder name of the shipped classifier under ``bghop/assets/models``
DEFAULT_MODEL_NAME = "category_classifier"


class ClassifierError(CheckpointError):
    """A classifier folder that is missing, corrupt or inconsistent; the message says what to do."""


# ----------------------------------------------------------------------------------------------
# config and network


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that rebuilds a :class:`CategoryClassifier` (stored in its ``config.json``).

    Attributes:
        categories: class names, in logit order (the procedural categories of ``bghop.data.objects``).
        resolution: input grid points per axis ``R`` (64, the interaction grid's object SDF).
        extent: the grid spans ``[-extent, extent]³`` n-units (1.5).
        scale: n-units per metre (5; meshes in metres are scaled by it).
        truncation: SDF truncation in n-units (0.2, as the autoencoder and the shards).
        pool: average-pooling factor applied to the input before the convolutions (2: 64³ → 32³).
        channels: output channels of the conv blocks (each: conv 3³, GroupNorm, SiLU, max-pool 2).
        hidden: width of the hidden layer of the head.
        dropout: dropout before the head (training only).
    """

    categories: tuple[str, ...]
    resolution: int = 64
    extent: float = 1.5
    scale: float = 5.0
    truncation: float = 0.2
    pool: int = 2
    channels: tuple[int, ...] = (8, 16, 32, 64)
    hidden: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        cats = tuple(str(c) for c in self.categories)
        object.__setattr__(self, "categories", cats)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if len(cats) < 2 or len(set(cats)) != len(cats):
            raise ValueError(f"a classifier needs at least two distinct categories, got {list(cats)}")
        if self.pool < 1 or self.resolution % self.pool:
            raise ValueError(f"pool ({self.pool}) must divide the resolution ({self.resolution})")
        side = self.resolution // self.pool
        if not self.channels or side < 2 ** len(self.channels):
            raise ValueError(f"{len(self.channels)} conv blocks halve the {side}³ pooled grid too often")
        if not (self.truncation > 0 and self.extent > 0 and self.scale > 0):
            raise ValueError("truncation, extent and scale must be positive")

    @property
    def grid_spec(self) -> GridSpec:
        """The input grid (n-units)."""
        return GridSpec(self.resolution, -self.extent, self.extent)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples as lists) for ``config.json``."""
        d = asdict(self)
        d["categories"] = list(self.categories)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClassifierConfig:
        """Rebuild from :meth:`to_dict`; unknown keys fail (a config from another version or model)."""
        if "categories" not in d:
            raise ValueError("the classifier config has no 'categories'")
        return config_from_dict(cls, d, "classifier config")


@dataclass
class CategoryPrediction:
    """The classifier's answer for one object.

    Attributes:
        category: the most probable category.
        probability: its probability.
        probabilities: every category's probability (sums to 1).
    """

    category: str
    probability: float
    probabilities: dict[str, float]

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable ``(category, probability)`` pairs, best first."""
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]


def truncate_sdf(sdf: Tensor, truncation: float) -> Tensor:
    """SDF in n-units → ``clamp(sdf, ±truncation) / truncation`` in [-1, 1] (the autoencoder's input convention)."""
    return sdf.clamp(-truncation, truncation) / truncation


class CategoryClassifier(nn.Module):
    """3D CNN: object SDF ``(B, 1, R, R, R)`` (n-units) → logits ``(B, C)`` over ``config.categories``.

    ``forward = classify ∘ preprocess``; :meth:`preprocess` (truncate, divide, average-pool) is
    exposed so training can augment the cheaper pooled grids.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        c_in = 1
        for c in config.channels:
            blocks += [nn.Conv3d(c_in, c, 3, padding=1), nn.GroupNorm(min(4, c), c), nn.SiLU(), nn.MaxPool3d(2)]
            c_in = c
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(2 * c_in, config.hidden), nn.SiLU(),
                                  nn.Linear(config.hidden, len(config.categories)))
        #: the ``training`` entry of the folder it was loaded from (empty for a new model)
        self.training_info: dict = {}

    @property
    def categories(self) -> tuple[str, ...]:
        """Class names, in logit order."""
        return self.config.categories

    @property
    def pooled_resolution(self) -> int:
        """Side of the grid the convolutions see (``resolution // pool``)."""
        return self.config.resolution // self.config.pool

    def preprocess(self, sdf: Tensor) -> Tensor:
        """``(B, 1, R, R, R)`` SDF in n-units (truncated or not) → ``(B, 1, R/pool, …)`` in [-1, 1].

        Raises:
            ValueError: wrong shape.
        """
        r = self.config.resolution
        if sdf.dim() != 5 or sdf.shape[1] != 1 or tuple(sdf.shape[2:]) != (r, r, r):
            raise ValueError(f"expected an SDF of shape (B, 1, {r}, {r}, {r}) in n-units, got {tuple(sdf.shape)}")
        x = truncate_sdf(sdf.float(), self.config.truncation)
        return nnf.avg_pool3d(x, self.config.pool) if self.config.pool > 1 else x

    def classify(self, x: Tensor) -> Tensor:
        """Pooled, truncated grids ``(B, 1, r, r, r)`` (output of :meth:`preprocess`) → logits ``(B, C)``."""
        h = self.features(x)
        h = torch.cat([h.mean(dim=(2, 3, 4)), h.amax(dim=(2, 3, 4))], dim=1)
        return self.head(h)

    def forward(self, sdf: Tensor) -> Tensor:
        """``(B, 1, R, R, R)`` SDF in n-units → logits ``(B, C)``."""
        return self.classify(self.preprocess(sdf))

    @torch.no_grad()
    def predict_proba(self, sdf: Tensor, tta: int = 8, batch_size: int = 16, preprocessed: bool = False) -> Tensor:
        """Class probabilities ``(B, C)``, averaged over the first ``tta`` proper cube rotations.

        Args:
            sdf: ``(B, 1, R, R, R)`` or ``(R, R, R)`` SDF in n-units (or, with ``preprocessed``, outputs
                of :meth:`preprocess`).
            tta: number of rotations of :func:`cube_rotations` to average (1 = the grid as it is; ≤ 24).
            batch_size: grids per forward pass.
            preprocessed: ``sdf`` is already truncated and pooled.
        """
        if sdf.dim() == 3:
            sdf = sdf[None, None]
        if not 1 <= tta <= 24:
            raise ValueError(f"tta must be in 1..24, got {tta}")
        was_training = self.training
        self.eval()
        dev = next(self.parameters()).device
        out = []
        try:
            for i in range(0, sdf.shape[0], batch_size):
                x = sdf[i:i + batch_size].to(dev)
                x = x.float() if preprocessed else self.preprocess(x)
                p = sum(torch.softmax(self.classify(rot(x)), dim=1) for rot in cube_rotations()[:tta])
                out.append(p / tta)
        finally:
            self.train(was_training)
        return torch.cat(out).cpu()

    def predict(self, sdf: Tensor, tta: int = 8) -> list[CategoryPrediction]:
        """One :class:`CategoryPrediction` per grid of ``sdf`` (see :meth:`predict_proba`)."""
        probs = self.predict_proba(sdf, tta=tta)
        cats = self.config.categories
        out = []
        for p in probs:
            k = int(p.argmax())
            out.append(CategoryPrediction(cats[k], float(p[k]), {c: float(v) for c, v in zip(cats, p)}))
        return out

    def predict_mesh(self, mesh: trimesh.Trimesh, tta: int = 8) -> CategoryPrediction:
        """Category of a mesh in metres (see :func:`mesh_to_classifier_sdf`)."""
        sdf = torch.from_numpy(mesh_to_classifier_sdf(mesh, self.config))
        return self.predict(sdf, tta=tta)[0]

    # -- persistence ---------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike, extra: dict | None = None) -> Path:
        """Write ``folder/config.json`` + ``folder/model.safetensors`` atomically (temp folder, then rename).

        Args:
            folder: destination.
            extra: more JSON metadata stored beside the config (e.g. ``{"training": {...}}``).
        """
        return save_model_folder(self, MODEL_TYPE, self.config.to_dict(), folder, extra=extra)

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike | None = None,
                        device: torch.device | str = "cpu") -> CategoryClassifier:
        """Load a classifier folder (the shipped one when ``folder`` is None), in eval mode.

        Raises:
            ClassifierError: missing folder/files, corrupt JSON or weights, a different model type,
                or weights that do not match the config.
        """
        folder = default_classifier_dir() if folder is None else Path(folder)
        meta = read_classifier_meta(folder)
        try:
            config = ClassifierConfig.from_dict(meta["config"])
        except (TypeError, ValueError) as e:
            raise ClassifierError(f"bad classifier config in {folder / CONFIG_NAME}: {e}") from e
        model = cls(config)
        with _as_classifier_error():
            load_model_folder(model, folder)
        model.training_info = meta.get("training", {})
        return model.to(device).eval()


def default_classifier_dir() -> Path:
    """Folder of the classifier shipped in the package (``bghop/assets/models/category_classifier``)."""
    return shipped_model_dir(DEFAULT_MODEL_NAME)


def read_classifier_meta(folder: str | os.PathLike) -> dict:
    """The ``config.json`` of a classifier folder, checked.

    Raises:
        ClassifierError: no folder, no or garbled ``config.json``, or another model type.
    """
    with _as_classifier_error():
        return read_model_config(folder, MODEL_TYPE)


@contextlib.contextmanager
def _as_classifier_error() -> Iterator[None]:
    """Re-raise the shared checkpoint errors as :class:`ClassifierError` (same message)."""
    try:
        yield
    except ClassifierError:
        raise
    except CheckpointError as e:
        raise ClassifierError(str(e)) from e


def load_category_classifier(folder: str | os.PathLike | None = None,
                             device: torch.device | str = "cpu") -> CategoryClassifier:
    """The shipped category classifier (no argument) or the one in ``folder``; see
    :meth:`CategoryClassifier.from_pretrained`."""
    return CategoryClassifier.from_pretrained(folder, device=device)


# ----------------------------------------------------------------------------------------------
# geometry of the input


def cube_rotations() -> list[Callable[[Tensor], Tensor]]:
    """The 24 proper rotations of the cube as functions on ``(B, C, r, r, r)`` grids (exact, no resampling).

    The first is the identity; each is a composition of :func:`torch.rot90` turns, so an SDF stays
    an exact SDF (rotated about the grid centre).
    """
    dims = {"x": (3, 4), "y": (2, 4), "z": (2, 3)}  # rot90 planes: about x (j,k), about y (i,k), about z (i,j)

    def turn(axis: str, k: int) -> Callable[[Tensor], Tensor]:
        return lambda t: torch.rot90(t, k, dims[axis]) if k % 4 else t

    # 6 choices of which face points "up" (+x) × 4 turns about it
    ups = [turn("z", 0), turn("z", 1), turn("z", 2), turn("z", 3), turn("y", 1), turn("y", 3)]
    return [(lambda t, u=u, k=k: torch.rot90(u(t), k, dims["x"]) if k else u(t)) for u in ups for k in range(4)]


def mesh_to_classifier_sdf(mesh: trimesh.Trimesh, config: ClassifierConfig, center: bool = True) -> np.ndarray:
    """A mesh in metres → the classifier's input SDF ``(R, R, R)`` float32 (n-units, clamped at ±truncation).

    The mesh is scaled by ``config.scale`` (metres → n-units) and, with ``center``, translated so its
    bounding box is centred in the grid (generated objects already sit near the centre; a user's
    mesh may not). Its orientation is kept (the classifier is trained for any orientation).
    """
    if len(mesh.vertices) == 0 or len(mesh.faces) == 0:
        raise ValueError("the object mesh is empty")
    s = config.scale
    T = np.diag([s, s, s, 1.0])
    if center:
        T[:3, 3] = -s * np.asarray(mesh.bounds, dtype=np.float64).mean(0)
    return mesh_to_sdf_grid(mesh, config.grid_spec, transform=T, max_distance=config.truncation)


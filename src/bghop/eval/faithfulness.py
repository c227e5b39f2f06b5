"""Text faithfulness of generated objects: prompt → category, and what a category classifier must offer.

``bghop generate`` samples an object for a prompt such as "grasp a mug with both hands". A sample
is **text faithful** when a category classifier predicts the prompted category from the generated
object's shape. The classifier (a small 3D CNN trained on the procedural object categories of
the synthetic set) is a model, so it lives in the models layer (``models/classifier.py``, trained
by ``train/classifier.py``); evaluation cannot import it. It is injected instead: evaluation only
needs an object following :class:`CategoryClassifierLike` (its ``categories`` and
``predict_mesh(mesh, tta)``), or a zero-argument callable that loads one
(:data:`ClassifierSource`, see :func:`bghop.eval.report.evaluate_folders`).

Prompt → category (:func:`prompt_category`): an explicit ``prompt_category``/``category`` entry of
the sample's metadata wins; otherwise the category is parsed from the training prompt template
(:func:`bghop.core.prompts.parse_object_name`: ``"grasp a {name} with both hands"`` /
``"grasp a {name} with the right hand"``) or taken from a bare name (``"box"``). It counts only
when it is one of the classifier's categories (stored with the classifier, as this layer cannot
import :mod:`bghop.data`).

Deprecated: the network, its persistence and its training used to live here. Their old names
(``CategoryClassifier``, ``load_category_classifier``, ``fit_classifier``, ``FitConfig``, …) still
resolve from this module for one release, with a :class:`DeprecationWarning`, to the moved objects.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, Union, runtime_checkable

import trimesh

from bghop.core.prompts import parse_object_name

__all__ = [
    "CategoryClassifierLike",
    "CategoryPredictionLike",
    "ClassifierLoader",
    "ClassifierSource",
    "is_category_classifier",
    "parse_prompt_category",
    "prompt_category",
]


# ----------------------------------------------------------------------------------------------
# what evaluation needs of a classifier


@runtime_checkable
class CategoryPredictionLike(Protocol):
    """A classifier's answer for one object.

    Attributes:
        category: the most probable category.
        probability: its probability.
        probabilities: every category's probability (sums to 1; holds every name of ``categories``).
    """

    @property
    def category(self) -> str: ...

    @property
    def probability(self) -> float: ...

    @property
    def probabilities(self) -> Mapping[str, float]: ...


@runtime_checkable
class CategoryClassifierLike(Protocol):
    """What :func:`bghop.eval.report.evaluate_folders` uses of a category classifier.

    Attributes:
        categories: the category names the classifier knows (a prompted category counts only when
            it is one of them).
    """

    @property
    def categories(self) -> tuple[str, ...]: ...

    def predict_mesh(self, mesh: trimesh.Trimesh, tta: int = 8) -> CategoryPredictionLike:
        """The category of a mesh in metres (object frame of a result folder's ``object.obj``).

        Args:
            mesh: the object mesh, metres.
            tta: test-time augmentations to average (cube rotations, 1-24).
        Returns:
            the prediction.
        """
        ...


#: a zero-argument callable that loads a classifier (called lazily, at most once)
ClassifierLoader = Callable[[], CategoryClassifierLike]
#: what ``evaluate_folders(classifier=...)`` accepts: a classifier or a loader of one
ClassifierSource = Union[CategoryClassifierLike, ClassifierLoader]


def is_category_classifier(obj: Any) -> bool:
    """Whether ``obj`` is a classifier (has ``categories`` and a callable ``predict_mesh``), not a loader.

    A classifier that is also callable (a torch module) counts as a classifier.
    """
    return isinstance(obj, CategoryClassifierLike) and callable(getattr(obj, "predict_mesh", None))


# ----------------------------------------------------------------------------------------------
# prompts

#: metadata keys that name the prompted category explicitly, in order of preference
_CATEGORY_KEYS = ("prompt_category", "category")


def parse_prompt_category(text: str | None) -> str | None:
    """The object name of a training-style prompt (``"grasp a mug with both hands"`` → ``"mug"``).

    Text that does not follow the template is returned normalised (lower case, single spaces) when it
    is a bare name without "grasp" (``"Box"`` → ``"box"``), else None. The same function as
    :func:`bghop.core.prompts.parse_object_name`.
    """
    return parse_object_name(text)


def prompt_category(text: str | None, meta: Mapping[str, Any] | Sequence[Mapping[str, Any] | None] | None,
                    categories: Sequence[str]) -> str | None:
    """The prompted category of a sample, if it is one of ``categories``.

    Args:
        text: the sample's prompt (or None).
        meta: the sample's metadata dict(s) (``hands.json``, its ``summary.json`` entry); the first
            ``prompt_category`` / ``category`` entry found (also under ``meta``) wins over the text.
        categories: the classifier's categories.
    Returns:
        the category, or None when there is no prompt or it names no known category.
    """
    known = {c.lower(): c for c in categories}
    metas = [meta] if isinstance(meta, Mapping) else list(meta or [])
    for d in metas:
        for src in (d, d.get("meta") if isinstance(d, Mapping) else None):
            if not isinstance(src, Mapping):
                continue
            for k in _CATEGORY_KEYS:
                v = src.get(k)
                if isinstance(v, str) and v.strip():
                    return known.get(" ".join(v.lower().split()))
    name = parse_prompt_category(text)
    return known.get(name) if name else None


# ----------------------------------------------------------------------------------------------
# deprecated names (PEP 562): the classifier moved to the models layer, its training to train

_MODEL_NAMES = ("CategoryClassifier", "CategoryPrediction", "ClassifierConfig", "ClassifierError",
                "DEFAULT_MODEL_NAME", "MODEL_TYPE", "cube_rotations", "default_classifier_dir",
                "load_category_classifier", "mesh_to_classifier_sdf", "read_classifier_meta", "truncate_sdf")
_TRAIN_NAMES = ("FitResult", "fit_classifier", "random_rigid_augment", "rigid_resample")
#: old name → (layer, name there); the package is resolved on first access only, so importing this
#: module never imports a layer above eval (this lookup is the one deliberate, deprecated exception)
_MOVED: dict[str, tuple[str, str]] = {
    **{n: ("models", n) for n in _MODEL_NAMES},
    **{n: ("train", n) for n in _TRAIN_NAMES},
    "FitConfig": ("train", "ClassifierFitConfig"),
}


def __getattr__(name: str) -> Any:
    """Resolve a moved name with a :class:`DeprecationWarning` (removed in the next release)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    layer, new = _MOVED[name]
    module = f"bghop.{layer}.classifier"
    warnings.warn(f"{__name__}.{name} is deprecated and will be removed in the next release; "
                  f"use {module}.{new}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(module), new)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MOVED])

"""Objects that need two hands: the procedural library's wide, long and flat additions (issue 20).

People reach for two hands when an object is big, long or flat. :data:`WIDE_CATEGORIES` adds to
:data:`bghop.data.objects.CATEGORIES` (kept unchanged, so the shipped set's draws stay what they
were) cartons, crates, large stockpots, pipes, poles and planks, 25–60 cm along their longest side;
trays, laptops, baskets and buckets are already in the base library. :func:`make_wide_object`
builds any category of :func:`wide_category_names` (base or added), with the same conventions:
metres, watertight, centred on the bounding box, +z up, walls at least
:data:`~bghop.data.objects.MIN_WALL` thick.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import trimesh

from bghop.data.objects import (CATEGORIES, MIN_WALL, ObjectSample, _container, _finish, _side_handles, _u, _union,
                                make_object)

__all__ = ["WIDE_CATEGORIES", "TWO_HAND_CATEGORIES", "wide_category_names", "make_wide_object", "MAX_WIDE_EXTENT"]

#: the longest side any added category draws, metres
MAX_WIDE_EXTENT = 0.6


def _carton(rng):
    e = sorted([_u(rng, 0.25, MAX_WIDE_EXTENT), _u(rng, 0.15, 0.4), _u(rng, 0.1, 0.35)], reverse=True)
    return trimesh.creation.box(extents=e), {"extents": e}


def _crate(rng):
    w, d, h = _u(rng, 0.3, MAX_WIDE_EXTENT), _u(rng, 0.2, 0.4), _u(rng, 0.12, 0.3)
    wall = _u(rng, MIN_WALL, MIN_WALL + 0.008)
    outer = trimesh.creation.box(extents=(w, d, h))
    inner = trimesh.creation.box(extents=(w - 2 * wall, d - 2 * wall, h))
    inner.apply_translation([0, 0, wall])
    return trimesh.boolean.difference([outer, inner], engine="manifold"), {"extents": [w, d, h], "wall": wall}


def _stockpot(rng):
    r, h = _u(rng, 0.14, 0.22), _u(rng, 0.18, 0.32)
    return _union(_container(r, r, h, MIN_WALL), *_side_handles(r, h, 0.03, 0.008)), {"radius": r, "height": h}


def _pipe(rng):
    r, length = _u(rng, 0.025, 0.06), _u(rng, 0.35, MAX_WIDE_EXTENT)
    ri = r - _u(rng, MIN_WALL, MIN_WALL + 0.006)
    prof = np.array([(ri, 0), (r, 0), (r, length), (ri, length), (ri, 0)], dtype=np.float64)
    mesh = trimesh.creation.revolve(prof, sections=48)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))  # lying along x
    return mesh, {"radius": r, "inner_radius": ri, "length": length}


def _pole(rng):
    r, length = _u(rng, 0.012, 0.03), _u(rng, 0.4, MAX_WIDE_EXTENT)
    mesh = trimesh.creation.cylinder(radius=r, height=length, sections=32)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    return mesh, {"radius": r, "length": length}


def _plank(rng):
    e = [_u(rng, 0.35, MAX_WIDE_EXTENT), _u(rng, 0.08, 0.25), _u(rng, 0.015, 0.04)]
    return trimesh.creation.box(extents=e), {"extents": e}


#: added category → builder (the key is also the object's text name)
WIDE_CATEGORIES: dict[str, Callable] = {
    "carton": _carton, "crate": _crate, "stockpot": _stockpot, "pipe": _pipe, "pole": _pole, "plank": _plank,
}  # fmt: skip

#: categories made for two hands: the added ones and the base library's wide ones
TWO_HAND_CATEGORIES: tuple[str, ...] = tuple(WIDE_CATEGORIES) + ("tray", "laptop", "basket", "bucket", "pot", "box")


def wide_category_names() -> tuple[str, ...]:
    """The base library's categories followed by the added ones, in a fixed order."""
    return tuple(CATEGORIES) + tuple(WIDE_CATEGORIES)


def make_wide_object(category: str, seed: int | np.random.Generator = 0) -> ObjectSample:
    """One object of any category of :func:`wide_category_names` (see
    :func:`bghop.data.objects.make_object` for the conventions).

    Raises:
        ValueError: unknown category.
    """
    if category in CATEGORIES:
        return make_object(category, seed)
    if category not in WIDE_CATEGORIES:
        raise ValueError(f"unknown object category {category!r}; choose one of {', '.join(wide_category_names())}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _finish(category, WIDE_CATEGORIES[category](rng))

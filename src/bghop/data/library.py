"""Object libraries of the synthetic set: which objects a shard draws, and what a prompt calls them.

* ``"base"`` — the 21 procedural categories of :mod:`bghop.data.objects`, one uniformly per draw
  (the shipped set; its draws must never change, or its records would no longer rebuild it);
* ``"two_hand"`` — objects people hold with two hands (issue 20): a third of the draws are GRAB
  objects (:mod:`bghop.data.grab`, Apache-2.0; half at their real size, half scaled to a 30–60 cm
  two-hand size), the others the two-hand procedural categories
  (:data:`bghop.data.wide_objects.TWO_HAND_CATEGORIES`: cartons, crates, stockpots, pipes, poles,
  planks, trays, laptops, baskets, buckets, pots, boxes). YCB meshes are for evaluation only and
  are never drawn.

Every draw comes from the generator it is given, in a fixed order, so a shard's seed fixes its objects.
"""

from __future__ import annotations

import numpy as np

from bghop.data.grab import GRAB_CATEGORY_PREFIX, grab_mesh, grab_object, grab_object_names, two_hand_scale
from bghop.data.objects import ObjectSample, category_names, make_object
from bghop.data.wide_objects import TWO_HAND_CATEGORIES, make_wide_object

__all__ = ["LIBRARIES", "GRAB_SHARE", "draw_object", "object_name"]

#: the object libraries a synthetic set can draw from (module docstring)
LIBRARIES = ("base", "two_hand")
#: share of the ``"two_hand"`` library's draws that are GRAB objects
GRAB_SHARE = 1.0 / 3.0


def draw_object(library: str, rng: np.random.Generator) -> tuple[str, ObjectSample]:
    """One object of ``library``: ``(category, object)``; GRAB objects have category ``"grab:<name>"``.

    Raises:
        ValueError: unknown library.
    """
    if library == "base":
        cat = str(rng.choice(category_names()))
        return cat, make_object(cat, rng)
    if library != "two_hand":
        raise ValueError(f"unknown object library {library!r}; use one of {', '.join(LIBRARIES)}")
    if rng.random() < GRAB_SHARE:
        names = grab_object_names()
        name = str(names[int(rng.integers(len(names)))])
        scale = two_hand_scale(grab_mesh(name), rng) if rng.random() < 0.5 else 1.0
        obj = grab_object(name, scale)
        return obj.category, obj
    cat = str(rng.choice(TWO_HAND_CATEGORIES))
    return cat, make_wide_object(cat, rng)


def object_name(category: str, obj: ObjectSample | None = None) -> str:
    """What a prompt calls an object: the category, or a GRAB object's own name ("alarm clock")."""
    if category.startswith(GRAB_CATEGORY_PREFIX):
        if obj is not None and obj.params.get("name"):
            return str(obj.params["name"])
        return category[len(GRAB_CATEGORY_PREFIX):]
    return category

"""Procedural library of everyday objects for the built-in synthetic grasp set.

Each category draws random but realistic dimensions (metres; overall sizes 5-60 cm, several
categories large enough to need two hands) and returns a **watertight** mesh in metres with
its text name. Shapes are built from trimesh primitives and surfaces of revolution
(``trimesh.creation.revolve`` of a closed profile); parts are joined with exact mesh booleans
(``manifold3d`` through ``trimesh.boolean``), so every mesh is a closed 2-manifold.

Object frame: centred on the bounding box, +z up (the axis of revolution of round objects).

Walls are at least :data:`MIN_WALL` thick: the interaction grid samples the object SDF at 64³
over 0.6 m (a 9.5 mm voxel), and thinner walls fall between grid points and vanish (measured:
4-8 mm bowl, bucket and mug walls came back as broken stripes from ``bghop data show``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import trimesh

__all__ = ["ObjectSample", "CATEGORIES", "make_object", "category_names", "MIN_WALL"]

#: thinnest wall/sheet, metres (≈ 1.3 voxels of the 64³, 0.6 m object grid)
MIN_WALL = 0.012


@dataclass
class ObjectSample:
    """A generated object.

    Attributes:
        mesh: watertight, metres, centred on its bounding box.
        category: category key (also the text name used in prompts).
        params: the drawn dimensions (metres / radians), for reproducibility.
        parts: named sub-meshes for articulated objects (laptop: base, screen).
    """

    mesh: trimesh.Trimesh
    category: str
    params: dict
    parts: dict[str, trimesh.Trimesh] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.category


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _revolve(profile: list[tuple[float, float]], sections: int = 48) -> trimesh.Trimesh:
    """Surface of revolution about z of a closed (r, z) profile that starts and ends on the axis."""
    return trimesh.creation.revolve(np.asarray(profile, dtype=np.float64), sections=sections)


def _container(radius_bottom: float, radius_top: float, height: float, wall: float, sections: int = 48,
               bottom: float | None = None) -> trimesh.Trimesh:
    """Open-top vessel with walls of thickness ``wall`` (bowl, bucket, pot, mug body…)."""
    b = wall if bottom is None else bottom
    inner_bottom = radius_bottom - wall + (radius_top - radius_bottom) * b / height
    return _revolve([(0.0, 0.0), (radius_bottom, 0.0), (radius_top, height), (radius_top - wall, height),
                     (inner_bottom, b), (0.0, b)], sections)


def _union(*meshes: trimesh.Trimesh) -> trimesh.Trimesh:
    return trimesh.boolean.union(list(meshes), engine="manifold")


def _handle_arc(radius: float, thickness: float, angle: float = np.pi) -> trimesh.Trimesh:
    """Half-torus handle in the x-z plane, its ends at (±radius, 0, 0), arching over +z."""
    t = trimesh.creation.torus(major_radius=radius, minor_radius=thickness, major_sections=48, minor_sections=12)
    t.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # ring in x-z
    keep = trimesh.creation.box(extents=(3 * radius, 3 * radius, 2 * radius))
    keep.apply_translation([0, 0, radius - thickness * 0.3])
    return trimesh.boolean.intersection([t, keep], engine="manifold")


def _box(rng):
    e = [_u(rng, 0.06, 0.45), _u(rng, 0.05, 0.35), _u(rng, 0.04, 0.3)]
    return trimesh.creation.box(extents=e), {"extents": e}


def _bottle(rng):
    r, h = _u(rng, 0.03, 0.055), _u(rng, 0.18, 0.34)
    neck_r, neck_h = _u(rng, 0.012, 0.018), _u(rng, 0.03, 0.06)
    sh = h - neck_h
    prof = [(0, 0), (r, 0), (r, sh * 0.75), (neck_r, sh), (neck_r, h), (0, h)]
    return _revolve(prof), {"radius": r, "height": h, "neck_radius": neck_r}


def _can(rng):
    r, h = _u(rng, 0.03, 0.055), _u(rng, 0.08, 0.18)
    return trimesh.creation.cylinder(radius=r, height=h, sections=48), {"radius": r, "height": h}


def _jar(rng):
    r, h = _u(rng, 0.04, 0.08), _u(rng, 0.08, 0.2)
    lid_r = r * _u(rng, 0.75, 0.95)
    prof = [(0, 0), (r, 0), (r, h * 0.85), (lid_r, h * 0.9), (lid_r, h), (0, h)]
    return _revolve(prof), {"radius": r, "height": h}


def _ball(rng):
    r = _u(rng, 0.03, 0.15)
    return trimesh.creation.icosphere(subdivisions=3, radius=r), {"radius": r}


def _bowl(rng):
    r, h, w = _u(rng, 0.07, 0.16), _u(rng, 0.05, 0.1), _u(rng, MIN_WALL, MIN_WALL + 0.004)
    return _container(r * 0.55, r, h, w), {"radius": r, "height": h, "wall": w}


def _mug(rng):
    r, h, w = _u(rng, 0.04, 0.055), _u(rng, 0.08, 0.12), MIN_WALL
    body = _container(r, r, h, w)
    hr = h * 0.3
    handle = _handle_arc(hr, _u(rng, 0.007, 0.01))
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))  # arch towards +x
    handle.apply_translation([r - w * 0.5, 0, h * 0.5])
    return _union(body, handle), {"radius": r, "height": h}


def _plate(rng):
    r, t = _u(rng, 0.09, 0.16), _u(rng, 0.02, 0.03)
    prof = [(0, 0), (r * 0.6, 0), (r, t - MIN_WALL), (r, t), (r * 0.6, MIN_WALL), (0, MIN_WALL)]
    return _revolve(prof, 64), {"radius": r}


def _pan(rng):
    r, h, w = _u(rng, 0.1, 0.15), _u(rng, 0.04, 0.06), MIN_WALL
    body = _container(r * 0.9, r, h, w)
    L = _u(rng, 0.16, 0.22)
    handle = trimesh.creation.capsule(height=L, radius=0.012)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    handle.apply_translation([r + L / 2 - 0.01, 0, h * 0.8])
    return _union(body, handle), {"radius": r, "handle_length": L}


def _side_handles(r: float, h: float, arc_radius: float, thickness: float) -> list[trimesh.Trimesh]:
    """Two handle arcs arching outwards at ±x from a pot of radius ``r`` and height ``h`` (m), at 80 % height."""
    out = []
    for sx in (1.0, -1.0):
        hd = _handle_arc(arc_radius, thickness)
        hd.apply_transform(trimesh.transformations.rotation_matrix(sx * np.pi / 2, [0, 1, 0]))  # arch outwards
        hd.apply_translation([sx * (r - 0.002), 0, h * 0.8])
        out.append(hd)
    return out


def _pot(rng):
    r, h, w = _u(rng, 0.1, 0.16), _u(rng, 0.12, 0.22), MIN_WALL
    return _union(_container(r, r, h, w), *_side_handles(r, h, 0.025, 0.007)), {"radius": r, "height": h}


def _bucket(rng):
    rb, h = _u(rng, 0.1, 0.14), _u(rng, 0.2, 0.3)
    rt = rb * _u(rng, 1.1, 1.25)
    body = _container(rb, rt, h, MIN_WALL)
    handle = _handle_arc(rt - 0.006, 0.007)
    handle.apply_translation([0, 0, h - 0.01])
    return _union(body, handle), {"radius_bottom": rb, "radius_top": rt, "height": h}


def _book(rng):
    e = [_u(rng, 0.14, 0.3), _u(rng, 0.1, 0.22), _u(rng, 0.015, 0.06)]
    return trimesh.creation.box(extents=e), {"extents": e}


def _laptop(rng):
    w, d, t = _u(rng, 0.3, 0.38), _u(rng, 0.2, 0.26), _u(rng, 0.012, 0.018)
    angle = _u(rng, np.deg2rad(80), np.deg2rad(130))
    base = trimesh.creation.box(extents=(w, d, t))
    base.apply_translation([0, 0, t / 2])
    screen = trimesh.creation.box(extents=(w, d, t * 0.6))
    screen.apply_translation([0, d / 2, t * 0.3])  # hinge along x at y = 0 (screen's near edge)
    screen.apply_transform(trimesh.transformations.rotation_matrix(np.pi - angle, [1, 0, 0]))
    screen.apply_translation([0, -d / 2 + t * 0.3, t])
    mesh = _union(base, screen)
    return mesh, {"width": w, "depth": d, "opening_rad": angle}, {"base": base, "screen": screen}


def _tray(rng):
    w, d, h = _u(rng, 0.3, 0.55), _u(rng, 0.22, 0.4), _u(rng, 0.02, 0.05)
    outer = trimesh.creation.box(extents=(w, d, h))
    inner = trimesh.creation.box(extents=(w - 2 * MIN_WALL, d - 2 * MIN_WALL, h))
    inner.apply_translation([0, 0, MIN_WALL])
    return trimesh.boolean.difference([outer, inner], engine="manifold"), {"extents": [w, d, h]}


def _tube(rng):
    r, h = _u(rng, 0.02, 0.05), _u(rng, 0.2, 0.5)
    ri = r - _u(rng, MIN_WALL, MIN_WALL + 0.004)
    prof = [(ri, 0), (r, 0), (r, h), (ri, h)]
    return _revolve(prof + [(ri, 0)]), {"radius": r, "inner_radius": ri, "length": h}


def _cone(rng):
    r, h = _u(rng, 0.04, 0.12), _u(rng, 0.1, 0.3)
    return trimesh.creation.cone(radius=r, height=h, sections=48), {"radius": r, "height": h}


def _torus(rng):
    R, r = _u(rng, 0.05, 0.15), _u(rng, 0.01, 0.03)
    return trimesh.creation.torus(major_radius=R, minor_radius=r, major_sections=48, minor_sections=16), {
        "major_radius": R, "minor_radius": r}


def _cylinder(rng):
    r, h = _u(rng, 0.03, 0.12), _u(rng, 0.08, 0.4)
    return trimesh.creation.cylinder(radius=r, height=h, sections=48), {"radius": r, "height": h}


def _capsule(rng):
    r, h = _u(rng, 0.02, 0.06), _u(rng, 0.08, 0.35)
    return trimesh.creation.capsule(height=h, radius=r, count=[24, 24]), {"radius": r, "height": h}


def _basket(rng):
    w, d, h = _u(rng, 0.3, 0.45), _u(rng, 0.2, 0.32), _u(rng, 0.12, 0.2)
    outer = trimesh.creation.box(extents=(w, d, h))
    inner = trimesh.creation.box(extents=(w - 2 * MIN_WALL, d - 2 * MIN_WALL, h))
    inner.apply_translation([0, 0, MIN_WALL])
    body = trimesh.boolean.difference([outer, inner], engine="manifold")
    handle = _handle_arc(w / 2 - 0.006, 0.008)
    handle.apply_translation([0, 0, h / 2 - 0.01])
    return _union(body, handle), {"extents": [w, d, h]}


def _vase(rng):
    r, h = _u(rng, 0.05, 0.1), _u(rng, 0.2, 0.4)
    w = MIN_WALL
    prof = [(0, 0), (r * 0.6, 0), (r, h * 0.35), (r * 0.45 + w, h * 0.8), (r * 0.6 + w, h), (r * 0.6, h),
            (r * 0.45, h * 0.8), (r - w, h * 0.35), (r * 0.6 - w, w), (0, w)]
    return _revolve(prof), {"radius": r, "height": h}


#: category → builder; the key is also the object's text name
CATEGORIES: dict[str, Callable] = {
    "box": _box, "bottle": _bottle, "can": _can, "jar": _jar, "ball": _ball, "bowl": _bowl, "mug": _mug,
    "plate": _plate, "pan": _pan, "pot": _pot, "bucket": _bucket, "book": _book, "laptop": _laptop,
    "tray": _tray, "tube": _tube, "cone": _cone, "ring": _torus, "cylinder": _cylinder, "capsule": _capsule,
    "basket": _basket, "vase": _vase,
}  # fmt: skip


def category_names() -> tuple[str, ...]:
    """All category names, in a fixed order."""
    return tuple(CATEGORIES)


def make_object(category: str, seed: int | np.random.Generator = 0) -> ObjectSample:
    """Generate one object of ``category`` with random dimensions.

    Args:
        category: one of :func:`category_names`.
        seed: integer seed or a numpy Generator.
    Returns:
        :class:`ObjectSample` with a watertight mesh centred on its bounding box.
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown object category {category!r}; choose one of {', '.join(CATEGORIES)}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _finish(category, CATEGORIES[category](rng))


def _finish(category: str, out: tuple) -> ObjectSample:
    """A category builder's ``(mesh, params[, parts])`` as an :class:`ObjectSample`: centred on the
    bounding box (parts moved with it), checked watertight, outward normals."""
    mesh, params = out[0], out[1]
    parts = out[2] if len(out) > 2 else {}
    center = mesh.bounds.mean(0)
    mesh.apply_translation(-center)
    for p in parts.values():
        p.apply_translation(-center)
    if not mesh.is_watertight:  # pragma: no cover - guarded by tests for every category
        raise RuntimeError(f"generated {category} mesh is not watertight")
    if mesh.volume < 0:
        mesh.invert()
    return ObjectSample(mesh=mesh, category=category, params=params, parts=parts)

"""Headless PNG renders of meshes (object + hands) with matplotlib.

Why matplotlib and not an OpenGL renderer (pyrender, moderngl): those need an EGL/OSMesa
system library that a fresh CPU machine lacks, and ``bghop`` must render right after
``pip install``. We shade each face ourselves (Lambert + ambient, one head light) and let
``Poly3DCollection`` depth-sort faces (painter's algorithm), which is good enough for a few
thousand triangles per mesh.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from bghop.core.io import atomic_path

logger = logging.getLogger(__name__)

__all__ = ["RenderMesh", "render_meshes", "contact_sheet", "save_figure", "COLORS"]

#: Default colours: object grey-blue, right hand warm, left hand cool; robot hands the same hues, greyer.
COLORS: dict[str, tuple[float, float, float]] = {
    "object": (0.62, 0.66, 0.72),
    "right": (0.93, 0.66, 0.52),
    "left": (0.55, 0.72, 0.93),
    "robot_right": (0.78, 0.58, 0.42),
    "robot_left": (0.42, 0.55, 0.72),
}


@dataclass
class RenderMesh:
    """One mesh to draw.

    Attributes:
        vertices: ``(V, 3)`` metres.
        faces: ``(F, 3)`` int.
        color: RGB in [0, 1].
        alpha: opacity.
    """

    vertices: np.ndarray
    faces: np.ndarray
    color: tuple[float, float, float] = COLORS["object"]
    alpha: float = 1.0
    label: str | None = None
    extra: dict = field(default_factory=dict)


def _view_dir(elev: float, azim: float) -> np.ndarray:
    """Unit vector from the scene towards the camera for matplotlib's (elev, azim) in degrees."""
    e, a = np.deg2rad(elev), np.deg2rad(azim)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def _shade(mesh: RenderMesh, light: np.ndarray) -> np.ndarray:
    """Per-face RGBA colours, ``(F, 4)``: two-sided Lambert with ambient term."""
    tri = mesh.vertices[mesh.faces]  # (F, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)
    lam = np.abs(n @ light)
    intensity = 0.35 + 0.65 * lam
    rgb = np.clip(np.asarray(mesh.color)[None, :] * intensity[:, None], 0.0, 1.0)
    return np.concatenate([rgb, np.full((len(rgb), 1), mesh.alpha)], axis=1)


def _draw(ax, meshes: Sequence[RenderMesh], elev: float, azim: float, up: str) -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    # matplotlib's vertical axis is z; rotate so the requested model axis points up.
    perm = {"z": [0, 1, 2], "y": [2, 0, 1], "x": [1, 2, 0]}[up]
    allv = np.concatenate([m.vertices[:, perm] for m in meshes], axis=0)
    lo, hi = allv.min(0), allv.max(0)
    center, half = (lo + hi) / 2, (hi - lo).max() / 2 * 1.05 + 1e-6
    light = _view_dir(elev + 25, azim - 30)
    # one collection for all meshes: matplotlib depth-sorts faces within a collection but
    # draws separate collections whole, which would put a hand entirely in front of an object
    tris, colors = [], []
    for m in meshes:
        v = m.vertices[:, perm]
        tris.append(v[m.faces])
        colors.append(_shade(RenderMesh(v, m.faces, m.color, m.alpha), light))
    fc = np.concatenate(colors)
    coll = Poly3DCollection(np.concatenate(tris), facecolors=fc, edgecolors=fc, linewidths=0.1)
    ax.add_collection3d(coll)
    for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), center):
        setter(c - half, c + half)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=elev, azim=azim)
    ax.set_axis_off()


def save_figure(fig, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save a matplotlib figure as PNG atomically (temp file in the same folder, then rename) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, facecolor="white", format="png")
    finally:
        plt.close(fig)
    logger.debug("wrote %s", path)
    return path


def render_meshes(
    meshes: Sequence[RenderMesh],
    path: str | os.PathLike,
    views: Sequence[tuple[float, float]] = ((25.0, -60.0), (25.0, 30.0), (80.0, -90.0)),
    up: str = "y",
    title: str | None = None,
    size: float = 3.2,
    dpi: int = 110,
) -> Path:
    """Render meshes from several viewpoints side by side into one PNG (written atomically).

    Args:
        meshes: what to draw; all share one frame.
        path: output ``.png``.
        views: ``(elevation, azimuth)`` pairs in degrees, one panel each.
        up: model axis drawn vertically (``"x"``, ``"y"`` or ``"z"``).
        title: optional figure title.
        size: panel size in inches.
        dpi: resolution.
    Returns:
        the written path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not meshes:
        raise ValueError("render_meshes needs at least one mesh")
    fig = plt.figure(figsize=(size * len(views), size + (0.3 if title else 0)))
    for i, (elev, azim) in enumerate(views):
        ax = fig.add_subplot(1, len(views), i + 1, projection="3d")
        _draw(ax, meshes, elev, azim, up)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.92 if title else 1, wspace=0)
    return save_figure(fig, path, dpi=dpi)


def contact_sheet(images: Sequence[str | os.PathLike], path: str | os.PathLike, cols: int = 4,
                  labels: Sequence[str] | None = None) -> Path:
    """Tile PNGs into one image (written atomically).

    Args:
        images: PNG paths (same size not required; each is fitted into a cell).
        path: output ``.png``.
        cols: cells per row.
        labels: optional caption per image.
    Returns:
        the written path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    if not images:
        raise ValueError("contact_sheet needs at least one image")
    rows = (len(images) + cols - 1) // cols
    cols = min(cols, len(images))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i, img in enumerate(images):
        ax = axes[i // cols, i % cols]
        ax.imshow(mpimg.imread(str(img)))
        if labels is not None:
            ax.set_title(labels[i], fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)

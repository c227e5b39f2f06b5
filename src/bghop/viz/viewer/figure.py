"""The plotly figure of the viewer: one set of traces per sample (meshes, contact and penetration points).

Only the first sample's traces are visible at first; the page's script switches them. A sample with
robot hands shows them (legend group ``"robot hands"``) and its human hands only in the legend
(``visible="legendonly"``: hidden, one click away), with their contact and penetration points. Vertex
coordinates are rounded to 0.1 mm (:data:`_DECIMALS`) and nothing is decimated.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import trimesh

from bghop.viz.render import COLORS
from bghop.viz.viewer.data import _SIDES, ViewerSample

__all__ = ["CONTACT_COLOR", "PENETRATION_COLOR", "ROBOT_GROUP", "SEE_THROUGH_OPACITY"]

#: marker colour of contact points (hand vertices within 5 mm of the surface)
CONTACT_COLOR = "#22a05a"
#: marker colour of penetrating hand vertices
PENETRATION_COLOR = "#e02020"
#: opacity of the object when "see-through object" is on
SEE_THROUGH_OPACITY = 0.55
#: initial camera: the first view of ``render.png`` (elevation 25°, azimuth −60°, y up), 2 scene units away
_CAMERA_EYE = dict(x=-1.57, y=0.85, z=0.91)
#: trace and legend names of the hands
_SIDE_NAMES = {"right": "right hand", "left": "left hand"}
#: trace names of the robot hands (legend group :data:`ROBOT_GROUP`)
_ROBOT_NAMES = {"right": "right robot hand", "left": "left robot hand"}
#: legend group of the robot hands
ROBOT_GROUP = "robot hands"
#: coordinates are rounded to this many decimals (metres: 0.1 mm)
_DECIMALS = 4


def _typed_arrays() -> bool:
    """Whether the installed plotly writes numpy arrays as base64 typed arrays (plotly ≥ 6)."""
    import plotly

    return int(plotly.__version__.split(".")[0]) >= 6


def _coords(v: np.ndarray) -> np.ndarray:
    """Coordinates rounded to 0.1 mm: float32 (base64 typed arrays in plotly ≥ 6's JSON), or float64 for
    plotly 5, which writes numbers as text (a float32 would print as ``0.012299999594688416``)."""
    v = np.round(np.asarray(v, dtype=np.float64), _DECIMALS)
    return v.astype(np.float32) if _typed_arrays() else v


def _indices(f: np.ndarray, n_vertices: int) -> np.ndarray:
    """Face indices in the smallest unsigned type that holds ``n_vertices``."""
    return np.asarray(f, dtype=np.uint16 if n_vertices < 2**16 else np.uint32)


def _rgb(c: tuple[float, float, float]) -> str:
    """A colour with components in [0, 1] as CSS ``rgb(r,g,b)``."""
    return "rgb({},{},{})".format(*(int(round(255 * x)) for x in c))


def _mesh_trace(mesh: trimesh.Trimesh, name: str, color: str, visible: bool | str, group: str,
                opacity: float = 1.0) -> dict:
    """A smooth-shaded ``mesh3d`` trace of ``mesh`` (legend entry ``name`` in legend group ``group``)."""
    v = _coords(mesh.vertices)
    f = _indices(mesh.faces, len(v))
    return dict(type="mesh3d", name=name, x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                color=color, opacity=opacity, flatshading=False, showlegend=True, legendgroup=group, visible=visible,
                hoverinfo="name", lighting=dict(ambient=0.45, diffuse=0.75, specular=0.15, roughness=0.7,
                                                fresnel=0.1),
                lightposition=dict(x=1000, y=2000, z=3000))


def _points_trace(p: np.ndarray, name: str, color: str, visible: bool | str, size: float) -> dict:
    """A ``scatter3d`` marker trace of the points ``p`` ``(N, 3)``."""
    v = _coords(p.reshape(-1, 3))
    return dict(type="scatter3d", mode="markers", name=name, x=v[:, 0], y=v[:, 1], z=v[:, 2],
                marker=dict(size=size, color=color, opacity=1.0), showlegend=True, legendgroup=name,
                visible=visible, hoverinfo="name")


def _cube_range(s: ViewerSample) -> list[list[float]]:
    """Axis ranges ``[[x0, x1], [y0, y1], [z0, z1]]`` of one cube around the sample's meshes (8 % margin)."""
    meshes = [s.object_mesh, *s.hands.values(), *s.robot_hands.values()]
    allv = np.concatenate([np.asarray(m.vertices) for m in meshes])
    lo, hi = allv.min(0), allv.max(0)
    c, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * 1.08 + 1e-4
    return [[round(float(x - half), 5), round(float(x + half), 5)] for x in c]


def _figure(samples: Sequence[ViewerSample], show_contact: bool, show_penetration: bool,
            see_through: bool) -> tuple[dict, list[dict]]:
    """The plotly figure (all samples' traces, the first one visible) and per-sample trace indices.

    Args:
        samples: at least one sample.
        show_contact: the first sample's contact points visible.
        show_penetration: the first sample's penetrating vertices visible.
        see_through: objects drawn at :data:`SEE_THROUGH_OPACITY`.
    Returns:
        ``(figure, index)``: the figure as plain JSON data; per sample, the indices of its
        ``meshes`` (object and human hands), ``object``, ``contact`` and ``penetration`` traces and its
        axis ``range``; for a sample with robot hands also ``hands`` (its human hands), ``robot``
        (its robot hands) and ``robot_contact`` / ``robot_penetration`` (the robot hands' points).
    """
    import plotly.graph_objects as go

    data: list[dict] = []
    index: list[dict] = []
    for n, s in enumerate(samples):
        first = n == 0
        robot = bool(s.robot_hands)
        # with robot hands the human ones (and their points) start hidden, listed in the legend
        human: bool | str = ("legendonly" if robot else True) if first else False
        entry: dict[str, Any] = {"meshes": [], "object": len(data), "contact": None, "penetration": None,
                                 "range": _cube_range(s)}
        entry["meshes"].append(len(data))
        data.append(_mesh_trace(s.object_mesh, "object", _rgb(COLORS["object"]), first, "object",
                                SEE_THROUGH_OPACITY if see_through else 1.0))
        hands = []
        for side in _SIDES:
            if side in s.hands:
                hands.append(len(data))
                data.append(_mesh_trace(s.hands[side], _SIDE_NAMES[side], _rgb(COLORS[side]), human, side))
        entry["meshes"] += hands
        entry["contact"] = len(data)
        data.append(_points_trace(s.contact_points, "contact points", CONTACT_COLOR,
                                  human if first and show_contact else False, 2.5))
        entry["penetration"] = len(data)
        data.append(_points_trace(s.penetration_points, "penetration", PENETRATION_COLOR,
                                  human if first and show_penetration else False, 3.0))
        if robot:
            entry["hands"], entry["robot"] = hands, []
            for side in _SIDES:
                if side in s.robot_hands:
                    entry["robot"].append(len(data))
                    data.append(_mesh_trace(s.robot_hands[side], _ROBOT_NAMES[side],
                                            _rgb(COLORS[f"robot_{side}"]), first, ROBOT_GROUP))
                    data[-1]["legendgrouptitle"] = dict(text=ROBOT_GROUP)
            # the robot hands' own contact and penetration, shown with them
            entry["robot_contact"] = len(data)
            data.append(_points_trace(s.robot_contact_points, "robot contact points", CONTACT_COLOR,
                                      first and show_contact, 2.5))
            entry["robot_penetration"] = len(data)
            data.append(_points_trace(s.robot_penetration_points, "robot penetration", PENETRATION_COLOR,
                                      first and show_penetration, 3.0))
        index.append(entry)
    rng = index[0]["range"]
    axis = dict(showbackground=True, backgroundcolor="rgb(246,247,249)", gridcolor="rgb(220,222,226)",
                zerolinecolor="rgb(200,202,206)", showspikes=False, tickformat=".2f")
    layout = dict(
        template="none",
        margin=dict(l=0, r=0, t=0, b=0),
        paper_bgcolor="white",
        legend=dict(x=0.01, y=0.99, bgcolor="rgba(255,255,255,0.8)", itemclick="toggle"),
        uirevision="bghop-view",
        scene=dict(
            aspectmode="cube",
            xaxis=dict(axis, title=dict(text="x (m)"), range=rng[0]),
            yaxis=dict(axis, title=dict(text="y (m)"), range=rng[1]),
            zaxis=dict(axis, title=dict(text="z (m)"), range=rng[2]),
            camera=dict(up=dict(x=0, y=1, z=0), eye=_CAMERA_EYE),
        ),
    )
    fig = go.Figure(data=data, layout=layout)
    return json.loads(fig.to_json()), index

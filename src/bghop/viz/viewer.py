"""Interactive 3D viewer of result folders: one self-contained HTML page (plotly, works offline).

The page shows, per sample, the object (grey), the right hand (warm) and the left hand (cool) in
the colours of :mod:`bghop.viz.render`, a list of samples with their metrics, a see-through switch
for the object, and two toggles:

* **contact points** — hand vertices within :data:`~bghop.eval.metrics.CONTACT_THRESHOLD_M`
  (5 mm) of the object surface, outside it (green);
* **penetration** — hand vertices inside the object (red).

Both come from the signed distance of every hand vertex to the object (the same
:func:`~bghop.geometry.sdf.sdf_at_points` the metrics use), and the per-hand penetration and
contact figures from :mod:`bghop.eval.metrics`. Metrics stored with the results are shown as
found: per sample in ``summary.json`` (a list or a dict under ``samples``, ``per_sample``,
``metrics`` or ``results``) or as extra entries of the sample's ``hands.json``; both may be absent.

plotly.js is embedded from the installed ``plotly`` package (no CDN), so the file opens from disk
without a network. Vertex coordinates are rounded to 0.1 mm and stored as float32 (plotly ≥ 6
writes them as base64 typed arrays); nothing is decimated.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import trimesh

from bghop.core.io import write_text_atomic
from bghop.eval.metrics import CONTACT_THRESHOLD_M, in_contact, penetration
from bghop.eval.report import EvalInputError
from bghop.eval.report import find_sample_folders as _find_sample_folders
from bghop.geometry.sdf import sdf_at_points
from bghop.viz.render import COLORS
from bghop.viz.results import hand_meshes, read_result_folder

logger = logging.getLogger(__name__)

__all__ = [
    "ViewerError",
    "ViewerSample",
    "ViewerServer",
    "find_sample_folders",
    "load_samples",
    "build_viewer_html",
    "write_viewer",
    "serve_viewer",
    "CONTACT_COLOR",
    "PENETRATION_COLOR",
]

#: marker colour of contact points (hand vertices within 5 mm of the surface)
CONTACT_COLOR = "#22a05a"
#: marker colour of penetrating hand vertices
PENETRATION_COLOR = "#e02020"
#: opacity of the object when "see-through object" is on
SEE_THROUGH_OPACITY = 0.55
#: initial camera: the first view of ``render.png`` (elevation 25°, azimuth −60°, y up), 2 scene units away
_CAMERA_EYE = dict(x=-1.57, y=0.85, z=0.91)
#: keys of ``summary.json`` that may hold per-sample metrics
_PER_SAMPLE_KEYS = ("samples", "per_sample", "metrics", "results")
#: keys of a per-sample entry (in a list) that name its folder
_ID_KEYS = ("name", "sample", "folder", "id", "index", "k")
_SIDES = ("right", "left")
_SIDE_NAMES = {"right": "right hand", "left": "left hand"}
#: coordinates are rounded to this many decimals (metres: 0.1 mm)
_DECIMALS = 4


class ViewerError(ValueError):
    """Input the viewer cannot show; the message says which folder or file and why."""


@dataclass
class ViewerSample:
    """One sample as the viewer shows it.

    Attributes:
        label: ``"<folder>/<sample>"`` shown in the list.
        path: the sample's folder.
        object_mesh: metres, object frame.
        hands: posed hand meshes present, ``{"right": mesh, "left": mesh}``.
        metrics: metrics stored with the results (flattened, numbers and booleans).
        computed: metrics computed here from the meshes (penetration, contact).
        contact_points: hand vertices within 5 mm of the object surface, outside it, ``(N, 3)``.
        penetration_points: hand vertices inside the object, ``(M, 3)``.
        text: the prompt, when the results store one.
    """

    label: str
    path: Path
    object_mesh: trimesh.Trimesh
    hands: dict[str, trimesh.Trimesh]
    metrics: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    contact_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    penetration_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    text: str | None = None


# ----------------------------------------------------------------------------- reading


def find_sample_folders(folder: str | os.PathLike) -> list[Path]:
    """Sample folders of a result folder (``DIR/<k>/object.obj``), or ``[folder]`` if it is one itself.

    The same rule as ``bghop eval`` (:func:`bghop.eval.report.find_sample_folders`).

    Raises:
        ViewerError: the folder does not exist or holds no samples.
    """
    try:
        return _find_sample_folders(folder)
    except EvalInputError as e:
        raise ViewerError(str(e)) from e


def _read_json(path: Path) -> Any:
    """JSON content of ``path``, or None (with a warning) when it is absent or unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        logger.warning("ignoring %s: %s", path, e)
        return None


def _flatten(d: Any, prefix: str = "", depth: int = 3) -> dict[str, Any]:
    """Numbers and booleans of a nested dict as ``{"a.b": value}`` (lists and strings are skipped)."""
    out: dict[str, Any] = {}
    if not isinstance(d, dict) or depth < 0:
        return out
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v)):
            out[key] = v
        elif isinstance(v, dict):
            out.update(_flatten(v, key + ".", depth - 1))
    return out


def _per_sample_metrics(summary: Any, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per-sample metrics found in ``summary.json``, keyed by sample folder name."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(summary, dict):
        return out
    wanted = set(names)
    for key in _PER_SAMPLE_KEYS:
        entries = summary.get(key)
        if isinstance(entries, dict):
            for name in sorted(wanted & set(entries)):
                out.setdefault(name, {}).update(_flatten(entries[name]))
        elif isinstance(entries, list):
            for pos, e in enumerate(entries):
                if not isinstance(e, dict):
                    continue
                ident = next((e[k] for k in _ID_KEYS if k in e), pos)
                name = Path(str(ident)).name
                if name in wanted:
                    flat = _flatten({k: v for k, v in e.items() if k not in _ID_KEYS})
                    out.setdefault(name, {}).update(flat)
    return out


def _run_summary(summary: Any, names: Sequence[str]) -> dict[str, str]:
    """Run-level entries of ``summary.json`` worth a line each (settings, aggregate metrics)."""
    if not isinstance(summary, dict):
        return {}
    out: dict[str, str] = {}
    wanted = set(names)

    def visit(d: dict, prefix: str, depth: int) -> None:
        for k, v in d.items():
            if len(out) >= 16:
                return
            if isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v)):
                out[f"{prefix}{k}"] = _fmt(v)
            elif isinstance(v, str) and len(v) <= 80:
                out[f"{prefix}{k}"] = v
            elif isinstance(v, dict) and depth > 0 and not (set(map(str, v)) & wanted):
                visit(v, f"{prefix}{k}.", depth - 1)

    visit(summary, "", 2)
    return out


def _load_mesh(path: Path) -> trimesh.Trimesh:
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types on a broken file
        raise ViewerError(f"cannot read mesh {path}: {e}") from e
    return _check_mesh(mesh, path)


def _check_mesh(mesh: Any, path: Path) -> trimesh.Trimesh:
    """``mesh`` if it is a non-empty, finite triangle mesh."""
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.vertices) == 0 or len(mesh.faces) == 0:
        raise ViewerError(f"cannot read mesh {path}: no triangles")
    if not np.isfinite(np.asarray(mesh.vertices)).all():
        raise ViewerError(f"cannot read mesh {path}: non-finite vertex coordinates")
    return mesh


def _load_sample(path: Path, label: str, stored: dict[str, Any]) -> ViewerSample:
    """Read one sample folder and classify its hand vertices against the object."""
    try:
        result = read_result_folder(path)
    except (OSError, ValueError) as e:
        raise ViewerError(f"cannot read result folder {path}: {e}") from e
    except Exception as e:  # a broken object.obj
        raise ViewerError(f"cannot read mesh {path / 'object.obj'}: {e}") from e
    obj = _check_mesh(result.object_mesh, path / "object.obj")
    hands: dict[str, trimesh.Trimesh] = {}
    for side in _SIDES:
        f = path / f"{side}_hand.obj"
        if f.is_file():
            hands[side] = _load_mesh(f)
        elif side in result.hands:  # mesh missing: pose the layer from hands.json
            try:
                hands[side] = hand_meshes(result.hands)[side]
            except (OSError, ValueError) as e:
                raise ViewerError(f"{f} is missing and the {side} hand cannot be posed from hands.json: {e}") from e
    raw = _read_json(path / "hands.json")
    metrics = _flatten({k: v for k, v in raw.items() if k not in _SIDES}) if isinstance(raw, dict) else {}
    metrics.update(stored)
    text = next((raw[k] for k in ("text", "prompt") if isinstance(raw, dict) and isinstance(raw.get(k), str)), None)

    computed: dict[str, Any] = {}
    contact, inside, pen_max = [], [], 0.0
    for side, hm in hands.items():
        v = np.asarray(hm.vertices, dtype=np.float64)
        try:
            s = sdf_at_points(obj, v)
        except ValueError as e:
            raise ViewerError(f"cannot measure {path}: {e}") from e
        pen = penetration(obj, v, sdf=s)
        pen_max = max(pen_max, pen.max_depth)
        computed[f"contact {side}"] = in_contact(obj, v, sdf=s)
        contact.append(v[(s >= 0) & (s < CONTACT_THRESHOLD_M)])
        inside.append(v[s < 0])
    computed["penetration max mm"] = pen_max * 1e3
    computed["contact points"] = int(sum(len(c) for c in contact))
    computed["penetrating points"] = int(sum(len(c) for c in inside))
    return ViewerSample(label=label, path=path, object_mesh=obj, hands=hands, metrics=metrics, computed=computed,
                        contact_points=np.concatenate(contact) if contact else np.zeros((0, 3)),
                        penetration_points=np.concatenate(inside) if inside else np.zeros((0, 3)), text=text)


def _folder_labels(folders: Sequence[Path]) -> list[str]:
    """Short distinct names for the given result folders (their names, or more of the path on a clash)."""
    names = [f.resolve().name or str(f) for f in folders]
    if len(set(names)) == len(names):
        return names
    return [str(f) for f in folders]


def load_samples(folders: Iterable[str | os.PathLike]) -> tuple[list[ViewerSample], dict[str, dict[str, str]]]:
    """Read every sample of the given result folders.

    Returns:
        ``(samples, run_summaries)``: samples in folder order, labelled ``"<folder>/<k>"``;
        per folder label, the run-level entries of its ``summary.json`` (may be empty).
    Raises:
        ViewerError: a missing folder, a folder without samples, an unreadable mesh or ``hands.json``.
    """
    folders = [Path(f) for f in folders]
    if not folders:
        raise ViewerError("give at least one result folder")
    labels = _folder_labels(folders)
    samples: list[ViewerSample] = []
    runs: dict[str, dict[str, str]] = {}
    for folder, flabel in zip(folders, labels):
        subs = find_sample_folders(folder)
        single = subs == [folder]  # one sample folder given: its run is the parent folder
        root = folder.resolve().parent if single else folder
        if single:
            flabel = root.name or flabel
        summary = _read_json(root / "summary.json")
        names = [p.name for p in subs]
        stored = _per_sample_metrics(summary, names)
        runs[flabel] = _run_summary(summary, names)
        for p in subs:
            label = f"{flabel}/{p.name}"
            samples.append(_load_sample(p, label, stored.get(p.name, {})))
            logger.debug("loaded %s", label)
    return samples, runs


# ----------------------------------------------------------------------------- figure


def _coords(v: np.ndarray) -> np.ndarray:
    """Coordinates rounded to 0.1 mm: float32 (base64 typed arrays in plotly ≥ 6's JSON), or float64 for
    plotly 5, which writes numbers as text (a float32 would print as ``0.012299999594688416``)."""
    v = np.round(np.asarray(v, dtype=np.float64), _DECIMALS)
    return v.astype(np.float32) if _typed_arrays() else v


def _typed_arrays() -> bool:
    """Whether the installed plotly writes numpy arrays as base64 typed arrays (plotly ≥ 6)."""
    import plotly

    return int(plotly.__version__.split(".")[0]) >= 6


def _indices(f: np.ndarray, n_vertices: int) -> np.ndarray:
    return np.asarray(f, dtype=np.uint16 if n_vertices < 2**16 else np.uint32)


def _rgb(c: tuple[float, float, float]) -> str:
    return "rgb({},{},{})".format(*(int(round(255 * x)) for x in c))


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.3g}" if abs(v) < 1e-3 or abs(v) >= 1e5 else f"{v:.4g}"
    return str(v)


def _mesh_trace(mesh: trimesh.Trimesh, name: str, color: str, visible: bool, group: str,
                opacity: float = 1.0) -> dict:
    v = _coords(mesh.vertices)
    f = _indices(mesh.faces, len(v))
    return dict(type="mesh3d", name=name, x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
                color=color, opacity=opacity, flatshading=False, showlegend=True, legendgroup=group, visible=visible,
                hoverinfo="name", lighting=dict(ambient=0.45, diffuse=0.75, specular=0.15, roughness=0.7,
                                                fresnel=0.1),
                lightposition=dict(x=1000, y=2000, z=3000))


def _points_trace(p: np.ndarray, name: str, color: str, visible: bool, size: float) -> dict:
    v = _coords(p.reshape(-1, 3))
    return dict(type="scatter3d", mode="markers", name=name, x=v[:, 0], y=v[:, 1], z=v[:, 2],
                marker=dict(size=size, color=color, opacity=1.0), showlegend=True, legendgroup=name,
                visible=visible, hoverinfo="name")


def _cube_range(s: ViewerSample) -> list[list[float]]:
    allv = np.concatenate([np.asarray(s.object_mesh.vertices)] + [np.asarray(m.vertices) for m in s.hands.values()])
    lo, hi = allv.min(0), allv.max(0)
    c, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * 1.08 + 1e-4
    return [[round(float(x - half), 5), round(float(x + half), 5)] for x in c]


def _figure(samples: Sequence[ViewerSample], show_contact: bool, show_penetration: bool,
            see_through: bool) -> tuple[dict, list[dict]]:
    """The plotly figure (all samples' traces, the first one visible) and per-sample trace indices."""
    import plotly.graph_objects as go

    data: list[dict] = []
    index: list[dict] = []
    for n, s in enumerate(samples):
        first = n == 0
        entry: dict[str, Any] = {"meshes": [], "object": len(data), "contact": None, "penetration": None,
                                 "range": _cube_range(s)}
        entry["meshes"].append(len(data))
        data.append(_mesh_trace(s.object_mesh, "object", _rgb(COLORS["object"]), first, "object",
                                SEE_THROUGH_OPACITY if see_through else 1.0))
        for side in _SIDES:
            if side in s.hands:
                entry["meshes"].append(len(data))
                data.append(_mesh_trace(s.hands[side], _SIDE_NAMES[side], _rgb(COLORS[side]), first, side))
        entry["contact"] = len(data)
        data.append(_points_trace(s.contact_points, "contact points", CONTACT_COLOR, first and show_contact, 2.5))
        entry["penetration"] = len(data)
        data.append(_points_trace(s.penetration_points, "penetration", PENETRATION_COLOR,
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


# ----------------------------------------------------------------------------- page


_CSS = """
*{box-sizing:border-box}
body{margin:0;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;display:flex;height:100vh}
#side{width:290px;min-width:290px;overflow-y:auto;border-right:1px solid #ddd;background:#fafbfc;padding:10px}
#side h1{font-size:15px;margin:0 0 6px}
#toggles{margin:6px 0 10px;padding:6px 8px;background:#fff;border:1px solid #e2e4e8;border-radius:6px}
#toggles label{display:block;margin:2px 0;cursor:pointer}
.sw{display:inline-block;width:10px;height:10px;border-radius:50%;margin:0 4px 0 2px;vertical-align:-1px}
.run{margin:10px 0 4px;font-weight:600}
.runinfo{font-size:11px;color:#555;margin:0 0 4px 6px}
.sample{padding:5px 7px;margin:3px 0;border:1px solid #e2e4e8;border-radius:6px;background:#fff;cursor:pointer}
.sample:hover{border-color:#9ab}
.sample.sel{border-color:#3a78d8;background:#eef4fd}
.sample .name{font-weight:600}
.sample .text{color:#555;font-style:italic}
.sample table{border-collapse:collapse;font-size:11px;margin-top:3px;width:100%}
.sample td{padding:0 4px 0 0;vertical-align:top}
.sample td.v{text-align:right;font-variant-numeric:tabular-nums}
.sample tr.h td{color:#888;padding-top:3px}
#plot{flex:1;min-width:0;height:100vh}
.hint{color:#777;font-size:11px}
"""

_JS = """
(function(){
  var fig = JSON.parse(document.getElementById('bghop-figure').textContent);
  var meta = JSON.parse(document.getElementById('bghop-samples').textContent);
  var gd = document.getElementById('plot');
  var cur = 0;
  var boxC = document.getElementById('show-contact'), boxP = document.getElementById('show-penetration');
  var boxS = document.getElementById('see-through');
  function visibility(){
    var vis = [];
    for (var t = 0; t < fig.data.length; t++) vis.push(false);
    var m = meta[cur];
    m.meshes.forEach(function(t){ vis[t] = true; });
    vis[m.contact] = boxC.checked;
    vis[m.penetration] = boxP.checked;
    return vis;
  }
  function show(n){
    cur = n;
    var items = document.querySelectorAll('.sample');
    items.forEach(function(el){ el.classList.toggle('sel', +el.dataset.index === n); });
    var r = meta[n].range;
    Plotly.restyle(gd, {visible: visibility()});
    Plotly.relayout(gd, {'scene.xaxis.range': r[0], 'scene.yaxis.range': r[1], 'scene.zaxis.range': r[2]});
  }
  Plotly.newPlot(gd, fig.data, fig.layout, {responsive: true, displaylogo: false});
  document.querySelectorAll('.sample').forEach(function(el){
    el.addEventListener('click', function(){ show(+el.dataset.index); });
  });
  boxC.addEventListener('change', function(){ Plotly.restyle(gd, {visible: boxC.checked}, [meta[cur].contact]); });
  boxP.addEventListener('change', function(){ Plotly.restyle(gd, {visible: boxP.checked}, [meta[cur].penetration]); });
  boxS.addEventListener('change', function(){
    Plotly.restyle(gd, {opacity: boxS.checked ? SEE_THROUGH : 1.0}, meta.map(function(m){ return m.object; }));
  });
  document.addEventListener('keydown', function(e){
    if (e.key === 'ArrowDown' || e.key === 'j') show(Math.min(cur + 1, meta.length - 1));
    if (e.key === 'ArrowUp' || e.key === 'k') show(Math.max(cur - 1, 0));
  });
})();
"""


def _json_script(obj: Any, element_id: str) -> str:
    """A ``<script type="application/json">`` block that cannot end early."""
    text = json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _metrics_rows(s: ViewerSample) -> str:
    rows = []
    if s.metrics:
        rows.append('<tr class="h"><td colspan="2">stored</td></tr>')
        rows += [f'<tr><td>{html.escape(k)}</td><td class="v">{html.escape(_fmt(v))}</td></tr>'
                 for k, v in s.metrics.items()]
    rows.append('<tr class="h"><td colspan="2">measured here</td></tr>')
    rows += [f'<tr><td>{html.escape(k)}</td><td class="v">{html.escape(_fmt(v))}</td></tr>'
             for k, v in s.computed.items()]
    return "<table>" + "".join(rows) + "</table>"


def _sidebar(samples: Sequence[ViewerSample], runs: dict[str, dict[str, str]], title: str,
             show_contact: bool, show_penetration: bool, see_through: bool) -> str:
    hands = " ".join(f'<span class="sw" style="background:{_rgb(COLORS[s])}"></span>{_SIDE_NAMES[s]}' for s in _SIDES)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="hint"><span class="sw" style="background:{_rgb(COLORS["object"])}"></span>object {hands}</div>',
        '<div id="toggles">',
        f'<label><input type="checkbox" id="show-contact"{" checked" if show_contact else ""}>'
        f'<span class="sw" style="background:{CONTACT_COLOR}"></span>contact points '
        f'(&lt; {CONTACT_THRESHOLD_M * 1e3:g} mm)</label>',
        f'<label><input type="checkbox" id="show-penetration"{" checked" if show_penetration else ""}>'
        f'<span class="sw" style="background:{PENETRATION_COLOR}"></span>penetration (inside the object)</label>',
        f'<label><input type="checkbox" id="see-through"{" checked" if see_through else ""}>'
        "see-through object</label>",
        "</div>",
        '<div class="hint">click a sample (or ↑/↓); drag to rotate, scroll to zoom; click legend entries to hide '
        "meshes</div>",
    ]
    last_run = None
    for n, s in enumerate(samples):
        run = s.label.rsplit("/", 1)[0]
        if run != last_run and run in runs:
            parts.append(f'<div class="run">{html.escape(run)}</div>')
            if runs[run]:
                info = "; ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in runs[run].items())
                parts.append(f'<div class="runinfo">{info}</div>')
            last_run = run
        text = f'<div class="text">{html.escape(s.text)}</div>' if s.text else ""
        cls = "sample sel" if n == 0 else "sample"
        parts.append(f'<div class="{cls}" data-index="{n}"><div class="name">{html.escape(s.label)}</div>{text}'
                     f"{_metrics_rows(s)}</div>")
    return "\n".join(parts)


def build_viewer_html(folders: Iterable[str | os.PathLike], title: str | None = None, show_contact: bool = True,
                      show_penetration: bool = True, see_through: bool = True) -> str:
    """One self-contained HTML page showing every sample of the given result folders.

    Args:
        folders: result folders (``DIR/<k>/…``) or single sample folders.
        title: page title (default: the folder names).
        show_contact: contact points shown at first.
        show_penetration: penetrating vertices shown at first.
        see_through: the object drawn half transparent at first (so penetrating vertices show).
    Returns:
        the page (plotly.js embedded; no network needed).
    Raises:
        ViewerError: a missing folder, a folder without samples, an unreadable mesh or ``hands.json``.
    """
    from plotly.offline import get_plotlyjs

    samples, runs = load_samples(folders)
    title = title or "bghop results: " + ", ".join(runs)
    fig, index = _figure(samples, show_contact, show_penetration, see_through)
    meta = [dict(label=s.label, **index[n]) for n, s in enumerate(samples)]
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f'<div id="side">{_sidebar(samples, runs, title, show_contact, show_penetration, see_through)}</div>',
        '<div id="plot"></div>',
        _json_script(fig, "bghop-figure"),
        _json_script(meta, "bghop-samples"),
        f"<script>var SEE_THROUGH = {SEE_THROUGH_OPACITY};{_JS}</script>",
        "</body></html>",
    ])
    logger.info("viewer: %d samples, %.1f MB", len(samples), len(page) / 1e6)
    return page


def write_viewer(folders: Iterable[str | os.PathLike], out_html: str | os.PathLike, **kwargs: Any) -> Path:
    """Write :func:`build_viewer_html` to ``out_html`` atomically (temp file, then rename).

    Nothing is written when the input is bad (the page is built first).

    Returns:
        ``out_html``.
    Raises:
        ViewerError: see :func:`build_viewer_html`; also when ``out_html`` is a folder.
    """
    out = Path(out_html)
    if out.is_dir():
        raise ViewerError(f"{out} is a folder; give a file name such as {out / 'view.html'}")
    page = build_viewer_html(folders, **kwargs)
    return write_text_atomic(out, page)


# ----------------------------------------------------------------------------- serving


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("http: " + format, *args)


class ViewerServer(ThreadingHTTPServer):
    """A local HTTP server for one folder (the viewer page is its ``index.html``)."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def serve_viewer(directory: str | os.PathLike, host: str = "127.0.0.1", port: int = 0) -> ViewerServer:
    """A (not yet running) server for ``directory``; call ``serve_forever()`` and ``server_close()``.

    Args:
        directory: folder holding ``index.html``.
        host: interface to bind (local only by default).
        port: TCP port (0 picks a free one).
    Raises:
        ViewerError: the port cannot be bound.
    """
    handler = partial(_QuietHandler, directory=str(directory))
    try:
        return ViewerServer((host, port), handler)
    except OSError as e:
        raise ViewerError(f"cannot listen on {host}:{port}: {e.strerror or e} "
                          "(try another --port; 0 picks a free one)") from e

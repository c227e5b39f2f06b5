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

Modules: :mod:`~bghop.viz.viewer.data` (result folders to :class:`ViewerSample`),
:mod:`~bghop.viz.viewer.figure` (the plotly figure), :mod:`~bghop.viz.viewer.page` (the HTML page;
its style sheet and script are the assets ``bghop/assets/viewer/viewer.css`` and ``viewer.js``) and
:mod:`~bghop.viz.viewer.server` (serving it on localhost).
"""

from __future__ import annotations

from bghop.viz.viewer.data import ViewerError, ViewerSample, find_sample_folders, load_samples
from bghop.viz.viewer.figure import CONTACT_COLOR, PENETRATION_COLOR, SEE_THROUGH_OPACITY
from bghop.viz.viewer.page import build_viewer_html, write_viewer
from bghop.viz.viewer.server import ViewerServer, serve_viewer

__all__ = [
    "ViewerError",
    "ViewerSample",
    "ViewerServer",
    "find_sample_folders",
    "load_samples",
    "build_viewer_html",
    "write_viewer",
    "serve_viewer",
    "SEE_THROUGH_OPACITY",
    "CONTACT_COLOR",
    "PENETRATION_COLOR",
]

"""The viewer's HTML page: sidebar (toggles, samples and their metrics), the figure, plotly.js inline.

The style sheet and the script are package assets (``bghop/assets/viewer/viewer.css`` and
``viewer.js``); the page sets ``SEE_THROUGH`` (the see-through opacity) before the script runs.
"""

from __future__ import annotations

import html
import json
import logging
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from bghop.core.io import write_text_atomic
from bghop.eval.metrics import CONTACT_THRESHOLD_M
from bghop.viz.render import COLORS
from bghop.viz.viewer.data import _SIDES, ViewerError, ViewerSample, _fmt, load_samples
from bghop.viz.viewer.figure import (_ROBOT_NAMES, _SIDE_NAMES, CONTACT_COLOR, PENETRATION_COLOR,
                                     SEE_THROUGH_OPACITY, _figure, _rgb)

logger = logging.getLogger(__name__)

__all__ = ["build_viewer_html", "write_viewer"]


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    """Text of the viewer asset ``name`` (``viewer.css``, ``viewer.js``) shipped in ``bghop/assets/viewer``."""
    return (resources.files("bghop") / "assets" / "viewer" / name).read_text(encoding="utf-8")


def _json_script(obj: Any, element_id: str) -> str:
    """A ``<script type="application/json">`` block that cannot end early."""
    text = json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _metrics_rows(s: ViewerSample) -> str:
    """The metrics table of one sample: stored metrics (if any), the robot check's (if any), then those
    measured here."""
    rows = []
    if s.metrics:
        rows.append('<tr class="h"><td colspan="2">stored</td></tr>')
        rows += [f'<tr><td>{html.escape(k)}</td><td class="v">{html.escape(_fmt(v))}</td></tr>'
                 for k, v in s.metrics.items()]
    if s.robot_metrics:
        rows.append(f'<tr class="h"><td colspan="2">robot ({html.escape(s.robot or "robot")})</td></tr>')
        rows += [f'<tr><td>{html.escape(k)}</td><td class="v">{html.escape(_fmt(v))}</td></tr>'
                 for k, v in s.robot_metrics.items()]
    rows.append('<tr class="h"><td colspan="2">measured here</td></tr>')
    rows += [f'<tr><td>{html.escape(k)}</td><td class="v">{html.escape(_fmt(v))}</td></tr>'
             for k, v in s.computed.items()]
    return "<table>" + "".join(rows) + "</table>"


def _sidebar(samples: Sequence[ViewerSample], runs: dict[str, dict[str, str]], title: str,
             show_contact: bool, show_penetration: bool, see_through: bool) -> str:
    """The sidebar: title, colour key, the toggles (three, five with robot hands), then per run its entries
    and its samples."""
    hands = " ".join(f'<span class="sw" style="background:{_rgb(COLORS[s])}"></span>{_SIDE_NAMES[s]}' for s in _SIDES)
    robot = any(s.robot_hands for s in samples)
    if robot:
        hands += " " + " ".join(f'<span class="sw" style="background:{_rgb(COLORS["robot_" + s])}"></span>'
                                f"{_ROBOT_NAMES[s]}" for s in _SIDES)
    robot_toggles = [
        '<label><input type="checkbox" id="show-robot" checked>robot hands</label>',
        '<label><input type="checkbox" id="show-human">human hands and their points (samples with robot '
        "hands)</label>",
    ] if robot else []
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="hint"><span class="sw" style="background:{_rgb(COLORS["object"])}"></span>object {hands}</div>',
        '<div id="toggles">',
        *robot_toggles,
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
        f"<style>\n{_asset('viewer.css')}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f'<div id="side">{_sidebar(samples, runs, title, show_contact, show_penetration, see_through)}</div>',
        '<div id="plot"></div>',
        _json_script(fig, "bghop-figure"),
        _json_script(meta, "bghop-samples"),
        f"<script>var SEE_THROUGH = {SEE_THROUGH_OPACITY};\n{_asset('viewer.js')}</script>",
        "</body></html>",
    ])
    logger.info("viewer: %d samples, %.1f MB", len(samples), len(page) / 1e6)
    return page


def write_viewer(folders: Iterable[str | os.PathLike], out_html: str | os.PathLike, **kwargs: Any) -> Path:
    """Write :func:`build_viewer_html` to ``out_html`` atomically (temp file, then rename).

    Nothing is written when the input is bad (the page is built first).

    Args:
        folders: result folders or single sample folders.
        out_html: the page's file.
        **kwargs: passed on to :func:`build_viewer_html` (``title``, ``show_contact``, …).
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

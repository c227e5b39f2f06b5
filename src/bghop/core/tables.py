"""Tables as text: CSV, Markdown and plain-text tables, and JSON-ready values — one module for every
report bghop writes (``bghop eval``, ``bghop bench``, ``bghop data stats``)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["csv_text", "markdown_table", "text_table", "json_safe", "cell"]


def json_safe(o: Any) -> Any:
    """``o`` ready for standard JSON: non-finite floats become None, tuples lists, numpy/torch values
    plain numbers or lists (via ``tolist``), keys strings."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if hasattr(o, "tolist"):
        return json_safe(o.tolist())
    return o


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """Rows (dicts with the same keys, in column order) as CSV text; None is an empty cell."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return buf.getvalue()


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    """A Markdown table; columns from ``right_from`` on are right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i < right_from else "---:" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table for the terminal: first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def cell(v: Any, digits: int = 2, pct: bool = False, missing: str = "-") -> str:
    """One table cell: ``missing`` for None, yes/no for booleans, ``digits`` decimals (or a percentage
    of a fraction with ``pct``), ``inf`` for non-finite floats, ``str`` otherwise."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "inf"
        return f"{100 * v:.0f}%" if pct else f"{v:.{digits}f}"
    return str(v)

"""The layering of shared/DESIGN.md §5: imports point downward only (checked on the source, by AST)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bghop"

# floor of each subpackage (higher may import lower or equal, never higher)
FLOOR = {"core": 0, "assets": 0, "hands": 1, "geometry": 1, "fields": 2, "contact": 2, "eval": 2, "viz": 2,
         "models": 3, "data": 3, "synthesis": 4, "train": 4, "cli": 5}
FORBIDDEN = {("models", "data"), ("data", "models"), ("data", "synthesis"), ("eval", "viz")}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return [m for m in out if m.startswith("bghop.")]


def test_every_subpackage_has_a_floor():
    pkgs = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert pkgs <= set(FLOOR), f"add {sorted(pkgs - set(FLOOR))} to FLOOR"


def test_no_upward_imports():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).parts
        if len(rel) < 2:
            continue  # bghop/__init__.py, __main__.py
        here = rel[0]
        for mod in _imports(path):
            there = mod.split(".")[1]
            if there not in FLOOR:
                continue
            if FLOOR[there] > FLOOR[here] or (here, there) in FORBIDDEN:
                bad.append(f"{path.relative_to(SRC)} imports {mod}")
    assert not bad, "upward or forbidden imports:\n" + "\n".join(bad)

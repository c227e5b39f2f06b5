"""The layering of shared/DESIGN.md §5: imports point downward only (checked on the source, by AST).

```
cli/                 7
bench/               6
synthesis/  train/   5
models/     data/    4
eval/  viz/          3   viz may read eval's metrics, never eval's report; eval never imports viz;
                         neither imports the optimiser
fields/ contact/     2
hands/  geometry/    1
core/                0
```
A module may import its own floor or lower; models never import data and data never imports models.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "bghop"

#: floor of each subpackage (higher may import lower or equal, never higher)
FLOOR = {"core": 0, "assets": 0, "hands": 1, "geometry": 1, "fields": 2, "contact": 2, "eval": 3, "viz": 3,
         "models": 4, "data": 4, "synthesis": 5, "train": 5, "bench": 6, "cli": 7}
#: (importing subpackage, imported subpackage) pairs that are forbidden although the floors allow them
FORBIDDEN = {("models", "data"), ("data", "models"), ("eval", "viz")}
#: (importing subpackage, imported module) pairs that are forbidden although the floors allow them
FORBIDDEN_MODULES = {("viz", "bghop.eval.report"), ("eval", "bghop.contact.optimizer"),
                     ("viz", "bghop.contact.optimizer")}
#: deprecated aliases of modules that moved up a floor: they re-export the new module for one release
#: and import nothing else
ALIASES = {Path("synthesis/bench.py"): "bghop.bench"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out += [f"{node.module}.{a.name}" for a in node.names]  # "from bghop.eval import report"
    return [m for m in out if m.startswith("bghop.")]


def _violations(src: Path) -> list[str]:
    bad = []
    for path in src.rglob("*.py"):
        rel = path.relative_to(src).parts
        if len(rel) < 2:
            continue  # bghop/__init__.py, __main__.py
        here = rel[0]
        alias = ALIASES.get(path.relative_to(src))
        for mod in _imports(path):
            if alias is not None and (mod == alias or mod.startswith(alias + ".")):
                continue
            there = mod.split(".")[1]
            if there not in FLOOR:
                continue
            if FLOOR[there] > FLOOR[here] or (here, there) in FORBIDDEN or \
                    any(here == h and (mod == m or mod.startswith(m + ".")) for h, m in FORBIDDEN_MODULES):
                bad.append(f"{path.relative_to(src)} imports {mod}")
    return sorted(set(bad))


def test_every_subpackage_has_a_floor():
    pkgs = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert pkgs <= set(FLOOR), f"add {sorted(pkgs - set(FLOOR))} to FLOOR"


def test_no_upward_imports():
    bad = _violations(SRC)
    assert not bad, "upward or forbidden imports:\n" + "\n".join(bad)


def test_the_check_finds_violations(tmp_path):
    """The checker itself: an upward import, a forbidden pair and a forbidden module are all reported."""
    for pkg, code in (("eval", "from bghop.models.prior import InteractionPrior\n"),
                      ("viz", "from bghop.eval import report\n"),
                      ("data", "import bghop.models.unet\n"),
                      ("contact", "from bghop.eval.metrics import grasp_metrics\n"),
                      ("core", "from bghop.core.io import atomic_path\n")):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "m.py").write_text(code)
    bad = _violations(tmp_path)
    assert any(b.startswith("eval/m.py imports bghop.models") for b in bad)
    assert any(b.startswith("viz/m.py imports bghop.eval.report") for b in bad)
    assert any(b.startswith("data/m.py imports bghop.models") for b in bad)
    assert any(b.startswith("contact/m.py imports bghop.eval") for b in bad)
    assert not any(b.startswith("core/") for b in bad)

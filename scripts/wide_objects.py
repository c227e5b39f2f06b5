"""Issue 20's wide objects: best of 8 `bghop grasp` grasps on a carton, a tray and a pipe, with and
without spanning starts.

    python scripts/wide_objects.py --out runs/wide --threads 2
    python scripts/wide_objects.py --out runs/wide_obj --prior runs/default/bimanual/model --autoencoder runs/default/ae/model

Objects (metres, built here with trimesh, not from any training library):

* ``carton``: a 40×30×25 cm box;
* ``tray``: a 55×35×4 cm box;
* ``pipe``: a 60 cm tube of 8 cm outer diameter, 6 mm wall.

``--prior-init`` adds a row per object whose starts are hands the prior samples for the object
(``bghop grasp --init prior``; needs a prior anchored to the object).

For each, ``bghop grasp``'s pipeline (:class:`bghop.synthesis.grasp.GraspSynthesizer`, default
settings, seed 0) is run with the starts of today's default (``--span`` values, default ``0 0.5``:
share of two-hand starts spanning the object's longest axis, :func:`bghop.contact.init.span_starts`).
The pipeline's own first grasp is its best (lexicographic ranking). Reported per object and variant:
its depth both ways, stable, valid (stable, both hands in contact, ≤ 5 mm deep both ways, hand–hand
≤ 0.5 cm³), valid and stable of N, and the best grasp's depth measured **independently** with
trimesh alone (``thin_objects.independent_depths``). Writes OUT/wide.md and OUT/wide.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import trimesh
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from thin_objects import _row, add_independent_check  # noqa: E402


def objects() -> dict[str, tuple[trimesh.Trimesh, str]]:
    """name -> (mesh in metres, prompt word)."""
    pipe = trimesh.creation.annulus(r_min=0.034, r_max=0.04, height=0.6, sections=48)
    return {"carton": (trimesh.creation.box((0.40, 0.30, 0.25)), "box"),
            "tray": (trimesh.creation.box((0.55, 0.35, 0.04)), "tray"),
            "pipe": (pipe, "pipe")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--span", type=float, nargs="+", default=[0.0, 0.5], help="spanning shares to compare")
    ap.add_argument("--prior-init", action="store_true",
                    help="also a row per object with hands sampled by the prior (bghop grasp --init prior; a prior "
                         "anchored to the object)")
    ap.add_argument("--objects", nargs="*", default=list(objects()))
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prior", default=None, help="bimanual prior folder (default: the shipped one)")
    ap.add_argument("--autoencoder", default=None, help="autoencoder folder (default: the shipped one)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.prior import InteractionPrior
    from bghop.synthesis.grasp import GraspConfig, GraspSynthesizer

    prior = InteractionPrior.from_pretrained(args.prior)
    ae = ObjectAutoencoder.from_pretrained(args.autoencoder)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    objs = objects()
    rows = []
    jobs = [(name, span) for name in args.objects for span in args.span + ([None] if args.prior_init else [])]
    for name, span in tqdm(jobs, desc="wide objects", disable=args.quiet):
        mesh, word = objs[name]
        cfg = GraspConfig()
        if span is not None:
            cfg = replace(cfg, init=replace(cfg.init, span=span))
        t0 = time.perf_counter()
        res = GraspSynthesizer(prior, ae, config=cfg)(mesh, word, n=args.n, seed=args.seed, progress=False,
                                                      init="prior" if span is None else None)
        variant = "prior init" if span is None else f"span {span:g}"
        row = _row(name, variant, res.grasps, time.perf_counter() - t0, best=res.grasps[0])
        add_independent_check(row, mesh, row.pop("_best"))
        row["warnings"] = list(res.warnings)
        rows.append(row)
    head = ("| object | starts | best: hand / object mm | independent: hand / object mm | stable | valid | "
            "valid / N | stable / N | s |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for r in rows:
        lines.append(f"| {r['object']} | {r['variant']} | {r['best_hand_mm']:.1f} / {r['best_object_mm']:.1f} | "
                     f"{r['indep_hand_mm']:.1f} / {r['indep_object_mm']:.1f} | {'yes' if r['best_stable'] else 'no'} | "
                     f"{'yes' if r['best_valid'] else 'no'} | {r['valid_of_n']}/{r['n']} | {r['stable_of_n']}/{r['n']} | "
                     f"{r['seconds']:.0f} |")
    table = "\n".join(lines)
    print(table)
    low = [r for r in rows if not r["reported_not_lower"]]
    print(f"\nreported depth >= independent check - 0.5 mm on {len(rows) - len(low)}/{len(rows)} best grasps")
    (out / "wide.md").write_text(table + "\n")
    (out / "wide.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

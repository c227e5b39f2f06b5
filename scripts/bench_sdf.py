"""Benchmark: mesh → signed distance grid (libigl AABB distance + fast winding-number sign).

Builds a ~16k-face mesh the size of a mug (a bumpy, stretched, subdivided icosphere with part of
it cut away, so it is open: not watertight), times ``mesh_to_sdf_grid`` at 64³ (median of
``--reps`` after a warm-up) and once at 128³, each exact everywhere and with the ``max_distance``
clamp (default 0.04 m, the ±0.2 n-unit clamp the autoencoder applies). Prints a table.

    python scripts/bench_sdf.py [--mesh any.obj --scale 0.001] [--reps 5] [--half-extent 0.15]
    python scripts/bench_sdf.py --closed-sign    # the grid's sign on closed meshes: regions vs every point

``--closed-sign``: on seven procedural objects (closed meshes) at 64³, the CPU seconds (process time, so a
busy machine counts less) of the sign the way :func:`bghop.geometry.mesh_to_sdf_grid` takes it on closed
meshes (winding numbers near the surface and at a few points of each far region) against a winding number at
every grid point, and how many verdicts differ.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import trimesh

from bghop.geometry import GridSpec, load_mesh, mesh_to_sdf_grid


def default_mesh(target_faces: int = 16384, seed: int = 0) -> trimesh.Trimesh:
    """A ~16k-face open mesh: icosphere (20,480 faces) with a cap cut off, bumps and noise, ~12 cm tall."""
    m = trimesh.creation.icosphere(subdivisions=5, radius=0.06)
    keep = np.argsort(m.triangles_center[:, 2])[:target_faces]  # drop the top cap: a hole
    v = np.asarray(m.vertices)
    rng = np.random.default_rng(seed)
    v = v * (1 + 0.05 * np.sin(8 * v[:, :1] / 0.06)) + rng.normal(0, 2e-4, v.shape)
    out = trimesh.Trimesh(v * np.array([1.0, 1.0, 1.6]), m.faces[keep], process=False)
    out.remove_unreferenced_vertices()
    return out


def _time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def closed_sign(h: float) -> None:
    """Print the ``--closed-sign`` comparison."""
    import torch

    from bghop.data.objects import make_object
    from bghop.geometry import sdf as S

    spec = GridSpec(64, -h, h)
    pts = np.ascontiguousarray(spec.points(dtype=torch.float64).reshape(-1, 3).numpy())
    print(f"{'object':>8} {'closed':>6} {'every point s':>13} {'regions s':>9} {'differ':>6}")
    tot = [0.0, 0.0]
    for i, c in enumerate(["ball", "bucket", "tube", "pot", "vase", "box", "mug"]):
        V, F = S._prepare(make_object(c, seed=i).mesh, None)
        t0 = time.process_time()
        every = S._inside(V, F, pts)
        t1 = time.process_time()
        regions = S._grid_inside(V, F, pts, (64, 64, 64), spec.spacing)
        t2 = time.process_time()
        tot[0] += t1 - t0
        tot[1] += t2 - t1
        print(f"{c:>8} {str(S._closed(V, F)):>6} {t1 - t0:>13.2f} {t2 - t1:>9.2f} {int((every != regions).sum()):>6}")
    print(f"{'all':>8} {'':>6} {tot[0]:>13.2f} {tot[1]:>9.2f}  ({tot[0] / tot[1]:.1f}x less CPU)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mesh", default=None, help="mesh file; default: a synthetic 16k-face open mesh")
    ap.add_argument("--scale", type=float, default=1.0, help="factor from the file's units to metres")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions at 64^3 (median reported)")
    ap.add_argument("--half-extent", type=float, default=0.15, help="grid spans [-h, h]^3 metres (default 0.15)")
    ap.add_argument("--max-distance", type=float, default=0.04, help="clamp for the clamped rows, metres")
    ap.add_argument("--skip-128", action="store_true", help="do not time 128^3")
    ap.add_argument("--closed-sign", action="store_true", help="compare the two ways of signing a closed mesh's grid")
    args = ap.parse_args()
    if args.closed_sign:
        closed_sign(args.half_extent)
        return

    mesh = load_mesh(args.mesh, scale=args.scale) if args.mesh else default_mesh()
    h = args.half_extent
    rows = []
    spec64 = GridSpec(64, -h, h)
    for md in (None, args.max_distance):
        mesh_to_sdf_grid(mesh, spec64, max_distance=md)  # warm-up
        t = _time(lambda: mesh_to_sdf_grid(mesh, spec64, max_distance=md), args.reps)
        rows.append((64, md, t, f"median of {args.reps}"))
    if not args.skip_128:
        spec128 = GridSpec(128, -h, h)
        for md in (None, args.max_distance):
            rows.append((128, md, _time(lambda: mesh_to_sdf_grid(mesh, spec128, max_distance=md), 1), "once"))

    print(f"mesh: {len(mesh.faces)} faces, {len(mesh.vertices)} vertices, watertight={mesh.is_watertight}, "
          f"extent {np.ptp(mesh.vertices, axis=0).round(3).tolist()} m; grid [-{h}, {h}]^3 m")
    print(f"{'grid':>6} {'points':>9} {'clamp':>8} {'seconds':>8} {'us/point':>9}  note")
    for r, md, t, note in rows:
        clamp = "exact" if md is None else f"{md:g} m"
        print(f"{r:>4}^3 {r ** 3:>9,} {clamp:>8} {t:>8.3f} {1e6 * t / r ** 3:>9.2f}  {note}")


if __name__ == "__main__":
    main()

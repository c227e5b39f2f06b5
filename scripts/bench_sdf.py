"""Benchmark: mesh → signed distance grid (libigl AABB distance + fast winding-number sign).

Builds a ~16k-face closed mesh (a bumpy, subdivided icosphere the size of a mug), times
``mesh_to_sdf_grid`` at 64³ (median after a warm-up) and once at 128³.

    python scripts/bench_sdf.py [--mesh any.obj] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import trimesh

from bghop.geometry import GridSpec, load_mesh, mesh_to_sdf_grid


def default_mesh() -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=5, radius=0.06)  # 20,480 faces
    m = trimesh.Trimesh(m.vertices, m.faces[:16384], process=False)  # open mesh: 16,384 faces, not watertight
    rng = np.random.default_rng(0)
    v = m.vertices * (1 + 0.05 * np.sin(8 * m.vertices[:, :1] / 0.06)) + rng.normal(0, 2e-4, m.vertices.shape)
    return trimesh.Trimesh(v * np.array([1.0, 1.6, 1.0]), m.faces, process=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mesh", default=None, help="mesh file (metres); default: a synthetic 16k-face mesh")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    mesh = load_mesh(args.mesh) if args.mesh else default_mesh()
    spec = GridSpec(64, -0.15, 0.15)
    mesh_to_sdf_grid(mesh, spec)  # warm-up
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        mesh_to_sdf_grid(mesh, spec)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    mesh_to_sdf_grid(mesh, GridSpec(128, -0.15, 0.15))
    t128 = time.perf_counter() - t0
    print(f"mesh: {len(mesh.faces)} faces, watertight={mesh.is_watertight}")
    print(f"{'grid':>6} {'seconds':>8}")
    print(f"{'64^3':>6} {statistics.median(times):>8.3f}   (median of {args.reps})")
    print(f"{'128^3':>6} {t128:>8.3f}   (once)")


if __name__ == "__main__":
    main()

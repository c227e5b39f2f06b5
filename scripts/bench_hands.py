"""Benchmark: forward + backward of a batch of hands on the CPU (or --device), both kinds.

MANO runs on a synthetic model file in the official format (tests/mano_fixture.py, a test helper
that is not installed with bghop, so run this from a checkout of the repository), which has
MANO's sizes (778 vertices, 1538 faces), so timings carry over to the real files; pass
--mano-dir to time the user's real files instead (the fixture is then not needed).

    python scripts/bench_hands.py --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from bghop.hands import load_hand


def bench(hand, batch: int, device: torch.device, reps: int) -> tuple[float, float]:
    g = torch.Generator().manual_seed(0)
    pose = (0.3 * torch.randn(batch, 45, generator=g)).to(device).requires_grad_()
    orient = torch.randn(batch, 3, generator=g).to(device).requires_grad_()
    transl = (0.1 * torch.randn(batch, 3, generator=g)).to(device).requires_grad_()
    betas = torch.randn(batch, 10, generator=g).to(device).requires_grad_()

    def step(backward: bool) -> float:
        t0 = time.perf_counter()
        out = hand(pose, orient, transl, betas)
        if backward:
            (out.vertices.square().sum() + out.joints.square().sum()).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    for _ in range(3):
        step(True)
    fwd = statistics.median(step(False) for _ in range(reps))
    fb = statistics.median(step(True) for _ in range(reps))
    return fwd * 1e3, fb * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--mano-dir", default=None, help="real MANO files (default: synthetic fixture)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} batch={args.batch} (median of {args.reps})")
    print(f"{'kind':<6} {'side':<6} {'V':>6} {'forward ms':>11} {'fwd+bwd ms':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        mano_dir = args.mano_dir
        if mano_dir is None:
            # the synthetic MANO writer is a test helper in the repository's tests/, not in the package
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from mano_fixture import write_synthetic_mano

            for side in ("right", "left"):
                write_synthetic_mano(tmp, side=side, seed=0)
            mano_dir = tmp
        for kind in ("open", "mano"):
            for side in ("right", "left"):
                hand = load_hand(kind, side=side, model_dir=mano_dir if kind == "mano" else None).to(device)
                f, fb = bench(hand, args.batch, device, args.reps)
                print(f"{kind:<6} {side:<6} {hand.num_vertices:>6} {f:>11.2f} {fb:>11.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: recovering hands from skeletal fields, clean and with diffusion-like noise.

For random two-hand configurations (articulations drawn inside the joint limits, the left hand
10-20 cm from the right), build both fields, optionally corrupt them, recover the hands
(bghop.fields.fit) and print the mean per-joint keypoint error (mm, measured in the right hand's
normalised frame, the frame decoding ties the object to) and the time per sample.

Noise model ("like a diffusion sample would carry"): i.i.d. Gaussian noise of std sigma on every
voxel (in field units, n²; the field saturates at 0.12), then re-clamped to [0, 0.12].

    python scripts/bench_fields.py -n 16 --sigma 0 0.005 0.01 0.02
"""

from __future__ import annotations

import argparse
import time

import torch

from bghop.fields.fit import recover_hands
from bghop.fields.frame import FrameConfig
from bghop.fields.skeletal import FieldConfig, bimanual_keypoints_n, skeletal_field
from bghop.hands import load_hand
from bghop.hands.params import HandParams


def sample_scene(n: int, seed: int, right_hand, left_hand, pose_scale: float) -> tuple[HandParams, HandParams]:
    g = torch.Generator().manual_seed(seed)

    def params(hand):
        lim = hand.joint_limits
        u = torch.rand(n, 45, generator=g)
        pose = (lim.lower + (lim.upper - lim.lower) * u) * pose_scale if lim is not None else 0.3 * torch.randn(n, 45, generator=g)
        betas = torch.zeros(n, 10)
        betas[:, :3] = 0.7 * torch.randn(n, 3, generator=g)
        return HandParams(pose, torch.randn(n, 3, generator=g), torch.zeros(n, 3), betas)

    r, l = params(right_hand), params(left_hand)
    jr = right_hand(r.pose, r.global_orient, r.transl, r.betas).joints
    jl = left_hand(l.pose, l.global_orient, l.transl, l.betas).joints
    d = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * (0.10 + 0.10 * torch.rand(n, 1, generator=g))
    l.transl = jr[:, 9] + d - jl[:, 9]
    return r, l


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=16, help="samples per noise level")
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.0, 0.005, 0.01, 0.02])
    ap.add_argument("--hand", default="open", choices=("open", "mano"))
    ap.add_argument("--mano-dir", default=None)
    ap.add_argument("--pose-scale", type=float, default=0.6, help="fraction of the joint range used")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rh = load_hand(args.hand, "right", model_dir=args.mano_dir).double()
    lh = load_hand(args.hand, "left", model_dir=args.mano_dir).double()
    cfg = FieldConfig()
    r, l = sample_scene(args.n, args.seed, rh.float(), lh.float(), args.pose_scale)
    rh, lh = rh.double(), lh.double()
    r, l = r.to(torch.float64), l.to(torch.float64)
    with torch.no_grad():
        kp = bimanual_keypoints_n(rh, r, lh, l, cfg)
        fr0, fl0 = skeletal_field(kp.right[:, 1:], cfg), skeletal_field(kp.left[:, 1:], cfg)
    print(f"hand={args.hand} samples={args.n} field={cfg.resolution}^3 clamp={cfg.clamp}")
    print(f"{'sigma':>7} {'right mm':>9} {'right p90':>10} {'left mm':>8} {'left p90':>9} {'s/sample':>9}")
    g = torch.Generator().manual_seed(args.seed + 1)
    for sigma in args.sigma:
        fr = (fr0 + sigma * torch.randn(fr0.shape, generator=g, dtype=fr0.dtype)).clamp(0, cfg.clamp)
        fl = (fl0 + sigma * torch.randn(fl0.shape, generator=g, dtype=fl0.dtype)).clamp(0, cfg.clamp)
        t0 = time.perf_counter()
        rec = recover_hands(rh, fr, lh, fl, cfg)
        dt = (time.perf_counter() - t0) / args.n
        with torch.no_grad():
            z = torch.zeros(args.n, 3, dtype=torch.float64)
            jr = rh(rec.right.pose, z, z, rec.right.betas).joints
            c = jr[:, 5] + jr.new_tensor(FrameConfig().offset)
            jl = lh(rec.left.pose, rec.left.global_orient, rec.left.transl, rec.left.betas).joints
            er = ((jr - c[:, None]) * cfg.frame.scale - kp.right)[:, 1:].norm(dim=-1).mean(-1) / cfg.frame.scale * 1000
            el = ((jl - c[:, None]) * cfg.frame.scale - kp.left)[:, 1:].norm(dim=-1).mean(-1) / cfg.frame.scale * 1000
        print(f"{sigma:>7.3f} {er.mean():>9.2f} {er.quantile(0.9):>10.2f} {el.mean():>8.2f} {el.quantile(0.9):>9.2f} {dt:>9.2f}")


if __name__ == "__main__":
    main()

"""Training and sampling throughput of the prior and the autoencoder (samples/s, peak memory).

    python scripts/bench_prior.py                 # CPU, default model sizes
    python scripts/bench_prior.py --device cuda   # GPU (peak memory from torch.cuda), float16 autocast
    python scripts/bench_prior.py --amp           # CPU with bfloat16 autocast (train --precision bf16-mixed)

Peak memory on CPU is the process's peak resident set size (ru_maxrss), which includes
everything loaded before the benchmark (torch, the text encoder).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from bghop.models.autoencoder import AutoencoderConfig, ObjectAutoencoder
from bghop.models.prior import InteractionPrior, PriorConfig
from bghop.models.unet import UNetConfig


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timeit(fn, device: torch.device, warmup: int, reps: int) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--base-channels", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast on the CPU (always float16 on CUDA)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    amp = dev.type == "cuda" or args.amp
    torch.manual_seed(0)
    b = args.batch
    rows = []

    prior = InteractionPrior(PriorConfig(unet=UNetConfig(base_channels=args.base_channels))).to(dev)
    n_params = sum(p.numel() for p in prior.parameters())
    opt = torch.optim.AdamW(prior.parameters(), lr=1e-4)
    x0 = torch.randn(b, 43, 16, 16, 16, device=dev)
    texts = ["grasp a mug with both hands"] * b

    def prior_step():
        with torch.autocast(dev.type, enabled=amp, dtype=torch.float16 if amp else torch.bfloat16):
            loss = prior.training_loss(x0, texts)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    s = _timeit(prior_step, dev, 2, args.reps)
    rows.append(("prior train step", n_params, b / s, s))

    prior.eval()

    def prior_sample():
        with torch.no_grad(), torch.autocast(dev.type, enabled=amp, dtype=torch.float16 if amp else torch.bfloat16):
            prior.sample(texts[:8], steps=50, guidance=4.0, progress=False)

    s = _timeit(prior_sample, dev, 0, 1)
    rows.append(("prior sample 8 × 50 DDIM steps (CFG)", n_params, 8 / s, s))

    ae = ObjectAutoencoder(AutoencoderConfig()).to(dev)
    n_ae = sum(p.numel() for p in ae.parameters())
    opt2 = torch.optim.AdamW(ae.parameters(), lr=1e-4)
    sdf = torch.randn(b // 2, 1, 64, 64, 64, device=dev) * 0.1

    def ae_step():
        with torch.autocast(dev.type, enabled=amp, dtype=torch.float16 if amp else torch.bfloat16):
            loss = ae.loss(sdf)["loss"]
        loss.backward()
        opt2.step()
        opt2.zero_grad(set_to_none=True)

    s = _timeit(ae_step, dev, 1, args.reps)
    rows.append((f"autoencoder train step (batch {b // 2})", n_ae, (b // 2) / s, s))

    print(f"device={dev} threads={torch.get_num_threads()} batch={b} amp={amp}")
    print(f"{'what':42s} {'params':>9s} {'samples/s':>10s} {'s/call':>8s}")
    for name, n, sps, sec in rows:
        print(f"{name:42s} {n / 1e6:8.2f}M {sps:10.1f} {sec:8.3f}")
    print(f"peak memory: {_peak_mb(dev):.0f} MB ({'CUDA allocated' if dev.type == 'cuda' else 'process RSS'})")


if __name__ == "__main__":
    main()

"""Peak memory of `bghop grasp` and `bghop generate` against the batch size -n.

    python scripts/measure_batch_memory.py [--sizes 4 16 32]

Runs each command in a child process with short schedules (the peak is reached in the first
iterations: every tensor of the batch is live from the first step) and prints the peak resident
memory per run and the fitted ``fixed + per_sample * n`` line that ``bghop.cli.checks.BATCH_BYTES``
holds (``-n`` is refused when that estimate exceeds 90 % of the free memory; ``--force`` overrides).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

import numpy as np

COMMANDS = {
    "grasp": ["grasp", "--example", "--text", "box", "--sds-iters", "2", "--refine-iters", "2", "--no-physics",
              "--no-render", "--quiet", "--force"],
    "generate": ["generate", "--text", "box", "--steps", "3", "--no-render", "--quiet", "--force"],
}


def peak_rss(args: list[str]) -> float:
    """Peak resident memory (bytes) of ``bghop ARGS`` in a fresh process."""
    code = ("import resource, sys\nfrom bghop.cli.main import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
            "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 32])
    args = ap.parse_args()
    for name, cmd in COMMANDS.items():
        rows = []
        for n in args.sizes:
            with tempfile.TemporaryDirectory() as tmp:
                rss = peak_rss([*cmd, "-n", str(n), "--out", f"{tmp}/out", "--threads", "1"])
            rows.append((n, rss))
            print(f"{name:8s} -n {n:4d}: peak {rss / 1e9:.2f} GB", flush=True)
        n, r = np.array(rows).T
        per, fixed = np.polyfit(n, r, 1)
        print(f"{name:8s} fit: {fixed / 1e9:.2f} GB + {per / 1e6:.1f} MB per sample")
    return 0


if __name__ == "__main__":
    sys.exit(main())

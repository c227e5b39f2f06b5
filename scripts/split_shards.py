"""Split a shard folder into two disjoint folders by shard (hard links, new manifests).

    python scripts/split_shards.py DATA OUT_A OUT_B [--fraction-a 0.5]

Used by the single-hand-initialisation experiment: the right hands of part A pre-train the
single-hand prior (``OUT_A@right``), part B is the bimanual fine-tuning set, so the two never
share a grasp.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from bghop.data.shards import Manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("out_a")
    ap.add_argument("out_b")
    ap.add_argument("--fraction-a", type=float, default=0.5)
    args = ap.parse_args()
    src = Path(args.data)
    m = Manifest.load(src)
    n_a = round(len(m.shards) * args.fraction_a)
    for out, shards in ((Path(args.out_a), m.shards[:n_a]), (Path(args.out_b), m.shards[n_a:])):
        out.mkdir(parents=True, exist_ok=True)
        for s in shards:
            dst = out / s["file"]
            if not dst.exists():
                try:
                    os.link(src / s["file"], dst)
                except OSError:
                    shutil.copy2(src / s["file"], dst)
        Manifest(shards=list(shards), settings={**m.settings, "split_of": str(src)}).save(out)
        print(f"{out}: {len(shards)} shards, {sum(s['count'] for s in shards)} samples")


if __name__ == "__main__":
    main()

"""Copy trained model folders into the package as the shipped defaults and write their model card.

    python scripts/install_default_models.py --autoencoder runs/default/ae/model \
        --prior runs/default/bimanual/model --single runs/default/single/model [--notes notes.md]

The card (src/bghop/assets/models/MODEL_CARD.md) is written from each folder's config.json
(training steps, data, final losses), plus optional extra notes (measured quality, known limits).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from bghop.core.io import write_text_atomic

ASSETS = Path(__file__).resolve().parents[1] / "src" / "bghop" / "assets" / "models"
LIMIT_MB = 50.0


def _section(name: str, folder: Path) -> str:
    meta = json.loads((folder / "config.json").read_text())
    tr = meta.get("training", {})
    size = (folder / "model.safetensors").stat().st_size / 2**20
    lines = [f"## {name}", "", f"- type: `{meta['model_type']}`, weights {size:.1f} MB (float32 safetensors)"]
    for k in ("steps", "train_samples", "val_samples", "data", "init_from", "trainable"):
        if k in tr and tr[k] is not None:
            lines.append(f"- {k.replace('_', ' ')}: {tr[k]}")
    metrics = {k: v for k, v in tr.items() if k.startswith(("train/", "val/"))}
    if metrics:
        lines.append("- final metrics: " + ", ".join(f"{k} = {v:.4g}" for k, v in sorted(metrics.items())))
    cfg = meta["config"]
    if meta["model_type"] == "prior":
        u = cfg["unet"]
        lines.append(f"- architecture: 3D UNet, {u['in_channels']} channels, base {u['base_channels']}, "
                     f"levels {u['channel_mult']}, attention at levels {u['attention_levels']}, "
                     f"{'input skip' if u.get('input_skip') else 'no input skip'}, text encoder {cfg['text_encoder']}")
    else:
        lines.append(f"- architecture: KL autoencoder, channels {cfg['channels']}, latent {cfg['latent_channels']}×16³, "
                     f"truncation {cfg['truncation']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--autoencoder", required=True)
    ap.add_argument("--prior", required=True, help="bimanual prior folder")
    ap.add_argument("--single", default=None, help="single-hand prior folder (optional)")
    ap.add_argument("--notes", default=None, help="markdown appended to the card")
    args = ap.parse_args()
    folders = {"autoencoder": Path(args.autoencoder), "prior": Path(args.prior)}
    if args.single:
        folders["prior_single"] = Path(args.single)
    total = sum((f / "model.safetensors").stat().st_size for f in folders.values()) / 2**20
    if total > LIMIT_MB:
        raise SystemExit(f"models total {total:.1f} MB > {LIMIT_MB} MB: train smaller models")
    ASSETS.mkdir(parents=True, exist_ok=True)
    for name, src in folders.items():
        dst = ASSETS / name
        tmp = ASSETS / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for f in ("config.json", "model.safetensors"):
            shutil.copy2(src / f, tmp / f)
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
    card = ["# bghop default models", "",
            "Trained on the built-in synthetic set only (procedural objects, energy-optimised grasps that passed "
            "the physics check; `bghop data synth`), with the built-in open hand. Reproduce with "
            "`bash scripts/train_default.sh`.", "",
            f"Total size: {total:.1f} MB.", ""]
    for name, src in folders.items():
        card.append(_section(name, src))
    if args.notes:
        card.append(Path(args.notes).read_text())
    # keep sections other scripts maintain between markers (e.g. the category classifier's)
    old = (ASSETS / "MODEL_CARD.md").read_text() if (ASSETS / "MODEL_CARD.md").is_file() else ""
    card += [m.group(0) for m in re.finditer(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", old, flags=re.S)]
    write_text_atomic(ASSETS / "MODEL_CARD.md", "\n".join(card) + "\n")
    print(f"installed {', '.join(folders)} ({total:.1f} MB) into {ASSETS}")


if __name__ == "__main__":
    main()

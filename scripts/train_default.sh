#!/usr/bin/env bash
# Reproduce the shipped default models from scratch on the built-in synthetic set:
#   bash scripts/train_default.sh [OUT]            (defaults below; override with env vars)
# Data -> autoencoder -> single-hand prior -> bimanual prior widened from it (BG-HOP) -> install.
# On a GPU add DEVICE=cuda; the same commands run DDP with --devices N --num-nodes M.
set -euo pipefail
OUT=${1:-runs/default}
BIMANUAL=${BIMANUAL:-3000}     # samples; the shipped model used what the session could generate (MODEL_CARD.md)
SINGLE=${SINGLE:-3000}
WORKERS=${WORKERS:-2}
DEVICE=${DEVICE:-cpu}
AE_STEPS=${AE_STEPS:-600}
SINGLE_STEPS=${SINGLE_STEPS:-800}
BI_STEPS=${BI_STEPS:-1000}

# one synth command at a time: K workers x 1 thread (two commands side by side oversubscribe the cores)
bghop data synth --bimanual "$BIMANUAL" --single 0 --out "$OUT/data_bi" --shard-size 16 --workers "$WORKERS"
bghop data synth --bimanual 0 --single "$SINGLE" --out "$OUT/data_single" --shard-size 16 --workers "$WORKERS" --seed 1

bghop train autoencoder --data "$OUT/data_bi" "$OUT/data_single" --out "$OUT/ae" \
    --steps "$AE_STEPS" --batch-size 8 --val-every 200 --checkpoint-every 200 --device "$DEVICE"
bghop train prior --single-hand --data "$OUT/data_single" --autoencoder "$OUT/ae/model" --out "$OUT/single" \
    --steps "$SINGLE_STEPS" --batch-size 16 --val-every 200 --checkpoint-every 200 --device "$DEVICE"
bghop train prior --data "$OUT/data_bi" --autoencoder "$OUT/ae/model" --init-from "$OUT/single/model" \
    --out "$OUT/bimanual" --steps "$BI_STEPS" --batch-size 16 --val-every 200 --checkpoint-every 200 --device "$DEVICE"

python scripts/install_default_models.py --autoencoder "$OUT/ae/model" --prior "$OUT/bimanual/model" \
    --single "$OUT/single/model"

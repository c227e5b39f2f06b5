#!/usr/bin/env bash
# Reproduce the README's quality figures for a set of models (default: the shipped ones), in one go:
#   bash scripts/evaluate_default.sh [OUT]
#   PRIOR=runs/default/bimanual/model SINGLE=runs/default/single/model AE=runs/default/ae/model \
#       bash scripts/evaluate_default.sh runs/eval_new
# 1. issue-6 table: best-of-8 grasps on the 10 HO3D YCB objects (scripts/eval_ycb.py)
# 2. baselines side by side on the 10 HO3D objects and on 10 more YCB objects (bghop bench grasp)
# 3. generation: 6 prompts x 4 samples, then bghop eval (text faithfulness, contact, physics)
# 4. the same with --refine, then bghop eval
# Every step resumes when rerun (complete folders are kept). THREADS=1 when sharing the machine.
# METHODS=bghop,prior-init,single-prior,energy,random adds `bghop grasp --init prior` to the benches (a prior
# anchored to the object, e.g. the two_hand recipe's); default: bghop bench grasp's own.
set -euo pipefail
OUT=${1:-runs/eval_default}
THREADS=${THREADS:-2}
N=${N:-8}
PROMPTS=${PROMPTS:-"box ball bottle mug bowl ring"}
SAMPLES=${SAMPLES:-4}
models=()
[[ -n "${PRIOR:-}" ]] && models+=(--prior "$PRIOR")
[[ -n "${AE:-}" ]] && models+=(--autoencoder "$AE")
single=()
[[ -n "${SINGLE:-}" ]] && single+=(--prior-single "$SINGLE")
methods=()
[[ -n "${METHODS:-}" ]] && methods+=(--methods "$METHODS")
mkdir -p "$OUT"

python scripts/eval_ycb.py --out "$OUT/ycb" -n "$N" --threads "$THREADS" "${models[@]}"
bghop bench grasp --objects ho3d --out "$OUT/bench_ho3d" -n "$N" --threads "$THREADS" "${models[@]}" "${single[@]}" \
    "${methods[@]}"
bghop bench grasp --objects extra --out "$OUT/bench_extra" -n "$N" --threads "$THREADS" "${models[@]}" "${single[@]}" \
    "${methods[@]}"

gen=()
for c in $PROMPTS; do
    if [[ ! -f "$OUT/gen/$c/contact_sheet.png" ]]; then
        bghop generate --text "$c" -n "$SAMPLES" --out "$OUT/gen/$c" --threads "$THREADS" "${models[@]}"
    fi
    gen+=("$OUT/gen/$c")
done
bghop eval "${gen[@]}" --out "$OUT/gen/report" --prior "${PRIOR:-default}" ${AE:+--autoencoder "$AE"}
# 4. the same samples, each one's hands refined against its own generated object (bghop generate --refine)
ref=()
for c in $PROMPTS; do
    if [[ ! -f "$OUT/gen_refine/$c/contact_sheet.png" ]]; then
        bghop generate --text "$c" -n "$SAMPLES" --refine --out "$OUT/gen_refine/$c" --threads "$THREADS" "${models[@]}"
    fi
    ref+=("$OUT/gen_refine/$c")
done
bghop eval "${ref[@]}" --out "$OUT/gen_refine/report" --prior "${PRIOR:-default}" ${AE:+--autoencoder "$AE"}
echo "tables: $OUT/ycb/table.md $OUT/bench_ho3d/comparison.md $OUT/bench_extra/comparison.md $OUT/gen/report $OUT/gen_refine/report"

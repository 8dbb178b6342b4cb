#!/usr/bin/env bash
# Does wgan-gp's position constrainer improve the position response? Geant4 photons of
# 5-20 GeV on atlas-pblar with the impact point spread over a 40 mm square (one layer-1 cell
# width, across a cell boundary), then wgan-gp trained twice with the same seed and budget:
# constrainer weight K = 0.01 (the default) and K = 0 (no constrainer); each generates the
# validation conditions and benchmarks/position_response.py compares them with Geant4.
#
#   [MIN=12] [WORKERS=2] [OUT=dir] bash benchmarks/position_constrainer.sh
#
# MIN: training minutes per setting. OUT: output folder (default artifacts/benchmarks/position).
set -euo pipefail
source "$(dirname "$0")/_common.sh"
OUT=${OUT:-artifacts/benchmarks/position}
MIN=${MIN:-12}
[[ $MIN =~ ^[0-9]+$ ]] || usage "[MIN=12] [WORKERS=2] [OUT=dir] bash benchmarks/position_constrainer.sh"
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
GUN=(--detector atlas-pblar --particle gamma --energy loguniform:5GeV,20GeV --impact-spread 40
     --workers "${WORKERS:-2}" -q)
"${CF[@]}" simulate "${GUN[@]}" -n 5000 --seed 5 -o "$OUT/train.h5"
"${CF[@]}" simulate "${GUN[@]}" -n 1000 --seed 6 -o "$OUT/val.h5"
for k in 0.01 0; do
  "${CF[@]}" train --model wgan-gp --data "$OUT/train.h5" --val "$OUT/val.h5" --out "$OUT/k$k" \
      --threads 1 --seed 1 --overwrite --quiet constrainer_weight=$k train.steps=100000 \
      train.max_time_min="$MIN" train.val_every=1000 train.checkpoint_every=1000
  "${CF[@]}" generate --checkpoint "$OUT/k$k/checkpoint.pt" --conditions-from "$OUT/val.h5" \
      -o "$OUT/gen_k$k.h5" --seed 1 --precision fp32 --overwrite -q
done
"${PY[@]}" "$(dirname "$0")/position_response.py" "$OUT/val.h5" "$OUT/gen_k0.01.h5" \
    "$OUT/gen_k0.h5" | tee "$OUT/position_response.md"

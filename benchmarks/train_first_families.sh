#!/usr/bin/env bash
# Milestone of issue 5: train the first families on the atlas-pblar Geant4 photons
# (1-100 GeV), generate with the validation file's conditions, and evaluate.
# One core, niced, one job after another. Outputs under artifacts/runs/ (git-ignored).
#
#   bash benchmarks/train_first_families.sh            # all families
#   FAMILIES="vae" WGAN_MIN=30 bash benchmarks/train_first_families.sh
#   FAMILIES="wgan-gp vae" RESUME="wgan-gp" EVAL_FAMILIES="library wgan-gp vae" bash ...
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CALOFORGE_DATA:-../shared/data}
TRAIN=$DATA/atlas-pblar_gamma_train.h5
VAL=$DATA/atlas-pblar_gamma_val.h5
OUT=${OUT:-artifacts/runs}
FAMILIES=${FAMILIES:-"library wgan-gp vae"}      # trained (and generated) by this run
EVAL_FAMILIES=${EVAL_FAMILIES:-$FAMILIES}         # compared at the end
RESUME=${RESUME:-""}                              # families to continue with --resume
WGAN_MIN=${WGAN_MIN:-30}   # wall-clock training budget per family, minutes
VAE_MIN=${VAE_MIN:-25}
LAYER_STAGE=${LAYER_STAGE:-true}  # stage-1 layer-energy flow (false: the pure families)
export OMP_NUM_THREADS=1
CF=(nice -n 10 .venv/bin/caloforge)

for fam in $FAMILIES; do
  case $fam in
    library) args=() ;;
    wgan-gp) args=(train.steps=100000 train.max_time_min="$WGAN_MIN" train.ema_decay=0.999
                   train.val_every=1000 train.checkpoint_every=1000 layer_stage="$LAYER_STAGE") ;;
    vae)     args=(train.steps=100000 train.max_time_min="$VAE_MIN" train.val_every=2000
                   train.checkpoint_every=2000 layer_stage="$LAYER_STAGE") ;;
    *)       args=() ;;
  esac
  mode=--overwrite
  if [[ " $RESUME " == *" $fam "* ]]; then mode=--resume; fi
  echo "== train $fam $mode ($(date))"
  "${CF[@]}" train --model "$fam" --data "$TRAIN" --val "$VAL" --out "$OUT/$fam" \
      --threads 1 --seed 1 "$mode" --quiet "${args[@]}"
  echo "== generate $fam ($(date))"
  /usr/bin/time -f "generate $fam: %e s wall, %M kB max RSS" \
    "${CF[@]}" generate --checkpoint "$OUT/$fam/checkpoint.pt" --conditions-from "$VAL" \
      -o "$OUT/$fam/${fam}_val.h5" --seed 1 --overwrite
done

echo "== quick metrics ($(date))"
nice -n 10 .venv/bin/python benchmarks/train_quick_metrics.py "$VAL" \
  $(for fam in $EVAL_FAMILIES; do echo "$OUT/$fam/${fam}_val.h5"; done) | tee "$OUT/quick_metrics.txt"

echo "== evaluate ($(date))"
"${CF[@]}" evaluate "$VAL" $(for fam in $EVAL_FAMILIES; do echo "$OUT/$fam/${fam}_val.h5"; done) \
  --train "$TRAIN" --out "$OUT/report" --overwrite \
  $(for fam in $EVAL_FAMILIES; do [ -f "$OUT/$fam/metrics.jsonl" ] && echo "--training-log $OUT/$fam/metrics.jsonl"; done) \
  || echo "caloforge evaluate failed"
.venv/bin/python benchmarks/train_first_families_table.py "$OUT/report/metrics.json" \
  | tee "$OUT/milestone_table.md"
echo "== done ($(date))"

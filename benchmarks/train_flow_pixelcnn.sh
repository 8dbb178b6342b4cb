#!/usr/bin/env bash
# Issue 7 (session 4): flow and pixelcnn trained longer than in session 1, then calibrated
# (`caloforge calibrate`; flow with --keep-layers, it has the stage-1 layer flow) and
# evaluated with `caloforge evaluate` against the atlas-pblar validation file.
# One core per family, niced; each stage is skipped when its output exists.
#
#   FAMILIES=flow bash benchmarks/train_flow_pixelcnn.sh &
#   FAMILIES=pixelcnn bash benchmarks/train_flow_pixelcnn.sh &
#   FAMILIES="" EVAL=1 bash benchmarks/train_flow_pixelcnn.sh     # evaluate both
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CALOFORGE_DATA:-../shared/data}
TRAIN=$DATA/atlas-pblar_gamma_train.h5
VAL=$DATA/atlas-pblar_gamma_val.h5
OUT=${OUT:-artifacts/runs/sota4f}
FAMILIES=${FAMILIES-"flow pixelcnn"}
MINUTES=${MINUTES:-45}
EVAL=${EVAL:-0}
export OMP_NUM_THREADS=1
CF=(nice -n 10 .venv/bin/caloforge)
COMMON=(--threads 1 --seed 1 --quiet train.schedule=cosine train.min_lr_factor=0.05
        train.checkpoint_every=500 train.max_time_min="$MINUTES")
mkdir -p "$OUT/gen"
for fam in $FAMILIES; do
  if [[ ! -f $OUT/$fam.pt ]]; then
    echo "== train $fam ($(date))"
    resume=(--overwrite); [[ -f $OUT/$fam/checkpoint.pt ]] && resume=(--resume)
    case $fam in
      flow) "${CF[@]}" train --model flow --data "$TRAIN" --val "$VAL" --out "$OUT/flow" \
                "${resume[@]}" "${COMMON[@]}" train.steps=15000 train.val_every=2500 ;;
      pixelcnn) "${CF[@]}" train --model pixelcnn --data "$TRAIN" --val "$VAL" \
                --out "$OUT/pixelcnn" "${resume[@]}" "${COMMON[@]}" train.steps=10000 \
                train.val_every=0 ;;
    esac
    cp "$OUT/$fam/checkpoint.pt" "$OUT/$fam.pt"
  fi
  echo "== calibrate $fam ($(date))"
  keep=(); n=(); [[ $fam == flow ]] && keep=(--keep-layers)
  [[ $fam == pixelcnn ]] && n=(-n 5000)   # autoregressive: ~60 ms a shower
  [[ -f $OUT/${fam}_cal.pt ]] || "${CF[@]}" calibrate --checkpoint "$OUT/$fam.pt" \
      --data "$TRAIN" -o "$OUT/${fam}_cal.pt" "${keep[@]}" "${n[@]}" --quiet
  for m in $fam ${fam}_cal; do
    [[ -f $OUT/gen/$m.h5 ]] || "${CF[@]}" generate --checkpoint "$OUT/$m.pt" \
        --conditions-from "$VAL" -o "$OUT/gen/$m.h5" --seed 1 --quiet
  done
done
if [[ $EVAL == 1 ]]; then
  echo "== evaluate ($(date))"
  "${CF[@]}" evaluate "$VAL" "$OUT"/gen/*.h5 --train "$TRAIN" --out "$OUT/report" \
      --classifier-seeds 1 --overwrite
  .venv/bin/python benchmarks/evaluate_summary.py "s4=$OUT/report"
fi
echo "== done ($(date))"

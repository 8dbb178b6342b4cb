#!/usr/bin/env bash
# Issue 7 (session 4): the classifier refiner (`caloforge refine`) on top of the calibrated
# diffusion teacher and student of benchmarks/diffusion_calibrated.sh (run that first),
# evaluated against the atlas-pblar validation file beside the unrefined checkpoints.
# Each stage is skipped when its output exists (rerun to resume). One core, niced.
#
#   bash benchmarks/diffusion_refined.sh
#   SRC=dir OUT=dir REFINE="m:8" UNREFINED="m" bash benchmarks/diffusion_refined.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CALOFORGE_DATA:-../shared/data}
TRAIN=$DATA/atlas-pblar_gamma_train.h5
VAL=$DATA/atlas-pblar_gamma_val.h5
SRC=${SRC:-artifacts/runs/sota3}
OUT=${OUT:-artifacts/runs/sota4}
REFINE=${REFINE:-"teacher_calk:8 teacher_calk:16 teacher_calk:8:5 teacher_calk:16:5 student_cal:16 student_cal:16:5 student_calk:16"}
UNREFINED=${UNREFINED-"teacher_calk student_cal student_calk"}
export OMP_NUM_THREADS=1
CF=(nice -n 10 .venv/bin/caloforge)
mkdir -p "$OUT/gen"

for spec in $REFINE; do  # checkpoint:candidates[:ensemble]
  IFS=: read -r m k e <<< "$spec"
  e=${e:-1}
  name=${m}_ref$k; [[ $e == 1 ]] || name=${name}e$e
  [[ -f $OUT/$name.pt ]] || { echo "== refine $name ($(date))"; "${CF[@]}" refine \
      --checkpoint "$SRC/$m.pt" --data "$TRAIN" -o "$OUT/$name.pt" --candidates "$k" \
      --ensemble "$e" --quiet; }
  [[ -f $OUT/gen/$name.h5 ]] || { echo "== generate $name ($(date))"; "${CF[@]}" generate \
      --checkpoint "$OUT/$name.pt" --conditions-from "$VAL" -o "$OUT/gen/$name.h5" --seed 1 \
      --quiet; }
done
for m in $UNREFINED; do  # the unrefined rows, same protocol
  [[ -f $OUT/gen/$m.h5 ]] && continue
  if [[ -f $SRC/gen/$m.h5 ]]; then cp "$SRC/gen/$m.h5" "$OUT/gen/$m.h5"; else
    "${CF[@]}" generate --checkpoint "$SRC/$m.pt" --conditions-from "$VAL" -o "$OUT/gen/$m.h5" \
        --seed 1 --quiet; fi
done
echo "== evaluate ($(date))"
"${CF[@]}" evaluate "$VAL" "$OUT"/gen/*.h5 --train "$TRAIN" --out "$OUT/report" \
    --classifier-seeds 1 --overwrite
.venv/bin/python benchmarks/evaluate_summary.py "refined=$OUT/report"
echo "== done ($(date))"

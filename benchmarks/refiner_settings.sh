#!/usr/bin/env bash
# The classifier refiner (`caloforge refine`) at several settings (candidates per condition,
# classifiers in the ensemble) on top of calibrated checkpoints, evaluated beside the
# unrefined ones with the validation file's conditions.
#
#   TRAIN=train.h5 VAL=val.h5 SRC=dir [REFINE="student_cal:16:5"] [UNREFINED="student_cal"] \
#     [OUT=dir] bash benchmarks/refiner_settings.sh
#
# Inputs (environment):
#   TRAIN, VAL   training and validation shower files (required)
#   SRC          folder holding the checkpoints to refine, SRC/NAME.pt (required), e.g. the
#                OUT of benchmarks/train_flow_matching.sh
#   REFINE       specs NAME:CANDIDATES[:ENSEMBLE] (default: the recorded grid below)
#   UNREFINED    checkpoints of SRC evaluated unrefined beside them (their showers are taken
#                from SRC/gen/NAME.h5 when present; default "teacher_calk student_cal student_calk")
#   CLASSIFIER_SEEDS  seeds of the classifier test (default 3)
#   OUT          output folder (default artifacts/benchmarks/refiner)
# Each refined checkpoint and generated file is skipped when it exists: rerun to resume.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='TRAIN=train.h5 VAL=val.h5 SRC=dir [REFINE="NAME:K[:E] ..."] [UNREFINED="NAME ..."] [OUT=dir] bash benchmarks/refiner_settings.sh'
need_file TRAIN "$USAGE"
need_file VAL "$USAGE"
[[ -n ${SRC:-} && -d $SRC ]] || usage "$USAGE  (SRC must be a folder)"
OUT=${OUT:-artifacts/benchmarks/refiner}
REFINE=${REFINE:-"teacher_calk:8 teacher_calk:16 teacher_calk:8:5 teacher_calk:16:5 student_cal:16 student_cal:16:5 student_calk:16"}
UNREFINED=${UNREFINED-"teacher_calk student_cal student_calk"}
export OMP_NUM_THREADS=1
mkdir -p "$OUT/gen"

gens=()
for spec in $REFINE; do
  IFS=: read -r m k e <<< "$spec"
  e=${e:-1}
  [[ -f $SRC/$m.pt ]] || { echo "error: $SRC/$m.pt: no such file (REFINE spec $spec)" >&2; exit 2; }
  name=${m}_ref$k; [[ $e == 1 ]] || name=${name}e$e
  [[ -f $OUT/$name.pt ]] || { echo "== refine $name ($(date))"; "${CF[@]}" refine \
      --checkpoint "$SRC/$m.pt" --data "$TRAIN" -o "$OUT/$name.pt" --candidates "$k" \
      --ensemble "$e" --quiet; }
  [[ -f $OUT/gen/$name.h5 ]] || { echo "== generate $name ($(date))"; "${CF[@]}" generate \
      --checkpoint "$OUT/$name.pt" --conditions-from "$VAL" -o "$OUT/gen/$name.h5" --seed 1 \
      --precision fp32 --quiet; }
  gens+=("$OUT/gen/$name.h5")
done
for m in $UNREFINED; do
  if [[ -f $SRC/gen/$m.h5 ]]; then gens+=("$SRC/gen/$m.h5"); continue; fi
  [[ -f $OUT/gen/$m.h5 ]] || "${CF[@]}" generate --checkpoint "$SRC/$m.pt" \
      --conditions-from "$VAL" -o "$OUT/gen/$m.h5" --seed 1 --precision fp32 --quiet
  gens+=("$OUT/gen/$m.h5")
done
echo "== evaluate ($(date))"
"${CF[@]}" evaluate "$VAL" "${gens[@]}" --train "$TRAIN" --out "$OUT/report" \
    --classifier-seeds "${CLASSIFIER_SEEDS:-3}" --overwrite
"${PY[@]}" "$(dirname "$0")/evaluate_summary.py" "refiner=$OUT/report" | tee "$OUT/table.md"
echo "== done ($(date))"

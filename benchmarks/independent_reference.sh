#!/usr/bin/env bash
# Chosen checkpoints judged against a Geant4 file that played no part in choosing them:
# each generates one shower per condition of REF (seed 2) and all are evaluated against REF.
#
#   REF=independent.h5 TRAIN=train.h5 [OUT=dir] bash benchmarks/independent_reference.sh \
#     NAME=CHECKPOINT[:PRECISION] ...
#
#   e.g. student_cal_bf16=flow_matching/student_cal.pt:bf16 refined=refiner/student_cal_ref16e5.pt
# REF: an independent Geant4 sample of the training settings, e.g. from
#   caloforge simulate -d atlas-pblar -p gamma -e loguniform:1GeV,100GeV -n 6000 --seed S
# with a seed used for no other file. TRAIN: the models' training file (memorisation check).
# CLASSIFIER_SEEDS (default 3), OUT (default artifacts/benchmarks/independent_reference).
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='REF=independent.h5 TRAIN=train.h5 [OUT=dir] bash benchmarks/independent_reference.sh NAME=CHECKPOINT[:PRECISION] ...'
need_file REF "$USAGE"
need_file TRAIN "$USAGE"
[[ $# -gt 0 ]] || usage "$USAGE"
OUT=${OUT:-artifacts/benchmarks/independent_reference}
export OMP_NUM_THREADS=1
mkdir -p "$OUT/gen"
gens=()
for spec in "$@"; do
  name=${spec%%=*} rest=${spec#*=}
  ckpt=${rest%%:*} precision=fp32
  [[ $rest == *:* ]] && precision=${rest##*:}
  [[ $name != "$spec" && -n $name ]] || usage "$USAGE"
  [[ -f $ckpt ]] || { echo "error: $ckpt: no such file ($spec)" >&2; exit 2; }
  [[ -f $OUT/gen/$name.h5 ]] || "${CF[@]}" generate --checkpoint "$ckpt" --conditions-from "$REF" \
      -o "$OUT/gen/$name.h5" --seed 2 --precision "$precision" --quiet
  gens+=("$OUT/gen/$name.h5")
done
"${CF[@]}" evaluate "$REF" "${gens[@]}" --train "$TRAIN" --out "$OUT/report" \
    --classifier-seeds "${CLASSIFIER_SEEDS:-3}" --overwrite
"${PY[@]}" "$(dirname "$0")/evaluate_summary.py" "independent=$OUT/report" | tee "$OUT/table.md"

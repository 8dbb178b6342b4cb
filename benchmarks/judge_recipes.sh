#!/usr/bin/env bash
# Every shipped atlas-pblar photon recipe run on the same Geant4 files and judged on the
# independent test file by its last stage (`test`: five classifier seeds, 10,000 showers per
# class), then one table of all of them with the Geant4-vs-Geant4 floor of the same size.
#
#   TRAIN=train.h5 VAL=val.h5 TEST=test50k.h5 [OUT=dir] [SEED=N] \
#     bash benchmarks/judge_recipes.sh [RECIPE ...]
#
# Without RECIPE arguments: the headline recipe and every family's recipe. Each recipe runs
# into OUT/NAME (default OUT: artifacts/recipes); a rerun skips finished stages and resumes
# an interrupted one, so the script can be stopped and started again at any point. SEED
# passes `--seed` (a reproducibility run: OUT/NAME-seedN). Cost: the recipes' own time
# budgets (15 to 60 minutes each on 2 cores) plus about 10 minutes of judging each.
# Output: OUT/test-table.md.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='TRAIN=train.h5 VAL=val.h5 TEST=test.h5 [OUT=dir] [SEED=N] bash benchmarks/judge_recipes.sh [RECIPE ...]'
need_file TRAIN "$USAGE"
need_file VAL "$USAGE"
need_file TEST "$USAGE"
OUT=${OUT:-artifacts/recipes}
recipes=("$@")
if [[ ${#recipes[@]} -eq 0 ]]; then
  recipes=(atlas-pblar-gamma atlas-pblar-gamma-library atlas-pblar-gamma-wgan-gp
           atlas-pblar-gamma-vae atlas-pblar-gamma-layer-gan atlas-pblar-gamma-bib-ae
           atlas-pblar-gamma-flow atlas-pblar-gamma-pixelcnn)
fi
seed=() suffix=""
[[ -n ${SEED:-} ]] && { seed=(--seed "$SEED"); suffix="-seed$SEED"; }
reports=()
for name in "${recipes[@]}"; do
  run="$OUT/$name$suffix"
  echo "== $name -> $run ($(date))"
  "${CF[@]}" recipe run "$name" --data "train=$TRAIN" --data "val=$VAL" --data "test=$TEST" \
      --out "$run" "${seed[@]}"
  reports+=("$name$suffix=$run/test")
done
"${PY[@]}" "$(dirname "$0")/evaluate_summary.py" --floor "${reports[@]}" | tee "$OUT/test-table.md"

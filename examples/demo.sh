#!/usr/bin/env bash
# The end-to-end demo behind `make demo`: detector -> full simulation -> summary.
# Outputs go to artifacts/demo/ (rerunning replaces them).
set -euo pipefail
cd "$(dirname "$0")/.."
CF=".venv/bin/caloforge"
OUT=artifacts/demo
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

echo "== 1. the detector"
$CF detector show atlas-pblar --plot "$OUT/atlas-pblar.png"

echo "== 2. shower data"
REF=../shared/data/atlas-pblar_gamma_val.h5
if [ -f "$REF" ]; then
  $CF info "$REF" --plot "$OUT/average_shower.png"
else
  echo "(no ../shared reference sample here)"
fi
echo "demo outputs in $OUT/"

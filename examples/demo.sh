#!/usr/bin/env bash
# The end-to-end demo behind `make demo`:
#   detector -> Geant4 full simulation -> train -> generate -> evaluate -> bench -> export.
# A deliberately small run (a few minutes on 2 cores): the model is trained for a few hundred
# steps only, so expect its metrics to be far from full simulation. The pretrained model
# atlas-pblar-gamma (caloforge pretrained list), when shipped, is judged beside it in the
# same report. Outputs: artifacts/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
CF=".venv/bin/caloforge"
OUT=artifacts/demo
rm -rf "$OUT"
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
Q=${DEMO_QUIET:+--quiet}

echo "== 1. the detector"
$CF detector show atlas-pblar --plot "$OUT/atlas-pblar.png"

echo "== 2. Geant4 full simulation (offline EM physics): training and validation photons"
$CF simulate -d atlas-pblar -p gamma -e loguniform:1GeV,20GeV -n 800 --workers 2 --seed 1 -o "$OUT/train.h5" $Q
$CF simulate -d atlas-pblar -p gamma -e loguniform:1GeV,20GeV -n 400 --workers 2 --seed 2 -o "$OUT/val.h5" $Q
$CF info "$OUT/train.h5" --plot "$OUT/average_shower.png"

echo "== 3. train a WGAN-GP (short run)"
$CF train --model wgan-gp --data "$OUT/train.h5" --val "$OUT/val.h5" --out "$OUT/wgan-gp" --steps 300 --threads 2 $Q

echo "== 4. generate showers for the validation conditions"
mkdir -p "$OUT/gen"
$CF generate --checkpoint "$OUT/wgan-gp/checkpoint.pt" --conditions-from "$OUT/val.h5" -o "$OUT/gen/wgan-gp.h5"
GEN=("$OUT/gen/wgan-gp.h5")
PRETRAINED=atlas-pblar-gamma  # photons of 1-100 GeV: the demo's 1-20 GeV lie inside
if $CF pretrained show "$PRETRAINED" > /dev/null 2>&1; then
  echo "   ... and with the pretrained model $PRETRAINED (shipped, no training)"
  $CF generate --model "$PRETRAINED" --conditions-from "$OUT/val.h5" -o "$OUT/gen/$PRETRAINED.h5"
  GEN+=("$OUT/gen/$PRETRAINED.h5")
else
  echo "   (no pretrained model $PRETRAINED shipped in this version: caloforge pretrained list; skipped)"
fi

echo "== 5. validate against Geant4, every model in one report (report: $OUT/report/report.html)"
# --train is the demo model's training file (its memorisation check)
$CF evaluate "$OUT/val.h5" "${GEN[@]}" --train "$OUT/train.h5" --out "$OUT/report" \
  --training-log "$OUT/wgan-gp/metrics.jsonl" --classifier-seeds 2 $Q

echo "== 6. speed against Geant4, and ONNX export"
$CF export --checkpoint "$OUT/wgan-gp/checkpoint.pt" --format onnx -o "$OUT/wgan-gp.onnx"
$CF bench --checkpoint "$OUT/wgan-gp/checkpoint.pt" --checkpoint "$OUT/wgan-gp.onnx" \
  --batch 1,128,1024 --repeats 3 --geant4-showers 10 --markdown "$OUT/bench.md"
cat "$OUT/bench.md"
echo "demo outputs in $OUT/"

#!/usr/bin/env bash
# Generation speed vs Geant4 (issue 8): one command; run it on an idle machine.
#   benchmarks/bench_speed.sh [CHECKPOINT_DIR]   (default: artifacts/runs)
#   FAMILIES="wgan-gp vae" EXTRA="artifacts/runs/sota2/diffusion/best.pt" benchmarks/bench_speed.sh
#   FAMILIES="" ILD=0 EXTRA="a.pt b.pt" benchmarks/bench_speed.sh   # given checkpoints only
#   ONNX=0 PRECISIONS="fp32 bf16" THREADS=2 BATCH=1024 ...   # PyTorch only (e.g. refined
#   checkpoints, which do not export), float32 and bfloat16 networks
# Writes artifacts/bench/speed_{atlas,ild}.{json,md} and prints the tables. Every row
# records the load average at the time it was measured (os.getloadavg()).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-artifacts/runs}
OUT=${OUT:-artifacts/bench}
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$OUT"
uptime | tee "$OUT/uptime_start.txt"
FAMILIES=${FAMILIES-"wgan-gp vae"}   # families under CHECKPOINT_DIR (their best.pt)
EXTRA=${EXTRA:-}                      # further checkpoints (e.g. a diffusion run)
ONNX=${ONNX:-1}                      # also time each checkpoint's ONNX export
PRECISIONS=${PRECISIONS:-fp32}        # PyTorch networks in fp32 and/or bf16
THREADS=${THREADS:-"1 2"}
BATCH=${BATCH:-1,10,128,1024,4096}
PT=() EXPORTS=()
for ckpt in $(for fam in $FAMILIES; do echo "$RUNS/$fam/best.pt"; done) $EXTRA; do
  [ -f "$ckpt" ] || { echo "skip: no $ckpt"; continue; }
  name=$(basename "$ckpt" .pt)   # best / checkpoint: the run folder's name instead
  [[ $name == best || $name == checkpoint ]] && name=$(basename "$(dirname "$ckpt")")
  PT+=(--checkpoint "$ckpt")
  if [[ $ONNX == 1 ]]; then
    $PY -m caloforge export --checkpoint "$ckpt" -o "$OUT/$name.onnx" --overwrite
    EXPORTS+=(--checkpoint "$OUT/$name.onnx")
  fi
done
# atlas-pblar (504 voxels): trained checkpoints, PyTorch (and ONNX Runtime), per thread count
for t in $THREADS; do
  for p in $PRECISIONS; do
    extra=(); [[ $p == fp32 ]] && extra=("${EXPORTS[@]}")
    tag=t$t; [[ $p == fp32 ]] || tag=${tag}_$p
    $PY -m caloforge bench "${PT[@]}" "${extra[@]}" --precision "$p" --batch "$BATCH" \
      --threads "$t" --repeats 5 --geant4-showers 30 --json "$OUT/speed_atlas_$tag.json" \
      --markdown "$OUT/speed_atlas_$tag.md"
  done
done
# voxel-count scaling: an UNTRAINED model of the same family on ild-wsi (27000 voxels)
[[ ${ILD:-1} == 1 ]] && $PY -m caloforge bench --checkpoint "$RUNS/wgan-gp/best.pt" --untrained-detector ild-wsi \
  --batch 1,10,128,1024 --threads 2 --repeats 3 --geant4-showers 10 \
  --json "$OUT/speed_ild_t2.json" --markdown "$OUT/speed_ild_t2.md"
uptime | tee "$OUT/uptime_end.txt"

#!/usr/bin/env bash
# Generation time per shower against Geant4's, measured in the same run (`caloforge bench`),
# for PyTorch checkpoints and their ONNX exports, per thread count and precision. Run it on
# an otherwise idle machine: every row records the load average when it was measured.
#
#   [OUT=dir] [ONNX=1] [PRECISIONS="fp32 bf16"] [THREADS="1 2"] [BATCH=1,128,1024] \
#     [ISA="native avx2"] bash benchmarks/generation_speed.sh CHECKPOINT.pt ...
#
# Inputs:
#   CHECKPOINT.pt ...  checkpoints to time (required; a run folder's best.pt or checkpoint.pt
#                      is named after its folder)
#   ONNX        1 (default): also export each checkpoint and time the export with ONNX Runtime
#               (0 for checkpoints that do not export, such as refined ones)
#   PRECISIONS  PyTorch network precisions (default fp32; bf16 for families that offer it)
#   THREADS     thread counts (default "1 2"); BATCH batch sizes (default 1,10,128,1024,4096)
#   ISA         native (default): the kernels torch picks for this CPU; avx2: torch, oneDNN
#               and MKL limited to AVX2 (ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
#               MKL_ENABLE_INSTRUCTIONS=AVX2), what an AVX2-only CPU runs, measured on an
#               AVX-512 one; "native avx2" times both, one after the other (files *_avx2.*)
#   ILD         1 (default): also time an untrained model of the first checkpoint's family on
#               ild-wsi (27,000 voxels; voxel-count scaling only)
#   OUT         output folder (default artifacts/benchmarks/speed): speed_*.json and .md
set -euo pipefail
NICE=${NICE:-0}   # timings: not niced unless asked
source "$(dirname "$0")/_common.sh"
USAGE='[OUT=dir] [ONNX=1] [PRECISIONS="fp32 bf16"] [THREADS="1 2"] [BATCH=...] [ISA="native avx2"] bash benchmarks/generation_speed.sh CHECKPOINT.pt ...'
need_files "$USAGE" "$@"
OUT=${OUT:-artifacts/benchmarks/speed}
ONNX=${ONNX:-1}
PRECISIONS=${PRECISIONS:-fp32}
THREADS=${THREADS:-"1 2"}
BATCH=${BATCH:-1,10,128,1024,4096}
ISA=${ISA:-native}
for isa in $ISA; do
  [[ $isa == native || $isa == avx2 ]] || { echo "error: ISA=$isa: use native or avx2" >&2; exit 2; }
done
mkdir -p "$OUT"
uptime | tee "$OUT/uptime_start.txt"
PT=() EXPORTS=()
for ckpt in "$@"; do
  name=$(basename "$ckpt" .pt)
  [[ $name == best || $name == checkpoint ]] && name=$(basename "$(dirname "$ckpt")")
  PT+=(--checkpoint "$ckpt")
  if [[ $ONNX == 1 ]]; then
    "${CF[@]}" export --checkpoint "$ckpt" -o "$OUT/$name.onnx" --overwrite
    EXPORTS+=(--checkpoint "$OUT/$name.onnx")
  fi
done
for isa in $ISA; do
  limit=()
  [[ $isa == avx2 ]] && limit=(env ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 \
      MKL_ENABLE_INSTRUCTIONS=AVX2)
  for t in $THREADS; do
    for p in $PRECISIONS; do
      extra=(); [[ $p == fp32 ]] && extra=("${EXPORTS[@]}")
      tag=t$t; [[ $p == fp32 ]] || tag=${tag}_$p
      [[ $isa == native ]] || tag=${tag}_$isa
      "${limit[@]}" "${CF[@]}" bench "${PT[@]}" "${extra[@]}" --precision "$p" --batch "$BATCH" \
          --threads "$t" --repeats 5 --geant4-showers 30 --json "$OUT/speed_$tag.json" \
          --markdown "$OUT/speed_$tag.md"
    done
  done
done
if [[ ${ILD:-1} == 1 ]]; then
  "${CF[@]}" bench --checkpoint "$1" --untrained-detector ild-wsi --batch 1,10,128,1024 \
      --threads 2 --repeats 3 --geant4-showers 10 --json "$OUT/speed_ild_t2.json" \
      --markdown "$OUT/speed_ild_t2.md"
fi
uptime | tee "$OUT/uptime_end.txt"

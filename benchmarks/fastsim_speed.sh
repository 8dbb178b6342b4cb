#!/usr/bin/env bash
# Fast simulation inside Geant4 end to end: the same N photons (atlas-pblar, 1-100 GeV,
# seed 7) in full simulation and with the model's ONNX export taking over, CPU per event and
# speed-up; then the agreement of the fast-simulated showers with `caloforge generate`'s at
# the same conditions and of both with the full simulation (`caloforge evaluate`).
#
#   [OUT=dir] bash benchmarks/fastsim_speed.sh CHECKPOINT.pt [N=200]
#
# The checkpoint must be an atlas-pblar photon model that exports (not refined).
# OUT: output folder (default artifacts/benchmarks/fastsim).
set -euo pipefail
NICE=${NICE:-0}   # timings: not niced unless asked
source "$(dirname "$0")/_common.sh"
USAGE='[OUT=dir] bash benchmarks/fastsim_speed.sh CHECKPOINT.pt [N]'
need_files "$USAGE" "${1:-}"
CKPT=$1
N=${2:-200}
OUT=${OUT:-artifacts/benchmarks/fastsim}
GUN=(--detector atlas-pblar --particle gamma --energy loguniform:1GeV,100GeV -n "$N" --seed 7
     --workers 1 --overwrite)
mkdir -p "$OUT"
uptime | tee "$OUT/uptime_start.txt"
"${CF[@]}" export --checkpoint "$CKPT" -o "$OUT/model.onnx" --overwrite
/usr/bin/time -v "${CF[@]}" simulate "${GUN[@]}" -q -o "$OUT/full.h5" 2> "$OUT/full.time"
/usr/bin/time -v "${CF[@]}" simulate "${GUN[@]}" --fastsim "$OUT/model.onnx" -o "$OUT/fast.h5" \
    2> "$OUT/fast.time"
"${CF[@]}" generate --checkpoint "$CKPT" --conditions-from "$OUT/fast.h5" -o "$OUT/gen.h5" --precision fp32 \
    --overwrite --quiet
grep -h "Elapsed\|User time" "$OUT/full.time" "$OUT/fast.time"
"${PY[@]}" - "$OUT" <<'PYEOF'
import sys
from caloforge.data import ShowerFile
out = sys.argv[1]
full, fast = ShowerFile(f"{out}/full.h5"), ShowerFile(f"{out}/fast.h5")
cf, cs = full.read("cpu_time").sum(), fast.read("cpu_time").sum()
print(f"Geant4 CPU per event: full {1000 * cf / len(full):.3g} ms, fast {1000 * cs / len(fast):.3g} ms, "
      f"speed-up {cf / cs:.1f}; fast/full tracks {int(fast.read('fastsim_fast').sum())}/{int(fast.read('fastsim_full').sum())}")
PYEOF
"${CF[@]}" evaluate "$OUT/gen.h5" "$OUT/fast.h5" -o "$OUT/eval_fast_vs_generate" --overwrite
"${CF[@]}" evaluate "$OUT/full.h5" "$OUT/fast.h5" "$OUT/gen.h5" -o "$OUT/eval_vs_geant4" --overwrite
uptime | tee "$OUT/uptime_end.txt"

#!/usr/bin/env bash
# End-to-end speed-up of fast simulation inside Geant4 and its agreement (issue 8).
#   benchmarks/bench_fastsim.sh [CHECKPOINT] [N]   (default: artifacts/runs/wgan-gp/best.pt, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=${1:-artifacts/runs/wgan-gp/best.pt}
N=${2:-200}
OUT=artifacts/bench/fastsim
PY=${PYTHON:-.venv/bin/python}
CF="$PY -m caloforge"
mkdir -p "$OUT"
uptime | tee "$OUT/uptime_start.txt"
$CF export --checkpoint "$CKPT" -o "$OUT/model.onnx" --overwrite
E=loguniform:1GeV,100GeV
/usr/bin/time -v $CF simulate --detector atlas-pblar --particle gamma --energy $E -n "$N" --seed 7 \
  --workers 1 -o "$OUT/full.h5" --overwrite -q 2> "$OUT/full.time"
/usr/bin/time -v $CF simulate --detector atlas-pblar --particle gamma --energy $E -n "$N" --seed 7 \
  --workers 1 --fastsim "$OUT/model.onnx" -o "$OUT/fast.h5" --overwrite 2> "$OUT/fast.time"
$CF generate --checkpoint "$CKPT" --conditions-from "$OUT/fast.h5" -o "$OUT/gen.h5" --overwrite
grep -h "Elapsed\|User time" "$OUT/full.time" "$OUT/fast.time"
$PY - "$OUT" <<'PY'
import sys
from caloforge.data import ShowerFile
out = sys.argv[1]
full, fast = ShowerFile(f"{out}/full.h5"), ShowerFile(f"{out}/fast.h5")
cf, cs = full.read("cpu_time").sum(), fast.read("cpu_time").sum()
print(f"Geant4 CPU per event: full {1000 * cf / len(full):.3g} ms, fast {1000 * cs / len(fast):.3g} ms, "
      f"speed-up {cf / cs:.1f}; fast/full tracks {int(fast.read('fastsim_fast').sum())}/{int(fast.read('fastsim_full').sum())}")
PY
# agreement: fast-simulated vs caloforge generate, and each vs Geant4
$CF evaluate "$OUT/gen.h5" "$OUT/fast.h5" -o "$OUT/eval_fast_vs_generate" || true
$CF evaluate "$OUT/full.h5" "$OUT/fast.h5" "$OUT/gen.h5" -o "$OUT/eval_vs_geant4" || true
uptime | tee "$OUT/uptime_end.txt"

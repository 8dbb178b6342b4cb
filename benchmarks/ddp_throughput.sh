#!/usr/bin/env bash
# Data-parallel training throughput: 1 process against 2 torchrun (gloo) processes on this
# machine. VAE defaults on atlas-pblar, 400 steps on 8,000 training showers, 1 thread per
# process; throughput between the first and the last log line of metrics.jsonl. Run it on
# an otherwise idle machine.
#
#   [BATCH=256] [OUT=dir] bash benchmarks/ddp_throughput.sh TRAIN.h5
#
# BATCH: the global batch (default 256). OUT: output folder (default artifacts/benchmarks/ddp).
set -euo pipefail
NICE=${NICE:-0}   # timings: not niced unless asked
source "$(dirname "$0")/_common.sh"
need_files '[BATCH=256] [OUT=dir] bash benchmarks/ddp_throughput.sh TRAIN.h5' "${1:-}"
BATCH=${BATCH:-256}
OUT=${OUT:-artifacts/benchmarks/ddp}
A=(--model vae --data "$1" --steps 400 --threads 1 --quiet --overwrite train.batch_size="$BATCH"
   train.log_every=50 train.max_showers=8000 train.checkpoint_every=100000)
export OMP_NUM_THREADS=1
echo "load before: $(cat /proc/loadavg)"
"${CF[@]}" train "${A[@]}" -o "$OUT/p1t1"
"${PY[@]}" -m torch.distributed.run --standalone --nproc-per-node 2 -m caloforge train "${A[@]}" \
    -o "$OUT/p2t1"
echo "load after: $(cat /proc/loadavg)"
for run in p1t1 p2t1; do
  "${PY[@]}" - "$OUT/$run/metrics.jsonl" "$run" "$BATCH" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if '"loss"' in line]
a, b = rows[0], rows[-1]
print(f"{sys.argv[2]}: {(b['step'] - a['step']) * int(sys.argv[3]) / (b['time'] - a['time']):.0f} showers/s")
PYEOF
done

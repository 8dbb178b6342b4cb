#!/usr/bin/env bash
# Data-parallel training throughput on this machine: 1 process vs 2 torchrun (gloo) processes.
# VAE defaults on atlas-pblar, global batch 256, 400 steps, 8,000 training showers; throughput
# between the first and last log line of metrics.jsonl. Run on an otherwise idle machine.
# Usage: [BATCH=1024] bash benchmarks/ddp_scaling.sh [TRAIN.h5]
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-../shared/data/atlas-pblar_gamma_train.h5}
OUT=artifacts/benchmarks/ddp
PY=.venv/bin/python
A="--model vae --data $D --steps 400 --quiet --overwrite train.batch_size=${BATCH:-256} train.log_every=50 train.max_showers=8000 train.checkpoint_every=100000"
export OMP_NUM_THREADS=1
echo "load before: $(cat /proc/loadavg)"
$PY -m caloforge train $A -o $OUT/p1t1 --threads 1
$PY -m torch.distributed.run --standalone --nproc-per-node 2 -m caloforge train $A -o $OUT/p2t1 --threads 1
echo "load after: $(cat /proc/loadavg)"
for run in p1t1 p2t1; do
  $PY - "$OUT/$run/metrics.jsonl" "$run" "${BATCH:-256}" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
a, b = rows[0], rows[-1]
print(f"{sys.argv[2]}: {(b['step'] - a['step']) * int(sys.argv[3]) / (b['time'] - a['time']):.0f} showers/s")
PYEOF
done

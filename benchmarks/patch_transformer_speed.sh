#!/usr/bin/env bash
# Generation time per shower and peak memory of `patch-transformer` (untrained weights: the
# speed does not depend on them) on five readouts from 504 to 40,500 voxels, beside Geant4's
# time for showers of the same detector and energy, measured in the same `caloforge bench`
# run (each detector simulated with its own defaults, its scoring mode included: steps for
# calochallenge-ds2/-ds3); and the peak memory of a few training steps at batch 256 on
# calochallenge-ds3.
#
#   [SAMPLER=student] [LAYER_PASSES=2] [BATCH=1,128,1024] [REPEATS=3] [OUT=dir] \
#     bash benchmarks/patch_transformer_speed.sh SEED.h5
#
# Inputs:
#   SEED.h5     any small shower file of calochallenge-ds3 (e.g. `caloforge simulate -d
#               calochallenge-ds3 -n 300`): it trains the seed checkpoint whose family and
#               settings every untrained model takes, and the training-memory run
#   SAMPLER     student (default: one pass of the distilled student) or ode (SAMPLE_STEPS
#               midpoint steps, default 10: two velocity passes each)
#   LAYER_PASSES  stage 1's layer_passes: 2 (default: coupling, as the calochallenge-ds2
#               recipe) or none (fully autoregressive, one pass per readout layer)
#   PRESETS     detectors (default: atlas-pblar calochallenge-ds2 lcd-cube ild-wsi
#               calochallenge-ds3)
#   BATCH       batch sizes (default 1,128,1024); REPEATS timed repeats (default 3)
#   THREADS     torch threads (default 2); ENERGY incident energy (default 10GeV)
#   G4_SHOWERS  Geant4 showers per detector (default 5)
#   OUT         output folder (default artifacts/benchmarks/patch_transformer_speed):
#               speed_PRESET.json / .md, train_ds3.txt (peak resident memory of the
#               training steps), uptime_*.txt (the machine's load)
set -euo pipefail
NICE=${NICE:-0}   # timings: not niced unless asked
source "$(dirname "$0")/_common.sh"
USAGE='[SAMPLER=student] [LAYER_PASSES=2] [BATCH=1,128,1024] [REPEATS=3] [OUT=dir] bash benchmarks/patch_transformer_speed.sh SEED.h5'
need_files "$USAGE" "$@"
SEED=$1
OUT=${OUT:-artifacts/benchmarks/patch_transformer_speed}
SAMPLER=${SAMPLER:-student}
SAMPLE_STEPS=${SAMPLE_STEPS:-10}
LAYER_PASSES=${LAYER_PASSES:-2}
PRESETS=${PRESETS:-"atlas-pblar calochallenge-ds2 lcd-cube ild-wsi calochallenge-ds3"}
BATCH=${BATCH:-1,128,1024}
REPEATS=${REPEATS:-3}
THREADS=${THREADS:-2}
ENERGY=${ENERGY:-10GeV}
G4_SHOWERS=${G4_SHOWERS:-5}
export OMP_NUM_THREADS=$THREADS
mkdir -p "$OUT"
uptime | tee "$OUT/uptime_start.txt"

# training at batch 256 on calochallenge-ds3: the estimate in the log, the peak RSS measured
/usr/bin/time -f "peak_rss_kb %M wall_s %e" -o "$OUT/train_ds3.txt" \
  "${CF[@]}" train --model patch-transformer --data "$SEED" --out "$OUT/seed" --overwrite \
    --steps 3 --threads "$THREADS" --quiet train.batch_size=256 train.log_every=1 \
    distill_start=2 distill_pool=256 sampler="$SAMPLER" sample_steps="$SAMPLE_STEPS" \
    layer_passes="$LAYER_PASSES"
cat "$OUT/train_ds3.txt"

for preset in $PRESETS; do
  "${CF[@]}" bench --checkpoint "$OUT/seed/checkpoint.pt" --untrained-detector "$preset" \
      --batch "$BATCH" --threads "$THREADS" --repeats "$REPEATS" --warmup 1 \
      --energy "$ENERGY" --geant4-showers "$G4_SHOWERS" --precision fp32 \
      --json "$OUT/speed_$preset.json" --markdown "$OUT/speed_$preset.md"
done
uptime | tee "$OUT/uptime_end.txt"

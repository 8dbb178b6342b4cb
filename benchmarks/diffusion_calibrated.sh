#!/usr/bin/env bash
# Issues 7 and 8 (session 3): the flow-matching teacher trained for 80 min on one core,
# its distilled one-pass student, and both with the per-voxel quantile calibration
# (`caloforge calibrate`), evaluated against the atlas-pblar validation file.
# Each stage is skipped when its output exists (rerun to resume). One core, niced.
#
#   bash benchmarks/diffusion_calibrated.sh            # everything
#   STAGES="calibrate evaluate" bash benchmarks/diffusion_calibrated.sh
# Session 4: a student distilled for 25 min from the session-2 teacher (12k steps) with a
# pool of 100k teacher showers, and its showers with bfloat16 networks as well:
#   mkdir -p artifacts/runs/sota4s && cp -r artifacts/runs/sota2/diffusion artifacts/runs/sota4s/
#   cp artifacts/runs/sota2/diffusion/checkpoint.pt artifacts/runs/sota4s/teacher.pt
#   OUT=artifacts/runs/sota4s STUDENT_MIN=25 POOL=100000 STUDENT_STEPS=200000 BF16=1 \
#     STAGES="student calibrate generate evaluate" bash benchmarks/diffusion_calibrated.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CALOFORGE_DATA:-../shared/data}
TRAIN=$DATA/atlas-pblar_gamma_train.h5
VAL=$DATA/atlas-pblar_gamma_val.h5
OUT=${OUT:-artifacts/runs/sota3}
STAGES=${STAGES:-"teacher student calibrate generate evaluate"}
STUDENT_MIN=${STUDENT_MIN:-15}
POOL=${POOL:-40000}      # teacher showers the student is distilled on
STUDENT_STEPS=${STUDENT_STEPS:-100000}   # length of the student's cosine schedule
BF16=${BF16:-0}          # 1: also generate the students with bfloat16 networks (*_bf16.h5)
export OMP_NUM_THREADS=1
CF=(nice -n 10 .venv/bin/caloforge)
has() { [[ " $STAGES " == *" $1 "* ]]; }
mkdir -p "$OUT/gen"

if has teacher && [[ ! -f $OUT/teacher.pt ]]; then
  echo "== teacher ($(date))"
  "${CF[@]}" train --model diffusion --data "$TRAIN" --val "$VAL" --out "$OUT/diffusion" \
      --threads 1 --seed 1 --overwrite --quiet train.schedule=cosine train.min_lr_factor=0.05 \
      train.checkpoint_every=1000 coding=hit-energy train.steps=40000 train.max_time_min=80 \
      train.val_every=5000 train.lr=5e-4
  cp "$OUT/diffusion/checkpoint.pt" "$OUT/teacher.pt"
fi
if has student && [[ ! -f $OUT/student.pt ]]; then
  echo "== student ($(date))"
  step=$(.venv/bin/python -c "import torch,sys; print(torch.load(sys.argv[1], \
weights_only=True)['step'])" "$OUT/teacher.pt")
  minutes=$(.venv/bin/python -c "import torch,sys; c=torch.load(sys.argv[1], \
weights_only=True); print(int(c['trainer']['elapsed'] / 60) + $STUDENT_MIN)" "$OUT/teacher.pt")
  "${CF[@]}" train --model diffusion --data "$TRAIN" --val "$VAL" --out "$OUT/diffusion" \
      --resume --quiet distill_start="$step" train.steps=$((step + STUDENT_STEPS)) \
      distill_pool="$POOL" train.max_time_min="$minutes" train.val_every=0 sampler=student
  cp "$OUT/diffusion/checkpoint.pt" "$OUT/student.pt"
fi
if has calibrate; then
  echo "== calibrate ($(date))"
  for m in teacher student; do
    [[ -f $OUT/$m.pt ]] || continue
    [[ -f $OUT/${m}_cal.pt ]] || "${CF[@]}" calibrate --checkpoint "$OUT/$m.pt" \
        --data "$TRAIN" -o "$OUT/${m}_cal.pt" --quiet
    [[ -f $OUT/${m}_calk.pt ]] || "${CF[@]}" calibrate --checkpoint "$OUT/$m.pt" \
        --data "$TRAIN" -o "$OUT/${m}_calk.pt" --keep-layers --quiet
  done
fi
if has generate; then
  echo "== generate ($(date))"
  for m in teacher teacher_cal teacher_calk student student_cal student_calk; do
    [[ -f $OUT/$m.pt && ! -f $OUT/gen/$m.h5 ]] || continue
    "${CF[@]}" generate --checkpoint "$OUT/$m.pt" --conditions-from "$VAL" \
        -o "$OUT/gen/$m.h5" --seed 1 --quiet
  done
  for m in student student_cal student_calk; do
    [[ $BF16 == 1 && -f $OUT/$m.pt && ! -f $OUT/gen/${m}_bf16.h5 ]] || continue
    "${CF[@]}" generate --checkpoint "$OUT/$m.pt" --conditions-from "$VAL" \
        -o "$OUT/gen/${m}_bf16.h5" --seed 1 --precision bf16 --quiet
  done
fi
if has evaluate; then
  echo "== evaluate ($(date))"
  "${CF[@]}" evaluate "$VAL" "$OUT"/gen/*.h5 --train "$TRAIN" --out "$OUT/report" \
      --classifier-seeds 1 --overwrite
fi
echo "== done ($(date))"

#!/usr/bin/env bash
# The flow-matching recipe: a `diffusion` teacher (hit-energy coding, cosine schedule), its
# distilled one-pass student, both with the per-voxel quantile calibration (with and
# without --keep-layers), generated with the validation file's conditions (the students
# also with bfloat16 networks) and evaluated together.
#
#   TRAIN=train.h5 VAL=val.h5 [THREADS=2] [OUT=dir] bash benchmarks/train_flow_matching.sh
#
# Inputs (environment):
#   TRAIN, VAL        training and validation shower files (required)
#   TEACHER_STEPS     teacher training steps (default 12000); TEACHER_MIN its wall-clock
#                     budget in minutes (default 16)
#   STUDENT_MIN       distillation budget in minutes (default 25); POOL teacher showers the
#                     student is distilled on (default 100000); STUDENT_STEPS length of the
#                     student's cosine schedule (default 200000)
#   THREADS           torch threads of the trainings (default 1)
#   BF16              1 (default): also generate the students with --precision bf16
#   STAGES            subset of "teacher student calibrate generate evaluate" (default all)
#   CLASSIFIER_SEEDS  seeds of the classifier test (default 3)
#   OUT               output folder (default artifacts/benchmarks/flow_matching)
# Each stage is skipped when its output exists: rerun to resume.
# The recipe of the longer teacher: TEACHER_STEPS=40000 TEACHER_MIN=80 STUDENT_MIN=15
# POOL=40000 STUDENT_STEPS=100000.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='TRAIN=train.h5 VAL=val.h5 [TEACHER_STEPS=12000] [STUDENT_MIN=25] [OUT=dir] bash benchmarks/train_flow_matching.sh'
need_file TRAIN "$USAGE"
need_file VAL "$USAGE"
OUT=${OUT:-artifacts/benchmarks/flow_matching}
STAGES=${STAGES:-"teacher student calibrate generate evaluate"}
TEACHER_STEPS=${TEACHER_STEPS:-12000}
TEACHER_MIN=${TEACHER_MIN:-16}
STUDENT_MIN=${STUDENT_MIN:-25}
POOL=${POOL:-100000}
STUDENT_STEPS=${STUDENT_STEPS:-200000}
THREADS=${THREADS:-1}
BF16=${BF16:-1}
export OMP_NUM_THREADS=$THREADS
has() { [[ " $STAGES " == *" $1 "* ]]; }
field() {  # checkpoint python-expression-of-c
  "${PY[@]}" -c "import sys, torch; c = torch.load(sys.argv[1], weights_only=True); print($2)" "$1"
}
RUN=$OUT/diffusion
mkdir -p "$OUT/gen"

if has teacher && [[ ! -f $OUT/teacher.pt ]]; then
  echo "== teacher ($(date))"
  mode=--overwrite; [[ -f $RUN/checkpoint.pt ]] && mode=--resume
  "${CF[@]}" train --model diffusion --data "$TRAIN" --val "$VAL" --out "$RUN" \
      --threads "$THREADS" --seed 1 "$mode" --quiet train.schedule=cosine train.min_lr_factor=0.05 \
      train.checkpoint_every=1000 coding=hit-energy train.steps="$TEACHER_STEPS" \
      train.max_time_min="$TEACHER_MIN" train.val_every=3000 distill_start=1000000
  cp "$RUN/checkpoint.pt" "$OUT/teacher.pt"
fi
if has student && [[ ! -f $OUT/student.pt ]]; then
  [[ -f $OUT/teacher.pt ]] || usage "$USAGE  (the student stage needs the teacher: STAGES=teacher first)"
  echo "== student ($(date))"
  step=$(field "$OUT/teacher.pt" "c['step']")
  minutes=$(field "$OUT/teacher.pt" "int(c['trainer']['elapsed'] / 60) + $STUDENT_MIN")
  "${CF[@]}" train --model diffusion --data "$TRAIN" --val "$VAL" --out "$RUN" --resume \
      --threads "$THREADS" --quiet distill_start="$step" train.steps=$((step + STUDENT_STEPS)) \
      distill_pool="$POOL" train.max_time_min="$minutes" train.val_every=0 sampler=student
  cp "$RUN/checkpoint.pt" "$OUT/student.pt"
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
        -o "$OUT/gen/$m.h5" --seed 1 --precision fp32 --quiet
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
      --classifier-seeds "${CLASSIFIER_SEEDS:-3}" --overwrite
  "${PY[@]}" "$(dirname "$0")/evaluate_summary.py" "flow-matching=$OUT/report" | tee "$OUT/table.md"
fi
echo "== done ($(date))"

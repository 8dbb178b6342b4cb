#!/usr/bin/env bash
# Train model families on one CPU core each, generate with the validation file's
# conditions (raw, and with the per-voxel quantile calibration), and evaluate them together.
#
#   TRAIN=train.h5 VAL=val.h5 [FAMILIES="library wgan-gp vae"] [OUT=dir] \
#     bash benchmarks/train_families.sh
#
# Inputs (environment):
#   TRAIN, VAL      training and validation shower files (required; one detector)
#   FAMILIES        families to train (default "library wgan-gp vae"); also layer-gan,
#                   bib-ae, flow, pixelcnn, gan3d (gan3d: a regular-grid detector such as
#                   lcd-cube, see benchmarks/simulate_lcd_cube.sh)
#   MINUTES         wall-clock training budget per family (default: the family's value
#                   below, the budget of the recorded runs)
#   LAYER_STAGE     stage-1 layer-energy flow for the GAN/AE families (default true)
#   CALIBRATE       1 (default): also fit `caloforge calibrate` and evaluate the result
#   CHECKPOINT      best (default: best.pt on VAL when the run wrote one) or last
#   ARGS            further key=value overrides for every family's training
#   CLASSIFIER_SEEDS  seeds of the classifier test (default 3)
#   OUT             output folder (default artifacts/benchmarks/train_families)
# A family whose run folder already holds a checkpoint is resumed (a finished run stops at
# once), so the script can be rerun after an interruption.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='TRAIN=train.h5 VAL=val.h5 [FAMILIES="library wgan-gp vae"] [MINUTES=N] [OUT=dir] bash benchmarks/train_families.sh'
need_file TRAIN "$USAGE"
need_file VAL "$USAGE"
FAMILIES=${FAMILIES:-"library wgan-gp vae"}
LAYER_STAGE=${LAYER_STAGE:-true}
CALIBRATE=${CALIBRATE:-1}
CHECKPOINT=${CHECKPOINT:-best}
OUT=${OUT:-artifacts/benchmarks/train_families}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
COSINE=(train.schedule=cosine train.min_lr_factor=0.05)

gens=() logs=()
for fam in $FAMILIES; do
  ls=layer_stage=$LAYER_STAGE
  case $fam in  # per-family settings and default budget (minutes) of the recorded runs
    library)   min=0;  args=() ;;
    wgan-gp)   min=26; args=("$ls" train.steps=100000 train.ema_decay=0.999 train.val_every=1000
                             train.checkpoint_every=1000) ;;
    vae)       min=20; args=("$ls" train.steps=100000 train.val_every=2000
                             train.checkpoint_every=2000) ;;
    layer-gan) min=25; args=("$ls" n_critic=3 train.lr=2e-4 train.steps=100000
                             train.ema_decay=0.999 train.val_every=500 train.checkpoint_every=500) ;;
    bib-ae)    min=25; args=("$ls" train.steps=100000 train.val_every=1000
                             train.checkpoint_every=1000) ;;
    gan3d)     min=30; args=("$ls" channels=4 critic_channels=4 train.batch_size=16 train.lr=1e-4
                             train.ema_decay=0.999 train.steps=100000 train.val_every=200
                             train.val_showers=500 train.checkpoint_every=200) ;;
    flow)      min=45; args=("${COSINE[@]}" train.steps=15000 train.val_every=2500
                             train.checkpoint_every=500) ;;
    pixelcnn)  min=40; args=("${COSINE[@]}" train.steps=10000 train.val_every=0
                             train.checkpoint_every=500) ;;
    *) usage "$USAGE  (unknown family '$fam')" ;;
  esac
  run=$OUT/$fam
  # shellcheck disable=SC2206  # ARGS: whitespace-separated key=value overrides
  [[ $fam == library ]] || args+=(train.max_time_min="${MINUTES:-$min}" ${ARGS:-})
  if [[ $fam == library && -f $run/checkpoint.pt ]]; then :; else
    mode=--overwrite; [[ -f $run/checkpoint.pt ]] && mode=--resume
    echo "== train $fam $mode ($(date))"
    "${CF[@]}" train --model "$fam" --data "$TRAIN" --val "$VAL" --out "$run" --threads 1 \
        --seed 1 "$mode" --quiet "${args[@]}"
  fi
  ckpt=$run/checkpoint.pt
  [[ $CHECKPOINT == best && -f $run/best.pt ]] && ckpt=$run/best.pt
  [[ -f $run/metrics.jsonl ]] && logs+=(--training-log "$run/metrics.jsonl")

  echo "== generate $fam ($(date))"
  "${CF[@]}" generate --checkpoint "$ckpt" --conditions-from "$VAL" -o "$OUT/$fam.h5" \
      --seed 1 --precision fp32 --overwrite --quiet
  gens+=("$OUT/$fam.h5")
  if [[ $CALIBRATE == 1 && $fam != library ]]; then
    echo "== calibrate $fam ($(date))"
    opts=()
    [[ $fam == flow || ($LAYER_STAGE == true && $fam != pixelcnn) ]] && opts+=(--keep-layers)
    [[ $fam == gan3d ]] && opts+=(--levels 65 --grid 256)   # 15,625 voxels: smaller tables
    [[ $fam == pixelcnn ]] && opts+=(-n 5000)                # autoregressive: ~60 ms a shower
    "${CF[@]}" calibrate --checkpoint "$ckpt" --data "$TRAIN" -o "$run/calibrated.pt" \
        "${opts[@]}" --overwrite --quiet
    "${CF[@]}" generate --checkpoint "$run/calibrated.pt" --conditions-from "$VAL" \
        -o "$OUT/${fam}_calibrated.h5" --seed 1 --precision fp32 --overwrite --quiet
    gens+=("$OUT/${fam}_calibrated.h5")
  fi
done

echo "== response and resolution ($(date))"
"${PY[@]}" "$(dirname "$0")/response_resolution.py" "$VAL" "${gens[@]}" | tee "$OUT/response.txt"
echo "== evaluate ($(date))"
"${CF[@]}" evaluate "$VAL" "${gens[@]}" --train "$TRAIN" --out "$OUT/report" --overwrite \
    --classifier-seeds "${CLASSIFIER_SEEDS:-3}" "${logs[@]}"
"${PY[@]}" "$(dirname "$0")/evaluate_summary.py" "families=$OUT/report" | tee "$OUT/table.md"
echo "== done ($(date))"

#!/usr/bin/env bash
# Milestone of issue 6: the seed families layer-gan and bib-ae on the atlas-pblar Geant4
# photons (1-100 GeV), and gan3d on lcd-cube showers from `caloforge simulate`.
# Each family: train (wall-clock budget, ONE core, niced), generate with the conditions
# of the validation file, evaluate against it. One job after another; outputs under
# artifacts/seed_families/ (git-ignored).
#
#   bash benchmarks/train_seed_families.sh                 # all three
#   FAMILIES="layer-gan" TRAIN_MIN=20 bash benchmarks/train_seed_families.sh
#   FAMILIES=gan3d bash benchmarks/train_seed_families.sh   # 2 x 10k lcd-cube showers
# Session 3 (README numbers): OUT=artifacts/seed_v3 TRAIN_MIN=25 LAYER_STAGE=true
#   GAN3D_MIN=30 (lcd-cube files linked from artifacts/seed_families_v2):
#   the families with the stage-1 layer-energy flow; every
#   family is then also calibrated (`caloforge calibrate`, --keep-layers with the layer
#   stage) and both versions are generated and evaluated. SKIP_TRAIN=1: keep a trained
#   checkpoint, only calibrate, generate and evaluate.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CALOFORGE_DATA:-../shared/data}
TRAIN=$DATA/atlas-pblar_gamma_train.h5
VAL=$DATA/atlas-pblar_gamma_val.h5
OUT=${OUT:-artifacts/seed_families}
FAMILIES=${FAMILIES:-"layer-gan bib-ae gan3d"}
TRAIN_MIN=${TRAIN_MIN:-20}   # wall-clock training budget per atlas family, minutes
GAN3D_MIN=${GAN3D_MIN:-40}
LAYER_STAGE=${LAYER_STAGE:-false}   # atlas families: stage-1 layer-energy flow
CALIBRATE=${CALIBRATE:-1}           # also fit and evaluate the quantile calibration
LCD_N=${LCD_N:-10000}        # lcd-cube showers per particle (issue 6 asks >= 20k in all)
LCD_VAL=${LCD_VAL:-1000}     # of which the last LCD_VAL of each particle are held out
export OMP_NUM_THREADS=1
CF=(nice -n 15 .venv/bin/caloforge)
PY=(nice -n 15 .venv/bin/python)
mkdir -p "$OUT"

simulate_lcd() {  # particle seed n -> $OUT/lcd-cube_<particle>.h5 (resumes if interrupted)
  local out=$OUT/lcd-cube_$1.h5
  [[ -f $out ]] && return
  "${CF[@]}" simulate --detector lcd-cube --particle "$1" --energy loguniform:2GeV,100GeV \
    -n "$3" --seed "$2" --workers "${LCD_WORKERS:-1}" -q -o "$out"
}

for fam in $FAMILIES; do
  train=$TRAIN; val=$VAL; data=(--data "$TRAIN")
  case $fam in
    layer-gan) args=(layer_stage="$LAYER_STAGE" n_critic=3 train.lr=2e-4 train.steps=100000
                     train.max_time_min="$TRAIN_MIN" train.ema_decay=0.999 train.val_every=500
                     train.checkpoint_every=500) ;;
    bib-ae)    args=(layer_stage="$LAYER_STAGE" train.steps=100000 train.max_time_min="$TRAIN_MIN"
                     train.val_every=1000 train.checkpoint_every=1000) ;;
    gan3d)
      simulate_lcd e- 21 "$LCD_N"
      simulate_lcd gamma 21 "$LCD_N"
      # hold out the last LCD_VAL showers of each particle for validation
      "${PY[@]}" - "$OUT" "$LCD_VAL" <<'EOF'
import sys
from pathlib import Path
from caloforge.data import ShowerFile, write_showers
from caloforge.data.conditions import Conditions
import numpy as np
out, n_val = Path(sys.argv[1]), int(sys.argv[2])
if not (out / "lcd-cube_train.h5").exists():
    e, g = ShowerFile(out / "lcd-cube_e-.h5"), ShowerFile(out / "lcd-cube_gamma.h5")
    ce, cg = len(e) - n_val, len(g) - n_val
    def cat(a, b):
        return Conditions(*(np.concatenate([getattr(a, k), getattr(b, k)]) for k in
                            ("energy", "particle", "direction", "impact")))
    write_showers(out / "lcd-cube_train.h5", np.concatenate([e.showers(0, ce), g.showers(0, cg)]),
                  cat(e.conditions(0, ce), g.conditions(0, cg)), e.detector)
    write_showers(out / "lcd-cube_val.h5",
                  np.concatenate([e.showers(ce, len(e)), g.showers(cg, len(g))]),
                  cat(e.conditions(ce, len(e)), g.conditions(cg, len(g))), e.detector)
EOF
      train=$OUT/lcd-cube_train.h5; val=$OUT/lcd-cube_val.h5; data=(--data "$train")
      # small networks: one CPU core gets a few hundred steps in GAN3D_MIN minutes
      args=(layer_stage="$LAYER_STAGE" channels=4 critic_channels=4 train.batch_size=16 train.lr=1e-4
            train.ema_decay=0.999 train.steps=100000 train.max_time_min="$GAN3D_MIN"
            train.val_every=200 train.val_showers=500 train.checkpoint_every=200) ;;
    *) args=() ;;
  esac
  if [[ -z ${SKIP_TRAIN:-} || ! -f $OUT/$fam/checkpoint.pt ]]; then
    echo "== train $fam ($(date))"
    "${CF[@]}" train --model "$fam" "${data[@]}" --val "$val" --out "$OUT/$fam" \
        --threads 1 --seed 1 --overwrite --quiet "${args[@]}"
  fi
  ckpt=$OUT/$fam/$( [[ -f $OUT/$fam/best.pt ]] && echo best || echo checkpoint).pt
  gens=("$OUT/$fam/gen_val.h5")
  echo "== generate $fam ($(date))"
  /usr/bin/time -f "generate $fam: %e s wall, %M kB max RSS" \
    "${CF[@]}" generate --checkpoint "$ckpt" --conditions-from "$val" -o "$OUT/$fam/gen_val.h5" \
      --seed 1 --overwrite -q --batch-size 1000
  if [[ $CALIBRATE == 1 ]]; then
    echo "== calibrate $fam ($(date))"
    keep=(); [[ $LAYER_STAGE == true ]] && keep=(--keep-layers)
    levels=(); [[ $fam == gan3d ]] && levels=(--levels 65 --grid 256)
    "${CF[@]}" calibrate --checkpoint "$ckpt" --data "$train" -o "$OUT/$fam/calibrated.pt" \
        "${keep[@]}" "${levels[@]}" --batch-size 1000 --overwrite -q
    "${CF[@]}" generate --checkpoint "$OUT/$fam/calibrated.pt" --conditions-from "$val" \
        -o "$OUT/$fam/gen_val_calibrated.h5" --seed 1 --overwrite -q --batch-size 1000
    gens+=("$OUT/$fam/gen_val_calibrated.h5")
  fi
  echo "== quick metrics $fam ($(date))"
  "${PY[@]}" benchmarks/train_quick_metrics.py "$val" "${gens[@]}" \
    | tee "$OUT/$fam/quick_metrics.txt"
  echo "== evaluate $fam ($(date))"
  "${CF[@]}" evaluate "$val" "${gens[@]}" --out "$OUT/$fam/report" --overwrite \
      --training-log "$OUT/$fam/metrics.jsonl" \
    || echo "caloforge evaluate failed for $fam"
done
echo "== done ($(date))"

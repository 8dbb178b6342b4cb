#!/usr/bin/env bash
# The Fast Calorimeter Simulation Challenge's own evaluation (code/evaluate.py of
# github.com/CaloChallenge/homepage) beside `caloforge evaluate` on the same dataset-2 (or
# dataset-3) files: per candidate, the Challenge's histogram separation powers
# (`-m hist-chi`), then `caloforge evaluate` (observables only) with its default threshold
# and with the Challenge's 15.15 keV voxel threshold, then the comparison table
# (challenge_compare.py). The files are given to the Challenge's code as they are, then
# (unless SCALED=0) copies at the Challenge's energy scale (voxels / 0.033) are compared
# the same way.
#
#   CHALLENGE_CODE=DIR [OUT=dir] [DATASET=2|3] [MODE=hist-chi|hist] [SCALED=1|0] \
#     bash benchmarks/challenge_evaluate.sh REF.h5 CAND.h5 [CAND2.h5 ...]
#
# DIR: the Challenge's `code/` folder, a checkout of CaloChallenge/homepage, or its bare git
# directory (then the Python and XML files of `code/` at HEAD are exported with `git archive`
# into $OUT/challenge-code).
# Nothing is downloaded: fetch the repository beforehand. Its evaluate.py needs h5py,
# numpy, matplotlib, torch and scikit-learn (caloforge's `eval` extra);
# it asks matplotlib for LaTeX labels: without `latex` on PATH the script drops that one
# setting (see run_challenge). evaluate.py reads REF as its reference (`-r`) and each
# CAND as the generated file (`-i`); the reference is linked into each run folder so that
# its `.pkl` cache lands there, and a stale cache is removed first.
#
# Cost: about 3 CPU-minutes for a reference and three candidates of 600 dataset-2 showers at
# both scales, mostly evaluate.py laying out its figures (no classifier runs here).
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='CHALLENGE_CODE=DIR [OUT=dir] [DATASET=2|3] [MODE=hist-chi|hist] [SCALED=1|0] bash benchmarks/challenge_evaluate.sh REF.h5 CAND.h5 [CAND2.h5 ...]'
[[ $# -ge 2 ]] || usage "$USAGE"
need_files "$USAGE" "$@"
[[ -n ${CHALLENGE_CODE:-} ]] || { echo "error: CHALLENGE_CODE is not set; usage: $USAGE" >&2; exit 2; }
[[ -d $CHALLENGE_CODE ]] || { echo "error: CHALLENGE_CODE=$CHALLENGE_CODE: no such directory" >&2; exit 2; }
OUT=${OUT:-artifacts/benchmarks/challenge_evaluate}
DATASET=${DATASET:-2}
MODE=${MODE:-hist-chi}
[[ $MODE == hist-chi || $MODE == hist ]] \
  || { echo "error: MODE=$MODE: hist-chi or hist (the modes that write separation powers)" >&2; exit 2; }
# the Challenge's voxel threshold for datasets 2 and 3: 0.5 keV / 0.033 (its evaluate.py)
CHALLENGE_THRESHOLD=0.015151515151515152
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MPLBACKEND=Agg
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BENCH=$(cd "$(dirname "$0")" && pwd)

# the Challenge's code folder
if [[ -f $CHALLENGE_CODE/evaluate.py ]]; then
  CODE=$(cd "$CHALLENGE_CODE" && pwd)
elif [[ -f $CHALLENGE_CODE/code/evaluate.py ]]; then
  CODE=$(cd "$CHALLENGE_CODE/code" && pwd)
elif git --git-dir="$CHALLENGE_CODE" rev-parse --verify -q HEAD:code/evaluate.py >/dev/null 2>&1; then
  rm -rf "$OUT/challenge-code"
  mkdir -p "$OUT/challenge-code"
  # the Python files and binning XML files only (the notebooks are large and not needed)
  git --git-dir="$CHALLENGE_CODE" archive HEAD -- 'code/*.py' 'code/*.xml' \
    | tar -x -C "$OUT/challenge-code"
  git --git-dir="$CHALLENGE_CODE" rev-parse HEAD > "$OUT/challenge-code/COMMIT"
  CODE=$OUT/challenge-code/code
else
  echo "error: CHALLENGE_CODE=$CHALLENGE_CODE: holds neither evaluate.py, code/evaluate.py nor a git repository with code/evaluate.py" >&2
  exit 2
fi

# evaluate.py ARGS... in the current folder. It sets matplotlib's `text.usetex`, and even
# `hist-chi` lays its figures out (tight_layout renders the labels): without a LaTeX
# installation it runs with that one setting dropped (labels by matplotlib's mathtext); the
# histograms and separation powers are computed as they are.
run_challenge() {
  if command -v latex >/dev/null; then
    "${PY[@]}" evaluate.py "$@"
    return
  fi
  "${PY[@]}" - "$@" <<'PYEOF'
import os, runpy, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
_rc = plt.rc
def rc(group, **kwargs):
    if group == "text.latex":
        return None
    if group == "text":
        kwargs.pop("usetex", None)
    return _rc(group, **kwargs) if kwargs else None
plt.rc = rc
sys.path.insert(0, os.getcwd())
sys.argv = ["evaluate.py", *sys.argv[1:]]
runpy.run_path("evaluate.py", run_name="__main__")
PYEOF
}

# compare DIR REF CAND...: both evaluations and the table, under DIR
compare() {
  local dir=$1 ref
  ref=$(realpath "$2")
  shift 2
  local cand name run thr
  local tables=()
  mkdir -p "$dir"
  for cand in "$@"; do
    name=$(basename "${cand%.*}")
    run=$dir/challenge/$name
    mkdir -p "$run"
    ln -sfn "$ref" "$run/reference.h5"
    rm -f "$run/reference.pkl" "$run/histogram_chi2_$DATASET.txt"
    # evaluate.py opens binning_dataset_N.xml relative to the working directory
    (cd "$CODE" && run_challenge -i "$(realpath "$cand")" -r "$run/reference.h5" \
        -m "$MODE" -d "$DATASET" --output_dir "$run" --no_cuda) > "$run/evaluate.log" 2>&1 \
      || { echo "error: the Challenge's evaluate.py failed on $cand; see $run/evaluate.log" >&2; exit 1; }
    tables+=("$run/histogram_chi2_$DATASET.txt")
  done
  # caloforge evaluate, observables only: --classifier-max 10 keeps the classifier below its
  # minimum (skipped, warned), the only part that costs minutes
  for thr in 0 "$CHALLENGE_THRESHOLD"; do
    "${CF[@]}" evaluate "$ref" "$@" --out "$dir/caloforge_threshold_$thr" --threshold "$thr" \
      --classifier-max 10 --no-plots --quiet --overwrite > "$dir/caloforge_threshold_$thr.log" 2>&1
  done
  "${PY[@]}" "$BENCH/challenge_compare.py" "$ref" "$@" --challenge "${tables[@]}" \
      --caloforge "$dir/caloforge_threshold_0/metrics.json" \
      --caloforge-threshold "$dir/caloforge_threshold_$CHALLENGE_THRESHOLD/metrics.json" \
    | tee "$dir/comparison.md"
}

echo "## the files as written"
compare "$OUT/as_written" "$@"

# The same files at the Challenge's energy scale: voxels divided by 0.033 (its sampling
# fraction), copies written by caloforge's writer; there E_tot/E_inc falls in the
# Challenge's bins and its voxel threshold means 0.5 keV deposited, as it does on its data.
if [[ ${SCALED:-1} == 1 ]]; then
  COPIES=()
  for f in "$@"; do
    COPIES+=("$OUT/challenge_scale/files/$(basename "$f")")
  done
  "${PY[@]}" - "$OUT/challenge_scale/files" "$@" <<'PYEOF'
import sys
from pathlib import Path
from caloforge.data import ShowerFile, write_showers
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for path in map(Path, sys.argv[2:]):
    data = ShowerFile(path)
    write_showers(out / path.name, data.showers() / 0.033, data.conditions(), data.detector,
                  attrs={"showers_scale": 1 / 0.033, "scaled_from": str(path)}, overwrite=True)
PYEOF
  echo "## the same files, voxels divided by 0.033"
  compare "$OUT/challenge_scale" "${COPIES[@]}"
fi

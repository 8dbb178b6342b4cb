#!/usr/bin/env bash
# caloforge's Geant4 against the shared reference photons: simulate atlas-pblar photons
# (1-100 GeV log-uniform, the reference gun, seed 12345), then both classifier AUCs
# (`caloforge evaluate`) and E_vis/E_inc per energy bin (response_resolution.py). Run it
# again after any change of the simulation physics, tables or scoring.
#
#   REF=atlas-pblar_gamma_val.h5 [N=10000] [SCORING=replica|parallel] [OUT=dir] \
#     bash benchmarks/reference_check.sh
#
# N=10000 costs about 0.2 s of one core per shower (replica scoring; parallel about 1.9x),
# i.e. ~35 core-minutes on an idle machine. The simulation resumes when rerun.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='REF=atlas-pblar_gamma_val.h5 [N=10000] [SCORING=replica|parallel] [OUT=dir] bash benchmarks/reference_check.sh'
need_file REF "$USAGE"
N=${N:-10000}
SCORING=${SCORING:-replica}
OUT=${OUT:-artifacts/benchmarks/reference_check}
export OMP_NUM_THREADS=1
mkdir -p "$OUT"
SIM=$OUT/caloforge_gamma_${SCORING}_$N.h5
[[ -f $SIM ]] || "${CF[@]}" simulate -d atlas-pblar -p gamma -e loguniform:1GeV,100GeV \
    -n "$N" --seed 12345 --scoring "$SCORING" --workers "${WORKERS:-2}" -q -o "$SIM"
"${CF[@]}" evaluate "$REF" "$SIM" --out "$OUT/report_${SCORING}_$N" \
    --classifier-seeds "${CLASSIFIER_SEEDS:-1}" --overwrite
"${PY[@]}" - "$OUT/report_${SCORING}_$N/metrics.json" <<'PYEOF' | tee "$OUT/auc_${SCORING}_$N.md"
import json, sys
comparisons = json.load(open(sys.argv[1]))["comparisons"]
for name, c in comparisons.items():
    for kind, v in c["classifier"].items():
        print(f"{name}: {kind} AUC {v['auc']:.3f} +- {v['auc_err']:.3f} ({v['headline']})")
PYEOF
"${PY[@]}" "$(dirname "$0")/response_resolution.py" "$REF" "$SIM" \
    | tee "$OUT/response_${SCORING}_$N.md"

#!/usr/bin/env bash
# Geant4 training and validation data for gan3d: electrons and photons of 2-100 GeV on the
# lcd-cube preset (a 25 x 25 x 25 regular grid), the last VAL_N of each particle held out.
#
#   [N=10000] [VAL_N=1000] [WORKERS=1] [OUT=dir] bash benchmarks/simulate_lcd_cube.sh
#   TRAIN=$OUT/lcd-cube_train.h5 VAL=$OUT/lcd-cube_val.h5 FAMILIES=gan3d \
#     bash benchmarks/train_families.sh
#
# About 0.13 s per shower on an idle core (2 x 10,000 showers: 2 x 22 minutes). Rerunning
# resumes an interrupted simulation from its finished chunks.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
N=${N:-10000}
VAL_N=${VAL_N:-1000}
OUT=${OUT:-artifacts/benchmarks/lcd_cube}
[[ $VAL_N -lt $N ]] || usage "[N=10000] [VAL_N=1000 < N] [WORKERS=1] [OUT=dir] bash benchmarks/simulate_lcd_cube.sh"
mkdir -p "$OUT"
for particle in e- gamma; do
  "${CF[@]}" simulate --detector lcd-cube --particle "$particle" --energy loguniform:2GeV,100GeV \
      -n "$N" --seed 21 --workers "${WORKERS:-1}" -q -o "$OUT/lcd-cube_$particle.h5"
done
"${PY[@]}" - "$OUT" "$VAL_N" <<'EOF'
import sys
from pathlib import Path

import numpy as np

from caloforge.data import ShowerFile, write_showers
from caloforge.data.conditions import Conditions

out, n_val = Path(sys.argv[1]), int(sys.argv[2])
files = [ShowerFile(out / f"lcd-cube_{p}.h5") for p in ("e-", "gamma")]


def part(train: bool) -> tuple[np.ndarray, Conditions]:
    ranges = [(0, len(f) - n_val) if train else (len(f) - n_val, len(f)) for f in files]
    conds = [f.conditions(a, b) for f, (a, b) in zip(files, ranges)]
    cond = Conditions(*(np.concatenate([getattr(c, k) for c in conds])
                        for k in ("energy", "particle", "direction", "impact")))
    return np.concatenate([f.showers(a, b) for f, (a, b) in zip(files, ranges)]), cond


for name, train in (("train", True), ("val", False)):
    showers, cond = part(train)
    write_showers(out / f"lcd-cube_{name}.h5", showers, cond, files[0].detector, overwrite=True)
    print(f"{out}/lcd-cube_{name}.h5: {len(showers)} showers")
EOF

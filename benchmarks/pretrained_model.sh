#!/usr/bin/env bash
# Package a model stage of a finished recipe run as a pretrained model of caloforge:
# src/caloforge/pretrained/NAME/{model.pt, MODEL_CARD.md, manifest.json}
# (caloforge.pretrained.packaging.ship_model). model.pt is the stage's checkpoint for
# inference (EMA weights, no training state); the card and manifest are the run's, with the
# commands that made the model added.
#
#   [OVERWRITE=1] [MAX_MB=25] [DEST=dir] bash benchmarks/pretrained_model.sh RUN_DIR STAGE NAME
#
#   RUN_DIR   folder of a finished `caloforge recipe run` (manifest.json, MODEL_CARD.md)
#   STAGE     its train, distill, calibrate or refine stage to ship, e.g. student_ref
#   NAME      the name `caloforge generate --model NAME` takes, e.g. atlas-pblar-gamma
#   OVERWRITE 1 replaces an existing model of that name (refused otherwise)
#   MAX_MB    refuse a model.pt larger than this (default 25)
#   DEST      folder of pretrained models (default: src/caloforge/pretrained of this checkout)
set -euo pipefail
source "$(dirname "$0")/_common.sh"
USAGE='[OVERWRITE=1] [MAX_MB=25] [DEST=dir] bash benchmarks/pretrained_model.sh RUN_DIR STAGE NAME'
[[ $# -eq 3 ]] || usage "$USAGE"
[[ -d $1 ]] || { echo "error: $1: no such run folder" >&2; exit 2; }
DEST=${DEST:-$(dirname "$0")/../src/caloforge/pretrained}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
"${PY[@]}" - "$1" "$2" "$3" "$DEST" "${OVERWRITE:-0}" "${MAX_MB:-25}" \
  "benchmarks/pretrained_model.sh $*" <<'PYEOF'
import sys

from caloforge.pretrained.packaging import ship_model

run, stage, name, dest, overwrite, max_mb, command = sys.argv[1:]
try:
    folder = ship_model(run, stage, name, folder=dest, overwrite=overwrite == "1",
                        max_mb=float(max_mb), command=command)
except (ValueError, KeyError, FileExistsError) as exc:
    print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
    sys.exit(2)
print(f"wrote {folder}: model.pt, MODEL_CARD.md, manifest.json")
PYEOF

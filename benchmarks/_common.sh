# Sourced by the benchmark scripts: input checks and the commands they run.
# `caloforge` and `python` come from PATH (override with CALOFORGE=... / PYTHON=...);
# NICE sets the niceness of every job (default 10).

CF=(nice -n "${NICE:-10}" "${CALOFORGE:-caloforge}")
PY=(nice -n "${NICE:-10}" "${PYTHON:-python}")

# usage LINE: print the script's one-line usage and stop with exit code 2.
usage() {
  echo "usage: $1" >&2
  exit 2
}

# need_file VAR USAGE: the environment variable VAR must name an existing file.
need_file() {
  local value=${!1:-}
  [[ -n $value ]] || { echo "error: $1 is not set; usage: $2" >&2; exit 2; }
  [[ -f $value ]] || { echo "error: $1=$value: no such file" >&2; exit 2; }
}

# need_files USAGE PATH...: every path must be an existing file.
need_files() {
  local line=$1
  shift
  [[ $# -gt 0 && -n ${1:-} ]] || usage "$line"
  for f in "$@"; do
    [[ -f $f ]] || { echo "error: $f: no such file" >&2; exit 2; }
  done
}

#!/usr/bin/env bash
# The prepared GPU command (README "On a GPU machine"): install the carried wheels, then scripts/gpu_check.py.
#   bash scripts/gpu_check.sh [--rehearse] [--out DIR] [--budget-s S] [--sections a,b]
# Wheels: scripts/fetch_gpu_wheels.sh puts them in .whl/ of this checkout; they go to /tmp/asc-site, never into
# the machine's own environment. Output: DIR (default $OUT, else ./gpu_check_out) gets gpu_check.json,
# gpu_check.md and gpu_check.log, rewritten after every section.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu_check_out}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do [[ "${args[i]}" == "--out" ]] && out="${args[i + 1]}"; done
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's asc, not an installed one
if compgen -G ".whl/*.whl" >/dev/null && ! python3 -c "import hydra, omegaconf, librosa, soundfile" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/asc-site \
    .whl/*.whl || { echo "wheel install failed" | tee "$out/gpu_check.log"; exit 2; }
  export PYTHONPATH="/tmp/asc-site${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -c "import hydra, omegaconf, soundfile, librosa, asc" || { echo "imports failed" | tee -a "$out/gpu_check.log"; exit 2; }
python3 scripts/gpu_check.py --out "$out" "$@" 2>&1 | tee -a "$out/gpu_check.log"

#!/usr/bin/env bash
# The GPU check (nbhelpers/bench/gpu_check.py): the smoke profile on CUDA, then timed slices of
# the full profile's notebooks extrapolated to the whole run, into one JSON; under 8 minutes.
#   tools/gpu_check.sh [--out gpu_check.json] [--budget-s 400]
# Python: .venv's when ./run_all.sh built it, else $PYTHON or python3 (one with CUDA torch).
# Packages that Python lacks (papermill, nbconvert, ipykernel, ...) are installed offline from
# wheels in .whl/ when that folder exists, into a scratch folder (nothing else is changed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PYTHON=${PYTHON:-.venv/bin/python}; else PYTHON=${PYTHON:-python3}; fi
if [ -d .whl ] && ! "$PYTHON" -c 'import papermill, nbconvert, ipykernel, yaml' 2>/dev/null; then
  site="${TMPDIR:-/tmp}/nbhelpers-gpu-check-site"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" .whl/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # nbhelpers, also for the notebooks' kernels
exec "$PYTHON" -m nbhelpers.bench.gpu_check "$@"

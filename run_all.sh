#!/usr/bin/env bash
# One entry point for both jobs; `./run_all.sh --help` describes every option (argparse, in
# nbhelpers/batch/main.py: the one description of the command line):
#   ./run_all.sh [OPTIONS]             the batch: every notebook headless, HTML reports, an index
#   ./run_all.sh --test [PYTEST ARGS]  ruff, then the test suite
# This script only prepares the environment (.venv from requirements*.txt with nbhelpers
# installed editable, the git filter that strips notebook outputs) and hands every other
# argument over unchanged: to `python -m nbhelpers.batch`, run from where the user stands (a
# relative --reports-dir is relative to there), or to pytest.
set -euo pipefail
caller_dir=$PWD
repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo"
PYTHON=${PYTHON:-python3}

mode=batch
args=()
for arg in "$@"; do
  if [ "$arg" = --test ]; then mode=test; else args+=("$arg"); fi
done

# The help needs no set-up: shown at once where the environment can already show it.
if [ "$mode" = batch ] && [ -x .venv/bin/python ]; then
  for arg in "${args[@]}"; do
    case "$arg" in
      -h|--help) .venv/bin/python -m nbhelpers.batch --help 2>/dev/null && exit 0 ;;
    esac
  done
fi

# The environment: rebuilt when missing, or when the requirements, pyproject.toml or the Python changed.
stamp=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -c1-16)-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "==> setting up .venv (requirements or pyproject.toml changed, or missing; a few minutes the first time)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  # nbhelpers itself, editable (its code read from this checkout): importable from anywhere in
  # this environment, notebooks and tests included. Its dependencies are the pins just installed.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  # Earlier versions of this script made nbhelpers importable with a .pth file of their own.
  .venv/bin/python -c 'import pathlib, site; pathlib.Path(site.getsitepackages()[0], "nbhelpers-repo.pth").unlink(missing_ok=True)'
  echo "$stamp" > .venv/.requirements-stamp
fi
# Notebook outputs never reach a commit: git strips them on `git add` (nbstripout filter).
.venv/bin/python -c 'from nbhelpers.batch import kernel; kernel.install_output_filter()'

if [ "$mode" = test ]; then
  echo "==> ruff"
  .venv/bin/python -m ruff check nbhelpers tests notebooks
  echo "==> preparing data and metric assets"
  .venv/bin/python -m nbhelpers.data
  if .venv/bin/python -c 'import nbhelpers.fid' 2>/dev/null; then .venv/bin/python -m nbhelpers.fid --prepare; fi
  echo "==> running the tests"
  exec .venv/bin/python -m pytest "${args[@]}"
fi
cd "$caller_dir"
exec "$repo/.venv/bin/python" -m nbhelpers.batch "${args[@]}"

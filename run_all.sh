#!/usr/bin/env bash
# One entry point for both jobs (see README):
#   ./run_all.sh [--profile smoke|cpu|full|auto] [--seeds 0,1,2] [--only STEM]... [--set KEY=VALUE]... [--dry-run]
#   ./run_all.sh --test [PYTEST ARGS]...
# Either way it first makes sure .venv matches requirements*.txt, then (batch) runs every
# notebook headless and renders the reports, or (--test) prepares the assets and runs pytest.
set -euo pipefail
caller_dir=$PWD     # relative paths given by the user are relative to where they stand
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

usage() {
  cat <<'USAGE'
Usage:
  ./run_all.sh [OPTIONS]            run the report notebooks and render HTML reports
  ./run_all.sh --test [PYTEST ARGS] set up the same environment and run the test suite

Options for the batch run:
  --profile P      smoke | cpu | full | auto (default auto: full with CUDA, else cpu)
  --seeds LIST     training seeds, e.g. 0,1,2: every notebook runs once per seed (default: the
                   profile's seeds in params/<profile>/_all.yaml; adding a seed later keeps the others)
  --only STEM      run only this notebook, e.g. 02_controlvae (repeatable); the summary always runs last
  --set KEY=VALUE  override a parameter for this run; STEM.KEY=VALUE targets one notebook
                   (repeatable; values are YAML: 3, 0.5, true, [4, 8, 14])
  --reports-dir D  write reports under D instead of ./reports (relative to where you stand)
  --dry-run        every notebook with the profile's parameters but two batches per epoch and
                   small sample counts, for the first seed unless --seeds, into
                   reports/<profile>-dry-run/ (proves a profile runs; e.g. --profile full --dry-run)
  --fresh          retrain from scratch instead of resuming or reusing GAN checkpoints
  --jobs N         run up to N notebooks at once on this machine (default: one per CPU core
                   for runs on CPU, each on one thread; 1 on a GPU)
  --executor E     local (default) or slurm: each notebook run becomes a Slurm job
  --slurm-partition P, --slurm-gpus-per-job G, --slurm-time MINUTES, --slurm-account A
  -h, --help       this text

Outputs: reports/<profile>/seed<k>/<stem>.{ipynb,html,metrics.json,log} and <stem>/ (samples,
models) per seed, reports/<profile>/summary.html and index.html. Profiles and seeds never
overwrite each other.
Notebooks: 01_vae 02_controlvae 03_gan_pixelshuffle 04_wgan 05_ssgan 06_summary
USAGE
}

mode=batch
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --test) mode=test ;;
    --profile)
      [ $# -ge 2 ] || { echo "error: --profile needs a value" >&2; exit 2; }
      case "$2" in smoke|cpu|full|auto) ;; *) echo "error: unknown profile '$2'; expected smoke, cpu, full or auto" >&2; exit 2 ;; esac
      args+=("$1" "$2"); shift ;;
    --only)
      [ $# -ge 2 ] || { echo "error: --only needs a notebook name" >&2; exit 2; }
      [ -f "notebooks/$2.ipynb" ] || { echo "error: unknown notebook '$2'; available: $(cd notebooks && ls [0-9]*.ipynb | sed 's/\.ipynb//' | tr '\n' ' ')" >&2; exit 2; }
      args+=("$1" "$2"); shift ;;
    --dry-run|--fresh) args+=("$1") ;;
    --reports-dir)
      [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; }
      case "$2" in /*) args+=("$1" "$2") ;; *) args+=("$1" "$caller_dir/$2") ;; esac
      shift ;;
    --set|--seeds|--jobs|--executor|--slurm-partition|--slurm-gpus-per-job|--slurm-time|--slurm-account)
      [ $# -ge 2 ] || { echo "error: $1 needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift ;;
    *)
      if [ "$mode" = test ]; then args+=("$1"); else echo "error: unknown option '$1' (see --help)" >&2; exit 2; fi ;;
  esac
  shift
done

# The environment: rebuilt when missing, or when the requirements or the Python changed.
stamp=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements-stamp 2>/dev/null)" != "$stamp" ]; then
  echo "==> setting up .venv (requirements changed or missing; a few minutes the first time)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  # Make the repo's nbhelpers importable from anywhere in this environment (notebooks, tests).
  .venv/bin/python - <<'PY'
import pathlib, site
pathlib.Path(site.getsitepackages()[0], "nbhelpers-repo.pth").write_text(str(pathlib.Path.cwd()) + "\n")
PY
  echo "$stamp" > .venv/.requirements-stamp
fi
# Notebook outputs never reach a commit: git strips them on `git add` (nbstripout filter).
.venv/bin/python -c 'from nbhelpers.batch import main; main.install_output_filter()'

if [ "$mode" = test ]; then
  echo "==> preparing data and metric assets"
  .venv/bin/python -m nbhelpers.data
  if .venv/bin/python -c 'import nbhelpers.fid' 2>/dev/null; then .venv/bin/python -m nbhelpers.fid --prepare; fi
  echo "==> running the tests"
  exec .venv/bin/python -m pytest "${args[@]}"
fi
exec .venv/bin/python -m nbhelpers.batch "${args[@]}"

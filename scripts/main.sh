#!/usr/bin/env bash
# The main job: a miniF2F evaluation with the no-model "hammer" prover (heuristics + Sledgehammer).
#   bash scripts/main.sh [extra `subgoalxl eval` options, e.g. --split test --limit 20 --config run.toml]
# Data: $SUBGOALXL_DATA, else ../shared/datasets/minif2f beside this checkout (a miniF2F checkout:
# git clone https://github.com/facebookresearch/miniF2F). Isabelle: found, or installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled

data="${SUBGOALXL_DATA:-../shared/datasets/minif2f}"
if [ ! -d "$data/isabelle" ]; then
  echo "error: no miniF2F data at $data: git clone https://github.com/facebookresearch/miniF2F" \
       "and set SUBGOALXL_DATA=/path/to/miniF2F" >&2
  exit 2
fi

.venv/bin/subgoalxl doctor
if ! .venv/bin/python -c 'import sys; from isabelle_env.installation import isabelle_or_none; sys.exit(isabelle_or_none() is None)'; then
  echo "no Isabelle found: installing one (about 1 GB download, then the heap build)" >&2
  .venv/bin/subgoalxl isabelle install
fi
exec .venv/bin/subgoalxl eval --benchmark minif2f --data "$data" --split valid "$@"

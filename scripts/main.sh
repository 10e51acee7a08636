#!/usr/bin/env bash
# The main job. Until the miniF2F evaluation lands this checks the machine: `subgoalxl doctor`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/subgoalxl doctor "$@"

#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) with subgoalxl and its CPU ML stack installed; a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for candidate in "${PYTHON:-}" python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: subgoalxl needs Python >= 3.11; install it or set PYTHON=/path/to/python3.11" >&2
  return 1
}

stamp=".venv/.subgoalxl-installed"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/subgoalxl ]; then
  exit 0
fi
python="$(pick_python)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# CPU build of torch first: an open range would pull a multi-GB CUDA build (see pyproject's [ml] extra).
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[ml,test]"
echo "$want" > "$stamp"
echo "subgoalxl installed in .venv"

#!/usr/bin/env bash
# Creates .venv from the lock file (requirements-dev.txt) with a Python >= 3.12.
# Idempotent: skipped when the lock file has not changed since the last sync (hash stamp).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/secure_data_dir.sh  # data/ 0700, SQLite files 0600 (every run, even when the venv is current)

find_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.13 python3.12 python3)
  local root="${PYENV_ROOT:-$HOME/.pyenv}"
  for p in "$root"/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    [ -x "$p" ] && candidates+=("$p")
  done
  for c in "${candidates[@]}"; do
    # pyenv shims exist for versions that are not active and exit 127: each candidate must really run.
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
      command -v "$c" 2>/dev/null || echo "$c"
      return 0
    fi
  done
  return 1
}

LOCK=requirements-dev.txt
STAMP=.venv/.centralita-lock-stamp
want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [ -x .venv/bin/python ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

PY="$(find_python)" || {
  echo "centralita: Python >= 3.12 is required (Django 6). Install it, e.g. 'pyenv install 3.12' or 'apt-get install python3.12 python3.12-venv', or set PYTHON=/path/to/python3.12." >&2
  exit 1
}
echo "centralita: setting up .venv with $("$PY" --version) ($PY)"

export UV_COMPILE_BYTECODE=1  # PYTHONDONTWRITEBYTECODE is set on these machines; compile once at install
if [ ! -x .tools/bin/uv ]; then
  "$PY" -m venv .tools >/dev/null && .tools/bin/pip install -q --disable-pip-version-check uv==0.13.8 >/dev/null 2>&1 || true
fi
if [ -x .tools/bin/uv ]; then
  [ -x .venv/bin/python ] || .tools/bin/uv venv -q -p "$PY" .venv
  .tools/bin/uv pip sync -q -p .venv/bin/python "$LOCK"
else
  echo "centralita: uv unavailable, falling back to pip (slower)" >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r "$LOCK"
  .venv/bin/python -m compileall -q .venv/lib >/dev/null 2>&1 || true
fi
echo "$want" > "$STAMP"

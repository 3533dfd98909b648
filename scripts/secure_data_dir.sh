#!/usr/bin/env bash
# Owner-only permissions for the data folder (DATA_DIR, default data/): the folder 0700, SQLite files 0600.
# It holds the database (customers' data, encrypted vendor secrets), logs and attachments. Run by bootstrap.sh
# before every `make run`; the app does the same when it starts and opens SQLite (core/fileperms.py).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${DATA_DIR:-data}"
mkdir -p "$dir"
# Someone else's folder (a mounted volume) cannot be changed: say so, and let the owner decide.
chmod 700 "$dir" 2>/dev/null || echo "centralita: warning: could not make $dir owner-only (chmod 700)" >&2
shopt -s nullglob
for f in "$dir"/*.sqlite3 "$dir"/*.sqlite3-wal "$dir"/*.sqlite3-shm "$dir"/*.sqlite3-journal; do
  chmod 600 "$f" 2>/dev/null || echo "centralita: warning: could not make $f owner-only (chmod 600)" >&2
done

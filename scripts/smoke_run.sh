#!/usr/bin/env bash
# Smoke test of `make run` from a fresh clone: it must set itself up, seed demo data, serve HTTP and
# websockets with a worker and a scheduler, restart a worker killed with SIGKILL, and stop everything cleanly on
# Ctrl-C (SIGINT).
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/centralita-smoke.XXXXXX)"
port="${SMOKE_PORT:-8765}"
git clone -q "$src" "$work/app"
cd "$work/app"
export DEBUG=1
env -u DATABASE_URL -u REDIS_URL PORT="$port" setsid make run > "$work/run.log" 2>&1 &
runner=$!
ok=0
# A fresh clone sets up its venv, migrates and seeds the demo before it serves: on a busy CI machine that takes
# minutes, so the wait is bounded generously (5 min) and ends early only when `make run` itself has exited.
for _ in $(seq 1 750); do
  if curl -fsS "http://127.0.0.1:$port/readyz" > "$work/readyz.json" 2>/dev/null; then ok=1; break; fi
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.4
done
fail() { echo "smoke: FAIL: $*"; cat "$work/run.log"; kill -INT -- -"$runner" 2>/dev/null || true; exit 1; }
[ "$ok" = 1 ] || fail "readyz never answered (make run exited, or 5 minutes passed)"
grep -q '"status": "ok"' "$work/readyz.json" || fail "readyz not ok: $(cat "$work/readyz.json")"
curl -fsS "http://127.0.0.1:$port/login/" | grep -q "Centralita" || fail "login page"
grep -q "agente1" "$work/run.log" || fail "demo logins not printed"
.venv/bin/python manage.py shell -v 0 -c 'from accounts.models import User; import sys; sys.exit(0 if User.objects.filter(username="admin", role="admin").exists() and User.objects.filter(username="agente1").exists() else 1)' \
  || fail "demo data was not loaded"
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$work/cookies" -b "$work/cookies" "http://127.0.0.1:$port/login/")
[ "$code" = 200 ] || fail "login page answered $code"
# the worker must run the scheduler's queue probe within a few seconds (scheduler → queue → worker)
for _ in $(seq 1 40); do
  if [ "$(.venv/bin/python manage.py shell -v 0 -c 'from core.models import Heartbeat; print(Heartbeat.objects.filter(process="queue").exists())' 2>/dev/null)" = "True" ]; then break; fi
  sleep 0.5
done
  .venv/bin/python manage.py shell -v 0 -c 'from core.models import Heartbeat; import sys; sys.exit(0 if Heartbeat.objects.filter(process="queue").exists() and Heartbeat.objects.filter(kind="worker", state="running").exists() else 1)' \
  || fail "the worker never ran the queue probe, or wrote no heartbeat of its own"
# a killed worker is restarted by the supervisor, and the web server keeps answering meanwhile
worker_pid() { sed -n 's/.* worker started (pid \([0-9]*\)).*/\1/p' data/supervisor.log | tail -1; }
first_worker="$(worker_pid)"
[ -n "$first_worker" ] || fail "no worker pid in data/supervisor.log"
kill -9 "$first_worker"
for _ in $(seq 1 60); do
  [ "$(worker_pid)" != "$first_worker" ] && kill -0 "$(worker_pid)" 2>/dev/null && break
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "the web server stopped answering after the worker was killed"
  sleep 0.5
done
[ "$(worker_pid)" != "$first_worker" ] || fail "the killed worker was not restarted"
grep -q "centralita: worker exited (code 137, SIGKILL), restarting in" "$work/run.log" || fail "no restart line on the terminal"
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || fail "readyz after the worker restart"
kill -INT -- -"$runner"
for _ in $(seq 1 50); do kill -0 "$runner" 2>/dev/null || break; sleep 0.2; done
kill -0 "$runner" 2>/dev/null && fail "make run did not stop on Ctrl-C"
for pid in $(pgrep -f "manage.py|daphne|fakes\.|core\.supervisor" || true); do
  if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$work/app" ]; then fail "process left behind: $(ps -o args= -p "$pid")"; fi
done
grep -q "centralita: stopped." "$work/run.log" || fail "no clean stop message"
echo "smoke: OK — make run served /readyz, /login/, ran the queue probe, restarted a killed worker and stopped cleanly (log: $work/run.log)"
rm -rf "$work"

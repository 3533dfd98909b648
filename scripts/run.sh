#!/usr/bin/env bash
# `make run`: one machine, everything a user needs — migrate, demo data on an empty database,
# the ASGI server (HTTP + websockets), the background worker and the periodic-job scheduler.
# core/supervisor.py starts them in order and keeps them running: a process that crashes or is killed is
# restarted with backoff (one line here and in data/supervisor.log), never the whole stack. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
# CENTRALITA_BOOTSTRAP=0: the venv is known to be current (the tests that start this script run inside it).
[ "${CENTRALITA_BOOTSTRAP:-1}" = "0" ] || scripts/bootstrap.sh

export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://$HOST:$PORT}"
if [ "$HOST" != "127.0.0.1" ] && [ "$HOST" != "localhost" ] && [ -z "${ALLOWED_HOSTS:-}" ]; then
  export ALLOWED_HOSTS="$HOST,127.0.0.1,localhost"
fi
# Everything a run writes (SQLite database, logs, the fake vendors' state) goes under DATA_DIR (default data/).
export DATA_DIR="${DATA_DIR:-$PWD/data}"
D="$DATA_DIR"
PY=.venv/bin/python
SUP=("$PY" -m core.supervisor)
mkdir -p "$D"
# One `make run` per data folder: a second would share its database and truncate its logs.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$D/run.lock"
  flock -n 9 || { echo "centralita: another 'make run' is already using $D — stop it first (or give this one its own DATA_DIR)." >&2; exit 1; }
fi
# The web port is the address users and webhooks know: never moved silently.
"${SUP[@]}" port-check --host "$HOST" "$PORT" || {
  echo "centralita: port $PORT on $HOST is already in use (another 'make run'?) — stop that program, or choose another port: PORT=8001 make run" >&2
  exit 1
}
# The terminal is for the banner, warnings and errors. Background chatter (each task the worker runs, each
# job the scheduler enqueues, HTTP access, the fake vendors) goes to data/*.log, fresh on every start.
export LOG_CONSOLE_LEVEL="${LOG_CONSOLE_LEVEL:-WARNING}"
for log in web access worker scheduler fake-kommo fake-whatsapp fake-sms supervisor; do : > "$D/$log.log"; done

units=()
unit() { units+=("$@" ";"); }  # one supervised unit: service|task NAME [options] -- command…
notes=""
# Demo Kommo: unless a real Kommo is configured (KOMMO_BASE_URL), a local fake Kommo that speaks the real
# API and webhooks stands in, so the call-center queue can be tried end to end (Administración → Kommo → "Simular un lead").
# The fakes are ours alone: when their port is taken (a second `make run`, another program) they move to a free one.
KOMMO_URL=""
if [ -z "${KOMMO_BASE_URL:-}" ] && [ "${KOMMO_DEMO:-1}" = "1" ]; then
  export KOMMO_DEMO=1
  wanted="${KOMMO_PORT:-8011}"
  KOMMO_PORT="$("${SUP[@]}" free-port "$wanted")"
  [ "$KOMMO_PORT" = "$wanted" ] || notes+="  Port $wanted was taken: the demo Kommo listens on $KOMMO_PORT."$'\n'
  KOMMO_URL="http://127.0.0.1:$KOMMO_PORT"
  unit service fake-kommo --out "$D/fake-kommo.log" --err out --listen "$KOMMO_PORT" --ready "$KOMMO_URL/_fake/health" -- \
      "$PY" -m fakes.kommo --host 127.0.0.1 --port "$KOMMO_PORT" --subdomain demo --token demo-kommo-token \
      --state-file "$D/fake-kommo.json"
fi
# Demo WhatsApp: unless a real Graph API is configured (WHATSAPP_BASE_URL), a local fake Cloud API stands in: replies
# go to it, its status webhooks tick them, and "Simular mensaje de WhatsApp" (Administración → WhatsApp) makes a
# customer write. The demo credentials are the ones `manage.py demo_setup` connects with.
WHATSAPP_URL=""
WHATSAPP_DEMO_NUMBER=106540352242922
if [ -z "${WHATSAPP_BASE_URL:-}" ] && [ "${WHATSAPP_DEMO:-1}" = "1" ]; then
  export WHATSAPP_DEMO=1
  wanted="${WHATSAPP_PORT:-8012}"
  WHATSAPP_PORT="$("${SUP[@]}" free-port "$wanted")"
  [ "$WHATSAPP_PORT" = "$wanted" ] || notes+="  Port $wanted was taken: the demo WhatsApp listens on $WHATSAPP_PORT."$'\n'
  WHATSAPP_URL="http://127.0.0.1:$WHATSAPP_PORT"
  unit service fake-whatsapp --out "$D/fake-whatsapp.log" --err out --listen "$WHATSAPP_PORT" \
      --ready "$WHATSAPP_URL/_fake/health" -- \
      "$PY" -m fakes.whatsapp --host 127.0.0.1 --port "$WHATSAPP_PORT" --token demo-whatsapp-token \
      --app-secret demo-whatsapp-app-secret --phone-number-id "$WHATSAPP_DEMO_NUMBER" --auto-status sent,delivered,read \
      --webhook-url "$SITE_URL/integrations/whatsapp/webhook/$WHATSAPP_DEMO_NUMBER/"
fi
# Demo SMS (SMS_DEMO=0 turns it off): a local fake Twilio Programmable Messaging API. Replies go to it, its signed
# status callbacks tick them, and "Simular SMS entrante" (Administración → SMS) makes a customer text. The demo
# account (its SID and token below) is connected by `manage.py demo_setup`, which also tells the fake where our
# inbound webhook is.
SMS_URL=""
if [ "${SMS_DEMO:-1}" = "1" ]; then
  export SMS_DEMO=1
  wanted="${SMS_PORT:-8013}"
  SMS_PORT="$("${SUP[@]}" free-port "$wanted")"
  [ "$SMS_PORT" = "$wanted" ] || notes+="  Port $wanted was taken: the demo SMS (Twilio) listens on $SMS_PORT."$'\n'
  SMS_URL="http://127.0.0.1:$SMS_PORT"
  unit service fake-sms --out "$D/fake-sms.log" --err out --listen "$SMS_PORT" --ready "$SMS_URL/_fake/health" -- \
      "$PY" -m fakes.sms --host 127.0.0.1 --port "$SMS_PORT" --account-sid ACc0ffeec0ffeec0ffeec0ffeec0ffee00 \
      --auth-token demo-sms-auth-token --phone-number +15005550006 --auto-status sent,delivered
fi

unit task migrate -- "$PY" manage.py migrate --noinput -v0
# Demo data on an empty database; the demo Kommo/WhatsApp connected, or re-pointed when the fakes' port changed.
unit task demo-setup -- "$PY" manage.py demo_setup --kommo-url "$KOMMO_URL" --whatsapp-url "$WHATSAPP_URL" \
    --sms-url "$SMS_URL"

# run_worker: db_worker (retried when the database is locked), or with REDIS_URL an RQ worker riding out outages.
WORKER=("$PY" manage.py run_worker --queue-name '*' --interval 0.5)
unit service worker --out "$D/worker.log" --env "LOG_FILE=$D/worker.log" -- "${WORKER[@]}"
unit service scheduler --out "$D/scheduler.log" --env "LOG_FILE=$D/scheduler.log" -- "$PY" manage.py run_scheduler
unit service web --out "$D/web.log" --env "LOG_FILE=$D/web.log" --listen "$PORT" --ready "http://$HOST:$PORT/healthz" \
    --ready-timeout 60 -- \
    env ACCESS_LOG_FILE="$D/access.log" .venv/bin/daphne -b "$HOST" -p "$PORT" -v 0 config.asgi:application  # access log: core.access_log (no secret paths), not daphne's

BANNER="
  Centralita is running at  http://$HOST:$PORT
  Demo users (password for all: centralita2026):
    admin (Administrador) · gerente (Gerente general) · supervisora (Supervisora)
    director (Director de ventas) · analista (Analista de datos) · agente1 … agente8 (Agentes)
  Web chat demo (be the visitor there, answer in the inbox):  http://$HOST:$PORT/webchat/demo/
  WhatsApp demo (a customer writes): log in as admin → Administración → WhatsApp → \"Simular mensaje de WhatsApp\"
  SMS demo (a customer texts):        log in as admin → Administración → SMS → \"Simular SMS entrante\"
  Kommo demo (a new lead to call):    log in as admin → Administración → Kommo → \"Simular un lead\"
${notes}  Logs (tasks, scheduler, HTTP access, fake vendors, restarts): $D/*.log — e.g. tail -f $D/worker.log
  Only warnings and errors appear below. A process that stops is restarted (a line here says so).
  Press Ctrl-C to stop the server, the worker and the scheduler.
"
exec "${SUP[@]}" run --log "$D/supervisor.log" --banner "$BANNER" "${units[@]}"

#!/usr/bin/env bash
# `make run`: one machine, everything a user needs — migrate, demo data on an empty database,
# the ASGI server (HTTP + websockets), the background worker and the periodic-job scheduler.
# Ctrl-C stops all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
export SITE_URL="${SITE_URL:-http://$HOST:$PORT}"
if [ "$HOST" != "127.0.0.1" ] && [ "$HOST" != "localhost" ] && [ -z "${ALLOWED_HOSTS:-}" ]; then
  export ALLOWED_HOSTS="$HOST,127.0.0.1,localhost"
fi
PY=.venv/bin/python
mkdir -p data
# The terminal is for the banner, warnings and errors. Background chatter (each task the worker runs, each
# job the scheduler enqueues, HTTP access, the fake vendors) goes to data/*.log, fresh on every start.
export LOG_CONSOLE_LEVEL="${LOG_CONSOLE_LEVEL:-WARNING}"
LOGS=(data/web.log data/access.log data/worker.log data/scheduler.log data/fake-kommo.log data/fake-whatsapp.log)
for log in "${LOGS[@]}"; do : > "$log"; done

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo; echo "centralita: stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "centralita: stopped."
}
trap cleanup INT TERM EXIT
# Demo Kommo: unless a real Kommo is configured (KOMMO_BASE_URL), a local fake Kommo that speaks the real
# API and webhooks stands in, so the call-center queue can be tried end to end (Administración → Kommo → "Simular un lead").
if [ -z "${KOMMO_BASE_URL:-}" ] && [ "${KOMMO_DEMO:-1}" = "1" ]; then
  export KOMMO_DEMO=1
  KOMMO_PORT="${KOMMO_PORT:-8011}"
  $PY -m fakes.kommo --host 127.0.0.1 --port "$KOMMO_PORT" --subdomain demo --token demo-kommo-token \
      --state-file data/fake-kommo.json >>data/fake-kommo.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$KOMMO_PORT/_fake/health" >/dev/null 2>&1 && break; sleep 0.1; done
fi
# Demo WhatsApp: unless a real Graph API is configured (WHATSAPP_BASE_URL), a local fake Cloud API stands in: replies
# go to it, its status webhooks tick them, and "Simular mensaje de WhatsApp" (Administración → WhatsApp) makes a
# customer write.
WHATSAPP_DEMO_NUMBER=106540352242922
if [ -z "${WHATSAPP_BASE_URL:-}" ] && [ "${WHATSAPP_DEMO:-1}" = "1" ]; then
  export WHATSAPP_DEMO=1
  WHATSAPP_PORT="${WHATSAPP_PORT:-8012}"
  $PY -m fakes.whatsapp --host 127.0.0.1 --port "$WHATSAPP_PORT" --token demo-whatsapp-token \
      --app-secret demo-whatsapp-app-secret --phone-number-id "$WHATSAPP_DEMO_NUMBER" --auto-status sent,delivered,read \
      --webhook-url "$SITE_URL/integrations/whatsapp/webhook/$WHATSAPP_DEMO_NUMBER/" >>data/fake-whatsapp.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$WHATSAPP_PORT/_fake/health" >/dev/null 2>&1 && break; sleep 0.1; done
fi

$PY manage.py migrate --noinput -v0
if [ "$($PY manage.py shell -v 0 -c 'from accounts.models import User; print(User.objects.exists())')" = "False" ]; then
  if [ "${KOMMO_DEMO:-}" = "1" ]; then
    $PY manage.py kommo_connect --subdomain demo --token demo-kommo-token --base-url "http://127.0.0.1:$KOMMO_PORT" \
        --to-call-stage "Para Llamar" --confirmed-stage "Venta Confirmada" --register-webhook
  fi
  echo "centralita: empty database, loading demo data (seed_demo --seed 1)…"
  $PY manage.py seed_demo --seed 1
fi
# After the demo data: its "whatsapp" conversations were not written through a number, so no window applies to them.
if [ "${WHATSAPP_DEMO:-}" = "1" ] && [ "$($PY manage.py shell -v 0 -c 'from connectors.whatsapp.models import WhatsappNumber; print(WhatsappNumber.objects.exists())')" = "False" ]; then
  $PY manage.py whatsapp_connect --phone-number-id "$WHATSAPP_DEMO_NUMBER" --waba-id 102290129340398 \
      --token demo-whatsapp-token --app-secret demo-whatsapp-app-secret --verify-token demo-verify-token \
      --base-url "http://127.0.0.1:$WHATSAPP_PORT"
fi


if [ -n "${REDIS_URL:-}" ] && [ "${TASK_BACKEND:-rq}" = "rq" ]; then
  LOG_FILE=data/worker.log $PY manage.py rqworker default crm messaging --job-class django_tasks_rq.Job \
      --worker-class rq.worker.SimpleWorker --with-scheduler >>data/worker.log &
else
  LOG_FILE=data/worker.log $PY manage.py db_worker --queue-name '*' --no-reload --interval 0.5 >>data/worker.log &
fi
pids+=($!)
LOG_FILE=data/scheduler.log $PY manage.py run_scheduler >>data/scheduler.log &
pids+=($!)
LOG_FILE=data/web.log .venv/bin/daphne -b "$HOST" -p "$PORT" --access-log data/access.log \
    config.asgi:application >>data/web.log &
pids+=($!)

for _ in $(seq 1 100); do
  if curl -fsS "http://$HOST:$PORT/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
cat <<MSG

  Centralita is running at  http://$HOST:$PORT
  Demo users (password for all: centralita2026):
    admin (Administrador) · gerente (Gerente general) · supervisora (Supervisora)
    director (Director de ventas) · analista (Analista de datos) · agente1 … agente8 (Agentes)
  Web chat demo (be the visitor there, answer in the inbox):  http://$HOST:$PORT/webchat/demo/
  WhatsApp demo (a customer writes): log in as admin → Administración → WhatsApp → "Simular mensaje de WhatsApp"
  Kommo demo (a new lead to call):    log in as admin → Administración → Kommo → "Simular un lead"
  Logs (tasks, scheduler, HTTP access, fake vendors): data/*.log — e.g. tail -f data/worker.log
  Only warnings and errors appear below. Press Ctrl-C to stop the server, the worker and the scheduler.

MSG
wait -n "${pids[@]}" || true

#!/usr/bin/env bash
# The container files as CI can check them (docs/deployment.md, "Docker Compose"):
#   1. deploy/compose.yaml is valid (`docker compose config -q`), where the compose plugin exists;
#   2. the image builds from deploy/Dockerfile (tag centralita:ci) and its Django project loads, where a Docker
#      engine answers.
# Each part that cannot run here prints "skipped: …" and does not fail the script. A build that fails or takes
# longer than DOCKER_CHECK_TIMEOUT seconds (default 900) fails it, saying whether the package registries were
# unreachable.
set -uo pipefail
cd "$(dirname "$0")/.."
timeout_s="${DOCKER_CHECK_TIMEOUT:-900}"
log="$(mktemp /tmp/centralita-docker-check.XXXXXX)"
trap 'rm -f "$log"' EXIT
status=0

# Dummy values: compose refuses to render the file without them; nothing is started with them.
export SECRET_KEY="docker-check-not-a-secret-docker-check-not-a-secret"
export FIELD_ENCRYPTION_KEY="ZG9ja2VyLWNoZWNrLW5vdC1hLWtleS0xMjM0NTY3ODk="
export SITE_URL="https://centralita.example.com"

if ! command -v docker >/dev/null 2>&1; then
  echo "docker-check: skipped: the docker command is not installed (compose validation and image build)"
  exit 0
fi

# 1. Compose file
if docker compose version >/dev/null 2>&1; then
  if docker compose -f deploy/compose.yaml config -q; then
    echo "docker-check: deploy/compose.yaml: valid ($(docker compose version --short 2>/dev/null))"
  else
    echo "docker-check: FAIL: docker compose -f deploy/compose.yaml config -q"
    status=1
  fi
elif command -v docker-compose >/dev/null 2>&1; then
  # The older standalone docker-compose (Debian's package) checks the same file against its own schema.
  if docker-compose -f deploy/compose.yaml config -q; then
    echo "docker-check: deploy/compose.yaml: valid (standalone $(docker-compose version --short 2>/dev/null))"
  else
    echo "docker-check: FAIL: docker-compose -f deploy/compose.yaml config -q"
    status=1
  fi
else
  echo "docker-check: skipped: neither the docker compose plugin nor docker-compose is installed (compose file not validated)"
fi

# 2. Image
if ! timeout 20 docker info >/dev/null 2>&1; then
  echo "docker-check: skipped: no Docker engine answers (image not built)"
  exit $status
fi
echo "docker-check: building centralita:ci from deploy/Dockerfile (timeout ${timeout_s} s)…"
timeout "$timeout_s" docker build -f deploy/Dockerfile -t centralita:ci . >"$log" 2>&1
rc=$?
if [ "$rc" = 124 ]; then
  echo "docker-check: FAIL: the image build took longer than ${timeout_s} s; last lines:"
  tail -n 20 "$log"
  exit 1
elif [ "$rc" != 0 ]; then
  if grep -qiE "Temporary failure in name resolution|Could not resolve|NewConnectionError|Failed to establish a new connection|Network is unreachable|Connection timed out|ConnectTimeout|ReadTimeout|No matching distribution found" "$log"; then
    echo "docker-check: FAIL: the image build could not reach the package registries (PyPI or Debian) from the build container; last lines:"
  else
    echo "docker-check: FAIL: docker build -f deploy/Dockerfile; last lines:"
  fi
  tail -n 30 "$log"
  exit 1
fi
echo "docker-check: image centralita:ci built"
# The image loads the project, and .dockerignore kept the local folders out of it.
if docker run --rm -e DEBUG=1 centralita:ci sh -c \
     'python manage.py check >/dev/null && for p in .git .venv .tools node_modules data/centralita.sqlite3; do
        if [ -e "$p" ]; then echo "docker-check: $p is in the image (.dockerignore)"; exit 1; fi; done'; then
  echo "docker-check: image loads the project (manage.py check) and holds no .git, .venv, .tools or data"
else
  echo "docker-check: FAIL: the image does not load the project, or .dockerignore let local folders in"
  status=1
fi
exit $status

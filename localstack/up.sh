#!/usr/bin/env bash
# Brings up the LocalStack-compatible AWS endpoint on 127.0.0.1:4566 and waits until it answers.
#   1. LocalStack itself, when a Docker engine runs and LOCALSTACK_AUTH_TOKEN is set (ELBv2 is a
#      paid LocalStack feature, so the token is required);
#   2. otherwise moto's server (pinned in requirements.txt) in an ignored virtualenv.
# Idempotent: an endpoint already answering is reused.
set -euo pipefail
cd "$(dirname "$0")"
PORT="${LOCALSTACK_PORT:-4566}"
URL="http://127.0.0.1:${PORT}"
RUN=.run
mkdir -p "$RUN"

answering() { curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; }

if answering "$URL/moto-api/" || answering "$URL/_localstack/health"; then
  echo "AWS endpoint already answering on $URL"
  exit 0
fi

if [[ -n "${LOCALSTACK_AUTH_TOKEN:-}" ]] && docker info >/dev/null 2>&1; then
  echo "starting LocalStack (docker compose) on $URL"
  docker compose -f docker-compose.yml up -d
  echo docker > "$RUN/engine"
  ready="$URL/_localstack/health"
else
  if [[ ! -x .venv/bin/moto_server ]] || ! cmp -s requirements.txt .venv/requirements.txt; then
    echo "installing the AWS emulator (moto) into localstack/.venv"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/requirements.txt
  fi
  echo "starting moto server on $URL"
  # Requested certificates stay PENDING_VALIDATION this long, then become ISSUED.
  export MOTO_ACM_VALIDATION_WAIT="${MOTO_ACM_VALIDATION_WAIT:-15}"
  nohup .venv/bin/moto_server -H 127.0.0.1 -p "$PORT" > "$RUN/moto.log" 2>&1 &
  echo $! > "$RUN/moto.pid"
  echo moto > "$RUN/engine"
  ready="$URL/moto-api/"
fi

for _ in $(seq 1 120); do
  if answering "$ready"; then
    echo "AWS endpoint ready on $URL ($(cat "$RUN/engine"))"
    exit 0
  fi
  sleep 0.5
done
echo "AWS endpoint did not become ready on $URL within 60s" >&2
[[ -f "$RUN/moto.log" ]] && tail -20 "$RUN/moto.log" >&2
exit 1

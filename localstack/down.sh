#!/usr/bin/env bash
# Stops the AWS endpoint that up.sh started (and only that one).
set -uo pipefail
cd "$(dirname "$0")"
RUN=.run
case "$(cat "$RUN/engine" 2>/dev/null)" in
  docker) docker compose -f docker-compose.yml down >/dev/null 2>&1 ;;
  moto)
    if [[ -f "$RUN/moto.pid" ]]; then
      kill "$(cat "$RUN/moto.pid")" 2>/dev/null
      for _ in $(seq 1 20); do kill -0 "$(cat "$RUN/moto.pid")" 2>/dev/null || break; sleep 0.25; done
    fi ;;
esac
rm -f "$RUN/engine" "$RUN/moto.pid"
exit 0

#!/usr/bin/env bash
# Container health check of a tokenpipe service, without curl or wget:
#
#   healthcheck.sh PORT [PATH]
#
# Sends GET PATH (default /health) to 127.0.0.1:PORT with bash's /dev/tcp and succeeds only on a
# 200 answer. Each service answers /health with 200 when it is up and 503 while it is not.
set -uo pipefail

port=${1:?usage: healthcheck.sh PORT [PATH]}
path=${2:-/health}
timeout_seconds=${HEALTHCHECK_TIMEOUT_SECONDS:-5}

if ! { exec 3<>"/dev/tcp/127.0.0.1/${port}"; } 2>/dev/null; then
  echo "healthcheck: nothing listens on port ${port}" >&2
  exit 1
fi
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3

status=""
if ! IFS= read -r -t "$timeout_seconds" status <&3; then
  echo "healthcheck: no answer on port ${port} within ${timeout_seconds}s" >&2
  exit 1
fi
status=${status%$'\r'}
exec 3<&- 3>&-

if [[ $status =~ ^HTTP/[0-9.]+\ 200([^0-9]|$) ]]; then
  exit 0
fi
echo "healthcheck: GET ${path} on port ${port} answered: ${status:-nothing}" >&2
exit 1

#!/usr/bin/env bash
# Entry point of the tokenpipe image: runs one service from the shaded jar.
#
#   entrypoint.sh [standalone|ingest-api|inference-worker|delivery-sse] [args...]
#
# Any other command (e.g. `bash`) is run as is, so `docker run -it tokenpipe:local bash` works.
# JVM options come from JAVA_OPTS. Every service setting comes from the environment; see the
# README's configuration table and docs/deployment.md.
set -euo pipefail

readonly JAR=/app/tokenpipe.jar
readonly DEFAULT_JAVA_OPTS="-XX:MaxRAMPercentage=75 -XX:+UseG1GC --enable-native-access=ALL-UNNAMED"

usage() {
  cat >&2 <<'EOF'
usage: entrypoint.sh <service> [args...]

services:
  standalone         the whole stack in one JVM on an embedded Kafka broker (port 8080)
  ingest-api         accepts sessions and turns (INGEST_HTTP_PORT, default 8081)
  inference-worker   runs turns; scale it out (health on WORKER_HTTP_PORT, default 8083)
  delivery-sse       streams turn events over SSE and serves the web page (DELIVERY_HTTP_PORT, default 8082)

Any other command is executed as is. JVM options: JAVA_OPTS
(default: -XX:MaxRAMPercentage=75 -XX:+UseG1GC --enable-native-access=ALL-UNNAMED).
EOF
}

# The session index (run by ingest-api and delivery-sse, and the standalone stack) tells other nodes
# to reach it at ADVERTISED_HOST. Replicas of a scaled compose service share one configuration, so
# the address is found here, at run time: the container's own IP address (an IPv4 one when there is
# one), which every container on the network can reach. Set ADVERTISED_HOST to override it.
advertise_container_address() {
  if [ -n "${ADVERTISED_HOST:-}" ]; then
    return 0
  fi
  local addresses="" address="" candidate
  addresses=$(hostname -i 2>/dev/null || true)
  if [ -z "$addresses" ]; then
    addresses=$(getent hosts "$(hostname 2>/dev/null || echo "${HOSTNAME:-}")" 2>/dev/null | awk '{print $1}' || true)
  fi
  for candidate in $addresses; do
    case $candidate in
      *:*) [ -n "$address" ] || address=$candidate ;; # IPv6: only when there is no IPv4 address
      127.*) ;;                                        # loopback: useless to other containers
      *) address=$candidate; break ;;
    esac
  done
  case $address in
    *:*) address="" ;; # application.server is host:port; a bare IPv6 address cannot be written there
  esac
  export ADVERTISED_HOST="${address:-${HOSTNAME:-localhost}}"
}

run_java() {
  local main_class=$1
  shift
  local java_opts=()
  # Word splitting on purpose: JAVA_OPTS is a space-separated list of options.
  read -r -a java_opts <<<"${JAVA_OPTS:-$DEFAULT_JAVA_OPTS}"
  if [ "$main_class" = "-jar" ]; then
    exec java ${java_opts[@]+"${java_opts[@]}"} -jar "$JAR" "$@"
  fi
  exec java ${java_opts[@]+"${java_opts[@]}"} -cp "$JAR" "$main_class" "$@"
}

service=${1:-standalone}
[ "$#" -eq 0 ] || shift

case $service in
  standalone)
    advertise_container_address
    run_java -jar "$@"
    ;;
  ingest-api)
    advertise_container_address
    run_java io.tokenpipe.ingest.IngestService "$@"
    ;;
  inference-worker)
    run_java io.tokenpipe.worker.WorkerService "$@"
    ;;
  delivery-sse)
    advertise_container_address
    run_java io.tokenpipe.delivery.DeliveryService "$@"
    ;;
  help | -h | --help)
    usage
    exit 0
    ;;
  *)
    if command -v -- "$service" >/dev/null 2>&1; then
      exec "$service" "$@"
    fi
    echo "entrypoint.sh: unknown service or command '$service'" >&2
    usage
    exit 64
    ;;
esac

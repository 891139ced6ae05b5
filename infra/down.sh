#!/usr/bin/env bash
# Stop the local servers started by infra/up.sh: SIGTERM, up to 30 s for a
# clean shutdown, then SIGKILL. Data under .local/data is kept.
# Idempotent: exits 0 quietly when nothing is running.
# Usage: infra/down.sh [kafka] [ferretdb]   (default: both)
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

take_lock

stop_service() { # stop_service NAME PIDFILE PORTFILE
    local name="$1" pidfile="$2" portfile="$3" pid t0 i
    if ! pid="$(pid_of "$name")"; then
        rm -f "$pidfile" "$portfile"
        return 0
    fi
    t0="$(now_ms)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name: still running after ${STOP_TIMEOUT} s, sending SIGKILL to pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$pidfile" "$portfile"
    say "$name: stopped (pid $pid, $(elapsed "$t0" "$(now_ms)") s)"
}

services=("$@")
[ "${#services[@]}" -gt 0 ] || services=(kafka ferretdb)
# Stop the services in parallel (Kafka takes a few seconds to shut down).
pids=()
for s in "${services[@]}"; do
    case "$s" in
    kafka) stop_service kafka "$KAFKA_PID" "$KAFKA_PORTS_RUNNING" & ;;
    ferretdb) stop_service ferretdb "$FERRETDB_PID" "$FERRETDB_PORT_RUNNING" & ;;
    *) die "unknown service '$s' (expected kafka or ferretdb)" ;;
    esac
    pids+=("$!")
done
rc=0
for p in "${pids[@]}"; do
    wait "$p" || rc=1
done
exit "$rc"

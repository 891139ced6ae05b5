#!/usr/bin/env bash
# Start the local servers as background daemons and wait until they answer:
#   Kafka 4.4.0 (KRaft, single node)  127.0.0.1:${CASEWORK_KAFKA_PORT:-9092}, SASL_SSL (SCRAM-SHA-512,
#                                     the StandardAuthorizer, the catalogue's ACLs applied)
#                                     (controller on ${CASEWORK_KAFKA_CONTROLLER_PORT:-9093})
#   FerretDB 1.24.2 (SQLite)          127.0.0.1:${CASEWORK_MONGO_PORT:-27017}
# Data: .local/data/{kafka,ferretdb}; logs: .local/logs/{kafka,ferretdb}.log;
# pid files: .local/run/. Idempotent: servers already up are left alone.
# The broker's CA and certificate, one SCRAM user per principal and each outside client
# kind's connection file: .local/kafka/{tls,principals,clients} (casework/localkafka.py).
# Stop with infra/down.sh; wipe data with infra/reset.sh.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

take_lock
mkdir -p "$RUN_DIR" "$LOG_DIR" "$DATA_DIR"

if [ ! -f "$KAFKA_JAR" ] || [ ! -x "$FERRETDB_BIN" ]; then
    say "up: Kafka jars or FerretDB binary missing, running infra/setup.sh first"
    bash "$INFRA/setup.sh"
fi

STARTED=() # services launched by this run (stopped again on failure)

fail() { # fail SERVICE LOGFILE MESSAGE
    warn "ERROR: $1: $3"
    if [ -f "$2" ]; then
        warn "----- last 40 lines of $(shown "$2") -----"
        tail -n 40 "$2" >&2 || true
        warn "-----"
    fi
    if [ "${#STARTED[@]}" -gt 0 ]; then
        warn "up: stopping what this run started: ${STARTED[*]}"
        bash "$INFRA/down.sh" "${STARTED[@]}" >&2 || true
    fi
    exit 1
}

# check_port SERVICE PORT LOGFILE: fail when PORT is taken by something else.
check_port() {
    if port_open "$2"; then
        local owner
        owner="$(port_owner "$2")"
        fail "$1" "" "port $2 on 127.0.0.1 is already in use by another process${owner:+ ($owner)}; stop it, or choose other ports with CASEWORK_KAFKA_PORT / CASEWORK_KAFKA_CONTROLLER_PORT / CASEWORK_MONGO_PORT"
    fi
}

# launch PIDFILE LOGFILE CMD...: start CMD detached in its own session.
launch() {
    local pidfile="$1" logfile="$2"
    shift 2
    [ -f "$logfile" ] && mv -f "$logfile" "$logfile.1"
    rm -f "$pidfile"
    # shellcheck disable=SC2016  # $$ and $@ belong to the inner shell
    setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
        >"$logfile" 2>&1 </dev/null 9>&- &
    local _
    for _ in $(seq 50); do
        [ -s "$pidfile" ] && return 0
        sleep 0.1
    done
    return 1
}

# wait_ready SERVICE PROBE-KIND PORT PIDFILE LOGFILE T0: poll until ready.
wait_ready() {
    local name="$1" kind="$2" port="$3" pidfile="$4" logfile="$5" t0="$6" pid out
    local deadline=$((t0 + READY_TIMEOUT * 1000))
    pid="$(cat "$pidfile")"
    while :; do
        if out="$(probe "$kind" "$port" 2>/dev/null)"; then
            say "$name: ready in $(elapsed "$t0" "$(now_ms)") s (pid $pid) — $out"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "$name" "$logfile" "process $pid exited during start-up"
        [ "$(now_ms)" -lt "$deadline" ] ||
            fail "$name" "$logfile" "did not answer on 127.0.0.1:$port within $READY_TIMEOUT s"
        sleep 0.5
    done
}

# ------------------------------------------------------------------ Kafka
start_kafka() {
    local pid running_ports
    if pid="$(pid_of kafka)"; then
        running_ports="$(cat "$KAFKA_PORTS_RUNNING" 2>/dev/null || true)"
        if [ -n "$running_ports" ] && [ "$running_ports" != "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ]; then
            fail kafka "" "already running (pid $pid) with ports $running_ports (broker, controller), not $KAFKA_PORT $KAFKA_CONTROLLER_PORT; run infra/down.sh first to change ports"
        fi
        if probe kafka "$KAFKA_PORT" >/dev/null 2>&1; then
            say "kafka: already running and answering on 127.0.0.1:$KAFKA_PORT (pid $pid)"
            KAFKA_T0=""
            return 0
        fi
        say "kafka: already running (pid $pid) but not answering yet, waiting"
        KAFKA_T0="$(now_ms)"
        return 0
    fi

    local cp="$KAFKA_LIBS/*"
    local log4j="-Dlog4j2.configurationFile=$INFRA/kafka/log4j2.xml"
    mkdir -p "$(dirname "$KAFKA_PROPS")" "$KAFKA_DATA"
    if [ "$KAFKA_LISTENER" = PLAINTEXT ]; then
        # The benchmarks' comparison broker alone (a state directory of its own): no TLS, no SASL, no ACLs.
        [ "$STATE_DIR" != "$LOCAL" ] ||
            fail kafka "" "CASEWORK_BENCH_KAFKA_LISTENER=PLAINTEXT is for a comparison broker in a CASEWORK_STATE_DIR of its own, never the usual one"
        [ ! -f "$KAFKA_DATA/meta.properties" ] || [ -f "$KAFKA_STATE/plaintext" ] ||
            fail kafka "" "$(shown "$KAFKA_DATA") belongs to a secured broker: a PLAINTEXT one never reuses it"
        mkdir -p "$KAFKA_STATE" && : >"$KAFKA_STATE/plaintext"
        sed -e "s#@DATA_DIR@#$(sed_escape "$KAFKA_DATA")#g" -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
            -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
            -e "s#@LISTEN_HOST@#127.0.0.1#g" -e "s#@ADVERTISED_HOST@#127.0.0.1#g" -e "s#SASL_SSL#PLAINTEXT#g" \
            -e "s#^listener.security.protocol.map=.*#listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT#" \
            -e "/^sasl\./d" -e "/^ssl\./d" -e "/^listener\.name\./d" -e "/^authorizer/d" -e "/^super\.users/d" \
            -e "/^allow\.everyone/d" "$INFRA/kafka/server.properties.in" >"$KAFKA_PROPS"
        : >"$KAFKA_SECURED"  # nothing to sign in with: formatted as it is
        NEW_USERS=""
    else
    # Certificates, users and connection files (kept); the users new since the last start.
    NEW_USERS="$(cd "$ROOT" && "$PY" -m casework.localkafka prepare "$KAFKA_STATE" "$KAFKA_PORT")" ||
        fail kafka "" "could not prepare the broker's certificate and users under $(shown "$KAFKA_STATE")"
    local admin_password
    admin_password="$(admin_password)"
    USER_UMASK="$(umask)"
    umask 077
    sed -e "s#@DATA_DIR@#$(sed_escape "$KAFKA_DATA")#g" \
        -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" \
        -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
        -e "s#@TLS_DIR@#$(sed_escape "$KAFKA_STATE/tls")#g" \
        -e "s#@ADMIN_PASSWORD@#$admin_password#g" \
        -e "s#@LISTEN_HOST@#127.0.0.1#g" -e "s#@ADVERTISED_HOST@#127.0.0.1#g" \
        "$INFRA/kafka/server.properties.in" >"$KAFKA_PROPS"
    admin_properties "$admin_password" >"$KAFKA_ADMIN_PROPS"
    chmod 600 "$KAFKA_PROPS" "$KAFKA_ADMIN_PROPS" # they hold the admin's password (a file from before kept its mode)
    umask "$USER_UMASK"
    fi

    if [ -f "$KAFKA_DATA/meta.properties" ] && [ ! -f "$KAFKA_SECURED" ]; then
        # Data of a broker from before it was secured: it has no SCRAM users, so nobody could sign in.
        say "kafka: $(shown "$KAFKA_DATA") was formatted without SCRAM users (an unsecured broker): formatting it again"
        rm -rf "$KAFKA_DATA"
        mkdir -p "$KAFKA_DATA"
    fi
    if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
        # Format once, with every user; the data (and cluster id) is kept across restarts.
        local t cid scram=() line
        t="$(now_ms)"
        cid="$("$JAVA" -Xmx256m "$log4j" -cp "$cp" kafka.tools.StorageTool random-uuid)" ||
            fail kafka "" "kafka.tools.StorageTool random-uuid failed"
        if [ "$KAFKA_LISTENER" != PLAINTEXT ]; then
            local users
            users="$(cd "$ROOT" && "$PY" -m casework.localkafka credentials "$KAFKA_STATE")" && [ -n "$users" ] ||
                fail kafka "" "could not read the principals' passwords under $(shown "$KAFKA_STATE/principals")"
            while IFS= read -r line; do
                scram+=(--add-scram "SCRAM-SHA-512=[name=${line%%=*},password=${line#*=}]")
            done <<<"$users"
        fi
        "$JAVA" -Xmx256m "$log4j" -cp "$cp" kafka.tools.StorageTool format --standalone \
            -t "$cid" -c "$KAFKA_PROPS" ${scram[@]+"${scram[@]}"} >"$LOG_DIR/kafka-format.log" 2>&1 ||
            fail kafka "$LOG_DIR/kafka-format.log" "formatting $KAFKA_DATA failed"
        printf '%s\n' "$KAFKA_CONTROLLER_PORT" >"$KAFKA_PORTS_FILE"
        : >"$KAFKA_SECURED"
        NEW_USERS=""
        say "kafka: formatted $(shown "$KAFKA_DATA") with ${#scram[@]} SCRAM arguments, cluster id $cid ($(elapsed "$t" "$(now_ms)") s)"
    else
        local formatted_port
        formatted_port="$(cat "$KAFKA_PORTS_FILE" 2>/dev/null || echo "$KAFKA_CONTROLLER_PORT")"
        [ "$formatted_port" = "$KAFKA_CONTROLLER_PORT" ] ||
            fail kafka "" "the Kafka data was formatted with controller port $formatted_port, not $KAFKA_CONTROLLER_PORT; use the same CASEWORK_KAFKA_CONTROLLER_PORT or wipe it with infra/reset.sh"
    fi

    KAFKA_T0="$(now_ms)"
    launch "$KAFKA_PID" "$KAFKA_LOG" "$JAVA" -Xms256m -Xmx768m -server \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true "$log4j" \
        -cp "$cp" kafka.Kafka "$KAFKA_PROPS" ||
        fail kafka "$KAFKA_LOG" "could not launch java"
    STARTED+=(kafka)
    printf '%s %s\n' "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" >"$KAFKA_PORTS_RUNNING"
    say "kafka: started (pid $(cat "$KAFKA_PID")), log $(shown "$KAFKA_LOG")"
}

# --------------------------------------------------------------- FerretDB
start_ferretdb() {
    local pid running_port
    if pid="$(pid_of ferretdb)"; then
        running_port="$(cat "$FERRETDB_PORT_RUNNING" 2>/dev/null || true)"
        if [ -n "$running_port" ] && [ "$running_port" != "$MONGO_PORT" ]; then
            fail ferretdb "" "already running (pid $pid) on port $running_port, not $MONGO_PORT; run infra/down.sh first to change ports"
        fi
        if probe mongo "$MONGO_PORT" >/dev/null 2>&1; then
            say "ferretdb: already running and answering on 127.0.0.1:$MONGO_PORT (pid $pid)"
            FERRETDB_T0=""
            return 0
        fi
        say "ferretdb: already running (pid $pid) but not answering yet, waiting"
        FERRETDB_T0="$(now_ms)"
        return 0
    fi
    mkdir -p "$FERRETDB_DATA"
    FERRETDB_T0="$(now_ms)"
    launch "$FERRETDB_PID" "$FERRETDB_LOG" "$FERRETDB_BIN" \
        -listen-addr "127.0.0.1:$MONGO_PORT" -sqlite-dir "$FERRETDB_DATA" -log-level warn ||
        fail ferretdb "$FERRETDB_LOG" "could not launch .local/bin/ferretdb"
    STARTED+=(ferretdb)
    printf '%s\n' "$MONGO_PORT" >"$FERRETDB_PORT_RUNNING"
    say "ferretdb: started (pid $(cat "$FERRETDB_PID")), log $(shown "$FERRETDB_LOG")"
}

# Check every port before starting anything.
if ! pid_of kafka >/dev/null; then
    check_port kafka "$KAFKA_PORT"
    check_port kafka "$KAFKA_CONTROLLER_PORT"
fi
if ! pid_of ferretdb >/dev/null; then
    check_port ferretdb "$MONGO_PORT"
fi

start_kafka
start_ferretdb

# Both start in parallel; FerretDB answers within a second, Kafka within ~10-30 s.
if [ -n "$FERRETDB_T0" ]; then
    wait_ready ferretdb mongo "$MONGO_PORT" "$FERRETDB_PID" "$FERRETDB_LOG" "$FERRETDB_T0"
fi
if [ -n "$KAFKA_T0" ]; then
    wait_ready kafka kafka "$KAFKA_PORT" "$KAFKA_PID" "$KAFKA_LOG" "$KAFKA_T0"
fi
# A principal the catalogue gained since the data was formatted gets its SCRAM user now.
while IFS= read -r line; do
    [ -n "$line" ] || continue
    "$JAVA" -Xmx256m "-Dlog4j2.configurationFile=$INFRA/kafka/log4j2.xml" -cp "$KAFKA_LIBS/*" \
        kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --command-config "$KAFKA_ADMIN_PROPS" \
        --alter --entity-type users --entity-name "${line%%=*}" \
        --add-config "SCRAM-SHA-512=[password=${line#*=}]" >>"$LOG_DIR/kafka-users.log" 2>&1 ||
        fail kafka "$LOG_DIR/kafka-users.log" "could not create the SCRAM user ${line%%=*}"
    say "kafka: created the SCRAM user ${line%%=*}"
done <<<"${NEW_USERS:-}"
# The ACLs of the topic catalogue (shared/acls.py), for the topics without a prefix.
[ "$KAFKA_LISTENER" = PLAINTEXT ] || (cd "$ROOT" && CASEWORK_ENVIRONMENT=development CASEWORK_STATE_DIR="$STATE_DIR" \
    CASEWORK_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT" "$PY" -m casework kafka acls --apply --quiet) ||
    fail kafka "$KAFKA_LOG" "could not apply the ACLs (casework kafka acls --apply)"
if [ "$KAFKA_LISTENER" = PLAINTEXT ]; then
    secured="PLAINTEXT: the benchmarks' comparison broker"
else
    secured="SASL_SSL, SCRAM-SHA-512; each client kind's connection: $(shown "$KAFKA_STATE/clients")/<kind>.json"
fi
say "up: Kafka bootstrap 127.0.0.1:$KAFKA_PORT ($secured), MongoDB URI mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true"

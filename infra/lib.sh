# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this
# Shared definitions for infra/*.sh. Sourced, never run.
# Everything generated lives under $ROOT/.local (git-ignored). CASEWORK_STATE_DIR moves
# the pid files, logs and data (run/, logs/, data/) elsewhere, for a second pair of
# servers beside the usual one; the jars and the FerretDB binary stay under .local.

INFRA="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$INFRA/.." && pwd)"
LOCAL="$ROOT/.local"
STATE_DIR="${CASEWORK_STATE_DIR:-$LOCAL}"
case "$STATE_DIR" in /*) ;; *) STATE_DIR="$ROOT/$STATE_DIR" ;; esac
RUN_DIR="$STATE_DIR/run"
LOG_DIR="$STATE_DIR/logs"
DATA_DIR="$STATE_DIR/data"
BIN_DIR="$LOCAL/bin"

KAFKA_VERSION="4.4.0"
KAFKA_HOME="$LOCAL/kafka"
KAFKA_LIBS="$KAFKA_HOME/libs"
KAFKA_JAR="$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar"
KAFKA_STAMP="$KAFKA_HOME/libs.pom.sha256"
KAFKA_STATE="$STATE_DIR/kafka" # server.properties, tls/, principals/, clients/ (casework/localkafka.py)
KAFKA_PROPS="$KAFKA_STATE/server.properties"
KAFKA_ADMIN_PROPS="$KAFKA_STATE/admin.properties" # casework-admin's client settings for the Java tools
KAFKA_SECURED="$STATE_DIR/data/kafka/.casework-scram" # the data was formatted with the SCRAM users
PY="$ROOT/.venv/bin/python"
KAFKA_DATA="$DATA_DIR/kafka"
KAFKA_PORTS_FILE="$DATA_DIR/kafka.controller-port"
KAFKA_LOG="$LOG_DIR/kafka.log"
KAFKA_PID="$RUN_DIR/kafka.pid"
KAFKA_PORTS_RUNNING="$RUN_DIR/kafka.ports"
KAFKA_PORT="${CASEWORK_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${CASEWORK_KAFKA_CONTROLLER_PORT:-9093}"
# SASL_SSL always, but for the benchmarks' comparison broker (bench/security.py): PLAINTEXT.
KAFKA_LISTENER="${CASEWORK_BENCH_KAFKA_LISTENER:-SASL_SSL}"

FERRETDB_BIN="$BIN_DIR/ferretdb"
FERRETDB_DATA="$DATA_DIR/ferretdb"
FERRETDB_LOG="$LOG_DIR/ferretdb.log"
FERRETDB_PID="$RUN_DIR/ferretdb.pid"
FERRETDB_PORT_RUNNING="$RUN_DIR/ferretdb.port"
MONGO_PORT="${CASEWORK_MONGO_PORT:-27017}"

# Seconds to wait for a server to answer after launch.
READY_TIMEOUT="${CASEWORK_INFRA_TIMEOUT:-90}"
# Seconds to wait for a graceful stop before SIGKILL.
STOP_TIMEOUT=30

if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA="$JAVA_HOME/bin/java"
else
    JAVA="java"
fi

say() { printf '%s\n' "$*"; }
# shown PATH: PATH relative to the repository when it lies inside it.
shown() { printf '%s\n' "${1#"$ROOT"/}"; }
warn() { printf '%s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# Milliseconds since the epoch (bash 5 has EPOCHREALTIME; fall back to date).
now_ms() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local s="${EPOCHREALTIME%[.,]*}" f="${EPOCHREALTIME#*[.,]}"
        printf '%s\n' "$((s * 1000 + 10#${f:0:3}))"
    else
        date +%s%3N
    fi
}

# Seconds between two now_ms values, one decimal: "12.3".
elapsed() {
    local d=$(($2 - $1))
    printf '%d.%d' "$((d / 1000))" "$(((d % 1000) / 100))"
}

# Take the infra lock (fd 9) so that up/down/reset never run concurrently.
# Child scripts inherit CASEWORK_INFRA_LOCKED and skip it.
take_lock() {
    [ -n "${CASEWORK_INFRA_LOCKED:-}" ] && return 0
    mkdir -p "$RUN_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$RUN_DIR/infra.lock"
        flock -w 180 9 || die "another infra script holds $RUN_DIR/infra.lock"
    fi
    export CASEWORK_INFRA_LOCKED=1
}

# pid_of NAME: prints the pid recorded for service NAME (kafka|ferretdb) if
# that process is alive and still is ours; removes a stale pid file.
pid_of() {
    local pidfile marker pid
    case "$1" in
    kafka) pidfile="$KAFKA_PID" marker="$KAFKA_PROPS" ;;
    ferretdb) pidfile="$FERRETDB_PID" marker="$FERRETDB_BIN" ;;
    *) die "pid_of: unknown service $1" ;;
    esac
    [ -f "$pidfile" ] || return 1
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker"; then
        printf '%s\n' "$pid"
        return 0
    fi
    rm -f "$pidfile"
    return 1
}

# sed_escape STRING: STRING made safe for the replacement side of s#...#...#.
sed_escape() {
    printf '%s' "$1" | sed -e 's/[\\#&]/\\&/g'
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# port_owner PORT: best-effort description of the listener on PORT.
port_owner() {
    if command -v ss >/dev/null 2>&1; then
        ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))$/\1/p' | head -n1
    fi
}

# admin_password: casework-admin's SCRAM password (casework/localkafka.py wrote it).
admin_password() {
    sed -n 's/.*"sasl_password": "\([^"]*\)".*/\1/p' "$KAFKA_STATE/principals/casework-admin.json"
}

# admin_properties PASSWORD: the Java tools' client settings for casework-admin.
admin_properties() {
    printf '%s\n' "security.protocol=SASL_SSL" "sasl.mechanism=SCRAM-SHA-512" \
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"casework-admin\" password=\"$1\";" \
        "ssl.truststore.type=PEM" "ssl.truststore.location=$KAFKA_STATE/tls/ca.pem"
}

# probe kafka|mongo PORT: one readiness check (exit 0 when the server answers); Kafka as casework-admin.
probe() {
    if [ "$1" = kafka ]; then
        python3 "$INFRA/probe.py" kafka 127.0.0.1 "$2" "$KAFKA_STATE/principals/casework-admin.json"
    else
        python3 "$INFRA/probe.py" "$1" 127.0.0.1 "$2"
    fi
}

#!/usr/bin/env bash
# Fetch/build the local servers into .local/ (idempotent, cached):
#   - Kafka 4.4.0 runtime jars from Maven Central -> .local/kafka/libs
#     (re-fetched when infra/kafka/pom.xml changes)
#   - FerretDB 1.24.2 embedded in infra/ferretdb -> .local/bin/ferretdb
#     (rebuilt when main.go, go.mod or go.sum is newer than the binary)
# Needs: Java 17+, Maven 3.6.3+, Go 1.24+, python3.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# version_ge A B: true when dotted version A >= B.
version_ge() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

need() { # need CMD WHAT-IS-NEEDED HOW-TO-INSTALL
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH: $2 is needed ($3)"
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

T0="$(now_ms)"
mkdir -p "$LOCAL" "$BIN_DIR" "$KAFKA_HOME"

need python3 "Python 3.9+ (used by the readiness probes)" "e.g. apt-get install python3"

# ------------------------------------------------------------------ Kafka
POM="$INFRA/kafka/pom.xml"
POM_SHA="$(sha256_of "$POM")"
if [ -f "$KAFKA_JAR" ] && [ "$(cat "$KAFKA_STAMP" 2>/dev/null || true)" = "$POM_SHA" ]; then
    say "kafka: jars up to date ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l | tr -d ' ') in .local/kafka/libs)"
else
    need "$JAVA" "Java 17 or newer (Kafka $KAFKA_VERSION)" "e.g. apt-get install openjdk-17-jdk-headless, or set JAVA_HOME"
    java_version="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n1)"
    java_major="${java_version%%[.-]*}"
    if ! [[ "$java_major" =~ ^[0-9]+$ ]] || [ "$java_major" -lt 17 ]; then
        die "Java 17 or newer is needed for Kafka $KAFKA_VERSION, found '${java_version:-unknown}' ($JAVA)"
    fi
    need mvn "Maven 3.6.3 or newer" "e.g. apt-get install maven"
    mvn_version="$(mvn -v 2>/dev/null | sed -n 's/.*Apache Maven \([0-9][0-9.]*\).*/\1/p' | head -n1)"
    version_ge "${mvn_version:-0}" 3.6.3 ||
        die "Maven 3.6.3 or newer is needed, found '${mvn_version:-unknown}'"

    say "kafka: fetching Kafka $KAFKA_VERSION runtime jars (Maven $mvn_version, Java $java_version)..."
    t="$(now_ms)"
    rm -rf "$KAFKA_LIBS" "$KAFKA_STAMP"
    if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" >"$KAFKA_HOME/mvn.log" 2>&1; then
        tail -n 40 "$KAFKA_HOME/mvn.log" >&2
        die "mvn dependency:copy-dependencies failed for infra/kafka/pom.xml (is Maven Central reachable? full log: .local/kafka/mvn.log)"
    fi
    [ -f "$KAFKA_JAR" ] || die "mvn ran but $KAFKA_JAR is missing"

    # Sanity checks: the entry points exist; SLF4J stays on 1.7 (Kafka 4.x is
    # built against slf4j-api 1.7.36 and the log4j-slf4j-impl binding); no
    # artifact is present in two versions.
    python3 - "$KAFKA_JAR" <<'EOF' || die "kafka_2.13 jar lacks kafka.Kafka or StorageTool"
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
sys.exit(0 if {"kafka/Kafka.class", "kafka/tools/StorageTool.class"} <= names else 1)
EOF
    if compgen -G "$KAFKA_LIBS/slf4j-api-2.*" >/dev/null; then
        die "slf4j-api 2.x found in .local/kafka/libs: Kafka needs 1.7 with log4j-slf4j-impl"
    fi
    compgen -G "$KAFKA_LIBS/log4j-slf4j-impl-*.jar" >/dev/null ||
        die "log4j-slf4j-impl missing from .local/kafka/libs: the broker would log nothing"
    dups="$(find "$KAFKA_LIBS" -name '*.jar' -printf '%f\n' |
        sed -E 's/-[0-9]+(\.[0-9A-Za-z]+)*(-[0-9A-Za-z.]+)?\.jar$//' | sort | uniq -d)"
    [ -z "$dups" ] || die "several versions of one artifact in .local/kafka/libs: $dups"
    log4j_versions="$(find "$KAFKA_LIBS" -name 'log4j-*.jar' -printf '%f\n' |
        sed -E 's/.*-([0-9][0-9.]*)\.jar$/\1/' | sort -u | tr '\n' ' ')"
    [ "$(wc -w <<<"$log4j_versions")" -eq 1 ] ||
        die "log4j jars disagree on the version: $log4j_versions"

    printf '%s\n' "$POM_SHA" >"$KAFKA_STAMP"
    say "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l | tr -d ' ') jars, log4j ${log4j_versions% } ($(elapsed "$t" "$(now_ms)") s)"
fi

# --------------------------------------------------------------- FerretDB
FDB_SRC="$INFRA/ferretdb"
stale=""
if [ ! -x "$FERRETDB_BIN" ]; then
    stale="missing"
else
    for f in main.go go.mod go.sum patch-id-lookups.sh; do
        if [ "$FDB_SRC/$f" -nt "$FERRETDB_BIN" ]; then
            stale="$f changed"
            break
        fi
    done
fi
if [ -z "$stale" ]; then
    say "ferretdb: binary up to date (.local/bin/ferretdb)"
else
    need go "Go 1.24 or newer (FerretDB 1.24.2 requires it)" "Debian 12's golang-go is too old; put a Go 1.24+ toolchain on PATH"
    go_version="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)"
    go_version="${go_version#go}"
    version_ge "${go_version:-0}" 1.24 ||
        die "Go 1.24 or newer is needed to build FerretDB 1.24.2, found '${go_version:-unknown}'"
    say "ferretdb: building .local/bin/ferretdb ($stale; Go $go_version; about a minute when cold)..."
    t="$(now_ms)"
    # go.sum is committed, so no checksum-database lookups are needed;
    # -mod=readonly fails loudly instead of editing go.mod/go.sum.
    # Built from a copy of FerretDB with the _id lookup fixes (see patch-id-lookups.sh).
    if ! (bash "$FDB_SRC/patch-id-lookups.sh" "$LOCAL/ferretdb-build" && cd "$FDB_SRC" &&
        GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly" \
        go build -modfile "$LOCAL/ferretdb-build/go.mod" -trimpath -buildvcs=false -o "$FERRETDB_BIN.tmp" .) \
        >"$LOCAL/ferretdb-build.log" 2>&1; then
        tail -n 40 "$LOCAL/ferretdb-build.log" >&2
        die "go build of infra/ferretdb failed (is the Go module proxy reachable? full log: .local/ferretdb-build.log)"
    fi
    mv -f "$FERRETDB_BIN.tmp" "$FERRETDB_BIN"
    say "ferretdb: built ($(elapsed "$t" "$(now_ms)") s)"
fi

say "setup: done in $(elapsed "$T0" "$(now_ms)") s"

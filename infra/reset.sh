#!/usr/bin/env bash
# Stop the local servers and delete all their data (.local/data).
# Asks nothing. Jars, binaries and logs are kept; the next infra/up.sh
# formats a fresh Kafka cluster and starts FerretDB with no databases.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

take_lock
bash "$INFRA/down.sh"

if [ -d "$DATA_DIR" ]; then
    for d in "$DATA_DIR"/* "$DATA_DIR"/.[!.]*; do
        [ -e "$d" ] || continue
        say "reset: removing $(shown "$d") ($(du -sh "$d" 2>/dev/null | cut -f1))"
    done
    rm -rf "$DATA_DIR"
    say "reset: removed $(shown "$DATA_DIR")"
else
    say "reset: no $(shown "$DATA_DIR"), nothing to remove"
fi

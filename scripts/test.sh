#!/usr/bin/env bash
# `make test`: start the servers if they are not running, run the whole suite, and stop
# again what this script started. pytest's exit code 5 (no tests collected) is a failure
# here: a green run must have run tests.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

started=0
answering() {
    python3 infra/probe.py kafka 127.0.0.1 9092 >/dev/null 2>&1 &&
        python3 infra/probe.py mongo 127.0.0.1 27017 >/dev/null 2>&1
}
if ! answering; then
    bash infra/up.sh || exit 1
    started=1
fi
cleanup() { [ "$started" = 1 ] && bash infra/down.sh; }
trap cleanup EXIT

.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ "$rc" = 5 ]; then
    echo "ERROR: pytest collected no tests (exit code 5); a test run that tests nothing is not green" >&2
    exit 1
fi
exit "$rc"

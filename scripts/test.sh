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

# Most tests wait on servers and processes more than they compute: two pytest workers
# (pytest-xdist, a test file per worker at a time) halve the wall time on two cores. The
# tests marked `alone` stop or restart the shared servers, so they run afterwards, by
# themselves. Exit code 5 (nothing collected) is fine for one of the two runs, not both.
WORKERS="${CASEWORK_TEST_WORKERS:-2}"
.venv/bin/python -m pytest -q -p no:cacheprovider -n "$WORKERS" --dist loadfile -m "not alone" --durations=25 "$@"
parallel=$?
.venv/bin/python -m pytest -q -p no:cacheprovider -m alone "$@"
alone=$?
if [ "$parallel" = 5 ] && [ "$alone" = 5 ]; then
    echo "ERROR: pytest collected no tests (exit code 5); a test run that tests nothing is not green" >&2
    exit 1
fi
for rc in "$parallel" "$alone"; do
    if [ "$rc" != 0 ] && [ "$rc" != 5 ]; then
        exit "$rc"
    fi
done
exit 0

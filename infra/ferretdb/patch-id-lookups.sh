#!/usr/bin/env bash
# Two one-line fixes to FerretDB 1.24.2's SQLite backend, so that looking a document up
# by _id uses the _id index instead of reading the whole table:
#
# 1. metadata.go: the unique _id index is created on `_ferretdb_sjson->"_id"`, but finds,
#    updates and deletes by _id compare `_ferretdb_sjson->'$._id'`. SQLite uses an
#    expression index only for the very same expression, so every lookup scanned the
#    table (an update took ~130 ms at 20,000 documents). Both mean the same JSON path;
#    IDColumn now uses the indexed spelling.
# 2. collection.go: the _id condition was pushed down to SQLite only when it was the
#    filter's only field, so a guarded update `{_id: X, version: 3}` scanned the table.
#    It is now pushed down whenever the filter has an _id equality; the handler still
#    checks every field of the filter on what comes back (pushdown only narrows).
#
# This copies the FerretDB module (as go.sum pins it) to OUT_DIR/src, applies both
# changes, and writes OUT_DIR/go.mod: infra/ferretdb/go.mod plus a `replace` to the copy.
# Build with `go build -modfile OUT_DIR/go.mod`. Nothing else of FerretDB changes.
#
#   infra/ferretdb/patch-id-lookups.sh OUT_DIR
set -euo pipefail
out="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly
dir="$(cd "$here" && go mod download -json github.com/FerretDB/FerretDB |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
rm -rf "$out/src"
mkdir -p "$out"
cp -r "$dir" "$out/src"
chmod -R u+w "$out/src"
sqlite="$out/src/internal/backends/sqlite"

replace() { # replace FILE FROM TO COUNT: exactly COUNT lines must change
    local file="$1" from="$2" to="$3" count="$4" found
    found="$(grep -cF -- "$from" "$file" || true)"
    if [ "$found" != "$count" ]; then
        echo "ERROR: expected $count line(s) '$from' in ${file#"$out"/src/}, found $found; review $0" >&2
        exit 1
    fi
    FROM="$from" TO="$to" python3 - "$file" <<'PY'
import os, sys
path = sys.argv[1]
text = open(path).read()
open(path, "w").write(text.replace(os.environ["FROM"], os.environ["TO"]))
PY
}
replace "$sqlite/metadata/metadata.go" "IDColumn = DefaultColumn + \"->'\$._id'\"" 'IDColumn = DefaultColumn + `->"_id"`' 1
replace "$sqlite/collection.go" "if params.Filter.Len() == 1 {" "if params.Filter.Len() >= 1 {" 2

{ cat "$here/go.mod"; printf '\nreplace github.com/FerretDB/FerretDB => %s\n' "$out/src"; } >"$out/go.mod"
cp "$here/go.sum" "$out/go.sum"

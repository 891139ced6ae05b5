#!/usr/bin/env bash
# The dashboard's browser test drives Debian's Chromium (Playwright cannot download its
# own browser here). Install it when missing and we are allowed to; otherwise say how.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser: installing Debian's chromium for the dashboard's browser test..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/tmp/casework-apt.log 2>&1 ||
        { apt-get update -q >>/tmp/casework-apt.log 2>&1 && apt-get install -y -q chromium >>/tmp/casework-apt.log 2>&1; } ||
        { tail -20 /tmp/casework-apt.log >&2; echo "ERROR: could not install chromium" >&2; exit 1; }
    exit 0
fi
echo "ERROR: chromium is missing: install it (apt-get install chromium) for the dashboard's browser test" >&2
exit 1

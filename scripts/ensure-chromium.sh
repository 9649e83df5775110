#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright never downloads a browser
# here. `make test` runs this first: Chromium is installed with apt when it is missing and this user may install
# packages (root, or sudo without a password); otherwise the browser tests skip with the reason (fail under CI=true).
set -uo pipefail
if command -v chromium >/dev/null 2>&1 || [ -n "${SUNSHINE_CHROMIUM:-}" ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-chromium: Chromium is missing and this user cannot install it (apt install chromium)" >&2
    exit 0
fi
echo "ensure-chromium: installing Debian's chromium for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1; } \
    || echo "ensure-chromium: apt could not install chromium" >&2
exit 0

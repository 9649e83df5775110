#!/usr/bin/env bash
# The browser tests (tests/browser) drive Debian's Chromium through Playwright; Playwright never downloads a browser
# here. `make test` runs this first: Chromium, and a Chinese font for its screenshots (fonts-wqy-microhei), are
# installed with apt when missing and this user may install packages (root, or sudo without a password); otherwise
# the browser tests skip with the reason (fail under CI=true).
set -uo pipefail
PACKAGES=()
if ! command -v chromium >/dev/null 2>&1 && [ -z "${SUNSHINE_CHROMIUM:-}" ]; then
    PACKAGES+=(chromium)
fi
if ! fc-list 2>/dev/null | grep -qi -e wqy -e "noto sans cjk"; then
    PACKAGES+=(fonts-wqy-microhei)
fi
if [ ${#PACKAGES[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure-chromium: missing ${PACKAGES[*]} and this user cannot install them (apt install ${PACKAGES[*]})" >&2
    exit 0
fi
echo "ensure-chromium: installing ${PACKAGES[*]} (Debian) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q "${PACKAGES[@]}" >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q "${PACKAGES[@]}" >/dev/null 2>&1; } \
    || echo "ensure-chromium: apt could not install ${PACKAGES[*]}" >&2
exit 0

#!/usr/bin/env bash
# Installs Debian's chromium for the real-browser tests when it is missing (needs root or sudo).
# Playwright drives it through executable_path=/usr/bin/chromium; `playwright install` is never used.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing Debian chromium for the browser tests..." >&2
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null
command -v chromium >/dev/null

#!/usr/bin/env bash
# Install a headless Chromium with the system package manager. Only the test that opens the
# HTML report in a browser needs it; without it that test is skipped with a clear reason.
set -euo pipefail
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "chromium is missing and I cannot install it (not root): the report browser test" >&2
    echo "will be skipped. Install it with: apt-get install chromium" >&2
    exit 0
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
elif command -v dnf >/dev/null 2>&1; then $SUDO dnf install -y chromium
elif command -v brew >/dev/null 2>&1; then brew install --cask chromium
else echo "no known package manager: install chromium by hand (the browser test is skipped)" >&2
fi

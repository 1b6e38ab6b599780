#!/usr/bin/env bash
# What the browser tests need: a headless Chromium from the system package manager, and the
# Python package `playwright` (it drives that Chromium by its path; Playwright's own browser
# download is not used). Usage: install_chromium.sh [PYTHON]  (PYTHON: the venv's python, to
# check for playwright). Where Chromium cannot be installed the browser tests are skipped with
# a clear reason.
set -euo pipefail
PY="${1:-}"
if [ -n "$PY" ] && ! "$PY" -c "import playwright" 2>/dev/null; then
  "$PY" -m pip install -q "playwright>=1.40" || echo "could not install playwright" >&2
fi
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"; else
    echo "chromium is missing and I cannot install it (not root): the browser tests" >&2
    echo "will be skipped. Install it with: apt-get install chromium" >&2
    exit 0
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
elif command -v dnf >/dev/null 2>&1; then $SUDO dnf install -y chromium
elif command -v brew >/dev/null 2>&1; then brew install --cask chromium
else echo "no known package manager: install chromium by hand (the browser tests are skipped)" >&2
fi

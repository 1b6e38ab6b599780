#!/usr/bin/env bash
# Install graphviz's `dot` with the system package manager. Tracing never needs it; only
# rendering pictures does, and without it tracegraph still writes the .dot source.
set -euo pipefail
if command -v dot >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "graphviz's 'dot' is missing and I am not root: install the 'graphviz' package" >&2
    echo "(apt-get install graphviz / brew install graphviz / dnf install graphviz)." >&2
    exit 0
  fi
fi
if command -v apt-get >/dev/null 2>&1; then
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
elif command -v brew >/dev/null 2>&1; then brew install graphviz
elif command -v dnf >/dev/null 2>&1; then $SUDO dnf install -y graphviz
else echo "no known package manager: install graphviz's 'dot' by hand" >&2
fi

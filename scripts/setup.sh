#!/usr/bin/env bash
# Installs everything Retenta needs on a fresh Debian machine with Python 3.11:
# uv (from PyPI), the locked Python environment, and Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS=never
if ! command -v uv >/dev/null 2>&1; then
    python3 -m pip install --quiet "uv==0.13.8"
fi
if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
uv sync --frozen --quiet

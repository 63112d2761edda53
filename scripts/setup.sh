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
# Bytecode ahead of time. Where PYTHONDONTWRITEBYTECODE is set (as on the CI machines) no
# .pyc is ever written, so every process compiled every module it imported: ~4 s of each
# server's start, each CLI call and each test worker. Python still reads .pyc files that
# exist, and recompiles (in memory) a module whose source is newer than its .pyc.
stamp=.venv/.bytecode-compiled
if [ ! "$stamp" -nt uv.lock ]; then
    uv sync --frozen --quiet --compile-bytecode
    touch "$stamp"
fi
.venv/bin/python -m compileall -q -j 0 src >/dev/null
# The web UI (ui/ → src/retenta/web/static/): rebuilt only when missing or older than its sources.
if [ -f ui/package.json ]; then
    built=src/retenta/web/static/index.html
    if [ ! -f "$built" ] || [ -n "$(find ui/src ui/public ui/index.html ui/package.json \
            ui/package-lock.json ui/vite.config.ts ui/tsconfig.json -newer "$built" 2>/dev/null | head -1)" ]; then
        if command -v npm >/dev/null 2>&1 && node -e 'const [a, b] = process.versions.node.split(".").map(Number);
                process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
            if [ ! ui/node_modules/.package-lock.json -nt ui/package-lock.json ]; then
                (cd ui && npm ci --no-audit --no-fund --loglevel=error)
            fi
            (cd ui && npm run build --silent)
        else
            echo "setup.sh: Node.js >= 20.19 with npm not found; the web UI is not built" >&2
            # The test run drives the UI in Chromium, so there it is an error, not a warning.
            [ "${1:-}" = "--with-browser" ] && exit 1
        fi
    fi
fi

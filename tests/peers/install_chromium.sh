#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests of the pages (Playwright drives it through
# `executable_path`; `playwright install` downloads a browser build and is never used). Idempotent: when
# /usr/bin/chromium is there it does nothing, so every `make test` can call it. Exits non-zero, saying why,
# when it cannot install (no apt-get, not root and no sudo, no network); the tests then fail under CI and skip
# elsewhere.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is not installed and apt-get is not available to install it" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "chromium is not installed and installing it needs root (or passwordless sudo)" >&2
    exit 1
fi
"${as_root[@]}" apt-get update -qq
# apt's lock is shared with other installers (the alertmanager peer); wait for it rather than fail.
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 chromium >/dev/null
test -x /usr/bin/chromium

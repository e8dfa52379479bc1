#!/usr/bin/env bash
# Installs Debian's prometheus (the server and promtool) for the metrics and dashboard tests. Idempotent: when
# both binaries are already on PATH it does nothing, so every `make test` can call it. Exits non-zero, saying
# why, when it cannot install (no apt-get, not root and no sudo, no network); the test then fails under CI and
# skips elsewhere.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus is not installed and apt-get is not available to install it" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "prometheus is not installed and installing it needs root (or passwordless sudo)" >&2
    exit 1
fi
"${as_root[@]}" apt-get update -qq
# The package's postinst enables a systemd unit; in containers policy-rc.d keeps it from starting, and on a
# host it listens on :9090, which the test never uses (it picks a free port). Recommends (node exporter and
# the rest) are not needed: the test runs the server and promtool only.
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v prometheus >/dev/null && command -v promtool >/dev/null

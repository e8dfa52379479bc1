#!/usr/bin/env bash
# Installs one Debian package that a test needs as a real peer, once: `install_debian_package.sh PACKAGE
# PROGRAM...` does nothing when every PROGRAM (a name on PATH, or an absolute path) is already there, so every
# `make test` can call it. Exits non-zero, saying why, when it cannot install (no apt-get, not root and no
# sudo, no network); the test then fails under CI and skips elsewhere.
#
# Services a package enables (Prometheus on :9090, Alertmanager on :9093) are not started in containers
# (policy-rc.d) and the tests never use those ports: each starts its own on a free one.
set -euo pipefail

package="$1"
shift
present() {
    for program in "$@"; do
        if [[ "$program" == /* ]]; then
            [ -x "$program" ] || return 1
        else
            command -v "$program" >/dev/null 2>&1 || return 1
        fi
    done
}

if present "$@"; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$package is not installed and apt-get is not available to install it" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "$package is not installed and installing it needs root (or passwordless sudo)" >&2
    exit 1
fi
"${as_root[@]}" apt-get update -qq
# apt's lock is shared by the peers' installers, which a parallel test run may start together: wait for it.
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "$package" >/dev/null
present "$@" || { echo "$package installed, but $* is still missing" >&2; exit 1; }

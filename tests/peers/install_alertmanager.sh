#!/usr/bin/env bash
# Debian's prometheus-alertmanager for the alert tests (see install_debian_package.sh).
exec "$(dirname "$0")/install_debian_package.sh" prometheus-alertmanager prometheus-alertmanager

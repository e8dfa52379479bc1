#!/usr/bin/env bash
# Debian's prometheus (the server and promtool) for the metrics and dashboard tests (see
# install_debian_package.sh).
exec "$(dirname "$0")/install_debian_package.sh" prometheus prometheus promtool

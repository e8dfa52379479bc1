#!/usr/bin/env bash
# Debian's chromium for the browser tests of the pages; Playwright drives it through `executable_path`
# (`playwright install` downloads a browser build and is never used). See install_debian_package.sh.
exec "$(dirname "$0")/install_debian_package.sh" chromium /usr/bin/chromium

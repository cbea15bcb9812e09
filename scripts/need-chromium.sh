#!/usr/bin/env bash
# Makes sure headless Chromium is installed for the HTML report's browser
# test (go test -tags browser -run Browser ./report/): if `chromium` is not
# on PATH, installs Debian's chromium package with apt-get, without
# questions. Needs root (or sudo without a password) and a Debian/Ubuntu
# package source. Prints what it does; exit 0 once chromium runs.
#
#   scripts/need-chromium.sh
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "need-chromium: $(command -v chromium): $(chromium --version 2>/dev/null | tail -n1)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "need-chromium: chromium is not installed and there is no apt-get here: install Chromium with this system's package manager" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "need-chromium: chromium is not installed; run as root: apt-get update && apt-get install -y chromium" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "need-chromium: chromium not found; running: ${SUDO[*]} apt-get update"
"${SUDO[@]}" apt-get update -q
echo "need-chromium: running: ${SUDO[*]} apt-get install -y chromium"
"${SUDO[@]}" apt-get install -y -q chromium
if ! command -v chromium >/dev/null 2>&1; then
  echo "need-chromium: apt-get installed the package but chromium is not on PATH" >&2
  exit 1
fi
echo "need-chromium: installed $(command -v chromium): $(chromium --version 2>/dev/null | tail -n1)"

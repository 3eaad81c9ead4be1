#!/usr/bin/env bash
# Everything the tests need: the package with its test extras, Debian's chromium for the
# browser tests, axe-core for their accessibility checks and real browsers' user agents for
# the bot tests (both from the npm registry).
set -euo pipefail
cd "$(dirname "$0")/.."

pip install -e '.[test]'

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "The browser tests need Debian's chromium: sudo apt-get install chromium" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

npm install --prefix tests --no-package-lock --no-audit --no-fund --silent

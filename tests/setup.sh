#!/usr/bin/env bash
# Everything the tests need: the package with its test extras, Debian's chromium for the
# browser tests, and axe-core (from the npm registry) for their accessibility checks.
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

npm install --prefix tests/dashboard --no-package-lock --no-audit --no-fund --silent

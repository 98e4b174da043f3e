#!/bin/sh
# Installs the npm dependencies (npm ci) when node_modules is missing or older than the lock file, so
# that `npm test` and `npm run demo` are all a fresh clone needs.
set -eu
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing the npm dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund
fi

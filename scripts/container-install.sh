#!/bin/sh
# The Dockerfile's runtime stage, run in the same way by test/integration/container.test.ts: production
# dependencies only, no compiler (dist/ comes from the build stage).
# --ignore-scripts: the package's prepare script runs tsc, which is not installed here; no production
# dependency has an install script.
set -eu
npm ci --omit=dev --ignore-scripts --no-audit --no-fund

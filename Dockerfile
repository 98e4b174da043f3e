# syntax=docker/dockerfile:1
# Every step that does work is a script in scripts/, because test/integration/container.test.ts
# replays this file without a Docker engine (there is none in CI): it copies what the COPY lines name
# and runs the same scripts, so a file missing here or a broken install fails the test suite.

# One base for both stages: the official image of the Node.js release the npm scripts run on
# (package.json devDependencies.node; test/unit/deploy.test.ts keeps the two equal), on Debian 12
# like the CI machine that test/integration/container.test.ts replays this file on. The tag moves as
# Debian and Node publish fixes, so a release pins its digest (RELEASING.md): it is what
# `docker buildx imagetools inspect <tag>` prints, and
# `--build-arg NODE_IMAGE=node:26.10.0-bookworm-slim@sha256:<digest>` builds on it.
ARG NODE_IMAGE=node:26.10.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY scripts/container-build.sh scripts/
COPY src/ src/
# The npm cache is a build cache mount, so it never ends up in a layer.
RUN --mount=type=cache,target=/root/.npm sh scripts/container-build.sh

FROM ${NODE_IMAGE}
WORKDIR /opt/marathon-acme
COPY package.json package-lock.json .npmrc ./
COPY scripts/container-install.sh scripts/container-start.sh scripts/
RUN --mount=type=cache,target=/root/.npm sh scripts/container-install.sh
COPY bin/ bin/
COPY --from=build /src/dist/ dist/
# The original image's storage path, port and working directory, so its deployments carry over.
VOLUME /var/lib/marathon-acme
WORKDIR /var/lib/marathon-acme
EXPOSE 8000
# No HEALTHCHECK: Marathon runs the health check (healthChecks in deploy/marathon-acme.json) and does
# not act on Docker's, and the slim base has no HTTP client to run one with.
# Runs as root unless MARATHON_ACME_USER or `docker run --user` says otherwise (see README, Container).
ENTRYPOINT ["/bin/sh", "/opt/marathon-acme/scripts/container-start.sh"]
CMD ["/var/lib/marathon-acme"]

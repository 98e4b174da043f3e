/**
 * The Dockerfile lint (scripts/dockerfile-lint.ts): the repository's Dockerfile passes it, and
 * each rule fails a Dockerfile that breaks it, so a passing lint means something. CI has no Docker
 * engine and Debian has no hadolint; this and test/integration/container.test.ts are the image's
 * checks there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lintDockerfile, type Rule } from '../../scripts/dockerfile-lint.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** What `docker build .` could see from a checkout: tracked files and new ones git does not ignore. */
async function repositoryFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO, maxBuffer: 16 * 2 ** 20 });
  return stdout.split('\n').filter((f) => f !== '');
}

const GOOD = `# syntax=docker/dockerfile:1
# The base for both stages; --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:<digest> pins a digest.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM \${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json scripts/build.sh ./
RUN --mount=type=cache,target=/root/.npm sh build.sh

FROM \${NODE_IMAGE}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends tini \\
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/dist/ dist/
COPY bin/ bin/
USER 65534:65534
HEALTHCHECK CMD ["node", "bin/health.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "bin/app"]
CMD ["/data"]
`;
const GOOD_FILES = ['package.json', 'scripts/build.sh', 'bin/app', 'bin/health.js', 'Dockerfile'];
const GOOD_IGNORE = '.git\nnode_modules\n';

const lint = (dockerfile: string, files: readonly string[] = GOOD_FILES, ignore: string | undefined = GOOD_IGNORE): ReturnType<typeof lintDockerfile> =>
  lintDockerfile({ dockerfile, files, dockerignore: ignore });

/** `GOOD` with one text replaced; the replacement must happen, or the case would test nothing. */
function breaking(from: string, to: string): string {
  assert.ok(GOOD.includes(from), `the good Dockerfile has no ${JSON.stringify(from)}`);
  return GOOD.replace(from, to);
}

describe('Dockerfile lint', () => {
  it("passes the repository's Dockerfile with its build context", async () => {
    const findings = lintDockerfile({
      dockerfile: await readFile(new URL('Dockerfile', `file://${REPO}/`), 'utf8'),
      files: await repositoryFiles(),
      dockerignore: await readFile(new URL('.dockerignore', `file://${REPO}/`), 'utf8'),
    });
    assert.deepEqual(findings, []);
  });

  it('passes a Dockerfile that follows every rule', () => {
    assert.deepEqual(lint(GOOD), []);
  });

  const cases: Array<{ name: string; dockerfile: string; expect: Array<[Rule, number]> }> = [
    { name: 'RUN --mount without the syntax directive', dockerfile: breaking('# syntax=docker/dockerfile:1\n', '# a comment instead\n'), expect: [['syntax-directive', 1]] },
    { name: 'a literal base image', dockerfile: breaking('FROM ${NODE_IMAGE}\nRUN', 'FROM node:20-bookworm-slim\nRUN'), expect: [['base-from-arg', 10]] },
    { name: 'an ARG declared after FROM', dockerfile: breaking('ARG NODE_IMAGE=node:20-bookworm-slim\n\nFROM ${NODE_IMAGE} AS build\n', 'FROM ${NODE_IMAGE} AS build\nARG NODE_IMAGE=node:20-bookworm-slim\n\n'), expect: [['base-from-arg', 3], ['base-from-arg', 10]] },
    { name: 'the latest tag', dockerfile: breaking('ARG NODE_IMAGE=node:20-bookworm-slim', 'ARG NODE_IMAGE=node:latest'), expect: [['base-tag', 3]] },
    { name: 'no tag at all', dockerfile: breaking('ARG NODE_IMAGE=node:20-bookworm-slim', 'ARG NODE_IMAGE=node'), expect: [['base-tag', 3]] },
    { name: 'no default for the base image', dockerfile: breaking('ARG NODE_IMAGE=node:20-bookworm-slim', 'ARG NODE_IMAGE'), expect: [['base-tag', 3]] },
    { name: 'neither a digest nor a word on pinning one', dockerfile: breaking('# The base for both stages; --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:<digest> pins a digest.\n', ''), expect: [['base-digest', 2]] },
    { name: 'ADD of a URL', dockerfile: breaking('COPY bin/ bin/', 'ADD https://example.com/tool.tar.gz /opt/'), expect: [['add', 15]] },
    { name: 'ADD of a local file', dockerfile: breaking('COPY bin/ bin/', 'ADD bin/ bin/'), expect: [['add', 15]] },
    { name: 'no USER and no word on root', dockerfile: breaking('USER 65534:65534\n', ''), expect: [['user', 10]] },
    { name: 'ending as root', dockerfile: breaking('USER 65534:65534', 'USER root'), expect: [['user', 16]] },
    { name: 'no HEALTHCHECK and no reason', dockerfile: breaking('HEALTHCHECK CMD ["node", "bin/health.js"]\n', ''), expect: [['healthcheck', 10]] },
    { name: 'a COPY source that does not exist', dockerfile: breaking('COPY bin/ bin/', 'COPY lib/ lib/'), expect: [['copy-source', 15]] },
    { name: 'a COPY source .dockerignore leaves out', dockerfile: breaking('COPY bin/ bin/', 'COPY node_modules/ node_modules/'), expect: [['copy-source', 15]] },
    { name: 'a shell-form ENTRYPOINT', dockerfile: breaking('ENTRYPOINT ["/usr/bin/tini", "--", "bin/app"]', 'ENTRYPOINT bin/app'), expect: [['exec-form', 18]] },
    { name: 'a shell-form CMD', dockerfile: breaking('CMD ["/data"]', 'CMD /data'), expect: [['exec-form', 19]] },
    { name: 'apt lists left in the layer', dockerfile: breaking(' \\\n && rm -rf /var/lib/apt/lists/*', ''), expect: [['apt-lists', 11]] },
  ];
  for (const { name, dockerfile, expect } of cases) {
    it(`fails ${name} (${expect.map(([rule]) => rule).join(', ')})`, () => {
      const findings = lint(dockerfile, [...GOOD_FILES, 'node_modules/x/index.js']);
      assert.deepEqual(findings.map((f) => [f.rule, f.line]), expect, JSON.stringify(findings, null, 2));
    });
  }

  it('accepts a base image pinned by digest without a comment, and root when a comment says why', () => {
    const pinned = breaking(
      '# The base for both stages; --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:<digest> pins a digest.\nARG NODE_IMAGE=node:20-bookworm-slim',
      `ARG NODE_IMAGE=node:20-bookworm-slim@sha256:${'ab'.repeat(32)}`,
    );
    assert.deepEqual(lint(pinned), []);
    const root = breaking('USER 65534:65534\n', '# Runs as root: volumes of unknown ownership; docker run --user drops it.\n');
    assert.deepEqual(lint(root), []);
  });

  it('takes a comment naming HEALTHCHECK as the documented reason for having none', () => {
    const reasoned = breaking('HEALTHCHECK CMD ["node", "bin/health.js"]\n', '# No HEALTHCHECK: the orchestrator checks /health itself.\n');
    assert.deepEqual(lint(reasoned), []);
  });

  it('says which source is missing, and reports a Dockerfile without FROM', () => {
    const [finding] = lint(breaking('COPY bin/ bin/', 'COPY bin/ lib/ dest/'));
    assert.match(finding?.message ?? '', /^COPY lib\/: no such file or directory in the repository$/);
    assert.deepEqual(lint('# nothing\n').map((f) => f.rule), ['base-from-arg']);
  });
});

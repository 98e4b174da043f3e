/**
 * The deployment files agree with each other and with the daemon: deploy/marathon-acme.json (the
 * Marathon app), the Dockerfile (the image), and the scripts the Dockerfile runs, which are what
 * test/integration/container.test.ts replays in CI in place of `docker build`.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli.js';
import { LIVENESS_ROUTE } from '../../src/http/server.js';
import { parseDockerfile } from '../../scripts/dockerfile.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): Promise<string> => readFile(new URL(path, root), 'utf8');

/** The fields of a Marathon app definition this test reads (Marathon 1.4 Docker networking, which 1.5+ accepts too). */
interface App {
  id: string;
  instances: number;
  cpus: number;
  mem: number;
  args: string[];
  labels: Record<string, string>;
  healthChecks: Array<{ protocol: string; path: string; portIndex: number }>;
  upgradeStrategy: { minimumHealthCapacity: number; maximumOverCapacity: number };
  constraints: string[][];
  container: {
    type: string;
    docker: { image: string; network: string; portMappings: Array<{ containerPort: number; hostPort: number }> };
    volumes: Array<{ containerPath: string; hostPath?: string; mode: string }>;
  };
}

const app = JSON.parse(await read('deploy/marathon-acme.json')) as App;
const dockerfile = parseDockerfile(await read('Dockerfile'));
const all = (keyword: string): string[] => dockerfile.filter((i) => i.keyword === keyword).map((i) => i.args);
/** The runtime image is the last stage: its instructions are the ones after the last FROM. */
const finalStage = dockerfile.slice(dockerfile.map((i) => i.keyword).lastIndexOf('FROM'));
const last = (keyword: string): string | undefined => finalStage.filter((i) => i.keyword === keyword).at(-1)?.args;

const volume = last('VOLUME') ?? '';
const httpPortIndex = app.container.docker.portMappings.findIndex((m) => m.containerPort === 8000);

describe('Dockerfile', () => {
  it('exposes port 8000 and keeps the storage directory in the volume the original image used', () => {
    assert.equal(last('EXPOSE'), '8000');
    assert.equal(volume, '/var/lib/marathon-acme');
    assert.deepEqual(JSON.parse(last('CMD') ?? 'null'), [volume], 'CMD is the storage directory alone, as in the original image');
  });

  it('builds both stages on the official image of the Node.js release the npm scripts run on', async () => {
    const bases = all('FROM').map((args) => args.split(/\s+/)[0]);
    assert.equal(bases.length, 2, 'a build stage and a runtime stage');
    assert.equal(new Set(bases).size, 1, `both stages on one base: ${bases.join(', ')}`);
    const arg = /^NODE_IMAGE=(\S+)$/.exec(all('ARG')[0] ?? '')?.[1] ?? '';
    assert.equal(bases[0], '${NODE_IMAGE}');
    const pinned = (JSON.parse(await read('package.json')) as { devDependencies: Record<string, string> }).devDependencies['node'];
    // A digest may follow the tag (a release can pin it here or with --build-arg).
    assert.equal(arg.replace(/@sha256:[0-9a-f]{64}$/, ''), `node:${pinned ?? '(none)'}-bookworm-slim`, 'the image runs the release the tests run on (package.json devDependencies.node), on Debian 12 like CI');
  });

  it('does its work only through the scripts the container test runs, and they exist', async () => {
    const runs = all('RUN').map((args) => args.replace(/^(--mount=\S+\s+)+/, ''));
    assert.deepEqual(runs, ['sh scripts/container-build.sh', 'sh scripts/container-install.sh']);
    assert.deepEqual(JSON.parse(last('ENTRYPOINT') ?? 'null'), ['/bin/sh', '/opt/marathon-acme/scripts/container-start.sh']);
    for (const script of ['container-build.sh', 'container-install.sh', 'container-start.sh']) {
      assert.ok((await stat(new URL(`scripts/${script}`, root))).isFile(), script);
    }
    assert.match(await read('scripts/container-install.sh'), /^npm ci --omit=dev /m, 'the runtime gets production dependencies only');
  });
});

describe('deploy/marathon-acme.json', () => {
  it('runs three instances on separate hosts, led through ZooKeeper, and keeps most of them up during a deployment', () => {
    assert.equal(app.id, '/marathon-acme');
    assert.equal(app.instances, 3);
    assert.deepEqual(app.constraints, [['hostname', 'UNIQUE']]);
    // Marathon keeps ceil(instances × minimumHealthCapacity) healthy: two of three, one replaced at a time.
    assert.deepEqual(app.upgradeStrategy, { minimumHealthCapacity: 0.5, maximumOverCapacity: 0 });
    assert.ok(Math.ceil(app.instances * app.upgradeStrategy.minimumHealthCapacity) >= 1, 'never none');
    const parsed = parseCli(app.args, {});
    assert.ok(parsed.kind === 'run');
    assert.equal(parsed.config.zk?.path, '/marathon-acme', 'a ZooKeeper path of its own, beside Marathon\'s');
  });

  it('gives the daemon the memory it was measured to need', () => {
    // Measured: about 125 MiB peak RSS at start (two RSA keys) and 134 MiB with 2,000 apps, so the
    // original's 128 MB would be killed by the memory limit.
    assert.ok(app.mem >= 256, `mem ${app.mem}`);
    assert.ok(app.cpus > 0);
  });

  it('runs the image with arguments the daemon accepts, ending in the volume, listening on the exposed port', () => {
    assert.equal(app.container.type, 'DOCKER');
    assert.equal(app.container.docker.network, 'BRIDGE');
    const parsed = parseCli(app.args, {});
    assert.ok(parsed.kind === 'run', JSON.stringify(parsed));
    assert.equal(parsed.config.storageDir, volume, 'args replace CMD, so they must name the storage directory');
    assert.equal(parsed.config.listen.port, 8000);
    assert.ok(httpPortIndex >= 0, 'a port mapping for container port 8000');
  });

  it('mounts the storage directory read-write from storage shared with marathon-lb', () => {
    const mounts = app.container.volumes.filter((v) => v.containerPath === volume);
    assert.equal(mounts.length, 1, `one volume at ${volume}`);
    assert.equal(mounts[0]?.mode, 'RW');
  });

  it('health-checks liveness (/health, never /ready) on the port of container port 8000', () => {
    const [check, ...others] = app.healthChecks;
    assert.ok(check !== undefined && others.length === 0, 'one health check');
    // Marathon restarts a task that fails its check: readiness fails while Marathon or the CA is away.
    assert.equal(check.path, LIVENESS_ROUTE);
    assert.equal(check.portIndex, httpPortIndex);
  });

  it('asks marathon-lb to send /.well-known/acme-challenge/ to it from every domain', () => {
    const n = String(httpPortIndex);
    const label = (name: string): string | undefined => app.labels[`HAPROXY_${n}_${name}`];
    assert.equal(app.labels['HAPROXY_GROUP'], 'external');
    assert.match(label('VHOST') ?? '', /^[a-z0-9.-]+$/, 'a host name of its own');
    assert.equal(label('PATH'), '/.well-known/acme-challenge/');
    assert.ok(Number(label('BACKEND_WEIGHT')) > 0, 'its rule comes before the other apps\' (default weight 0)');
    // marathon-lb's own frontend template for a vhost with a path, plus one redirect: the challenge
    // path on any other host goes to marathon-acme's host (the CA follows the 302).
    assert.deepEqual((label('HTTP_FRONTEND_ACL_WITH_PATH') ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== ''), [
      'acl host_{cleanedUpHostname} hdr(host) -i {hostname}',
      'acl path_{backend} path_beg {path}',
      'redirect prefix http://{hostname} code 302 if !host_{cleanedUpHostname} path_{backend}',
      'use_backend {backend} if host_{cleanedUpHostname} path_{backend}',
    ]);
  });

  it("is what README's app definition shows, so the README cannot drift from the file", async () => {
    const readme = await read('README.md');
    const section = readme.slice(readme.indexOf('### The marathon-acme app'));
    const block = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    assert.equal(block, await read('deploy/marathon-acme.json'));
  });
});

/**
 * `--challenges stateless`: marathon-lb's HAProxy (Debian's 2.6, behind the stand-in) answers the CA's
 * HTTP-01 challenges itself with the line `marathon-acme lb-config` prints, and its route to the
 * daemon leads to a closed port, so no validation can reach the daemon. Pebble validates through
 * HAProxy, the strict preflight checks HAProxy's answer first.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadOrCreateAccountKey } from '../../src/acme/account-key.js';
import { accountSigner } from '../../src/acme/protocol/jws.js';
import { CertStore } from '../../src/certs/store.js';
import { Daemon } from '../../src/daemon.js';
import { runCheck } from '../../src/check/command.js';
import { runLbConfig } from '../../src/lb-config/command.js';
import { statelessChallengeRule } from '../../src/lb/stateless-challenge.js';
import { createLogger, silentLogger } from '../../src/log.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { startMarathonLb } from '../support/marathon-lb.js';
import { MarathonEmulator } from '../support/marathon-emulator.js';
import { startPebble } from '../support/pebble.js';
import { freePort } from '../support/ports.js';

const CHALLENGE = '/.well-known/acme-challenge/';

describe('HTTP-01 answered by marathon-lb itself (--challenges stateless)', () => {
  it('issues with every validation answered by HAProxy alone, after a preflight of its answer', async (t) => {
    const defer = cleanupStack(t);
    const storage = await mkdtemp(join(tmpdir(), 'ma-stateless-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const store = new CertStore(storage);
    await store.init(new Date());
    const key = await loadOrCreateAccountKey(store);
    const thumbprint = accountSigner(key.pem).thumbprint;
    const printed = await runLbConfig(storage);
    assert.equal(printed.code, 0);
    assert.ok(printed.text.includes(`  ${statelessChallengeRule(thumbprint)}\n`), printed.text);

    // Nothing listens where the LB would send the challenge path: only the rule can answer.
    const closedPort = await freePort();
    const lb = await startMarathonLb({ storageDir: storage, acmePort: closedPort, statelessThumbprint: thumbprint });
    defer(() => lb.stop());
    const pebble = await startPebble({ httpPort: lb.httpPort });
    defer(() => pebble.stop());
    const marathon = await MarathonEmulator.start({ heartbeatMs: 0 });
    defer(() => marathon.stop());
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: pebble.directoryUrl,
      acmeCaFile: pebble.caFile,
      marathonUrls: [marathon.url],
      lbUrls: [lb.url],
      listen: { host: '127.0.0.1', port: await freePort() },
      keyType: 'ecdsa-p256',
      challenges: 'stateless',
      preflight: 'strict',
      preflightPort: lb.httpPort,
    });
    const logger = process.env['MARATHON_ACME_TEST_LOGS'] === '1' ? createLogger('debug', process.stderr) : silentLogger();
    const daemon = new Daemon({ config, logger, lookup: () => Promise.resolve(['127.0.0.1']) });
    await daemon.start();
    defer(() => daemon.stop(2_000));

    const name = 'stateless.example.test';
    marathon.addApp(hostApp('/stateless', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: name }));
    await eventually('issued', async () => (await store.list()).certs.some((c) => c.name === name), 60_000);
    const challenges = lb.requests().filter((r) => r.request.includes(CHALLENGE));
    t.diagnostic(`challenge-path requests answered by HAProxy: ${challenges.length} (preflight and pebble's validation)`);
    assert.ok(challenges.length >= 2, JSON.stringify(challenges));
    assert.ok(challenges.every((r) => r.status === 200 && !r.route.startsWith('marathon_acme/')), JSON.stringify(challenges));

    // `check --stateless` asks each LB the same way; one without the line fails it.
    const check = (port: number) =>
      runCheck({ names: [name], all: false, marathon: undefined, lbHttp: `http://127.0.0.1:${port}`, timeoutMs: 5_000, json: true, served: undefined, stateless: { storageDir: storage } }, logger);
    assert.deepEqual((await check(lb.httpPort)).checks.map((c) => c.ok), [true]);
    const plain = await startMarathonLb({ storageDir: storage, acmePort: closedPort });
    defer(() => plain.stop());
    const refused = await check(plain.httpPort);
    assert.deepEqual(refused.checks.map((c) => c.ok), [false], refused.text);
  });
});

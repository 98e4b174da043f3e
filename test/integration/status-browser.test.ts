/**
 * The /status page in a real browser (Debian's chromium driven by playwright-core), on a phone-sized
 * and a desktop-sized screen, with certificates issued by pebble for real. Screenshots are saved to
 * test-artifacts/ for people to look at; the assertions read what the browser rendered.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { freePort } from '../support/ports.js';
import { startPeers } from '../support/peers.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** The flags reference/npm.md lists for Debian's chromium in a sandbox without a GPU or network. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function chromiumPath(): Promise<string> {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const { stdout } = await promisify(execFile)('sh', ['-c', 'command -v chromium']);
  return stdout.trim();
}

describe('status page in a browser', () => {
  it('shows the certificates most urgent first, the state of Marathon, the account and each LB, on a phone and a desktop', async (t) => {
    const defer = cleanupStack(t);
    const { httpPort, pebble, marathon } = await startPeers(defer);
    marathon.addApp(hostApp('/shop', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'shop.example.test' }));
    marathon.addApp(hostApp('/blog', { HAPROXY_GROUP: 'external', MARATHON_ACME_0_DOMAIN: 'blog.example.test' }));
    const lb = await startLbReceiver();
    defer(() => lb.stop());
    const deadLb = `http://127.0.0.1:${await freePort()}`;
    const storage = await mkdtemp(join(tmpdir(), 'ma-browser-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    // Something for the most urgent row: a hand-kept certificate file that no longer parses.
    await mkdir(join(storage, 'unmanaged-certs'));
    await writeFile(join(storage, 'unmanaged-certs', 'legacy.example.test.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n');
    const config = testConfig({
      storageDir: storage,
      acmeDirectoryUrl: pebble.directoryUrl,
      acmeCaFile: pebble.caFile,
      marathonUrls: [marathon.url],
      lbUrls: [lb.url, deadLb],
      listen: { host: '127.0.0.1', port: httpPort },
      keyType: 'ecdsa-p256',
    });
    const daemon = new Daemon({ config, logger: silentLogger(), version: 'test' });
    await daemon.start();
    defer(() => daemon.stop(1_000));
    await eventually('two certificates', async () => (await readdir(join(storage, 'certs'))).length === 2, 60_000);
    await eventually('the dead LB is owed its reload', () => daemon.health().details['pendingLbSignals'] === 1);

    const browser = await chromium.launch({ executablePath: await chromiumPath(), args: CHROMIUM_ARGS });
    defer(() => browser.close());
    await mkdir(ARTIFACTS, { recursive: true });
    const url = `http://127.0.0.1:${httpPort}/status`;

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const requested: string[] = [];
    phone.on('request', (r) => requested.push(r.url()));
    const response = await phone.goto(url);
    assert.equal(response?.status(), 200);
    assert.equal(await phone.title(), 'marathon-acme status');
    const rows = phone.locator('tbody tr');
    assert.equal(await rows.count(), 3);
    const names = await phone.locator('tbody tr td[data-label="Name"] strong').allInnerTexts();
    assert.equal(names[0], 'legacy.example.test', 'the unusable file is the most urgent');
    assert.deepEqual([...names.slice(1)].sort(), ['blog.example.test', 'shop.example.test']);
    const states = await phone.locator('tbody tr .badge').allInnerTexts();
    assert.deepEqual(states.map((s) => s.toLowerCase()), ['unusable', 'valid', 'valid']);
    assert.equal(await rows.first().getAttribute('class'), 'bad');
    const shopRow = phone.locator('tbody tr', { hasText: 'shop.example.test' });
    assert.match(await shopRow.innerText(), /\/shop port 0/);
    assert.match(await shopRow.innerText(), /Pebble Intermediate/i, 'the issuer is pebble');
    const cards = await phone.locator('.card').allInnerTexts();
    assert.equal(cards.length, 4, 'Marathon, the account and two LBs');
    assert.match(cards[0] ?? '', /Marathon[\s\S]*last sync succeeded/);
    assert.match(cards[1] ?? '', /ACME account[\s\S]*registered/);
    assert.ok(cards.some((c) => c.includes(deadLb) && /reload owed/.test(c)), cards.join(' | '));
    assert.equal(await phone.locator('.card.bad').count(), 1, 'only the dead LB is red');
    // On a phone the table becomes one card per certificate: no header row, label before each value.
    assert.equal(await phone.locator('thead').evaluate((el) => getComputedStyle(el).display), 'none');
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no sideways scrolling on a phone (page is ${width} px wide)`);
    assert.deepEqual(requested, [url], 'the page loads nothing else');
    await phone.screenshot({ path: join(ARTIFACTS, 'status-phone.png'), fullPage: true });

    const desktop = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await desktop.goto(url);
    assert.equal(await desktop.locator('thead').evaluate((el) => getComputedStyle(el).display), 'table-header-group');
    await desktop.screenshot({ path: join(ARTIFACTS, 'status-desktop.png'), fullPage: true });
  });
});

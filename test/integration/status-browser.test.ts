/**
 * The /status page in a real browser (Debian's chromium driven by playwright-core), on a phone-sized
 * and a desktop-sized screen: once from a running daemon with certificates issued by pebble, once
 * from a known cluster-like data set (certificates of chosen ages, failing and pending names, a
 * stale LB) served by the daemon's own HTTP server, so the filter, the delivery columns and the
 * chart's counts can be checked exactly. Screenshots are saved to test-artifacts/ for people to look
 * at; the assertions read what the browser rendered.
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
import { chromium, type Browser, type Page } from 'playwright-core';
import { ChallengeResponder } from '../../src/acme/challenges.js';
import { formatBundle } from '../../src/certs/bundle.js';
import { CertStore } from '../../src/certs/store.js';
import { Daemon } from '../../src/daemon.js';
import { summariseLb } from '../../src/delivery/lb-summary.js';
import type { DeliveryRecord } from '../../src/delivery/types.js';
import { closeServer, createHttpServer, listen } from '../../src/http/server.js';
import { silentLogger } from '../../src/log.js';
import { readStatus } from '../../src/status/command.js';
import { lbState } from '../../src/status/components.js';
import type { StatusView } from '../../src/status/page.js';
import { hostApp } from '../support/apps.js';
import { cleanupStack } from '../support/cleanup.js';
import { testConfig } from '../support/config.js';
import { eventually } from '../support/eventually.js';
import { FakeCa } from '../support/fake-ca.js';
import { startLbReceiver } from '../support/lb-receiver.js';
import { freePort } from '../support/ports.js';
import { startPeers } from '../support/peers.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
/** The flags reference/npm.md lists for Debian's chromium in a sandbox without a GPU or network. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 };
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const DAY = 86_400_000;

async function chromiumPath(): Promise<string> {
  const fromEnv = process.env['CHROMIUM_PATH'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const { stdout } = await promisify(execFile)('sh', ['-c', 'command -v chromium']);
  return stdout.trim();
}

async function launch(defer: (fn: () => Promise<unknown>) => void): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: await chromiumPath(), args: CHROMIUM_ARGS });
  defer(() => browser.close());
  await mkdir(ARTIFACTS, { recursive: true });
  return browser;
}

/** Opens `url`, recording every request the page makes. */
async function open(browser: Browser, url: string, options: Parameters<Browser['newPage']>[0]): Promise<{ page: Page; requested: string[] }> {
  const page = await browser.newPage(options);
  const requested: string[] = [];
  page.on('request', (r) => requested.push(r.url()));
  const response = await page.goto(url);
  assert.equal(response?.status(), 200);
  return { page, requested };
}

/**
 * The whole page as an image. Rows far below the screen are laid out only when scrolled to
 * (content-visibility), which a full-page capture does not do; as printed, they all are.
 */
async function fullScreenshot(page: Page, file: string): Promise<void> {
  await page.emulateMedia({ media: 'print' });
  await page.screenshot({ path: join(ARTIFACTS, file), fullPage: true });
  await page.emulateMedia({ media: 'screen' });
}

async function visibleNames(page: Page): Promise<string[]> {
  return page.locator('#certificates tbody tr:not([hidden]) td:first-child strong').allInnerTexts();
}

async function noSidewaysScroll(page: Page): Promise<void> {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling on a phone (page is ${width} px wide)`);
}

describe('status page in a browser', () => {
  it('shows a running daemon\'s certificates, problems first, the state of Marathon, the account and each LB, on a phone and a desktop', async (t) => {
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

    const browser = await launch(defer);
    const url = `http://127.0.0.1:${httpPort}/status`;
    const { page: phone, requested } = await open(browser, url, PHONE);
    assert.equal(await phone.title(), 'marathon-acme status');
    assert.equal(await phone.locator('#certificates tbody tr').count(), 3);
    const names = await visibleNames(phone);
    assert.equal(names[0], 'legacy.example.test', 'the unusable file is the most urgent');
    assert.deepEqual([...names.slice(1)].sort(), ['blog.example.test', 'shop.example.test']);
    const states = await phone.locator('#certificates tbody tr .badge').allInnerTexts();
    assert.deepEqual(states.map((s) => s.toLowerCase()), ['unusable', 'valid', 'valid']);
    assert.equal(await phone.locator('#certificates tbody tr').first().getAttribute('class'), 'bad');
    assert.match(await phone.locator('.panel', { hasText: 'Needs attention' }).innerText(), /1 unusable file/);
    const shopRow = phone.locator('#certificates tbody tr', { hasText: 'shop.example.test' });
    assert.match(await shopRow.innerText(), /\/shop port 0/);
    assert.match(await shopRow.innerText(), /Pebble Intermediate/i, 'the issuer is pebble');
    const cards = await phone.locator('.card').allInnerTexts();
    assert.equal(cards.length, 6, 'this instance, Marathon, the account, two LBs and the rate budget');
    assert.match(cards[5] ?? '', /Rate budget[\s\S]*none[\s\S]*the default for a CA other than Let's Encrypt/);
    assert.match(cards[0] ?? '', /This instance[\s\S]*leader[\s\S]*storage lock/);
    assert.match(cards[1] ?? '', /Marathon[\s\S]*last sync succeeded/);
    assert.match(cards[2] ?? '', /ACME account[\s\S]*registered/);
    const deadCard = phone.locator('.card', { hasText: deadLb });
    assert.notEqual(await deadCard.getAttribute('class'), 'card ok', 'an LB never reached is not green');
    // On a phone the table becomes one card per certificate: no header row, label before each value.
    assert.equal(await phone.locator('.head thead').evaluate((el) => getComputedStyle(el).display), 'none');
    assert.equal(await phone.locator('#certificates td').first().evaluate((el) => getComputedStyle(el, '::before').content), '"Name"');
    await noSidewaysScroll(phone);
    assert.deepEqual(requested, [url], 'the page loads nothing else');
    // One way to write a time, cards and table alike, and the page's age next to it.
    const text = await phone.locator('body').innerText();
    assert.doesNotMatch(text, /\d{4}-\d\d-\d\dT\d\d/, 'no RFC 3339 time on the page');
    assert.match(cards[1] ?? '', /last sync succeeded at \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.match(await shopRow.innerText(), /\d{4}-\d\d-\d\d \d\d:\d\d UTC/, 'the next renewal');
    assert.match(await phone.locator('.meta').innerText(), /generated \d{4}-\d\d-\d\d \d\d:\d\d UTC, \d+ s ago · version test · status\.json · reload/);
    await fullScreenshot(phone, 'status-phone.png');

    // The daemon's root is where people type the address: it sends them to the page.
    const { page: root } = await open(browser, `http://127.0.0.1:${httpPort}/`, DESKTOP);
    assert.equal(root.url(), url);
    assert.equal(await root.title(), 'marathon-acme status');

    const { page: desktop } = await open(browser, url, DESKTOP);
    assert.equal(await desktop.locator('.head thead').evaluate((el) => getComputedStyle(el).display), 'table-header-group');
    await desktop.locator('#filter-text').fill('shop');
    await eventually('the filter leaves the shop row', async () => (await visibleNames(desktop)).join() === 'shop.example.test');
    await desktop.locator('#filter-text').fill('');
    await fullScreenshot(desktop, 'status-desktop.png');
  });

  it('filters a cluster\'s rows in the page, shows a stale LB and the next 90 days with the right counts, with and without JavaScript', async (t) => {
    const defer = cleanupStack(t);
    // Noon, so that every certificate's day is the same whatever time the test runs.
    const now = Math.floor(Date.now() / DAY) * DAY + DAY / 2;
    const storage = await mkdtemp(join(tmpdir(), 'ma-browser-cluster-'));
    defer(() => rm(storage, { recursive: true, force: true }));
    const store = new CertStore(storage);
    await store.init(new Date(now));
    const issue = async (name: string, daysAgo: number): Promise<string> => {
      const issued = await new FakeCa(90 * DAY, () => now - daysAgo * DAY).issue([name]);
      return formatBundle(issued.keyPem, issued.chainPem);
    };
    // Renewal with a third of the lifetime left: day 60 after issue; expiry on day 90.
    await store.write('shop.example.test', await issue('shop.example.test', 10)); // renews on day 50, expires on day 80
    await store.write('blog.example.test', await issue('blog.example.test', 10)); // the same days
    await store.write('api.example.test', await issue('api.example.test', 40)); // renews on day 20, expires on day 50
    await store.write('due.example.test', await issue('due.example.test', 65)); // renewal due (today), expires on day 25
    await writeFile(join(storage, 'unmanaged-certs', 'hand.example.test.pem'), await issue('hand.example.test', 85)); // expires on day 5
    await writeFile(
      join(storage, 'state.json'),
      JSON.stringify({
        version: 1,
        certificates: {
          'shop.example.test': { owner: { appId: '/shop', portIndex: 0 } },
          'new.example.test': {
            failure: {
              failures: 4,
              lastError: { type: 'unauthorized', detail: 'Invalid response from http://new.example.test/.well-known/acme-challenge/x: 404', status: 403 },
              nextAttemptAt: new Date(now + 3_600_000).toISOString(),
              lastFailureAt: new Date(now - 60_000).toISOString(),
            },
          },
        },
      }),
    );
    const wanted = ['shop', 'blog', 'api', 'due', 'new', 'pending'].map((n) => ({ name: `${n}.example.test`, appId: `/${n}`, portIndex: 0 }));
    const lbs = ['http://lb1.example.test:9090', 'http://lb2.example.test:9090'] as const;
    const rec = (lb: string, name: string, status: DeliveryRecord['status'], failing = false): DeliveryRecord => ({
      lb,
      name,
      status,
      failing,
      checkedAt: now - 30_000,
      lastServedAt: status === 'served' ? now - 30_000 : now - 2 * DAY,
      detail: status === 'served' ? undefined : 'an earlier certificate of ours',
    });
    const records = [
      ...['shop', 'blog', 'api', 'due'].map((n) => rec(lbs[0], `${n}.example.test`, 'served')),
      rec(lbs[1], 'shop.example.test', 'stale', true),
      rec(lbs[1], 'blog.example.test', 'stale'),
      rec(lbs[1], 'api.example.test', 'served'),
      rec(lbs[1], 'due.example.test', 'served'),
    ];
    const summaries = lbs.map((lb) => summariseLb(lb, records, undefined, true));
    const report = await readStatus(storage, now, { wanted, delivery: { checkPort: 443, records, lbs: [...lbs] } });
    const view: StatusView = {
      generatedAt: report.generatedAt,
      version: 'test',
      marathon: { level: 'ok', summary: 'last sync succeeded', urls: ['http://marathon.example.test:8080'], eventStream: 'attached', lastSyncAt: report.generatedAt },
      account: { level: 'ok', summary: 'registered', directory: 'https://acme.example.test/directory' },
      lbs: summaries.map((s) => lbState(s.lb, s.pendingSignal, undefined, s)),
      delivery: report.delivery === null ? null : { ...report.delivery, lbs: summaries },
      cas: [],
      certificates: report.certificates,
    };
    const server = createHttpServer({ responder: new ChallengeResponder(), health: () => ({ healthy: true, problems: [], details: {} }), status: { view: () => Promise.resolve(view) }, logger: silentLogger() });
    const { port } = await listen(server, '127.0.0.1', 0);
    defer(() => closeServer(server));
    const url = `http://127.0.0.1:${port}/status`;
    const browser = await launch(defer);

    const { page, requested } = await open(browser, url, DESKTOP);
    assert.deepEqual(await visibleNames(page), [
      'new.example.test', // failing, no certificate
      'shop.example.test', // delivery failure on lb2
      'due.example.test', // renewal due
      'pending.example.test', // wanted, not issued yet
      'hand.example.test', // the fine ones by expiry: by hand, expiring on day 5
      'api.example.test',
      'blog.example.test', // lb2 still serves an older one, not yet a failure
    ]);
    await fullScreenshot(page, 'status-cluster-desktop.png');
    assert.match(await page.locator('.panel', { hasText: 'Needs attention' }).innerText(), /1 failing order\s+1 delivery failure\s+1 certificate not served yet by every LB\s+1 renewal due\s+1 name not issued yet/);

    // The stale LB: its card is red with the counts, its column says what it serves.
    const lb2Card = page.locator('.card', { hasText: lbs[1] });
    assert.equal(await lb2Card.getAttribute('class'), 'card bad');
    assert.equal(await lb2Card.locator('[data-stale]').getAttribute('data-stale'), '2');
    assert.equal(await lb2Card.locator('[data-failing]').getAttribute('data-failing'), '1');
    assert.equal(await page.locator('.card', { hasText: lbs[0] }).getAttribute('class'), 'card ok');
    // The column headings stay on screen while the rows scroll.
    await page.evaluate(() => {
      window.scrollTo(0, document.documentElement.scrollHeight);
    });
    assert.equal(Math.round((await page.locator('#certificates .head').boundingBox())?.y ?? -1), 0, 'the heading sticks to the top');
    await page.evaluate(() => {
      window.scrollTo(0, 0);
    });
    const headings = await page.locator('#certificates .head th').allInnerTexts();
    assert.deepEqual(headings.slice(-2), ['lb1.example.test:9090', 'lb2.example.test:9090']);
    const shopCells = page.locator('#certificates tbody tr', { hasText: 'shop.example.test' }).locator('td.d');
    assert.deepEqual(await shopCells.evaluateAll((tds: Element[]) => tds.map((td) => td.getAttribute('class'))), ['d served', 'd stale failing']);
    assert.match(await shopCells.nth(1).innerText(), /stale: failing/);
    assert.equal(await shopCells.nth(1).evaluate((el) => getComputedStyle(el).backgroundColor === 'rgba(0, 0, 0, 0)'), false, 'a failing answer is highlighted');

    // The picture of the next 90 days, per day: [renewals, expiring].
    const bars = await page.locator('svg.chart g[data-day]').evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-day'), Number(g.getAttribute('data-renewals')), Number(g.getAttribute('data-expiring'))]));
    const dayOf = (offset: number): string => new Date(now + offset * DAY).toISOString().slice(0, 10);
    assert.deepEqual(bars, [
      [dayOf(0), 1, 0],
      [dayOf(5), 0, 1],
      [dayOf(20), 1, 0],
      [dayOf(25), 0, 1],
      [dayOf(50), 2, 1],
      [dayOf(80), 0, 2],
    ]);
    const chartBox = await page.locator('svg.chart').boundingBox();
    assert.ok(chartBox !== null && chartBox.width > 1000, `the chart spans the page (${chartBox?.width ?? 0} px)`);
    assert.equal(await page.locator('svg.chart rect.renew').count(), 3);

    // The filter: by name, by app, by state, by problem, all without a request.
    const text = page.locator('#filter-text');
    const pick = page.locator('#filter-state');
    const shows = async (what: string, expected: string[]): Promise<void> => {
      await eventually(`the filter ${what} leaves ${expected.join(', ')}`, async () => JSON.stringify(await visibleNames(page)) === JSON.stringify(expected));
    };
    await text.fill('blog');
    await shows('"blog"', ['blog.example.test']);
    assert.equal(await page.locator('#filter-count').innerText(), '1 of 7 shown');
    await text.fill('/api');
    await shows('"/api"', ['api.example.test']);
    await text.fill('stale');
    await shows('"stale"', ['shop.example.test', 'blog.example.test']);
    await text.fill('renew due');
    await shows('"renew due"', ['due.example.test']);
    await text.fill('');
    await pick.selectOption('flag:delivery-failure');
    await shows('delivery failures', ['shop.example.test']);
    await pick.selectOption('state:pending');
    await shows('state pending', ['pending.example.test']);
    await pick.selectOption('problems');
    await shows('problems only', ['new.example.test', 'shop.example.test', 'due.example.test', 'pending.example.test', 'blog.example.test']);
    await text.fill('example');
    await shows('problems and "example"', ['new.example.test', 'shop.example.test', 'due.example.test', 'pending.example.test', 'blog.example.test']);
    await fullScreenshot(page, 'status-cluster-desktop-filtered.png');
    await pick.selectOption('');
    await text.fill('');
    await shows('nothing', await page.locator('#certificates tbody tr td:first-child strong').allInnerTexts());
    assert.deepEqual(requested, [url], 'the page loads nothing else, and filtering asks the server nothing');

    const { page: phone } = await open(browser, url, PHONE);
    await noSidewaysScroll(phone);
    await phone.locator('#filter-text').fill('shop');
    await eventually('the filter works on a phone', async () => (await visibleNames(phone)).join() === 'shop.example.test');
    await noSidewaysScroll(phone);
    await phone.locator('#filter-text').fill('');
    await eventually('every row back', async () => (await visibleNames(phone)).length === 7);
    await fullScreenshot(phone, 'status-cluster-phone.png');
    await phone.locator('section.timeline').screenshot({ path: join(ARTIFACTS, 'status-cluster-chart-phone.png') });

    // Once a minute the page reloads itself, keeping the filter (in the address), but not while
    // someone types in the filter. A fake clock stands in for the minute.
    const timed = await browser.newPage(DESKTOP);
    await timed.clock.install();
    const loads: string[] = [];
    timed.on('request', (r) => loads.push(r.url()));
    await timed.goto(url);
    assert.match(await timed.locator('#age').innerText(), /^, \d s ago$/);
    await timed.locator('#filter-text').fill('blog');
    await timed.clock.runFor(61_000);
    assert.equal(await timed.locator('#age').innerText(), ', 61 s ago');
    assert.equal(loads.length, 1, 'no reload while the filter has the focus');
    await timed.locator('#filter-text').blur();
    assert.equal(new URL(timed.url()).hash, '#filter=blog', 'the filter is in the address');
    const reloaded = timed.waitForEvent('load');
    await timed.clock.runFor(1_000);
    await reloaded;
    assert.equal(loads.length, 2, 'reloaded once the focus left the filter');
    assert.equal(await timed.locator('#filter-text').inputValue(), 'blog');
    assert.deepEqual(await visibleNames(timed), ['blog.example.test'], 'the reloaded page shows the same rows');
    assert.equal(await timed.locator('#age').innerText(), ', 0 s ago');
    await timed.close();

    // Without JavaScript: no filter to mislead, every row, the chart all the same.
    const plain = await browser.newPage({ ...DESKTOP, javaScriptEnabled: false });
    await plain.goto(url);
    assert.equal(await plain.locator('#filter').isVisible(), false);
    assert.equal(await plain.locator('#certificates tbody tr:visible').count(), 7);
    assert.equal(await plain.locator('svg.chart g[data-day]').count(), 6);
  });
});

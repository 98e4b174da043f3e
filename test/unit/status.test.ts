import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { formatBundle, parseBundle, type BundleResult } from '../../src/certs/bundle.js';
import { lifetimeRenewalTime } from '../../src/certs/renewal-schedule.js';
import { emptyState, type CertState, type DaemonState } from '../../src/state/state.js';
import { formatStatusJson, formatStatusTable, type StatusReport } from '../../src/status/command.js';
import { buildStatus, type StatusLocation, type StatusRow, type StoredFile } from '../../src/status/report.js';
import { FakeCa } from '../support/fake-ca.js';

const DAY = 86_400_000;
/** The fixed clock: every certificate below is dated relative to it. */
const NOW = Date.parse('2026-11-28T12:00:00.000Z');

/** An ECDSA P-256 bundle from the fake CA, issued `issuedDaysAgo` before NOW, valid `lifetimeDays`. */
async function fakeCaBundle(names: string[], issuedDaysAgo: number, lifetimeDays = 90): Promise<BundleResult> {
  const issued = await new FakeCa(lifetimeDays * DAY, () => NOW - issuedDaysAgo * DAY).issue(names);
  return parseBundle(formatBundle(issued.keyPem, issued.chainPem));
}

const RSA: RsaHashedKeyGenParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };
const P384: EcKeyGenParams & EcdsaParams = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };

/** A bundle whose leaf is signed by a separate issuer key under `issuer`, with the given leaf key type. */
async function issuedBy(issuer: string, name: string, keyAlgorithm: RsaHashedKeyGenParams | (EcKeyGenParams & EcdsaParams)): Promise<BundleResult> {
  const caKeys = await crypto.subtle.generateKey(P384, false, ['sign', 'verify']);
  const leafKeys = await crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex'),
    subject: `CN=${name}`,
    issuer,
    notBefore: new Date(NOW - DAY),
    notAfter: new Date(NOW + 89 * DAY),
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: P384,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: name }], false)],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', leafKeys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`;
  return parseBundle(formatBundle(keyPem, cert.toString('pem')));
}

function file(name: string, content: BundleResult, location: StatusLocation = 'certs'): StoredFile {
  return { location, file: `${location}/${name}.pem`, name, content };
}

function stateWith(entries: Record<string, CertState>): DaemonState {
  const state = emptyState();
  for (const [name, entry] of Object.entries(entries)) state.certificates.set(name, entry);
  return state;
}

function first(rows: readonly StatusRow[]): StatusRow {
  const row = rows[0];
  assert.ok(row, 'expected a row');
  return row;
}

function serialOf(content: BundleResult): string {
  if (!content.ok) assert.fail(content.reason);
  return content.bundle.leaf.serialHex;
}

describe('status report', () => {
  let shop: BundleResult;
  before(async () => {
    shop = await fakeCaBundle(['shop.example.test', 'www.shop.example.test'], 10);
  });

  it('describes a valid certificate with everything the files and state.json tell', () => {
    const state = stateWith({ 'shop.example.test': { owner: { appId: '/shop', portIndex: 1 } } });
    const row = first(buildStatus({ files: [file('shop.example.test', shop)], state, now: NOW }));
    const notBefore = NOW - 10 * DAY;
    assert.deepEqual(row, {
      name: 'shop.example.test',
      names: ['shop.example.test', 'www.shop.example.test'],
      state: 'valid',
      reason: `renewal from ${new Date(notBefore + 60 * DAY).toISOString().replace('.000Z', 'Z')} (a third of the lifetime left)`,
      location: 'certs',
      file: 'certs/shop.example.test.pem',
      appId: '/shop',
      portIndex: 1,
      issuer: 'shop.example.test',
      issuerDn: 'CN=shop.example.test',
      ca: null,
      keyType: 'ECDSA P-256',
      serial: serialOf(shop),
      notBefore: new Date(notBefore).toISOString(),
      notAfter: new Date(notBefore + 90 * DAY).toISOString(),
      daysLeft: 80,
      nextRenewalAt: new Date(lifetimeRenewalTime({ notBefore, notAfter: notBefore + 90 * DAY })).toISOString(),
      lastError: null,
      failures: null,
      nextAttemptAt: null,
      delivery: [],
    });
  });

  it('uses the renewal time the daemon stored for this certificate, not one stored for an earlier one', () => {
    const renewAt = NOW + 20 * DAY;
    const decided = (serial: string): DaemonState =>
      stateWith({ 'shop.example.test': { renewal: { serial, renewAt, source: 'ari', reason: 'ARI window 2026-12-18T00:00:00.000Z to 2026-12-20T00:00:00.000Z' } } });
    const current = first(buildStatus({ files: [file('shop.example.test', shop)], state: decided(serialOf(shop)), now: NOW }));
    assert.equal(current.nextRenewalAt, new Date(renewAt).toISOString());
    assert.match(current.reason, /^renewal from 2026-12-18T12:00:00Z \(ARI window /);
    const stale = first(buildStatus({ files: [file('shop.example.test', shop)], state: decided('00ff'), now: NOW }));
    assert.equal(stale.nextRenewalAt, new Date(NOW + 50 * DAY).toISOString(), 'the lifetime rule: notBefore + 60 days');
  });

  it('names the CA that issued this very certificate, when state.json knows it, in the row and the table', () => {
    const directory = 'https://acme-v02.api.letsencrypt.org/directory';
    const issued = (serial: string): DaemonState => stateWith({ 'shop.example.test': { issuedBy: { directory, serial } } });
    const known = first(buildStatus({ files: [file('shop.example.test', shop)], state: issued(serialOf(shop)), now: NOW }));
    assert.equal(known.ca, directory);
    const table = formatStatusTable({ storageDir: '/data', generatedAt: new Date(NOW).toISOString(), delivery: null, cas: [], certificates: [known], warnings: [] });
    assert.match(table, / via acme-v02\.api\.letsencrypt\.org /);
    const other = first(buildStatus({ files: [file('shop.example.test', shop)], state: issued('00ff'), now: NOW }));
    assert.equal(other.ca, null, 'recorded for another certificate');
  });

  it('moves from valid to renew due, expiring soon and expired as the clock passes the daemon\'s thresholds', () => {
    // Issued 10 days before NOW, valid 90 days: renewal at day 60, emergency from day 85.5, expired after day 90.
    const at = (day: number) => first(buildStatus({ files: [file('shop.example.test', shop)], state: undefined, now: NOW - 10 * DAY + day * DAY }));
    assert.equal(at(59.9).state, 'valid');
    assert.equal(at(60).state, 'renew due');
    assert.match(at(60).reason, /^renewal due since .*; the daemon renews it at its next renewal check$/);
    assert.equal(at(85.4).state, 'renew due');
    assert.equal(at(85.6).state, 'expiring soon');
    assert.equal(at(85.6).daysLeft, 4);
    assert.equal(at(90).state, 'expiring soon', 'notAfter itself is still inside the validity period');
    assert.equal(at(90).daysLeft, 0);
    const expired = at(90.5);
    assert.equal(expired.state, 'expired');
    assert.equal(expired.daysLeft, -1);
    assert.match(expired.reason, /^expired at .*; the daemon renews it at its next renewal check$/);
  });

  it('shows the last failure and waits with the next renewal until the backoff has passed', () => {
    const now = NOW + 55 * DAY; // renewal due since day 60 after issuance, i.e. 5 days ago
    const nextAttemptAt = now + 3_600_000;
    const state = stateWith({
      'shop.example.test': {
        failure: { failures: 3, lastError: { type: 'connection', detail: 'Connection refused', status: 400 }, nextAttemptAt, lastFailureAt: now - 60_000 },
      },
    });
    const row = first(buildStatus({ files: [file('shop.example.test', shop)], state, now }));
    assert.equal(row.state, 'renew due');
    assert.equal(row.lastError, 'connection: Connection refused');
    assert.equal(row.failures, 3);
    assert.equal(row.nextAttemptAt, new Date(nextAttemptAt).toISOString());
    assert.equal(row.nextRenewalAt, new Date(nextAttemptAt).toISOString());
    assert.match(row.reason, /; 3 failed attempts, next attempt not before .*: connection: Connection refused$/);
  });

  it('reports unusable files in certs/ with the reason, the retired and unmanaged ones for what they are', async () => {
    const hand = await fakeCaBundle(['hand.example.test'], 1);
    const gone = await fakeCaBundle(['gone.example.test'], 30);
    // A state.json entry under an unmanaged file's name belongs to certs/, not to that file.
    const state = stateWith({ 'hand.example.test': { owner: { appId: '/hand', portIndex: 0 } } });
    const rows = buildStatus({
      files: [
        file('broken.example.test', { ok: false, reason: 'the file contains no PEM blocks' }),
        file('hand.example.test', hand, 'unmanaged-certs'),
        file('gone.example.test', gone, 'retired-certs'),
      ],
      state,
      now: NOW,
    });
    const named = (name: string) => first(rows.filter((r) => r.name === name));
    const broken = named('broken.example.test');
    assert.equal(broken.state, 'unusable');
    assert.match(broken.reason, /^the file contains no PEM blocks; HAProxy cannot load it, and the daemon moves it to corrupt-certs\//);
    assert.deepEqual([broken.notAfter, broken.daysLeft, broken.keyType, broken.names], [null, null, null, []]);
    const unmanaged = named('hand.example.test');
    assert.equal(unmanaged.state, 'unmanaged');
    assert.equal(unmanaged.appId, null);
    assert.equal(unmanaged.nextRenewalAt, null, 'never renewed by marathon-acme');
    const retired = named('gone.example.test');
    assert.equal(retired.state, 'retired');
    assert.equal(retired.location, 'retired-certs');
    assert.equal(retired.nextRenewalAt, null);
    const expiredByHand = first(buildStatus({ files: [file('hand.example.test', hand, 'unmanaged-certs')], state: undefined, now: NOW + 100 * DAY }));
    assert.equal(expiredByHand.state, 'expired');
    assert.match(expiredByHand.reason, /never renewed by marathon-acme/);
  });

  it('sorts by urgency: expired first, then unusable files, then the soonest expiry; retired ones last', async () => {
    const files = [
      file('later.example.test', await fakeCaBundle(['later.example.test'], 1)),
      file('retired.example.test', await fakeCaBundle(['retired.example.test'], 200), 'retired-certs'),
      file('sooner.example.test', await fakeCaBundle(['sooner.example.test'], 50)),
      file('broken.example.test', { ok: false, reason: 'the file is empty' }),
      file('expired.example.test', await fakeCaBundle(['expired.example.test'], 95)),
      file('byhand.example.test', await fakeCaBundle(['byhand.example.test'], 100), 'unmanaged-certs'),
    ];
    const rows = buildStatus({ files, state: undefined, now: NOW });
    assert.deepEqual(
      rows.map((r) => `${r.state} ${r.name}`),
      [
        'expired byhand.example.test',
        'expired expired.example.test',
        'unusable broken.example.test',
        'valid sooner.example.test',
        'valid later.example.test',
        'retired retired.example.test',
      ],
    );
  });

  it('names the key type and the issuer by CN and O', async () => {
    const rsa = await issuedBy("C=US, O=Let's Encrypt, CN=R11", 'rsa.example.test', RSA);
    const ec = await issuedBy('CN=Test Issuer', 'ec.example.test', P384);
    const rows = buildStatus({ files: [file('rsa.example.test', rsa), file('ec.example.test', ec)], state: undefined, now: NOW });
    const rsaRow = first(rows.filter((r) => r.name === 'rsa.example.test'));
    const ecRow = first(rows.filter((r) => r.name === 'ec.example.test'));
    assert.equal(rsaRow.keyType, 'RSA 2048');
    assert.equal(rsaRow.issuer, "R11 (Let's Encrypt)");
    assert.equal(rsaRow.issuerDn, "C=US, O=Let's Encrypt, CN=R11");
    assert.equal(ecRow.keyType, 'ECDSA P-384');
    assert.equal(ecRow.issuer, 'Test Issuer');
  });
});

describe('status output', () => {
  it('prints an aligned table, the reason last, and escapes control characters from the files', async () => {
    const files = [
      file('shop.example.test', await fakeCaBundle(['shop.example.test'], 10)),
      file('bad\u001b[31m', { ok: false, reason: 'the file is empty' }),
    ];
    const report: StatusReport = { storageDir: '/data', generatedAt: new Date(NOW).toISOString(), delivery: null, cas: [], certificates: buildStatus({ files, state: undefined, now: NOW }), warnings: [] };
    const notAfter = new Date(NOW + 80 * DAY).toISOString().replace('.000Z', 'Z');
    const renewal = new Date(NOW + 50 * DAY).toISOString().replace('.000Z', 'Z');
    assert.equal(
      formatStatusTable(report),
      [
        'STATE     NAMES              NOT AFTER             DAYS  KEY          ISSUER             APP  SERVED  REASON',
        'unusable  bad\\u001b[31m      -                        -  -            -                  -    -       the file is empty; HAProxy cannot load it, and the daemon moves it to corrupt-certs/ when it starts or at its next renewal check',
        `valid     shop.example.test  ${notAfter}    80  ECDSA P-256  shop.example.test  -    -       renewal from ${renewal} (a third of the lifetime left)`,
        '',
      ].join('\n'),
    );
    assert.equal(formatStatusTable({ ...report, certificates: [] }), 'no certificates stored in /data\n');
  });

  it('prints JSON with stable field names and ISO dates', async () => {
    const certificates = buildStatus({ files: [file('shop.example.test', await fakeCaBundle(['shop.example.test'], 10))], state: undefined, now: NOW });
    const parsed = JSON.parse(formatStatusJson({ storageDir: '/data', generatedAt: new Date(NOW).toISOString(), delivery: null, cas: [], certificates, warnings: ['not printed'] })) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ['storageDir', 'generatedAt', 'certificates', 'delivery', 'cas']);
    assert.equal(parsed['generatedAt'], '2026-11-28T12:00:00.000Z');
    const [row] = parsed['certificates'] as Array<Record<string, unknown>>;
    assert.ok(row);
    const fields = [
      'name', 'names', 'state', 'reason', 'location', 'file', 'appId', 'portIndex', 'issuer', 'issuerDn', 'ca',
      'keyType', 'serial', 'notBefore', 'notAfter', 'daysLeft', 'nextRenewalAt', 'lastError', 'failures', 'nextAttemptAt', 'delivery',
    ];
    assert.deepEqual(Object.keys(row), fields);
    // The same fields in the same order for every state, unusable files included.
    const bad = first(buildStatus({ files: [file('bad.example.test', { ok: false, reason: 'the file is empty' })], state: undefined, now: NOW }));
    assert.deepEqual(Object.keys(bad), fields);
    const pending = first(buildStatus({ files: [], state: undefined, now: NOW, wanted: [{ name: 'new.example.test', appId: '/new', portIndex: 0 }] }));
    assert.deepEqual(Object.keys(pending), fields, 'a name without a file too');
    assert.equal(row['notAfter'], new Date(NOW + 80 * DAY).toISOString());
  });
});

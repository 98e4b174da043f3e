import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCli } from '../../src/cli.js';
import { ConfigError } from '../../src/config.js';
import { answerError, findCertsDirectory, listedNames, normaliseSerial, parseStoreInfo, versionRefusal } from '../../src/lb/runtime/runtime-answers.js';
import { RuntimeLink } from '../../src/lb/runtime/runtime-link.js';
import { parseRuntimeTarget, parseRuntimeTargets } from '../../src/lb/runtime/runtime-target.js';
import { silentLogger } from '../../src/log.js';
import { formatBundle } from '../../src/certs/bundle.js';
import { FakeCa } from '../support/fake-ca.js';

// Answers as Debian's HAProxy 2.6.12 gives them.
const SHOW_USED = 'Filename: /srv/acme/certs/a.example.pem\nStatus: Used\nSerial: 06778DF50F4D12616E2AAAD5EAEDCC4DBB8D37E7B\nnotBefore: Dec  6 11:18:29 2026 GMT\n\n';
const NOT_FOUND = "Can't display the certificate: Not found or the certificate is a bundle!\n\n";

describe('HAProxy runtime API answers', () => {
  it('tells success from HAProxy\'s own error text, step by step', () => {
    assert.equal(answerError('new', "New empty certificate store '/c/a.pem'!\n\n"), undefined);
    assert.equal(answerError('set', 'Transaction updated for certificate /c/a.pem!\n\n'), undefined);
    assert.equal(answerError('commit', 'Committing /c/a.pem\nSuccess!\n\n'), undefined);
    assert.equal(answerError('add', "Inserting certificate '/c/a.pem' in crt-list '/c'.\nSuccess!\n\n"), undefined);
    assert.equal(answerError('delList', "Entry '/c/a.pem' deleted in crtlist '/c'!\n\n"), undefined);
    assert.equal(answerError('delCert', "Certificate '/c/a.pem' deleted!\n\n"), undefined);
    assert.equal(answerError('set', "unable to load certificate from file '/c/a.pem'.\nCan't load the payload\nCan't update /c/a.pem!\n\n"), "unable to load certificate from file '/c/a.pem'. Can't load the payload Can't update /c/a.pem!");
    assert.equal(answerError('commit', 'Permission denied\n\n'), 'Permission denied', 'an operator-level socket refuses admin commands');
    assert.equal(answerError('new', ''), 'an empty answer');
  });

  it('reads one store: used or not, and its serial', () => {
    assert.deepEqual(parseStoreInfo(SHOW_USED), { used: true, serial: '6778DF50F4D12616E2AAAD5EAEDCC4DBB8D37E7B' });
    assert.deepEqual(parseStoreInfo('Filename: /c/b.pem\nStatus: Unused\nSerial: \n\n'), { used: false, serial: undefined });
    assert.equal(parseStoreInfo(NOT_FOUND), undefined);
    assert.throws(() => parseStoreInfo('Unknown command\n\n'), /unexpected answer to show ssl cert/);
    assert.equal(normaliseSerial('06:77:df'), '677DF');
    assert.equal(normaliseSerial('00'), '0');
  });

  it("finds the crt directory that is the storage directory's certs/, wherever marathon-lb mounts it", () => {
    assert.deepEqual(listedNames('# filename\n/mnt/acme/certs/a.pem\n/mnt/acme/default.pem\n\n'), ['/mnt/acme/certs/a.pem', '/mnt/acme/default.pem']);
    assert.deepEqual(findCertsDirectory(['/mnt/acme/certs'], ['/mnt/acme/default.pem']), { dir: '/mnt/acme/certs' });
    assert.deepEqual(findCertsDirectory(['/etc/other/certs', '/mnt/acme/certs/'], ['/mnt/acme/default.pem', '/etc/ssl/x.pem']), { dir: '/mnt/acme/certs' }, 'the one beside default.pem');
    assert.deepEqual(findCertsDirectory(['/only/certs'], []), { dir: '/only/certs' });
    const none = findCertsDirectory([], ['/etc/ssl/cert.pem']);
    assert.ok('error' in none && /crt-lists: none/.test(none.error));
    assert.ok('error' in findCertsDirectory(['/a/certs', '/b/certs'], []), 'two candidates and no default.pem to choose by');
  });

  it('refuses an HAProxy older than 2.2 by its version, before any change', () => {
    assert.match(versionRefusal('Name: HAProxy\nVersion: 2.0.17\nRelease_date: 2020/07/31\n') ?? '', /HAProxy 2\.0 cannot load certificates without a reload/);
    assert.equal(versionRefusal('Name: HAProxy\nVersion: 2.6.12-1+deb12u4\n'), undefined);
    assert.equal(versionRefusal('Version: 3.2.4\n'), undefined);
    assert.equal(versionRefusal('Permission denied\n'), undefined, 'no version to judge by: the commands themselves will tell');
  });

  it('parses --lb-runtime: tcp and unix sockets, none, one per --lb', () => {
    assert.deepEqual(parseRuntimeTarget('tcp://10.0.0.5:9999'), { kind: 'tcp', host: '10.0.0.5', port: 9999, display: 'tcp://10.0.0.5:9999' });
    assert.deepEqual(parseRuntimeTarget('tcp://[fd00::5]:9999'), { kind: 'tcp', host: 'fd00::5', port: 9999, display: 'tcp://[fd00::5]:9999' });
    assert.deepEqual(parseRuntimeTarget('unix:///var/run/haproxy/admin.sock'), { kind: 'unix', path: '/var/run/haproxy/admin.sock', display: 'unix:///var/run/haproxy/admin.sock' });
    assert.equal(parseRuntimeTarget('none'), undefined);
    for (const bad of ['http://lb:9090', 'tcp://lb', 'tcp://user:pw@lb:1', 'tcp://lb:1/path', 'unix://', 'lb:9999']) assert.throws(() => parseRuntimeTarget(bad), ConfigError, bad);
    assert.throws(() => parseRuntimeTargets('tcp://a:1,,tcp://b:2'), /empty item/);
    const ok = parseCli(['--lb', 'http://lb1:9090,http://lb2:9090', '--lb-runtime', 'tcp://lb1:9999,none', '/srv/acme'], {});
    assert.ok(ok.kind === 'run');
    assert.deepEqual(ok.config.lbRuntime.map((r) => r?.display), ['tcp://lb1:9999', undefined]);
    const fromEnv = parseCli(['/srv/acme'], { MARATHON_ACME_LB: 'http://lb1:9090', MARATHON_ACME_LB_RUNTIME: 'unix:///run/hap.sock' });
    assert.ok(fromEnv.kind === 'run');
    assert.equal(fromEnv.config.lbRuntime[0]?.display, 'unix:///run/hap.sock');
    const mismatch = parseCli(['--lb', 'http://lb1:9090,http://lb2:9090', '--lb-runtime', 'tcp://lb1:9999', '/srv/acme'], {});
    assert.ok(mismatch.kind === 'exit' && mismatch.code === 2 && /--lb-runtime lists 1 socket\(s\) for 2 --lb URL\(s\)/.test(mismatch.stderr));
    const none = parseCli(['/srv/acme'], {});
    assert.ok(none.kind === 'run');
    assert.deepEqual(none.config.lbRuntime, []);
  });
});

describe('loading certificates over the runtime API', () => {
  /** A scripted socket: answers by command, and records what was sent. */
  function scripted(answers: (line: string) => string) {
    const sent: string[] = [];
    const command = (line: string, payload?: string): Promise<string> => {
      sent.push(payload === undefined ? line : `${line} <<payload>>`);
      return Promise.resolve(answers(line));
    };
    return { sent, command };
  }

  it('aborts a failed transaction, so the next one is not blocked, and reports the name as failed', async () => {
    const { sent, command } = scripted((line) => {
      if (line === 'show info') return 'Name: HAProxy\nVersion: 2.6.12\n\n';
      if (line === 'show ssl crt-list') return '/mnt/certs\n\n';
      if (line === 'show ssl cert') return '# filename\n/mnt/default.pem\n\n';
      if (line.startsWith('show ssl cert ')) return SHOW_USED;
      if (line.startsWith('set ssl cert')) return 'Transaction created for certificate /mnt/certs/a.example.pem!\n\n';
      if (line.startsWith('commit')) return "Can't commit: the certificate does not match its key\n\n";
      return 'Transaction aborted\n\n';
    });
    const issued = await new FakeCa(90 * 86_400_000, () => Date.now()).issue(['a.example']);
    const pem = formatBundle(issued.keyPem, issued.chainPem);
    const link = new RuntimeLink({ lb: 'http://lb1:9090', socket: 'tcp://lb1:9999', command, readBundle: () => Promise.resolve(pem), logger: silentLogger() });
    const result = await link.push(['a.example']);
    assert.equal(result.done.length, 0);
    assert.match(result.failed[0]?.error ?? '', /^commit ssl cert: Can't commit: the certificate does not match its key$/);
    assert.deepEqual(sent.slice(-3), ['set ssl cert /mnt/certs/a.example.pem <<payload>>', 'commit ssl cert /mnt/certs/a.example.pem', 'abort ssl cert /mnt/certs/a.example.pem']);
  });

  it('takes a retired name out of its crt directory and deletes its store, and leaves alone one HAProxy never had', async () => {
    const { sent, command } = scripted((line) => {
      if (line === 'show info') return 'Name: HAProxy\nVersion: 3.2.4\n\n';
      if (line === 'show ssl crt-list') return '/mnt/certs\n\n';
      if (line === 'show ssl cert') return '# filename\n/mnt/certs/old.example.pem\n/mnt/default.pem\n\n';
      if (line === 'show ssl cert /mnt/certs/old.example.pem') return SHOW_USED;
      if (line.startsWith('show ssl cert ')) return NOT_FOUND;
      if (line.startsWith('del ssl crt-list')) return "Entry '/mnt/certs/old.example.pem' deleted in crtlist '/mnt/certs'!\n\n";
      if (line.startsWith('del ssl cert')) return "Certificate '/mnt/certs/old.example.pem' deleted!\n\n";
      return 'unexpected\n\n';
    });
    const link = new RuntimeLink({ lb: 'http://lb1:9090', socket: 'tcp://lb1:9999', command, readBundle: () => Promise.resolve(undefined), logger: silentLogger() });
    const result = await link.push(['old.example', 'never.example']);
    assert.deepEqual(result, { done: [{ name: 'old.example', change: 'removed' }, { name: 'never.example', change: 'absent' }], failed: [] });
    assert.deepEqual(sent.filter((l) => l.startsWith('del')), ['del ssl crt-list /mnt/certs /mnt/certs/old.example.pem', 'del ssl cert /mnt/certs/old.example.pem']);
  });
});

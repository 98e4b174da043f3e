import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeConfig, parseCli } from '../../src/cli.js';
import { parseWebhookUrl } from '../../src/notify/target.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const result = parseCli([...argv, '/data'], env);
  if (result.kind === 'exit') assert.fail(`expected a config, got exit ${result.code}: ${result.stderr}`);
  return result.config;
}

function refusal(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = parseCli([...argv, '/data'], env);
  if (result.kind !== 'exit') assert.fail('expected a usage error');
  assert.equal(result.code, 2);
  return result.stderr;
}

const SLACK = 'https://hooks.slack.com/services/T0001/B0001/s3cretToken';
const MATTERMOST = 'http://chat.example:8065/hooks/xyzzy';

describe('notification options', () => {
  it('sends nothing by default and notifies from the third failure in a row', () => {
    const c = config([]);
    assert.deepEqual(c.notifyUrls, []);
    assert.equal(c.notifyAfterFailures, 3);
  });

  it('takes --notify-url several times, each a URL or a comma list, in order', () => {
    assert.deepEqual(config(['--notify-url', SLACK]).notifyUrls, [SLACK]);
    assert.deepEqual(config(['--notify-url', SLACK, `--notify-url=${MATTERMOST}, https://c.example/x`]).notifyUrls, [SLACK, MATTERMOST, 'https://c.example/x']);
  });

  it('reads MARATHON_ACME_NOTIFY_URL as a comma list and MARATHON_ACME_NOTIFY_AFTER_FAILURES; flags win', () => {
    const env = { MARATHON_ACME_NOTIFY_URL: `${SLACK},${MATTERMOST}`, MARATHON_ACME_NOTIFY_AFTER_FAILURES: '5' };
    const fromEnv = config([], env);
    assert.deepEqual(fromEnv.notifyUrls, [SLACK, MATTERMOST]);
    assert.equal(fromEnv.notifyAfterFailures, 5);
    const flags = config(['--notify-url', 'https://flag.example/h', '--notify-after-failures', '1'], env);
    assert.deepEqual(flags.notifyUrls, ['https://flag.example/h']);
    assert.equal(flags.notifyAfterFailures, 1);
  });

  it('refuses what is not an http(s) URL without repeating the secret parts', () => {
    const scheme = refusal(['--notify-url', 'ftp://user:pw@files.example/drop/s3cretToken']);
    assert.match(scheme, /--notify-url/);
    assert.match(scheme, /the notification URL \(ftp:\/\/files\.example\/…\) must be an http:\/\/ or https:\/\/ URL/);
    const garbage = refusal(['--notify-url', `${SLACK},not a url s3cretToken`]);
    assert.match(garbage, /notification URL 2 of 2 is not a valid URL/);
    const empty = refusal(['--notify-url', `${SLACK},,${MATTERMOST}`]);
    assert.match(empty, /notification URL 2 of 3 is empty/);
    const fromEnv = refusal([], { MARATHON_ACME_NOTIFY_URL: 'gopher://h.example/s3cretToken' });
    assert.match(fromEnv, /environment variable MARATHON_ACME_NOTIFY_URL: the notification URL \(gopher:\/\/h\.example\/…\)/);
    for (const text of [scheme, garbage, empty, fromEnv]) {
      assert.equal(text.includes('s3cretToken'), false, text);
      assert.equal(text.includes('pw@'), false, text);
    }
  });

  it('refuses a failure count below 1', () => {
    assert.match(refusal(['--notify-after-failures', '0']), /--notify-after-failures.*'0' is not a whole number of at least 1/);
    assert.match(refusal([], { MARATHON_ACME_NOTIFY_AFTER_FAILURES: 'many' }), /MARATHON_ACME_NOTIFY_AFTER_FAILURES/);
  });

  it('shows only scheme://host of each URL in the start-up line', () => {
    const described = describeConfig(config(['--notify-url', `${SLACK},https://u:p@h.example:8443/x?token=t`]));
    assert.deepEqual(described['notifyUrls'], ['https://hooks.slack.com', 'https://h.example:8443']);
    assert.equal(described['notifyAfterFailures'], 3);
  });

  it('keeps the path and query of a webhook URL and moves user:password into a header', () => {
    const target = parseWebhookUrl('https://u%40x:p%3Aw@h.example/hook?token=t#frag');
    assert.equal(target.url, 'https://h.example/hook?token=t');
    assert.equal(target.authorization, `Basic ${Buffer.from('u@x:p:w').toString('base64')}`);
    assert.equal(target.display, 'https://h.example');
  });
});

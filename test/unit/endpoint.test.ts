import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeConfig, parseCli } from '../../src/cli.js';
import { redactUrlText } from '../../src/config.js';
import { endpointDisplayUrl, endpointUrl, parseEndpoint } from '../../src/util/endpoint.js';

const events = (): URLSearchParams => new URLSearchParams([['event_type', 'api_post_event'], ['event_type', 'event_stream_attached']]);

describe('a query string in a Marathon or marathon-lb URL', () => {
  it('is sent with every request, as written, before the request\'s own parameters', () => {
    const e = parseEndpoint('https://marathon.example:8443/?token=a%2Bb~c&flag');
    assert.equal(e.base, 'https://marathon.example:8443');
    assert.equal(endpointUrl(e, '/v2/apps'), 'https://marathon.example:8443/v2/apps?token=a%2Bb~c&flag');
    assert.equal(
      endpointUrl(e, '/v2/events', events()),
      'https://marathon.example:8443/v2/events?token=a%2Bb~c&flag&event_type=api_post_event&event_type=event_stream_attached',
    );
  });

  it('keeps both when the URL already has a parameter the request sends', () => {
    const e = parseEndpoint('http://m:8080?event_type=deployment_info');
    const sent = new URL(endpointUrl(e, '/v2/events', events()));
    assert.deepEqual(sent.searchParams.getAll('event_type'), ['deployment_info', 'api_post_event', 'event_stream_attached']);
  });

  it('goes with credentials and a base path, and a fragment is dropped', () => {
    const e = parseEndpoint('http://user:pw@proxy.example/marathon/?token=s3cret#top');
    assert.equal(endpointUrl(e, '/v2/apps'), 'http://proxy.example/marathon/v2/apps?token=s3cret');
    assert.equal(e.authorization, `Basic ${Buffer.from('user:pw').toString('base64')}`);
  });

  it('shows its parameter names but never their values', () => {
    const e = parseEndpoint('http://user:pw@proxy.example/marathon/?token=s3cret&tenant=blue');
    assert.equal(e.display, 'http://***@proxy.example/marathon?token=***&tenant=***');
    assert.equal(
      endpointDisplayUrl(e, '/v2/events', events()),
      'http://***@proxy.example/marathon/v2/events?token=***&tenant=***&event_type=api_post_event&event_type=event_stream_attached',
    );
    for (const text of [e.display, e.displayBase, endpointDisplayUrl(e, '/v2/apps')]) {
      assert.doesNotMatch(text, /s3cret|blue|pw/);
    }
  });

  it('changes nothing for a URL without one (an empty ? included)', () => {
    for (const raw of ['http://m:8080', 'http://m:8080/?', 'http://m:8080/#x']) {
      const e = parseEndpoint(raw);
      assert.equal(e.query, '');
      assert.equal(e.display, 'http://m:8080');
      assert.equal(endpointUrl(e, '/v2/apps'), 'http://m:8080/v2/apps');
      assert.equal(endpointDisplayUrl(e, '/v2/events', events()), 'http://m:8080/v2/events?event_type=api_post_event&event_type=event_stream_attached');
    }
  });

  it('is masked in the start-up line and in option errors', () => {
    assert.equal(redactUrlText('https://u:p@m.example/x?token=s3cret&t=2#f'), 'https://***@m.example/x?token=***&t=***#f');
    const parsed = parseCli(['--marathon', 'https://m.example/?token=s3cret', '--lb', 'http://lb.example:9090/?key=k3y', '/d'], {});
    if (parsed.kind !== 'run') assert.fail(`the options were refused: ${parsed.kind === 'exit' ? parsed.stderr : parsed.kind}`);
    const described = JSON.stringify(describeConfig(parsed.config));
    assert.doesNotMatch(described, /s3cret|k3y/);
    assert.match(described, /token=\*\*\*/);
  });
});

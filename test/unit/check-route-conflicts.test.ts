import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parsePathBeg, readLbPorts, takesChallengePath } from '../../src/check/lb-rules.js';
import { checkLabels, SAFE_WEIGHT } from '../../src/check/route-conflicts.js';
import { hostApp, type Labels } from '../support/apps.js';

/** The README's marathon-acme app labels, weight as given. */
function acmeApp(weight: string | undefined, id = '/marathon-acme', extra: Labels = {}) {
  return hostApp(id, {
    HAPROXY_GROUP: 'external',
    HAPROXY_0_VHOST: 'marathon-acme.example.com',
    ...(weight === undefined ? {} : { HAPROXY_0_BACKEND_WEIGHT: weight }),
    HAPROXY_0_PATH: '/.well-known/acme-challenge/',
    HAPROXY_0_HTTP_FRONTEND_ACL_WITH_PATH:
      '  acl host_{cleanedUpHostname} hdr(host) -i {hostname}\n  acl path_{backend} path_beg {path}\n  redirect prefix http://{hostname} code 302 if !host_{cleanedUpHostname} path_{backend}\n  use_backend {backend} if host_{cleanedUpHostname} path_{backend}\n',
    ...extra,
  });
}

/** A site that sends everything to HTTPS, as HAPROXY_0_PATH=/ with REDIRECT_TO_HTTPS does. */
function httpsSite(id: string, vhost: string, extra: Labels = {}) {
  return hostApp(id, { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: vhost, HAPROXY_0_PATH: '/', HAPROXY_0_REDIRECT_TO_HTTPS: 'true', ...extra });
}

const check = (apps: unknown[], names: string[], acmeAppId?: string) => checkLabels(apps, names, { group: 'external', acmeAppId });
const summary = (apps: unknown[], names: string[]) => check(apps, names).findings.map((f) => [f.name, f.severity, f.appId]);

describe('marathon-lb label check', () => {
  it('finds the README setup broken by an app that sorts first and redirects to HTTPS, and says which weight fixes it', () => {
    const result = check([acmeApp('1'), httpsSite('/api', 'api.example.com'), hostApp('/plain', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'plain.example.com' })], ['api.example.com', 'plain.example.com']);
    assert.deepEqual(result.acme, { appId: '/marathon-acme', portIndex: 0, weight: 1 });
    assert.deepEqual(result.problems, []);
    assert.equal(result.findings.length, 1);
    const [finding] = result.findings;
    assert.equal(finding?.severity, 'breaks');
    assert.equal(finding.appId, '/api');
    assert.match(finding.reason, /app \/api \(port 0\) redirects \/\.well-known\/acme-challenge\/ to HTTPS \(HAPROXY_0_REDIRECT_TO_HTTPS\) for api\.example\.com/);
    assert.match(finding.reason, /both have weight 1 \(a HAPROXY_\{n\}_PATH gives weight 1 when none is set\) and marathon-lb orders equal weights by app id, \/api before \/marathon-acme/);
    assert.match(finding.reason, /set HAPROXY_0_BACKEND_WEIGHT of \/marathon-acme to 100, above every other app's weight in group external$/);
    assert.equal(result.recommendedWeight, SAFE_WEIGHT);
  });

  it('calls a win by app id alone a tie, and the recommended weight clears both', () => {
    const apps = [acmeApp('1'), httpsSite('/zoo', 'zoo.example.com')];
    assert.deepEqual(summary(apps, ['zoo.example.com']), [['zoo.example.com', 'tie', '/zoo']]);
    assert.match(check(apps, ['zoo.example.com']).findings[0]?.reason ?? '', /comes first only because \/marathon-acme sorts before \/zoo/);
    assert.deepEqual(summary([acmeApp(String(SAFE_WEIGHT)), httpsSite('/api', 'api.example.com'), httpsSite('/zoo', 'zoo.example.com')], ['api.example.com', 'zoo.example.com']), []);
  });

  it('orders by weight before app id, and recommends a weight above the highest in the group', () => {
    const apps = [acmeApp('100'), httpsSite('/zoo', 'zoo.example.com', { HAPROXY_0_BACKEND_WEIGHT: '250' })];
    const result = check(apps, ['zoo.example.com']);
    assert.deepEqual(result.findings.map((f) => f.severity), ['breaks']);
    assert.match(result.findings[0]?.reason ?? '', /its weight 250 is higher than marathon-acme's 100; set HAPROXY_0_BACKEND_WEIGHT of \/marathon-acme to 251/);
    assert.equal(result.recommendedWeight, 251);
  });

  it('reads weights as marathon-lb does: a PATH turns 0 (given or not) into 1, int() syntax, unreadable labels reported', () => {
    const ports = readLbPorts(
      [
        httpsSite('/a', 'a.example.com', { HAPROXY_0_BACKEND_WEIGHT: '0' }),
        hostApp('/b', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'B.Example.com', HAPROXY_0_BACKEND_WEIGHT: ' +1_0 ' }),
        hostApp('/c', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'c.example.com', HAPROXY_0_BACKEND_WEIGHT: 'high' }),
        hostApp('/d', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'd.example.com', HAPROXY_0_PATH: '/x', HAPROXY_0_BACKEND_WEIGHT: '-3' }),
      ],
      'external',
    );
    assert.deepEqual(ports.ports.map((p) => [p.appId, p.weight, p.hosts]), [['/b', 10, ['b.example.com']], ['/a', 1, ['a.example.com']], ['/d', -3, ['d.example.com']]]);
    assert.deepEqual(ports.problems, ['label HAPROXY_0_BACKEND_WEIGHT of app /c is "high", not a whole number, so marathon-lb cannot read it; fix the label']);
  });

  it('takes only app ports in the group, enabled and with a VHOST; the port group wins over the app group', () => {
    const ports = readLbPorts(
      [
        hostApp('/in-list', { HAPROXY_GROUP: 'internal,external', HAPROXY_0_VHOST: 'a.example.com' }),
        hostApp('/internal', { HAPROXY_GROUP: 'internal', HAPROXY_0_VHOST: 'b.example.com' }),
        hostApp('/port-group', { HAPROXY_GROUP: 'external', HAPROXY_0_GROUP: 'internal', HAPROXY_1_VHOST: 'c.example.com', HAPROXY_0_VHOST: 'c0.example.com' }, [10001, 10002]),
        hostApp('/disabled', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'd.example.com', HAPROXY_0_ENABLED: 'false' }),
        hostApp('/no-vhost', { HAPROXY_GROUP: 'external', HAPROXY_0_PATH: '/' }),
        hostApp('/beyond-ports', { HAPROXY_GROUP: 'external', HAPROXY_1_VHOST: 'e.example.com' }),
      ],
      'external',
    );
    assert.deepEqual(ports.ports.map((p) => [p.appId, p.portIndex]), [['/in-list', 0], ['/port-group', 1]]);
  });

  it('a password on the vhost breaks validation whatever the weights', () => {
    const apps = [acmeApp(String(SAFE_WEIGHT)), hostApp('/intranet', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'intranet.example.com', HAPROXY_0_AUTH: 'realm:user:hash' })];
    const [finding] = check(apps, ['intranet.example.com']).findings;
    assert.equal(finding?.severity, 'breaks');
    assert.match(finding.reason, /asks for a password .*HAPROXY_0_AUTH.*no weight helps/);
  });

  it('a route of another app never beats the README redirect, whatever its weight', () => {
    const apps = [acmeApp('1'), hostApp('/api', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'api.example.com', HAPROXY_0_PATH: '/', HAPROXY_0_BACKEND_WEIGHT: '500' })];
    assert.deepEqual(summary(apps, ['api.example.com']), []);
  });

  it('without the redirect template, a redirect beats marathon-acme routes and the fix is the template', () => {
    const acme = hostApp('/marathon-acme', { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'marathon-acme.example.com,api.example.com', HAPROXY_0_PATH: '/.well-known/acme-challenge/', HAPROXY_0_BACKEND_WEIGHT: '100' });
    const [finding] = check([acme, httpsSite('/api', 'api.example.com')], ['api.example.com']).findings;
    assert.match(finding?.reason ?? '', /HAProxy applies redirects before routes whatever their weight, and marathon-acme's rule for api\.example\.com is a route: give its app the README's HAPROXY_0_HTTP_FRONTEND_ACL_WITH_PATH/);
    const [unrouted] = check([acme], ['other.example.com']).findings;
    assert.equal(unrouted?.appId, undefined);
    assert.match(unrouted?.reason ?? '', /no marathon-lb rule of group external sends http:\/\/other\.example\.com\/\.well-known\/acme-challenge\/ anywhere, so HAProxy answers 503/);
  });

  it("follows marathon-acme's redirect to its own name and checks that request too", () => {
    const apps = [acmeApp('100'), httpsSite('/hijack', 'marathon-acme.example.com', { HAPROXY_0_BACKEND_WEIGHT: '200' })];
    const [finding] = check(apps, ['shop.example.com']).findings;
    assert.equal(finding?.appId, '/hijack');
    assert.match(finding.reason, /for marathon-acme\.example\.com \(marathon-acme's own name, where the challenge for shop\.example\.com is redirected\)/);
  });

  it('identifies marathon-acme by its path or by --acme-app, and says when it cannot', () => {
    assert.match(check([httpsSite('/api', 'api.example.com')], ['api.example.com']).problems[0] ?? '', /no app among the apps of group external .* has HAPROXY_\{n\}_PATH \/\.well-known\/acme-challenge\//);
    const two = [acmeApp('1'), acmeApp('1', '/old-acme')];
    assert.match(check(two, ['a.example.com']).problems[0] ?? '', /several apps route .*\(\/marathon-acme, \/old-acme\).*--acme-app/);
    const chosen = check(two, ['a.example.com'], 'marathon-acme');
    assert.deepEqual(chosen.acme?.appId, '/marathon-acme');
    assert.deepEqual(chosen.findings.map((f) => [f.severity, f.appId]), [['tie', '/old-acme']]);
    assert.match(check(two, ['a.example.com'], '/missing').problems[0] ?? '', /marathon-acme's app \/missing \(--acme-app\) is not among the apps of group external/);
  });

  it('path_beg arguments: flags, case folding, and which paths take the challenge', () => {
    assert.deepEqual(parsePathBeg('-i /Multiple /paths'), { patterns: ['/Multiple', '/paths'], ignoreCase: true });
    assert.deepEqual(parsePathBeg('-- -i'), { patterns: ['-i'], ignoreCase: false });
    for (const [path, takes] of [['/', true], ['/.well-known', true], ['/.well-known/acme-challenge/abc', true], ['/api /static', false], ['-i /.WELL-KNOWN/', true], ['/.WELL-KNOWN/', false]] as const) {
      assert.equal(takesChallengePath(parsePathBeg(path)), takes, path);
    }
  });

  it('property: with the recommended weight on marathon-acme, no redirect or route of another app is found in the way', () => {
    const app = fc.record({
      id: fc.stringMatching(/^\/[a-z][a-z0-9-]{0,8}$/),
      weight: fc.option(fc.integer({ min: -5, max: 400 }).map(String), { nil: undefined }),
      path: fc.option(fc.constantFrom('/', '/.well-known/', '/.well-known/acme-challenge/x', '/api'), { nil: undefined }),
      redirect: fc.boolean(),
      vhost: fc.constantFrom('a.example.com', 'b.example.com', 'a.example.com,b.example.com'),
    });
    fc.assert(
      fc.property(fc.uniqueArray(app, { selector: (a) => a.id, maxLength: 8 }), fc.integer({ min: 0, max: 3 }), (others, acmeWeight) => {
        const apps = others
          .filter((o) => o.id !== '/marathon-acme')
          .map((o) =>
            hostApp(o.id, {
              HAPROXY_GROUP: 'external',
              HAPROXY_0_VHOST: o.vhost,
              ...(o.weight === undefined ? {} : { HAPROXY_0_BACKEND_WEIGHT: o.weight }),
              ...(o.path === undefined ? {} : { HAPROXY_0_PATH: o.path }),
              ...(o.redirect ? { HAPROXY_0_REDIRECT_TO_HTTPS: 'yes' } : {}),
            }),
          );
        const names = ['a.example.com', 'b.example.com'];
        const before = checkLabels([acmeApp(String(acmeWeight)), ...apps], names, { group: 'external', acmeAppId: '/marathon-acme' });
        const weight = before.recommendedWeight ?? acmeWeight;
        const after = checkLabels([acmeApp(String(weight)), ...apps], names, { group: 'external', acmeAppId: '/marathon-acme' });
        assert.deepEqual(after.findings, []);
      }),
    );
  });
});

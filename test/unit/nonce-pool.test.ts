import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import acme from 'acme-client';
import { AxiosHeaders, type AxiosAdapter, type AxiosResponse } from 'axios';
import { NoncePool, reuseNonces } from '../../src/acme/nonce-pool.js';

describe('NoncePool', () => {
  it('hands out the newest nonce first, each one once', () => {
    const pool = new NoncePool();
    pool.push('a');
    pool.push('b');
    pool.push('c');
    assert.deepEqual([pool.pop(), pool.pop(), pool.pop(), pool.pop()], ['c', 'b', 'a', undefined]);
    assert.equal(pool.size, 0);
  });

  it('keeps at most `capacity` nonces, dropping the oldest', () => {
    const pool = new NoncePool({ capacity: 2 });
    for (const nonce of ['a', 'b', 'c']) pool.push(nonce);
    assert.equal(pool.size, 2);
    assert.deepEqual([pool.pop(), pool.pop(), pool.pop()], ['c', 'b', undefined]);
  });

  it('drops nonces older than `maxAgeMs`, and everything older with them', () => {
    let now = 0;
    const pool = new NoncePool({ maxAgeMs: 1_000, now: () => now });
    pool.push('old');
    now = 500;
    pool.push('newer');
    now = 1_400;
    assert.equal(pool.pop(), 'newer', '900 ms old');
    pool.push('fresh');
    now = 2_401;
    assert.equal(pool.pop(), undefined, '1001 ms old');
    assert.equal(pool.size, 0, "'old' went with it");
  });
});

/**
 * A CA behind acme-client's own axios instance, so that the real acme-client code (signedRequest,
 * its badNonce retry, getNonce) runs against the hook: if acme-client stops calling what the hook
 * replaces, the HEAD counts below change.
 */
describe('reuseNonces on a real acme-client', () => {
  const DIRECTORY = 'https://ca.test/dir';
  const issued = { head: 0, post: 0 };
  let requests: string[] = [];
  /** The nonce in each signed request's protected header, in order. */
  let used: string[] = [];
  /** Type of problem to answer for the next POSTs, one per request. */
  let problems: string[] = [];
  let previousAdapter: unknown;
  let accountKey: Buffer;

  const answer = (status: number, headers: Record<string, string>, data: unknown): Omit<AxiosResponse, 'config'> => ({
    status,
    statusText: String(status),
    headers: new AxiosHeaders(headers),
    data,
    request: {},
  });

  const fakeCa: AxiosAdapter = (config) => {
    const method = (config.method ?? 'get').toUpperCase();
    requests.push(`${method} ${config.url ?? ''}`);
    const reply = (status: number, headers: Record<string, string>, data: unknown): Promise<AxiosResponse> =>
      Promise.resolve({ ...answer(status, headers, data), config });
    if (method === 'GET') return reply(200, {}, { newNonce: 'https://ca.test/nonce', newOrder: 'https://ca.test/order', newAccount: 'https://ca.test/acct' });
    if (method === 'HEAD') return reply(200, { 'replay-nonce': `head-${++issued.head}` }, '');
    const jws = JSON.parse(String(config.data)) as { protected: string };
    const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as { nonce: string };
    used.push(header.nonce);
    const problem = problems.shift();
    if (problem !== undefined) {
      return reply(400, { 'content-type': 'application/problem+json', 'replay-nonce': `problem-${++issued.post}` }, { type: `urn:ietf:params:acme:error:${problem}`, detail: problem });
    }
    return reply(201, { location: `https://ca.test/order/${issued.post}`, 'replay-nonce': `post-${++issued.post}` }, { status: 'pending' });
  };

  before(async () => {
    accountKey = await acme.crypto.createPrivateEcdsaKey();
    previousAdapter = acme.axios.defaults.adapter;
    acme.axios.defaults.adapter = fakeCa;
  });
  after(() => {
    // axios' defaults are typed loosely; put back exactly what was there.
    acme.axios.defaults.adapter = previousAdapter as AxiosAdapter;
  });

  const fresh = (): { client: acme.Client; pool: NoncePool } => {
    requests = [];
    used = [];
    problems = [];
    const client = new acme.Client({ directoryUrl: DIRECTORY, accountKey, accountUrl: 'https://ca.test/acct/1' });
    return { client, pool: reuseNonces(client) };
  };
  const order = (client: acme.Client): Promise<acme.Order> => client.createOrder({ identifiers: [{ type: 'dns', value: 'a.example.test' }] });
  const heads = (): number => requests.filter((r) => r.startsWith('HEAD ')).length;

  it('signs each request with the nonce of the previous answer, after one HEAD newNonce', async () => {
    const { client, pool } = fresh();
    for (let i = 0; i < 4; i++) await order(client);
    assert.equal(heads(), 1, requests.join('\n'));
    assert.equal(used.length, 4);
    assert.equal(new Set(used).size, 4, `no nonce twice: ${used.join(', ')}`);
    assert.match(used[0] ?? '', /^head-/);
    assert.ok(used.slice(1).every((n) => n.startsWith('post-')), used.join(', '));
    assert.equal(pool.size, 1, "the last answer's nonce waits for the next request");
  });

  it("leaves a badNonce answer's nonce to the library's retry, which spends it once", async () => {
    const { client, pool } = fresh();
    problems = ['badNonce'];
    await order(client);
    assert.equal(used.length, 2);
    assert.match(used[1] ?? '', /^problem-/, "the retry uses the badNonce answer's nonce");
    assert.equal(pool.size, 1, 'only the final answer was pooled');
    await order(client);
    assert.equal(new Set(used).size, used.length, `no nonce twice: ${used.join(', ')}`);
    assert.equal(heads(), 1);
  });

  it('pools the nonce of any other problem answer', async () => {
    const { client, pool } = fresh();
    problems = ['rateLimited'];
    await assert.rejects(order(client), /rateLimited/);
    assert.equal(pool.size, 1);
    await order(client);
    assert.equal(heads(), 1);
    assert.equal(new Set(used).size, used.length);
  });

  it('hands each pooled nonce to one of several concurrent requests, and fetches the rest', async () => {
    const { client } = fresh();
    await order(client);
    await Promise.all([order(client), order(client), order(client), order(client)]);
    assert.equal(used.length, 5);
    assert.equal(new Set(used).size, 5, `no nonce twice: ${used.join(', ')}`);
    assert.equal(heads(), 4, '1 for the first request, 3 for the concurrent ones the pool could not serve');
  });

  it('refuses a client without the internals it hooks into', () => {
    const client = new acme.Client({ directoryUrl: DIRECTORY, accountKey });
    // What a later acme-client might look like: an HTTP layer without getNonce().
    (client as unknown as { http: object }).http = { request: () => undefined };
    assert.throws(() => reuseNonces(client), /acme-client internals changed/);
  });
});

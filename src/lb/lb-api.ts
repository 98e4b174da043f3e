/**
 * The parts of one marathon-lb's HTTP API (HAProxy's stats listener, :9090) that signalling needs:
 * `/_mlb_signal/usr1` (reload with the files on disk), `/_haproxy_health_check` (HAProxy's
 * monitor-uri: 200 while it runs) and `/_haproxy_getpids` (the output of `pidof haproxy`: a new pid
 * appears when HAProxy reloads). A stats listener set up without the last two answers 404, which is
 * reported as `absent` so the caller can do without them.
 */
import { request, type Dispatcher } from 'undici';
import { describeRequestError } from '../util/http-error.js';
import { endpointDisplayUrl, endpointUrl, type Endpoint } from '../util/endpoint.js';
import { untrustedHint } from '../util/trust-store.js';

export type HealthAnswer = { kind: 'ok' } | { kind: 'absent' } | { kind: 'down'; error: string };
export type PidsAnswer = { kind: 'pids'; pids: string[] } | { kind: 'absent' } | { kind: 'error'; error: string };

export interface MarathonLbApi {
  /** Resolves when marathon-lb accepted the USR1 request; throws (with the URL in the message) otherwise. */
  signalReload(signal: AbortSignal): Promise<void>;
  health(signal: AbortSignal): Promise<HealthAnswer>;
  pids(signal: AbortSignal): Promise<PidsAnswer>;
}

const SIGNAL_PATH = '/_mlb_signal/usr1';
const HEALTH_PATH = '/_haproxy_health_check';
const PIDS_PATH = '/_haproxy_getpids';
/** Enough for any error page or pid list; anything longer is cut, not buffered. */
const MAX_BODY_CHARS = 4_096;

export class HttpMarathonLbApi implements MarathonLbApi {
  constructor(
    private readonly endpoint: Endpoint,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
  ) {}

  async signalReload(signal: AbortSignal): Promise<void> {
    let answer: { status: number; body: string };
    try {
      answer = await this.call('POST', SIGNAL_PATH, signal);
    } catch (err) {
      throw new Error(`${endpointDisplayUrl(this.endpoint, SIGNAL_PATH)}: ${describeRequestError(err)}${untrustedHint(err)}`, { cause: err });
    }
    if (answer.status >= 400) {
      throw new Error(`${endpointDisplayUrl(this.endpoint, SIGNAL_PATH)}: ${answer.status} ${answer.body.slice(0, 200).trim()}`);
    }
  }

  async health(signal: AbortSignal): Promise<HealthAnswer> {
    try {
      const { status, body } = await this.call('GET', HEALTH_PATH, signal);
      if (status === 200) return { kind: 'ok' };
      if (status === 404) return { kind: 'absent' };
      return { kind: 'down', error: `${status} ${body.slice(0, 200).trim()}` };
    } catch (err) {
      return { kind: 'down', error: `${describeRequestError(err)}${untrustedHint(err)}` };
    }
  }

  async pids(signal: AbortSignal): Promise<PidsAnswer> {
    try {
      const { status, body } = await this.call('GET', PIDS_PATH, signal);
      if (status === 404) return { kind: 'absent' };
      if (status !== 200) return { kind: 'error', error: `${status} ${body.slice(0, 200).trim()}` };
      const pids = parsePids(body);
      return pids === undefined ? { kind: 'error', error: `answered something else than a list of pids: ${body.slice(0, 80).trim()}` } : { kind: 'pids', pids };
    } catch (err) {
      return { kind: 'error', error: `${describeRequestError(err)}${untrustedHint(err)}` };
    }
  }

  private async call(method: 'GET' | 'POST', path: string, signal: AbortSignal): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { 'user-agent': 'marathon-acme' };
    if (this.endpoint.authorization !== undefined) headers['authorization'] = this.endpoint.authorization;
    const response = await request(endpointUrl(this.endpoint, path), {
      method,
      headers,
      dispatcher: this.dispatcher,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      signal,
      // marathon-lb's API is HAProxy's stats listener, which drops idle client connections after 1 s
      // and at every reload: a reused one can be reset under the request, which would count as a
      // failed signal. These requests are few, so each gets a fresh connection.
      reset: true,
    });
    const body = await response.body.text();
    return { status: response.statusCode, body: body.slice(0, MAX_BODY_CHARS) };
  }
}

/** `pidof` prints the pids separated by blanks; anything else in the body is not a pid. */
export function parsePids(text: string): string[] | undefined {
  const words = text.trim().split(/\s+/).filter((word) => word !== '');
  if (words.length === 0 || !words.every((word) => /^[0-9]{1,10}$/.test(word))) return undefined;
  return words;
}

/**
 * One GET of the --acme directory, made by the daemon itself before the ACME library registers, so
 * that directory-verdict.ts can tell a URL that will never work from a CA that is down for now.
 */
import { performance } from 'node:perf_hooks';
import { request, type Dispatcher } from 'undici';
import { describeRequestError } from '../util/http-error.js';
import { judgeDirectory, judgeDirectoryUrl, type DirectoryAnswer, type DirectoryVerdict } from './directory-verdict.js';

/** A directory is about a kilobyte; an HTML page is judged by its start, so a prefix is enough. */
const MAX_BODY_BYTES = 64 * 1024;
/** As many as the ACME library's HTTP client follows, so both see the same answer. */
const MAX_REDIRECTS = 5;
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export interface ProbeOptions {
  /** The agent of every request to the CA (acme-agent.ts): the ACME client's trust and timeout. */
  dispatcher: Dispatcher;
  /** --acme-timeout; bounds the whole exchange, redirects included. */
  timeoutMs: number;
  /** Told how long the exchange took, in seconds, answered or not (metrics). */
  onDuration?: ((seconds: number) => void) | undefined;
}

/** Fetches the directory (unless the URL alone settles it) and judges what came back. Never throws. */
export async function probeDirectory(url: string, options: ProbeOptions): Promise<DirectoryVerdict> {
  const known = judgeDirectoryUrl(url);
  if (known !== undefined) return known;
  const started = performance.now();
  try {
    return judgeDirectory(url, await fetchDirectory(url, options));
  } finally {
    options.onDuration?.((performance.now() - started) / 1000);
  }
}

async function fetchDirectory(url: string, options: ProbeOptions): Promise<DirectoryAnswer> {
  const deadline = AbortSignal.timeout(options.timeoutMs);
  let current = url;
  for (let redirects = 0; ; redirects++) {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(current, {
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'marathon-acme' },
        dispatcher: options.dispatcher,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
        signal: deadline,
      });
    } catch (err) {
      return noAnswer(current, err, deadline, options.timeoutMs);
    }
    const location = header(response.headers['location']);
    if (REDIRECTS.has(response.statusCode) && location !== undefined && redirects < MAX_REDIRECTS) {
      await response.body.dump().catch(() => undefined);
      try {
        current = new URL(location, current).href;
        continue;
      } catch {
        // An unusable Location: judged below as the redirect it is.
      }
    }
    let body: string;
    try {
      body = await readPrefix(response.body);
    } catch (err) {
      return noAnswer(current, err, deadline, options.timeoutMs);
    }
    return { kind: 'answer', url: current, status: response.statusCode, contentType: header(response.headers['content-type']), body };
  }
}

function noAnswer(url: string, err: unknown, deadline: AbortSignal, timeoutMs: number): DirectoryAnswer {
  if (deadline.aborted) return { kind: 'no-answer', url, failure: 'timeout', message: `no answer within ${timeoutMs} ms (--acme-timeout)`, code: undefined };
  return { kind: 'no-answer', url, failure: 'network', message: describeRequestError(err), code: errorCode(err) };
}

/** The first MAX_BODY_BYTES of the body; the rest is not read. */
async function readPrefix(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_BODY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString('utf8');
}

/** The code of the error or of its cause: undici wraps socket and TLS errors. */
function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !code.startsWith('UND_ERR_')) return code;
  }
  return undefined;
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}

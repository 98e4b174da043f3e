/**
 * A webhook receiver for notification tests, on 127.0.0.1: records every POST and answers with the
 * statuses given, in turn, then 200 once they are used up.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { freePort } from './ports.js';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

export async function startWebhookReceiver(defer: (cleanup: () => Promise<unknown>) => void, statuses: number[] = []): Promise<{ port: number; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      received.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again later');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  defer(() => new Promise((resolve) => server.close(resolve)));
  return { port, url: `http://127.0.0.1:${port}/hook`, received };
}

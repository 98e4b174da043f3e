/**
 * A TCP proxy for tests, on 127.0.0.1 and a free port: each new connection goes to the next target in
 * turn (round robin), so several instances behind it each get their share, as behind marathon-lb.
 * `pause()` stops carrying bytes either way while keeping every connection open, and new ones are
 * accepted but carry nothing either: what a network partition looks like to both ends (silence, no
 * reset). `resume()` carries bytes again, those held meanwhile first. `cut()` resets every connection.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far, by target index. */
  readonly accepted: number[];
  pause(): void;
  resume(): void;
  cut(): void;
  stop(): Promise<void>;
}

/**
 * `port`: where to listen (default: a free one). A target that refuses the connection is skipped for
 * the next one, as a load balancer's health check would take a dead instance out.
 */
export async function startTcpProxy(targets: ReadonlyArray<{ host?: string; port: number }>, port = 0): Promise<TcpProxy> {
  if (targets.length === 0) throw new Error('a proxy needs at least one target');
  const sockets = new Set<Socket>();
  const accepted = targets.map(() => 0);
  /** While paused, what arrives is read and held here (per direction), then sent on resume. */
  const flushers = new Set<() => void>();
  let next = 0;
  let paused = false;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const forward = (from: Socket, to: Socket): void => {
    const held: Buffer[] = [];
    const flush = (): void => {
      for (const chunk of held.splice(0)) to.write(chunk);
    };
    flushers.add(flush);
    from.on('close', () => flushers.delete(flush));
    from.on('data', (chunk: Buffer) => {
      if (paused) held.push(chunk);
      else to.write(chunk);
    });
  };
  const server: Server = createServer((client) => {
    track(client);
    client.pause();
    const first = next++;
    const tryTarget = (attempt: number): void => {
      const index = (first + attempt) % targets.length;
      const target = targets[index];
      if (target === undefined || attempt >= targets.length) {
        client.destroy();
        return;
      }
      const upstream = connect({ host: target.host ?? '127.0.0.1', port: target.port });
      let connected = false;
      upstream.once('error', () => {
        if (!connected) tryTarget(attempt + 1);
      });
      upstream.once('connect', () => {
        connected = true;
        accepted[index] = (accepted[index] ?? 0) + 1;
        track(upstream);
        forward(client, upstream);
        forward(upstream, client);
        client.resume();
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
    };
    tryTarget(0);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('unexpected address for a TCP listener');
  return {
    port: address.port,
    accepted,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const flush of flushers) flush();
    },
    cut: () => {
      for (const s of sockets) s.resetAndDestroy();
    },
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}

/**
 * Asks the real HAProxy whether it would load a storage directory the way marathon-lb configures it
 * (`--ssl-certs <storage>/certs,<storage>/default.pem`). `haproxy -c` parses the configuration and
 * loads every certificate without binding anything, so it is quick and needs no privileges.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export async function haproxyCheck(storageDir: string): Promise<{ ok: boolean; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ma-haproxy-'));
  try {
    const [frontendPort, backendPort] = [await freePort(), await freePort()];
    const config = [
      'global',
      // HAProxy 2.3+ fails when it cannot raise the fd limit, which a test runner may not allow.
      '  no strict-limits',
      'defaults',
      '  mode http',
      '  timeout connect 5s',
      '  timeout client 5s',
      '  timeout server 5s',
      'frontend tls',
      `  bind 127.0.0.1:${frontendPort} ssl crt ${quote(join(storageDir, 'certs'))} crt ${quote(join(storageDir, 'default.pem'))}`,
      '  default_backend app',
      'backend app',
      `  server app1 127.0.0.1:${backendPort}`,
      '',
    ].join('\n');
    const file = join(dir, 'haproxy.cfg');
    await writeFile(file, config);
    return await new Promise((resolve, reject) => {
      const child = execFile('haproxy', ['-c', '-f', file], { timeout: 30_000 }, (err, stdout, stderr) => {
        const output = `${stdout}${stderr}`;
        if (err === null) {
          resolve({ ok: true, output });
        } else if (typeof err.code === 'number') {
          resolve({ ok: false, output });
        } else {
          reject(new Error(`could not run haproxy (is it installed? apt-get install -y haproxy): ${err.message}`, { cause: err }));
        }
      });
      // OpenSSL asks for a pass phrase when a file holds an encrypted key, and waits for as long as
      // stdin stays open; end it so such a file fails the check instead of hanging it.
      child.stdin?.end();
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Single quotes: HAProxy takes everything up to the next quote literally (double quotes expand `$VAR`). */
function quote(path: string): string {
  if (path.includes("'")) throw new Error(`cannot quote a path with a single quote for HAProxy: ${path}`);
  return `'${path}'`;
}

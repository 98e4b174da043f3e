/** The README's first command: `npm run demo` must keep working as the code changes. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

describe('demo', () => {
  it('obtains a certificate for each of the four external sample domains and stops cleanly', async () => {
    const { stdout } = await exec(process.execPath, ['--import', 'tsx', 'demo/demo.ts'], { cwd: ROOT, timeout: 110_000 });
    const obtained = stdout.split('\n').filter((line) => line.startsWith('[demo]   certs/'));
    assert.deepEqual(
      obtained.map((line) => /certs\/(\S+)\.pem/.exec(line)?.[1]),
      ['admin.example.test', 'api.example.test', 'blog.example.test', 'shop.example.test'],
    );
    assert.match(stdout, /haproxy -c accepts the storage directory/);
    assert.match(stdout, /daemon stopped \(exit code 0\)/);
  });
});

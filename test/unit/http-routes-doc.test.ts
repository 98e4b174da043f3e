/**
 * README.md's "HTTP endpoints" table and `--listen`'s help name every path the HTTP server answers:
 * the server dispatches through HTTP_ROUTES, and this test holds both texts to that list, so a new
 * endpoint without a README row (or a row for an endpoint that is gone) fails here.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { findOption } from '../../src/cli/options.js';
import { HTTP_ROUTES } from '../../src/http/server.js';

const README = new URL('../../README.md', import.meta.url);
const HEADING = '## HTTP endpoints';

/** The paths in the first column (`GET /path`) of the table that follows `heading`, in order. */
function endpointRows(readme: string, heading: string): string[] {
  const lines = readme.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`README.md has no "${heading}" section`);
  const section = lines.slice(start + 1).join('\n');
  const end = section.search(/\n## /);
  const rows = (end < 0 ? section : section.slice(0, end)).split('\n').filter((line) => line.startsWith('| `'));
  return rows.map((line) => {
    const cell = /^\| `(?:GET|HEAD) ([^`]+)` \|/.exec(line);
    if (cell?.[1] === undefined) throw new Error(`not an endpoint row: ${line}`);
    return cell[1];
  });
}

describe('HTTP endpoints reference', () => {
  it('README.md has one row per route the server answers, in the order of HTTP_ROUTES', async () => {
    const rows = endpointRows(await readFile(README, 'utf8'), HEADING);
    assert.deepEqual(rows, [...HTTP_ROUTES], "README.md's endpoint table differs from HTTP_ROUTES in src/http/server.ts: add, remove or reorder its rows");
  });

  it("--listen's help names every endpoint but the redirect and the challenge paths it names by their prefix", () => {
    const description = findOption('listen').description;
    assert.match(description, /\/\.well-known\/acme-challenge\//);
    for (const route of HTTP_ROUTES.filter((r) => r !== '/' && !r.startsWith('/.well-known/'))) {
      assert.match(description, new RegExp(`${route.replace(/\./g, '\\.')}(?![\\w.])`), `--listen's help lacks ${route}`);
    }
  });

  it('reads the rows of the table under its heading only, and refuses a row it cannot read', () => {
    const readme = ['## Other', '| `GET /elsewhere` | no |', '## HTTP endpoints', '', '| path | answer |', '| --- | --- |', '| `GET /a` | x |', '| `GET /b/<id>` | y |', '', '## Next', '| `GET /c` | z |'].join('\n');
    assert.deepEqual(endpointRows(readme, HEADING), ['/a', '/b/<id>']);
    assert.throws(() => endpointRows(readme, '## Missing'), /no "## Missing" section/);
    assert.throws(() => endpointRows(`${HEADING}\n| \`POST /x\` | y |\n`, HEADING), /not an endpoint row/);
  });
});

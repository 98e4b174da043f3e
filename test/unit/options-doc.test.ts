/**
 * README.md's options table is generated from src/cli/options.ts's OPTIONS by `npm run docs`
 * (scripts/options-doc.ts), and `--help` is built from the same OPTIONS: the two cannot disagree.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { BEGIN, END, renderOptionsTable, replaceOptionsTable } from '../../scripts/options-doc.js';
import { OPTIONS, envName, parseCli } from '../../src/cli.js';

const README = new URL('../../README.md', import.meta.url);

describe('options reference', () => {
  it('README.md has the table `npm run docs` generates from the CLI definition', async () => {
    const readme = await readFile(README, 'utf8');
    assert.ok(readme.includes(BEGIN) && readme.includes(END), `README.md lost its ${BEGIN} / ${END} markers`);
    const current = readme.slice(readme.indexOf(BEGIN) + BEGIN.length, readme.indexOf(END)).trim();
    const expected = renderOptionsTable(OPTIONS);
    assert.equal(current, expected, "README.md's options table differs from src/cli/options.ts's OPTIONS (and so from --help): run `npm run docs`");
  });

  it('--help shows every option with the same flags, description and environment variable', (t) => {
    let help = '';
    const write = t.mock.method(process.stdout, 'write', (chunk: string | Uint8Array) => {
      help += String(chunk);
      return true;
    });
    try {
      assert.equal(parseCli(['--help'], {}).kind, 'exit');
    } finally {
      // At once, not at the end of the test: the test runner reports through stdout too.
      write.mock.restore();
    }
    // Commander wraps the help to the terminal's width; the words are the same.
    const flat = help.replace(/\s+/g, ' ');
    for (const spec of OPTIONS) {
      for (const text of [spec.flags, spec.description, `(env ${envName(spec)})`]) {
        assert.ok(flat.includes(text.replace(/\s+/g, ' ')), `--help lacks ${JSON.stringify(text)}`);
      }
    }
  });

  it('renders one row per option with its variable, default and choices, safe for Markdown', () => {
    const table = renderOptionsTable([
      { flags: '--port-of <name>', key: 'portOf', description: 'fetches http://<name>:<port>/ | more', defaultText: '80', parse: Number },
      { flags: '--no-check', key: 'check', description: 'Skips the check', parse: (t) => t !== 'true', boolean: true },
      { flags: '--colour <c>', key: 'colour', description: 'Colour', parse: String, choices: ['red', 'blue'] },
    ]).split('\n');
    assert.deepEqual(table.slice(2), [
      '| `--port-of <name>` | `MARATHON_ACME_PORT_OF` | `80` | fetches http://&lt;name&gt;:&lt;port&gt;/ \\| more |',
      '| `--no-check` | `MARATHON_ACME_NO_CHECK` (`true`/`false`) | off | Skips the check |',
      '| `--colour <c>` | `MARATHON_ACME_COLOUR` |  | Colour; one of `red`, `blue` |',
    ]);
  });

  it('replaces only what lies between the markers, and refuses a README without them', () => {
    const readme = `intro\n${BEGIN}\nold table\n${END}\nprose\n`;
    assert.equal(replaceOptionsTable(readme, 'new table'), `intro\n${BEGIN}\nnew table\n${END}\nprose\n`);
    assert.throws(() => replaceOptionsTable('no markers', 'table'), /options:begin/);
  });
});

/**
 * `npm run docs`: rewrites the options table in README.md from src/cli/options.ts's OPTIONS, the table the
 * parser, the environment mapping and `--help` are built from, so the README cannot say something
 * else. test/unit/options-doc.test.ts fails when the README's table is not what this renders.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OPTIONS, envName } from '../src/cli/options.js';

export const BEGIN = '<!-- options:begin -->';
export const END = '<!-- options:end -->';

type OptionSpec = (typeof OPTIONS)[number];

/** Table cells are Markdown: a `|` would end the cell, and `<name>` would be read as an HTML tag. */
function escapeCell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

function code(text: string): string {
  return `\`${text.replace(/\|/g, '\\|')}\``;
}

function row(spec: OptionSpec): string {
  const env = code(envName(spec)) + (spec.boolean === true ? ' (`true`/`false`)' : '');
  // A flag without a value is off unless given; an option without a default is unset unless given.
  const fallback = spec.boolean === true ? 'off' : '';
  const defaultText = spec.defaultText === undefined ? fallback : code(spec.defaultText);
  const choices = spec.choices === undefined ? '' : `; one of ${spec.choices.map(code).join(', ')}`;
  return `| ${code(spec.flags)} | ${env} | ${defaultText} | ${escapeCell(spec.description)}${choices} |`;
}

export function renderOptionsTable(options: readonly OptionSpec[]): string {
  return ['| option | environment variable | default | meaning |', '| --- | --- | --- | --- |', ...options.map(row)].join('\n');
}

/** The README with the text between the markers replaced by `table`. */
export function replaceOptionsTable(readme: string, table: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README.md must contain ${BEGIN} and, after it, ${END}`);
  return `${readme.slice(0, begin + BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../README.md', import.meta.url));
  const readme = await readFile(path, 'utf8');
  const updated = replaceOptionsTable(readme, renderOptionsTable(OPTIONS));
  if (updated === readme) {
    process.stdout.write('README.md: the options table is up to date\n');
  } else {
    await writeFile(path, updated);
    process.stdout.write(`README.md: rewrote the options table (${OPTIONS.length} options)\n`);
  }
}

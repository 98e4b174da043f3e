/**
 * `npm run reliability`: runs the fault suite (test/faults/) with the usual spec output on stdout
 * and writes RELIABILITY.md from the same run. Exits 1 if any case failed; the document still lists
 * it, with its error.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { collectOutcomes, render, type TestEvent } from './reliability-reporter.js';

const SUITE = 'test/faults';
const OUTPUT = 'RELIABILITY.md';

const files = (await readdir(SUITE)).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(SUITE, f));
// node:test's run() streams its events untyped in @types/node 20; they are the documented shapes.
const events = run({ files, concurrency: 1, timeout: 180_000 }) as unknown as AsyncIterable<TestEvent>;
const console = new spec();
console.pipe(process.stdout);

async function* alsoToConsole(source: AsyncIterable<TestEvent>): AsyncGenerator<TestEvent> {
  for await (const event of source) {
    console.write(event);
    yield event;
  }
  console.end();
}

const { outcomes, totalMs } = await collectOutcomes(alsoToConsole(events));
await writeFile(OUTPUT, render(outcomes, totalMs));
const failed = outcomes.filter((o) => o.status === 'FAILED').length;
process.stderr.write(`${OUTPUT}: ${outcomes.length} cases, ${failed} failed\n`);
process.exitCode = failed > 0 ? 1 : 0;

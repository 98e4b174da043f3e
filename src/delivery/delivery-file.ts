/**
 * `<storage>/delivery.json`: the last delivery records, written by the daemon so that the offline
 * `marathon-acme status` can show what every LB served. One record a line, so that a file of 15,000
 * records stays readable and diffable. Reading is tolerant: a damaged file costs the bad records,
 * never the command.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import { textDigest } from '../util/text-digest.js';
import { DELIVERY_STATUSES, type DeliveryRecord, type DeliveryStatus } from './types.js';

export const DELIVERY_FILE = 'delivery.json';
const VERSION = 1;
/** A damaged file could produce one problem per record; the first few say enough. */
const MAX_PROBLEMS = 20;

export interface DeliveryFileContent {
  /** 0 when the check was off (or the file did not say). */
  checkPort: number;
  records: DeliveryRecord[];
  /** What could not be read; empty for a sound file. */
  problems: string[];
}

export function serializeDelivery(records: readonly DeliveryRecord[], checkPort: number): string {
  const lines = records.map((r) =>
    JSON.stringify({
      lb: r.lb,
      name: r.name,
      status: r.status,
      failing: r.failing,
      checkedAt: iso(r.checkedAt),
      lastServedAt: iso(r.lastServedAt),
      detail: r.detail ?? null,
    }),
  );
  const head = `{"version":${VERSION},"checkPort":${checkPort},"records":[`;
  return lines.length === 0 ? `${head}]}\n` : `${head}\n${lines.join(',\n')}\n]}\n`;
}

export function parseDelivery(text: string): DeliveryFileContent {
  const problems: string[] = [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { checkPort: 0, records: [], problems: [`not JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  if (!isObject(data)) return { checkPort: 0, records: [], problems: ['not a JSON object'] };
  if (data['version'] !== VERSION) problems.push(`version ${JSON.stringify(data['version'])} is not ${VERSION}; reading what looks familiar`);
  const port = data['checkPort'];
  const checkPort = typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 65_535 ? port : 0;
  if (checkPort !== port) problems.push(`checkPort ${JSON.stringify(port)} is not a port number`);
  const list = data['records'];
  if (!Array.isArray(list)) {
    problems.push('records is not a list');
    return { checkPort, records: [], problems };
  }
  const records: DeliveryRecord[] = [];
  let bad = 0;
  list.forEach((item: unknown, index) => {
    const parsed = parseRecord(item);
    if (typeof parsed !== 'string') {
      records.push(parsed);
      return;
    }
    bad++;
    if (problems.length < MAX_PROBLEMS) problems.push(`record ${index}: ${parsed}`);
  });
  if (bad > 0 && problems.length >= MAX_PROBLEMS) problems.push(`${bad} records could not be read in all`);
  return { checkPort, records, problems };
}

/** undefined when the daemon never wrote the file; an unreadable file is reported in `problems`. */
export async function readDeliveryFile(storageDir: string): Promise<DeliveryFileContent | undefined> {
  const path = join(storageDir, DELIVERY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
    return { checkPort: 0, records: [], problems: [`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`] };
  }
  return parseDelivery(text);
}

/** The part of CertStore the writer needs. */
export interface DeliveryStore {
  writeFileAtomic(relativePath: string, content: string, mode: number): Promise<void>;
}

export interface DeliveryFileWriterOptions {
  store: DeliveryStore;
  checkPort: number;
  clock: Clock;
  logger: Logger;
  /** At most one write per this long: a check round updates records by the thousand. */
  minIntervalMs?: number;
}

/**
 * Keeps delivery.json up to date without rewriting it on every probe: updates are collected and
 * written at most once per `minIntervalMs`, the newest set each time, only when the text changed.
 */
export class DeliveryFileWriter {
  private latest: readonly DeliveryRecord[] | undefined;
  /** textDigest of the text last written. */
  private lastText: string | undefined;
  private lastWriteAt = -Infinity;
  private loop: Promise<void> | undefined;
  private hurry = new AbortController();
  private readonly minIntervalMs: number;

  constructor(private readonly options: DeliveryFileWriterOptions) {
    this.minIntervalMs = options.minIntervalMs ?? 10_000;
  }

  update(records: readonly DeliveryRecord[]): void {
    this.latest = records;
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
    });
  }

  /** Writes what is pending now (shutdown); resolves once it is on disk or its failure logged. */
  async flush(): Promise<void> {
    this.hurry.abort();
    while (this.loop !== undefined) await this.loop;
    this.hurry = new AbortController();
  }

  private async run(): Promise<void> {
    const { clock } = this.options;
    while (this.latest !== undefined) {
      const wait = this.lastWriteAt + this.minIntervalMs - clock.now();
      if (wait > 0) await clock.sleep(wait, this.hurry.signal);
      const records = this.latest;
      this.latest = undefined;
      await this.write(records);
    }
  }

  private async write(records: readonly DeliveryRecord[]): Promise<void> {
    const text = serializeDelivery(records, this.options.checkPort);
    const digest = textDigest(text);
    this.lastWriteAt = this.options.clock.now();
    if (digest === this.lastText) return;
    try {
      await this.options.store.writeFileAtomic(DELIVERY_FILE, text, 0o600);
      this.lastText = digest;
    } catch (err) {
      this.options.logger.warn({ file: DELIVERY_FILE, err: err instanceof Error ? err.message : String(err) }, 'cannot write the delivery records; the offline status shows older ones until the next write');
    }
  }
}

function parseRecord(item: unknown): DeliveryRecord | string {
  if (!isObject(item)) return 'not an object';
  const { lb, name, status, failing, checkedAt, lastServedAt, detail } = item;
  if (typeof lb !== 'string' || lb === '') return 'no lb';
  if (typeof name !== 'string' || name === '') return 'no name';
  if (typeof status !== 'string' || !(DELIVERY_STATUSES as readonly string[]).includes(status)) return `unknown status ${JSON.stringify(status)}`;
  if (typeof failing !== 'boolean') return 'failing is not true or false';
  const checked = time(checkedAt);
  const served = time(lastServedAt);
  if (checked === null || served === null) return 'a time is neither null nor an ISO date';
  if (detail !== null && detail !== undefined && typeof detail !== 'string') return 'detail is not text';
  return { lb, name, status: status as DeliveryStatus, failing, checkedAt: checked, lastServedAt: served, detail: detail ?? undefined };
}

/** undefined for a JSON null (never checked), null for something that is not a time. */
function time(value: unknown): number | undefined | null {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

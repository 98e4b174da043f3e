/**
 * Rows for RELIABILITY.md. A fault test declares what it injects and, as it goes, what it saw; the
 * rows travel as test diagnostics, so they are part of the suite's own output and the reliability
 * reporter (scripts/reliability-reporter.ts) can put them next to each test's pass or failure.
 */
import type { TestContext } from 'node:test';

export const FAULT_REPORT_PREFIX = 'fault-report ';

export interface FaultDeclaration {
  /** Which part of the world misbehaves: Marathon, CA, load balancer, storage, input, HTTP clients. */
  area: string;
  /** The fault or bad input, in a few words. */
  fault: string;
  /** How much of it: rounds, cases, events, apps. */
  tried: string;
}

export interface FaultRecord extends FaultDeclaration {
  test: string;
  observed: string[];
}

export interface FaultRecorder {
  /** Something measured or seen (a count, a time, a state); goes into the report's result column. */
  observe(text: string): void;
}

/**
 * Declares a fault case at the start of a test. The row is sent once the test has ended, passed or
 * failed, so a test that fails half-way still reports what it had seen up to then.
 */
export function faultCase(t: TestContext, declaration: FaultDeclaration): FaultRecorder {
  const record: FaultRecord = { test: t.name, ...declaration, observed: [] };
  t.after(() => {
    t.diagnostic(`${FAULT_REPORT_PREFIX}${JSON.stringify(record)}`);
  });
  return {
    observe(text) {
      record.observed.push(text);
    },
  };
}

/** Reads a row back from a diagnostic message; undefined for other diagnostics. */
export function parseFaultDiagnostic(message: string): FaultRecord | undefined {
  if (!message.startsWith(FAULT_REPORT_PREFIX)) return undefined;
  const value: unknown = JSON.parse(message.slice(FAULT_REPORT_PREFIX.length));
  if (typeof value !== 'object' || value === null) return undefined;
  const row = value as Partial<FaultRecord>;
  if (typeof row.test !== 'string' || typeof row.area !== 'string' || typeof row.fault !== 'string' || typeof row.tried !== 'string') return undefined;
  return { test: row.test, area: row.area, fault: row.fault, tried: row.tried, observed: Array.isArray(row.observed) ? row.observed.map(String) : [] };
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { renderChart, niceCeiling, CHART_HEIGHT } from '../../src/status/chart-svg.js';
import { CHART_DAYS, dayCounts, type ChartRow, type DayCount } from '../../src/status/chart.js';

const DAY = 86_400_000;
/** Mid-afternoon, so that "today" starts hours before now. */
const NOW = Date.parse('2026-12-01T15:30:00.000Z');
const TODAY = Date.parse('2026-12-01T00:00:00.000Z');

const at = (days: number, hours = 0): string => new Date(TODAY + days * DAY + hours * 3_600_000).toISOString();

function row(notAfter: string | null, nextRenewalAt: string | null, location: ChartRow['location'] = 'certs'): ChartRow {
  return { location, notAfter, nextRenewalAt };
}

/** Day index → [expiring, renewals], only the days that have any. */
function nonZero(days: readonly DayCount[]): Record<number, [number, number]> {
  const out: Record<number, [number, number]> = {};
  days.forEach((d, i) => {
    if (d.expiring > 0 || d.renewals > 0) out[i] = [d.expiring, d.renewals];
  });
  return out;
}

describe('status chart: day counts', () => {
  it('counts expiries and scheduled renewals per UTC day for a known data set', () => {
    const rows: ChartRow[] = [
      // A renewal wall on day 20: three certificates issued together.
      row(at(50, 1), at(20, 2)),
      row(at(50, 3), at(20, 5)),
      row(at(50, 23), at(20, 23.99)),
      // Due already (yesterday): counted today; it expires on day 10.
      row(at(10, 12), at(-1)),
      // Expired earlier today: still today's expiry. Renewal overdue as well.
      row(at(0, 1), at(-30)),
      // Hand-kept: expiry counted, never renewed.
      row(at(5), null, 'unmanaged-certs'),
      // Outside the picture: expired yesterday, beyond 90 days, retired, and a name without a file.
      row(at(-1, 12), null),
      row(at(CHART_DAYS), at(CHART_DAYS)),
      row(at(3), at(2), 'retired-certs'),
      row(null, null, null),
    ];
    const days = dayCounts(rows, NOW);
    assert.equal(days.length, CHART_DAYS);
    assert.equal(days[0]?.day, '2026-12-01');
    assert.equal(days[31]?.day, '2027-01-01');
    assert.equal(days[CHART_DAYS - 1]?.day, '2027-02-28');
    assert.deepEqual(nonZero(days), { 0: [1, 2], 5: [1, 0], 10: [1, 0], 20: [0, 3], 50: [3, 0] });
  });

  it('counts every row whose time falls in the window exactly once, on the day it falls on', () => {
    const offset = fc.integer({ min: -200 * 24, max: 200 * 24 }).map((h) => at(0, h));
    const arbRow = fc.record({
      location: fc.constantFrom<ChartRow['location']>('certs', 'unmanaged-certs', 'retired-certs', null),
      notAfter: fc.option(offset, { nil: null }),
      nextRenewalAt: fc.option(offset, { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(arbRow, { maxLength: 60 }), fc.integer({ min: 1, max: 120 }), (rows, n) => {
        const days = dayCounts(rows, NOW, n);
        const served = rows.filter((r) => r.location === 'certs' || r.location === 'unmanaged-certs');
        const dayOf = (iso: string): number => Math.floor((Date.parse(iso) - TODAY) / DAY);
        const expiring = served.filter((r) => r.notAfter !== null && dayOf(r.notAfter) >= 0 && dayOf(r.notAfter) < n).length;
        const renewals = served.filter((r) => r.nextRenewalAt !== null && dayOf(r.nextRenewalAt) < n).length;
        assert.equal(days.reduce((s, d) => s + d.expiring, 0), expiring);
        assert.equal(days.reduce((s, d) => s + d.renewals, 0), renewals);
        for (const r of served) {
          if (r.notAfter === null) continue;
          const i = dayOf(r.notAfter);
          if (i >= 0 && i < n) assert.ok((days[i]?.expiring ?? 0) > 0, `day ${i} counts ${r.notAfter}`);
        }
      }),
    );
  });
});

describe('status chart: SVG', () => {
  const days = dayCounts(
    [
      ...Array.from({ length: 400 }, () => row(at(45), at(15))),
      ...Array.from({ length: 7 }, () => row(at(70), at(40))),
      row(at(2), null, 'unmanaged-certs'),
    ],
    NOW,
  );

  it('carries each day\'s numbers on its bars, and draws nothing for empty days', () => {
    const svg = renderChart(days);
    const groups = [...svg.matchAll(/<g data-day="([^"]+)" data-renewals="(\d+)" data-expiring="(\d+)">/g)].map((m) => [m[1], Number(m[2]), Number(m[3])]);
    assert.deepEqual(groups, [
      ['2026-12-03', 0, 1],
      ['2026-12-16', 400, 0],
      ['2027-01-10', 7, 0],
      ['2027-01-15', 0, 400],
      ['2027-02-09', 0, 7],
    ]);
    assert.match(svg, /<title>2026-12-16: 400 renewals scheduled, 0 certificates expiring<\/title><rect class="renew" /);
  });

  it('draws bars to one shared scale with a readable scale line, a small count still visible', () => {
    const svg = renderChart(days);
    assert.match(svg, /data-scale="500"/);
    assert.match(svg, />dashed lines: 500 a day</);
    const heights = [...svg.matchAll(/<rect class="(renew|expire)" x="[^"]+" width="[^"]+" y="[^"]+" height="([\d.]+)"\/>/g)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(heights, [['expire', 1.5], ['renew', 57.6], ['renew', 1.5], ['expire', 57.6], ['expire', 1.5]]);
  });

  it('spans the width in percent and labels today and each month the way the page writes dates, in pixel text that does not shrink', () => {
    const svg = renderChart(days);
    assert.match(svg, new RegExp(`^<svg class="chart" width="100%" height="${CHART_HEIGHT}" role="img" aria-labelledby="chart-title"`));
    assert.doesNotMatch(svg, /viewBox/);
    assert.match(svg, /<title id="chart-title">90 days from 2026-12-01 to 2027-02-28: 407 renewals scheduled and 408 certificates expiring/);
    const labels = [...svg.matchAll(/<text[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);
    assert.deepEqual(labels, ['▲ renewals scheduled', 'dashed lines: 500 a day', '2027-01', '2027-02', '▼ certificates expiring', 'today']);
    // Day 31 of 90 is 2027-01-01: its month line and label sit at 31/90 of the width.
    assert.match(svg, /<line class="month" x1="34\.444%" x2="34\.444%"/);
    assert.match(svg, /<text x="34\.444%" y="\d+" text-anchor="middle">2027-01<\/text>/);
    assert.doesNotMatch(svg, /href|<script|url\(/);
  });

  it('has a nice scale: 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual([0, 1, 2, 3, 7, 10, 11, 400, 501, 2_000, 2_001].map(niceCeiling), [1, 1, 2, 5, 10, 10, 20, 500, 1_000, 2_000, 5_000]);
    const empty = renderChart(dayCounts([], NOW));
    assert.match(empty, /data-scale="1"/);
    assert.doesNotMatch(empty, /<g data-day/);
  });
});

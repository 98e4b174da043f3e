/**
 * Draws the day counts (chart.ts) as one inline SVG: renewals scheduled as bars above a middle
 * axis, expiries as bars below it, on one shared scale, so a renewal wall stands out as a tower and
 * a gap as an empty stretch. Horizontal positions are percentages and vertical ones pixels, so the
 * picture spans any width while its text keeps its size (a viewBox would shrink the labels to
 * nothing on a phone). Every day with something on it carries its numbers as data attributes and
 * as a tooltip. Pure: a string out, no script, no external asset.
 */
import type { DayCount } from './chart.js';

/** Pixel rows, top to bottom. */
const LEGEND_Y = 12;
const TOP = 18;
const AXIS = 92;
/** The tallest bar: the scale's maximum. */
const BAR_MAX = 72;
const BOTTOM = AXIS + 2 + BAR_MAX;
const EXPIRING_LABEL_Y = BOTTOM + 14;
const DATE_Y = BOTTOM + 30;
export const CHART_HEIGHT = DATE_Y + 6;

/** The smallest 1, 2 or 5 × 10^k at or above `n` (at least 1): a scale line people can read. */
export function niceCeiling(n: number): number {
  if (n <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= n) return step * magnitude;
  return 10 * magnitude;
}

const count = (n: number): string => n.toLocaleString('en-US');
const pct = (n: number): string => `${Number(n.toFixed(3))}%`;

function barHeight(n: number, scale: number): number {
  // A single certificate on a scale of thousands still shows.
  return n === 0 ? 0 : Math.max(1.5, Number(((n / scale) * BAR_MAX).toFixed(1)));
}

export function renderChart(days: readonly DayCount[]): string {
  const n = days.length;
  const step = 100 / Math.max(1, n);
  const scale = niceCeiling(Math.max(0, ...days.map((d) => Math.max(d.expiring, d.renewals))));
  const renewals = days.reduce((sum, d) => sum + d.renewals, 0);
  const expiring = days.reduce((sum, d) => sum + d.expiring, 0);
  const first = days[0]?.day ?? '';
  const last = days[n - 1]?.day ?? '';
  const parts: string[] = [
    `<svg class="chart" width="100%" height="${CHART_HEIGHT}" role="img" aria-labelledby="chart-title" data-scale="${scale}" data-days="${n}">`,
    `<title id="chart-title">${n} days from ${first} to ${last}: ${count(renewals)} renewals scheduled and ${count(expiring)} certificates expiring; the dashed lines stand for ${count(scale)} a day</title>`,
    `<text class="renew" x="0" y="${LEGEND_Y}">▲ renewals scheduled</text>`,
    `<text class="muted" x="100%" y="${LEGEND_Y}" text-anchor="end">dashed lines: ${count(scale)} a day</text>`,
    `<line class="grid" x1="0" x2="100%" y1="${TOP}" y2="${TOP}"/><line class="grid" x1="0" x2="100%" y1="${BOTTOM}" y2="${BOTTOM}"/>`,
  ];
  days.forEach((d, i) => {
    const x = i * step;
    if (i > 0 && i % 7 === 0) parts.push(`<line class="tick" x1="${pct(x)}" x2="${pct(x)}" y1="${AXIS - 3}" y2="${AXIS + 3}"/>`);
    if (d.day.endsWith('-01') && i > 0) {
      parts.push(`<line class="month" x1="${pct(x)}" x2="${pct(x)}" y1="${TOP}" y2="${BOTTOM}"/>`);
      // The month as the page writes dates (`2027-01`). Labels near either end would run into
      // "today" or off the edge (a phone's chart is about 330 px wide, 3.6 px a day).
      if (i >= 15 && i <= n - 7) parts.push(`<text x="${pct(x)}" y="${DATE_Y}" text-anchor="middle">${d.day.slice(0, 7)}</text>`);
    }
    if (d.renewals === 0 && d.expiring === 0) return;
    const up = barHeight(d.renewals, scale);
    const down = barHeight(d.expiring, scale);
    const bar = `x="${pct(x + step * 0.15)}" width="${pct(step * 0.7)}"`;
    parts.push(
      `<g data-day="${d.day}" data-renewals="${d.renewals}" data-expiring="${d.expiring}"><title>${d.day}: ${count(d.renewals)} renewals scheduled, ${count(d.expiring)} certificates expiring</title>`,
      up === 0 ? '' : `<rect class="renew" ${bar} y="${AXIS - 1 - up}" height="${up}"/>`,
      down === 0 ? '' : `<rect class="expire" ${bar} y="${AXIS + 1}" height="${down}"/>`,
      '</g>',
    );
  });
  parts.push(
    `<line class="axis" x1="0" x2="100%" y1="${AXIS}" y2="${AXIS}"/>`,
    `<text class="expire" x="0" y="${EXPIRING_LABEL_Y}">▼ certificates expiring</text>`,
    `<text x="0" y="${DATE_Y}">today</text>`,
    '</svg>',
  );
  return parts.join('');
}

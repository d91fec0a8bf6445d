/**
 * A small SVG chart: one row of days, bars and lines on a left and a right
 * axis, marked days and shaded spans. Used by `autotls forecast --svg` and the
 * lifecycle simulator's chart; no dependency, readable in any browser.
 */

export interface ChartSeries {
  name: string;
  values: readonly number[];
  kind: 'bar' | 'line';
  color: string;
  /** Which axis scales the series; default left. */
  axis?: 'left' | 'right';
}

export interface ChartOptions {
  title: string;
  /** One label per point (dates); every n-th is printed. */
  labels: readonly string[];
  series: readonly ChartSeries[];
  leftAxis: string;
  rightAxis?: string;
  /** A vertical line at a point, e.g. the first expiry. */
  markers?: ReadonlyArray<{ at: number; label: string; color?: string }>;
  /** Shaded spans of points, e.g. fault windows. */
  spans?: ReadonlyArray<{ from: number; to: number; label: string }>;
  width?: number;
  height?: number;
}

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function format(value: number): string {
  if (Math.abs(value) >= 10_000) return `${Math.round(value / 1000)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export function renderChart(options: ChartOptions): string {
  const width = options.width ?? 1100;
  const height = options.height ?? 420;
  const margin = { top: 40, right: 70, bottom: 60, left: 70 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const n = Math.max(1, options.labels.length);
  const step = plotW / n;
  const x = (i: number): number => margin.left + i * step;
  const maxOf = (axis: 'left' | 'right'): number =>
    niceMax(Math.max(0, ...options.series.filter((s) => (s.axis ?? 'left') === axis).flatMap((s) => s.values.filter(Number.isFinite))));
  const scale = { left: maxOf('left'), right: maxOf('right') };
  const y = (value: number, axis: 'left' | 'right'): number => margin.top + plotH - (Math.max(0, value) / scale[axis]) * plotH;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(options.title)}</text>`);
  for (const span of options.spans ?? []) {
    const from = x(span.from);
    const w = Math.max(1, x(span.to + 1) - from);
    out.push(`<rect x="${from}" y="${margin.top}" width="${w}" height="${plotH}" fill="#f5c6cb" opacity="0.5"><title>${escape(span.label)}</title></rect>`);
    out.push(`<text x="${from + 2}" y="${margin.top + 12}" fill="#a94442">${escape(span.label)}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const yy = margin.top + (plotH * i) / 4;
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${yy}" y2="${yy}" stroke="#eee"/>`);
    out.push(`<text x="${margin.left - 6}" y="${yy + 4}" text-anchor="end">${format((scale.left * (4 - i)) / 4)}</text>`);
    if (options.rightAxis) out.push(`<text x="${margin.left + plotW + 6}" y="${yy + 4}">${format((scale.right * (4 - i)) / 4)}</text>`);
  }
  out.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(options.leftAxis)}</text>`);
  if (options.rightAxis) {
    out.push(`<text transform="translate(${width - 14} ${margin.top + plotH / 2}) rotate(90)" text-anchor="middle">${escape(options.rightAxis)}</text>`);
  }
  const bars = options.series.filter((s) => s.kind === 'bar');
  bars.forEach((series, b) => {
    const w = Math.max(0.5, (step * 0.8) / bars.length);
    series.values.forEach((value, i) => {
      if (!(value > 0)) return;
      const axis = series.axis ?? 'left';
      const top = y(value, axis);
      out.push(`<rect x="${(x(i) + step * 0.1 + b * w).toFixed(1)}" y="${top.toFixed(1)}" width="${w.toFixed(1)}" height="${(margin.top + plotH - top).toFixed(1)}" fill="${series.color}"/>`);
    });
  });
  for (const series of options.series.filter((s) => s.kind === 'line')) {
    const axis = series.axis ?? 'left';
    const points = series.values.map((v, i) => (Number.isFinite(v) ? `${(x(i) + step / 2).toFixed(1)},${y(v, axis).toFixed(1)}` : '')).filter(Boolean);
    if (points.length > 0) out.push(`<polyline fill="none" stroke="${series.color}" stroke-width="2" points="${points.join(' ')}"/>`);
  }
  for (const marker of options.markers ?? []) {
    const xx = x(marker.at) + step / 2;
    const color = marker.color ?? '#c0392b';
    out.push(`<line x1="${xx}" x2="${xx}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="${color}" stroke-dasharray="4 3" stroke-width="2"/>`);
    out.push(`<text x="${xx + 4}" y="${margin.top + 26}" fill="${color}">${escape(marker.label)}</text>`);
  }
  const every = Math.max(1, Math.ceil(n / 12));
  options.labels.forEach((label, i) => {
    if (i % every !== 0) return;
    out.push(`<text x="${x(i) + step / 2}" y="${margin.top + plotH + 16}" text-anchor="middle">${escape(label)}</text>`);
  });
  out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${margin.top + plotH}" y2="${margin.top + plotH}" stroke="#333"/>`);
  options.series.forEach((series, i) => {
    const lx = margin.left + i * 190;
    const ly = height - 14;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="10" fill="${series.color}"/>`);
    out.push(`<text x="${lx + 16}" y="${ly}">${escape(series.name)}${series.axis === 'right' ? ' (right axis)' : ''}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/**
 * Inline SVG figures, hand-written (no charting dependency): a scatter/line chart with a log or
 * linear x axis, error bars and point labels (accuracy vs transmitted bytes, seed 001 Figures 1-2),
 * and horizontal stacked bars (per-stage latency). Every data mark carries data-* attributes and
 * a <title>, so tests (and readers hovering) can read the numbers back.
 */

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const f = (x: number) => (Math.round(x * 10) / 10).toString();

export function formatBytes(b: number): string {
  if (b >= 1e9) return `${+(b / 1e9).toPrecision(3)} GB`;
  if (b >= 1e6) return `${+(b / 1e6).toPrecision(3)} MB`;
  if (b >= 1e3) return `${+(b / 1e3).toPrecision(3)} kB`;
  return `${Math.round(b)} B`;
}

export interface Point {
  x: number;
  y: number;
  /** Error bar (same units as y). */
  low?: number;
  high?: number;
  /** Short annotation drawn beside the point (e.g. the kept fraction p). */
  label?: string;
  /** Hover text. */
  title?: string;
}

export interface Series {
  name: string;
  points: Point[];
  /** Draw a line through the points in x order (default true when there are several). */
  line?: boolean;
  /** A horizontal reference line at this y (e.g. the full-cache baseline). */
  baseline?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  xFormat?: (x: number) => string;
  yFormat?: (y: number) => string;
  /** Fixed y range; default: the data's, padded. */
  yRange?: [number, number];
  width?: number;
  height?: number;
}

function niceLinearTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  // Decades when the range is wide; 1-2-5, then finer mantissas, when it is narrow.
  const tries = Math.log10(hi / lo) >= 1.5 ? [[1]] : [[1, 2, 5], [1, 1.5, 2, 3, 4, 5, 6, 8]];
  let out: number[] = [];
  for (const steps of tries) {
    out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of steps) {
        const t = m * 10 ** e;
        if (t >= lo * 0.999 && t <= hi * 1.001) out.push(+t.toPrecision(6));
      }
    }
    if (out.length >= 2) return out;
  }
  return [lo, ...out, hi];
}

/** A chart of series of points with error bars; returns an <svg> element as text. */
export function lineChart(series: Series[], o: ChartOptions): string {
  const W = o.width ?? 720;
  const H = o.height ?? 420;
  const m = { left: 64, right: 190, top: 36, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p.x).filter((x) => !o.xLog || x > 0);
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [1, 10];
  if (o.xLog) {
    [x0, x1] = x0 === x1 ? [x0 / 2, x1 * 2] : [x0 / 1.25, x1 * 1.25];
  } else {
    const pad = (x1 - x0) * 0.05 || Math.abs(x0) * 0.1 || 1;
    [x0, x1] = [x0 - pad, x1 + pad];
  }
  let [y0, y1] = o.yRange ?? (() => {
    const ys = pts.flatMap((p) => [p.y, p.low ?? p.y, p.high ?? p.y]);
    const lo = Math.min(...ys);
    const hi = Math.max(...ys);
    const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
    return [lo - pad, hi + pad] as [number, number];
  })();
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  const sx = (x: number) => m.left + (o.xLog ? (Math.log(x / x0) / Math.log(x1 / x0)) : (x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const xf = o.xFormat ?? ((x: number) => String(+x.toPrecision(3)));
  const yf = o.yFormat ?? ((y: number) => String(+y.toPrecision(3)));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.title)}">`);
  out.push(`<text x="${W / 2 - m.right / 2}" y="20" text-anchor="middle" class="ttl">${esc(o.title)}</text>`);
  // Grid and axes.
  for (const t of niceLinearTicks(y0, y1)) {
    if (t < y0 || t > y1) continue;
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${f(sy(t))}" y2="${f(sy(t))}" class="grid"/><text x="${m.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end" class="tick">${esc(yf(t))}</text>`);
  }
  for (const t of o.xLog ? logTicks(x0, x1) : niceLinearTicks(x0, x1)) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${m.top}" y2="${m.top + ph}" class="grid"/><text x="${f(sx(t))}" y="${m.top + ph + 16}" text-anchor="middle" class="tick">${esc(xf(t))}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="frame"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle" class="axis">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis">${esc(o.yLabel)}</text>`);
  const labels: Array<{ x: number; y: number; text: string; color: string }> = [];
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    if (s.baseline && sorted.length) {
      out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${f(sy(sorted[0].y))}" y2="${f(sy(sorted[0].y))}" stroke="${color}" class="base"/>`);
    }
    if ((s.line ?? sorted.length > 1) && sorted.length > 1) {
      out.push(`<polyline fill="none" stroke="${color}" class="ser" points="${sorted.map((p) => `${f(sx(p.x))},${f(sy(p.y))}`).join(' ')}"/>`);
    }
    for (const p of sorted) {
      const [cx, cy] = [f(sx(p.x)), f(sy(p.y))];
      if (p.low !== undefined && p.high !== undefined) {
        out.push(`<line x1="${cx}" x2="${cx}" y1="${f(sy(p.low))}" y2="${f(sy(p.high))}" stroke="${color}" class="err"/>`);
      }
      out.push(`<circle class="pt" cx="${cx}" cy="${cy}" r="4" fill="${color}" data-series="${esc(s.name)}" data-x="${p.x}" data-y="${p.y}"><title>${esc(p.title ?? `${s.name}: ${yf(p.y)} at ${xf(p.x)}`)}</title></circle>`);
      if (p.label) labels.push({ x: +cx, y: +cy, text: p.label, color });
    }
    // Legend.
    const ly = m.top + 8 + i * 18;
    out.push(`<circle cx="${m.left + pw + 18}" cy="${ly}" r="4" fill="${color}"/><text x="${m.left + pw + 28}" y="${ly + 4}" class="leg">${esc(s.name.length > 26 ? s.name.slice(0, 25) + '…' : s.name)}</text>`);
  });
  out.push(...placeLabels(labels));
  out.push('</svg>');
  return out.join('');
}

/**
 * Point annotations, moved up or down (then right) until they do not overlap a label already
 * placed: 10px text is about 5.6px per character wide and 10px high.
 */
function placeLabels(labels: Array<{ x: number; y: number; text: string; color: string }>): string[] {
  const boxes: Array<[number, number, number, number]> = [];
  const overlaps = (b: [number, number, number, number]) => boxes.some((o) => b[0] < o[2] && o[0] < b[2] && b[1] < o[3] && o[1] < b[3]);
  return labels.map(({ x, y, text, color }) => {
    const w = 5.6 * text.length;
    let box: [number, number, number, number] = [x + 6, y - 16, x + 6 + w, y - 6];
    for (const [dx, dy] of [[6, -6], [6, 14], [6, -18], [6, 26], [6, -30], [6, 38], [14 + w, -6]]) {
      box = [x + dx, y + dy - 10, x + dx + w, y + dy];
      if (!overlaps(box)) break;
    }
    boxes.push(box);
    return `<text x="${f(box[0])}" y="${f(box[3])}" class="lbl" fill="${color}">${esc(text)}</text>`;
  });
}

export interface StackedRow {
  label: string;
  /** Stage -> milliseconds. */
  parts: Record<string, number>;
}

/** Horizontal stacked bars, one row per entry, one colour per stage (in `stages` order). */
export function stackedBars(rows: StackedRow[], stages: string[], o: { title: string; unit?: string; width?: number }): string {
  const W = o.width ?? 720;
  const rowH = 22;
  const m = { left: 230, right: 24, top: 36, bottom: 0 };
  const pw = W - m.left - m.right;
  // Legend entries wrap onto as many lines as they need under the bars.
  const legend: Array<{ s: string; x: number; line: number }> = [];
  let lx = m.left;
  let line = 0;
  for (const s of stages) {
    const w = 22 + s.length * 7;
    if (lx + w > W - m.right && lx > m.left) [lx, line] = [m.left, line + 1];
    legend.push({ s, x: lx, line });
    lx += w;
  }
  m.bottom = 40 + (line + 1) * 16 + 18;
  const H = m.top + rows.length * rowH + m.bottom;
  const max = Math.max(1e-9, ...rows.map((r) => stages.reduce((a, s) => a + (r.parts[s] ?? 0), 0)));
  const ticks = niceLinearTicks(0, max, 5).filter((t) => t <= max * 1.0001);
  const sx = (v: number) => m.left + (v / max) * pw;
  const out: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.title)}">`];
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" class="ttl">${esc(o.title)}</text>`);
  for (const t of ticks) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${m.top}" y2="${m.top + rows.length * rowH}" class="grid"/><text x="${f(sx(t))}" y="${m.top + rows.length * rowH + 14}" text-anchor="middle" class="tick">${+t.toPrecision(3)}</text>`);
  }
  rows.forEach((r, i) => {
    const y = m.top + i * rowH + 3;
    out.push(`<text x="${m.left - 6}" y="${y + 12}" text-anchor="end" class="tick">${esc(r.label.length > 36 ? r.label.slice(0, 35) + '…' : r.label)}</text>`);
    let at = 0;
    stages.forEach((s, j) => {
      const v = r.parts[s] ?? 0;
      if (v <= 0) return;
      out.push(`<rect class="seg" x="${f(sx(at))}" y="${y}" width="${f(Math.max(0.5, sx(at + v) - sx(at)))}" height="${rowH - 6}" fill="${PALETTE[j % PALETTE.length]}" data-stage="${esc(s)}" data-ms="${v}"><title>${esc(`${r.label}: ${s} ${v.toFixed(2)} ${o.unit ?? 'ms'}`)}</title></rect>`);
      at += v;
    });
  });
  const ly = m.top + rows.length * rowH + 36;
  for (const e of legend) {
    const y = ly + e.line * 16;
    out.push(`<rect x="${e.x}" y="${y - 9}" width="10" height="10" fill="${PALETTE[stages.indexOf(e.s) % PALETTE.length]}"/><text x="${e.x + 14}" y="${y}" class="leg">${esc(e.s)}</text>`);
  }
  const axisY = ly + line * 16 + 18;
  out.push(`<text x="${m.left + pw}" y="${axisY}" text-anchor="end" class="axis">${esc(o.unit ?? 'ms')} per example</text>`);
  out.push('</svg>');
  return out.join('');
}

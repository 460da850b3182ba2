// Small SVG line charts over a fixed time window ending now. Null values break the line.

import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 600;
const H = 170;
const PAD = { left: 52, right: 10, top: 10, bottom: 22 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** A round upper bound for the y axis (1, 2, 5 × 10^n). */
function niceMax(value) {
  if (!(value > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * exp) return step * exp;
  return 10 * exp;
}

/** Split points into runs of non-null values. */
function runs(points) {
  const out = [];
  let run = [];
  for (const p of points) {
    if (p.v === null || p.v === undefined || !Number.isFinite(p.v)) {
      if (run.length) out.push(run);
      run = [];
    } else run.push(p);
  }
  if (run.length) out.push(run);
  return out;
}

/**
 * A chart element: {title, testid, windowMs, format(v), series: [{label, color, points: [{t, v}]}]}.
 * Call update() on the returned object with new series to redraw in place.
 */
export function lineChart({ title, testid, windowMs, format = String, empty = 'no data yet' }) {
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart-svg' });
  const legend = h('div', { class: 'chart-legend' });
  const root = h('figure', { class: 'chart', dataset: { testid } }, h('figcaption', {}, title), svg, legend);

  function update(series, now = Date.now()) {
    const from = now - windowMs;
    const all = series.flatMap((x) => x.points).filter((p) => p.t >= from && Number.isFinite(p.v));
    const peak = Math.max(0, ...all.map((p) => p.v));
    const max = niceMax(peak);
    root.dataset.active = String(peak > 0); // something happened in the window (a hook for tests)
    const x = (t) => PAD.left + ((t - from) / windowMs) * (W - PAD.left - PAD.right);
    const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);

    const grid = [0, 0.5, 1].map((f) =>
      s(
        'g',
        {},
        s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(f * max), y2: y(f * max), class: 'grid' }),
        s('text', { x: PAD.left - 6, y: y(f * max) + 4, class: 'axis', 'text-anchor': 'end' }, format(f * max)),
      ),
    );
    const ticks = [0, 0.5, 1].map((f) => {
      const label = f === 1 ? 'now' : `−${((1 - f) * windowMs) / 60_000} min`;
      return s(
        'text',
        {
          x: x(from + f * windowMs),
          y: H - 6,
          class: 'axis',
          'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle',
        },
        label,
      );
    });
    const lines = series.flatMap(({ color, points }) =>
      runs(points.filter((p) => p.t >= from)).map((run) =>
        run.length === 1
          ? s('circle', { cx: x(run[0].t), cy: y(run[0].v), r: 2.5, fill: color })
          : s('polyline', {
              points: run.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' '),
              fill: 'none',
              stroke: color,
              'stroke-width': 1.8,
              'stroke-linejoin': 'round',
            }),
      ),
    );
    svg.replaceChildren(...grid, ...ticks, ...lines);
    if (all.length === 0)
      svg.append(s('text', { x: W / 2, y: H / 2, class: 'axis empty', 'text-anchor': 'middle' }, empty));

    legend.replaceChildren(
      ...series.map(({ label, color, points }) => {
        const last = [...points].reverse().find((p) => Number.isFinite(p.v));
        return h(
          'span',
          { class: 'legend-item' },
          h('i', { style: `background:${color}` }),
          `${label}: ${last ? format(last.v) : '–'}`,
        );
      }),
    );
  }

  return { el: root, update };
}

/** A tiny inline trend line for table cells (values only, no axes). */
export function sparkline(values, { width = 80, height = 18, color = 'var(--accent)' } = {}) {
  const finite = values.map((v) => (Number.isFinite(v) ? v : 0));
  const max = Math.max(1e-9, ...finite);
  const step = finite.length > 1 ? width / (finite.length - 1) : 0;
  const points = finite
    .map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`)
    .join(' ');
  return s(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, width, height, class: 'sparkline', 'aria-hidden': 'true' },
    s('polyline', { points, fill: 'none', stroke: color, 'stroke-width': 1.5 }),
  );
}

// Draws a workflow's state machine (its ASL definition) as an SVG graph: one box per top-level
// state, laid out by distance from StartAt, arrows for Next, Choice rules, Default and Catch.
// Parallel and Map boxes name their nested states. A run's states colour the boxes by status.

const SVG = 'http://www.w3.org/2000/svg';
const BOX_W = 170;
const BOX_H = 46;
const GAP_X = 36;
const GAP_Y = 44;
const PAD = 16;

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The transitions out of a state: [{to, kind: 'next'|'choice'|'default'|'catch'}]. */
export function transitions(state) {
  const out = [];
  if (state.Next) out.push({ to: state.Next, kind: 'next' });
  for (const c of state.Choices ?? []) if (c.Next) out.push({ to: c.Next, kind: 'choice' });
  if (state.Default) out.push({ to: state.Default, kind: 'default' });
  for (const c of state.Catch ?? []) if (c.Next) out.push({ to: c.Next, kind: 'catch' });
  return out;
}

/** Levels by breadth-first distance from StartAt; unreachable states go last. */
function layout(def) {
  const names = Object.keys(def.States ?? {});
  const level = new Map([[def.StartAt, 0]]);
  const queue = [def.StartAt];
  while (queue.length) {
    const name = queue.shift();
    for (const { to } of transitions(def.States[name] ?? {})) {
      if (!level.has(to) && def.States[to]) {
        level.set(to, level.get(name) + 1);
        queue.push(to);
      }
    }
  }
  const last = Math.max(0, ...level.values()) + 1;
  for (const n of names) if (!level.has(n)) level.set(n, last);
  const rows = [];
  for (const n of names) (rows[level.get(n)] ??= []).push(n);
  const pos = new Map();
  const widest = Math.max(1, ...rows.map((r) => r?.length ?? 0));
  const width = widest * (BOX_W + GAP_X) - GAP_X + 2 * PAD;
  rows.forEach((row, y) => {
    const rowWidth = row.length * (BOX_W + GAP_X) - GAP_X;
    row.forEach((n, x) => {
      pos.set(n, { x: (width - rowWidth) / 2 + x * (BOX_W + GAP_X), y: PAD + y * (BOX_H + GAP_Y) });
    });
  });
  return { pos, width, height: rows.length * (BOX_H + GAP_Y) - GAP_Y + 2 * PAD };
}

function subtitle(state) {
  if (state.Type === 'Task') return state.Resource;
  if (state.Type === 'Parallel') return `${state.Branches?.length ?? 0} branches`;
  if (state.Type === 'Map') {
    const p = state.ItemProcessor ?? state.Iterator ?? {};
    return `each item: ${Object.keys(p.States ?? {}).join(' → ')}`;
  }
  if (state.Type === 'Wait') return state.Seconds !== undefined ? `${state.Seconds} s` : 'until a time';
  if (state.Type === 'Fail') return state.Error ?? '';
  return '';
}

function edge(svg, from, to, kind) {
  const x1 = from.x + BOX_W / 2;
  const y1 = from.y + BOX_H;
  const x2 = to.x + BOX_W / 2;
  const y2 = to.y;
  const back = to.y <= from.y;
  const d = back
    ? `M${from.x + BOX_W} ${from.y + BOX_H / 2} C${from.x + BOX_W + 60} ${from.y + BOX_H / 2}, ${to.x + BOX_W + 60} ${to.y + BOX_H / 2}, ${to.x + BOX_W} ${to.y + BOX_H / 2}`
    : `M${x1} ${y1} C${x1} ${y1 + GAP_Y / 2}, ${x2} ${y2 - GAP_Y / 2}, ${x2} ${y2}`;
  svg.append(el('path', { d, class: `wf-edge ${kind}`, 'marker-end': 'url(#wf-arrow)' }));
}

/**
 * An SVG element for `def` (the ASL document). `statuses`: Map of top-level state name ->
 * 'succeeded' | 'failed' | 'caught' | 'replayed' | 'running'.
 */
export function stateGraph(def, statuses = new Map()) {
  const { pos, width, height } = layout(def);
  const svg = el('svg', {
    class: 'wf-graph',
    viewBox: `0 0 ${width + 80} ${height}`,
    width: width + 80,
    height,
    role: 'img',
  });
  svg.dataset.testid = 'workflow-graph';
  const defs = el('defs');
  const marker = el('marker', {
    id: 'wf-arrow',
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
  });
  marker.append(el('path', { d: 'M0 0 L10 5 L0 10 z', class: 'wf-arrow' }));
  defs.append(marker);
  svg.append(defs);
  for (const [name, state] of Object.entries(def.States ?? {})) {
    for (const { to, kind } of transitions(state)) if (pos.has(to)) edge(svg, pos.get(name), pos.get(to), kind);
  }
  for (const [name, state] of Object.entries(def.States ?? {})) {
    const { x, y } = pos.get(name);
    const g = el('g', {
      class: `wf-state ${state.Type} ${statuses.get(name) ?? ''}`,
      transform: `translate(${x} ${y})`,
    });
    g.dataset.state = name;
    g.dataset.status = statuses.get(name) ?? '';
    g.append(el('rect', { width: BOX_W, height: BOX_H, rx: state.Type === 'Choice' ? 14 : 6 }));
    g.append(el('text', { x: 10, y: 19, class: 'wf-name' }, name.length > 22 ? `${name.slice(0, 21)}…` : name));
    const sub = subtitle(state);
    g.append(
      el(
        'text',
        { x: 10, y: 36, class: 'wf-sub' },
        `${state.Type}${sub ? ` · ${sub.length > 20 ? `${sub.slice(0, 19)}…` : sub}` : ''}`,
      ),
    );
    if (name === def.StartAt) g.append(el('circle', { cx: BOX_W - 10, cy: 10, r: 4, class: 'wf-start' }));
    svg.append(g);
  }
  return svg;
}

/** The top-level status of each state in a run report (a later visit wins; failed beats the rest). */
export function statusesOf(report) {
  const out = new Map();
  for (const s of report?.states ?? []) {
    if (s.name.includes(' > ') || /\[\d+\]$/.test(s.name)) continue;
    if (out.get(s.name) !== 'failed') out.set(s.name, s.status);
  }
  return out;
}

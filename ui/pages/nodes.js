// Nodes: the cluster's members with role, area and load, and this node's runtimes and capacity.

import { ApiError, api } from '../api.js';
import { every, fill, h } from '../dom.js';

const REFRESH_MS = 2000;

/** GET /v1/nodes, or this node alone (from /v1/info) when the node has no such route. */
async function loadNodes(info, signal) {
  try {
    return (await api.nodes({ signal })).nodes;
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
    return [
      {
        name: info.node,
        role: '–',
        area: '–',
        url: location.origin,
        load: { freeMemoryMiB: info.capacity.memoryMiB - info.capacity.usedMiB, queued: 0, warm: 0 },
        self: true,
      },
    ];
  }
}

function meter(used, total) {
  const pct = total > 0 ? Math.min(100, Math.round((used / total) * 100)) : 0;
  return h('span', { class: 'meter', title: `${pct}%` }, h('span', { style: `width:${pct}%` }));
}

function nodesTable(nodes) {
  return h(
    'table',
    { dataset: { testid: 'nodes-table' } },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['Node', 'Role', 'Area', 'URL', 'Free memory', 'Queued', 'Warm functions'].map((t) => h('th', {}, t)),
      ),
    ),
    h(
      'tbody',
      {},
      nodes.map((n) =>
        h(
          'tr',
          { dataset: { testid: 'node-row', name: n.name } },
          h('td', {}, n.name, n.self ? h('span', { class: 'badge' }, 'this node') : null),
          h('td', {}, h('span', { class: `tag role-${n.role}` }, n.role)),
          h('td', {}, n.area),
          h('td', { class: 'mono' }, n.url),
          h('td', { class: 'num' }, `${n.load.freeMemoryMiB} MiB`),
          h('td', { class: 'num' }, n.load.queued),
          h('td', { class: 'num' }, n.load.warm),
        ),
      ),
    ),
  );
}

function infoCard(info) {
  const { memoryMiB, usedMiB } = info.capacity;
  const triggers = Object.entries(info.triggers ?? {}).filter(([, v]) => v);
  return h(
    'section',
    { class: 'card', dataset: { testid: 'node-info' } },
    h('h2', {}, `This node: ${info.node}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Version'),
      h('dd', {}, info.version),
      h('dt', {}, 'Memory'),
      h('dd', {}, meter(usedMiB, memoryMiB), ` ${usedMiB} / ${memoryMiB} MiB reserved`),
      triggers.length
        ? [
            h('dt', {}, 'Triggers'),
            h(
              'dd',
              {},
              triggers.map(([k, v]) => h('div', { class: 'mono' }, `${k}: ${v}`)),
            ),
          ]
        : null,
    ),
    h('h3', {}, 'Runtimes'),
    h(
      'ul',
      { class: 'runtimes', dataset: { testid: 'runtimes' } },
      info.runtimes.map((r) =>
        h(
          'li',
          { class: r.available ? 'ok' : 'off', title: r.detail ?? '', dataset: { runtime: r.name } },
          h('span', { class: 'dot' }),
          h('b', {}, r.name),
          r.detail ? h('span', { class: 'muted' }, ` ${r.detail}`) : null,
        ),
      ),
    ),
  );
}

export default {
  title: 'Nodes',
  render(view, _params, signal) {
    const tableBox = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading…'));
    const infoBox = h('div');
    view.append(
      h('div', { class: 'page-head' }, h('h1', {}, 'Nodes')),
      h('section', { class: 'card' }, tableBox),
      infoBox,
    );

    every(
      REFRESH_MS,
      async () => {
        try {
          const info = await api.info({ signal });
          const nodes = await loadNodes(info, signal);
          fill(tableBox, nodesTable(nodes));
          fill(infoBox, infoCard(info));
        } catch (e) {
          if (!signal.aborted) fill(tableBox, h('p', { class: 'error' }, `Cannot load nodes: ${e.message}`));
        }
      },
      signal,
    );
  },
};

// Workflows: every deployed workflow (ASL state machine), deploy one from a pasted or chosen document.

import { api } from '../api.js';
import { every, flash, formatDateTime, h } from '../dom.js';

const REFRESH_MS = 3000;

function deployForm(onDeployed) {
  const name = h('input', {
    type: 'text',
    required: true,
    placeholder: 'name',
    pattern: '[A-Za-z0-9][A-Za-z0-9_\\-]{0,79}',
    dataset: { testid: 'wf-name' },
  });
  const text = h('textarea', {
    rows: 10,
    spellcheck: false,
    placeholder: '{"StartAt": "First", "States": {…}}',
    dataset: { testid: 'wf-definition' },
  });
  const file = h('input', { type: 'file', accept: '.json,.asl.json,application/json' });
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    if (!f) return;
    text.value = await f.text();
    if (!name.value) name.value = f.name.replace(/(\.asl)?\.json$/i, '');
  });
  const form = h(
    'form',
    { class: 'card', dataset: { testid: 'wf-deploy' } },
    h('h2', {}, 'Deploy a workflow'),
    h('p', { class: 'muted small' }, 'An Amazon States Language document; Task states name functions deployed here.'),
    h('label', {}, 'Name ', name),
    h('label', {}, 'Definition (JSON) ', file),
    text,
    h('button', { type: 'submit', dataset: { testid: 'wf-deploy-submit' } }, 'Deploy'),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const { created, workflow } = await api.deployWorkflow(name.value, text.value);
      flash(`${created ? 'Deployed' : 'Updated'} workflow ${workflow.name}`);
      onDeployed(workflow);
    } catch (err) {
      flash(err.message, 'error');
    }
  });
  return form;
}

function table(workflows) {
  if (workflows.length === 0)
    return h('p', { class: 'muted', dataset: { testid: 'wf-empty' } }, 'No workflows deployed yet.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Workflow', 'States', 'Functions', 'Updated'].map((c) => h('th', {}, c)),
        ),
      ),
      h(
        'tbody',
        {},
        workflows.map((w) =>
          h(
            'tr',
            { dataset: { testid: 'wf-row', name: w.name } },
            h('td', {}, h('a', { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name)),
            h('td', { class: 'num' }, String(w.states)),
            h('td', {}, w.functions.join(', ')),
            h('td', {}, formatDateTime(w.updatedAt)),
          ),
        ),
      ),
    ),
  );
}

export default {
  title: 'Workflows',
  render(view, _params, signal) {
    const list = h('section', { class: 'card', dataset: { testid: 'wf-list' } });
    const refresh = async () => {
      const workflows = await api.workflows({ signal });
      list.replaceChildren(h('h2', {}, 'Workflows'), table(workflows));
    };
    view.append(
      h('div', { class: 'page-head' }, h('h1', {}, 'Workflows')),
      list,
      deployForm((w) => {
        location.hash = `#/workflows/${encodeURIComponent(w.name)}`;
      }),
    );
    every(REFRESH_MS, refresh, signal);
  },
};

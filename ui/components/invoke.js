// The invoke form: method, path, headers, body -> status, headers, body and the execution report.

import { api } from '../api.js';
import { fill, formatMs, h } from '../dom.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** "Name: value" lines -> a headers object (blank and malformed lines skipped). */
function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return headers;
}

/** The report's facts in reading order. */
export function reportFacts(report) {
  return [
    ['start', report.cold ? 'cold' : 'warm'],
    ['queue', formatMs(report.queueMs)],
    ['init', formatMs(report.initMs)],
    ['run', formatMs(report.runMs)],
    ['total', formatMs(report.totalMs)],
    ['node', report.node],
    ['instance', report.instance || '–'],
    ['offloaded', report.offloaded ? `yes (${(report.hops ?? []).map((x) => x.node).join(' → ')})` : 'no'],
    ...(report.error ? [['error', report.error]] : []),
  ];
}

function reportView(report) {
  if (!report) return h('p', { class: 'muted' }, 'No execution report (the call did not reach the scheduler).');
  return h(
    'dl',
    { class: 'report', dataset: { testid: 'invoke-report' } },
    reportFacts(report).map(([k, v]) => [h('dt', {}, k), h('dd', { dataset: { key: k } }, v)]),
  );
}

/**
 * `fn` is the FunctionDescription (private functions get the token); `onResult` receives each
 * call's {status, report, time} so the page can list it.
 */
export function invokeForm(fn, onResult) {
  const method = h(
    'select',
    { id: 'invoke-method', dataset: { testid: 'invoke-method' } },
    METHODS.map((m) => h('option', { value: m }, m)),
  );
  const path = h('input', {
    id: 'invoke-path',
    type: 'text',
    placeholder: '/',
    spellcheck: 'false',
    dataset: { testid: 'invoke-path' },
  });
  const headers = h('textarea', {
    id: 'invoke-headers-in',
    rows: 2,
    placeholder: 'Content-Type: application/json',
    spellcheck: 'false',
    dataset: { testid: 'invoke-headers-in' },
  });
  const body = h('textarea', {
    id: 'invoke-body',
    rows: 4,
    placeholder: 'request body',
    spellcheck: 'false',
    dataset: { testid: 'invoke-body' },
  });
  const submit = h('button', { type: 'submit', dataset: { testid: 'invoke-submit' } }, 'Invoke');
  const output = h('div', { class: 'invoke-output', dataset: { testid: 'invoke-output' } });

  const form = h(
    'form',
    { class: 'card invoke', dataset: { testid: 'invoke-form' } },
    h('h2', {}, 'Invoke'),
    h(
      'div',
      { class: 'row' },
      h('label', { for: 'invoke-method' }, 'Method', method),
      h('label', { for: 'invoke-path', class: 'grow' }, `Path after /fn/${fn.name}`, path),
    ),
    h('label', { for: 'invoke-headers-in' }, 'Headers', headers),
    h('label', { for: 'invoke-body' }, 'Body', body),
    h('div', { class: 'row end' }, submit),
    output,
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(output, h('p', { class: 'muted' }, 'Calling…'));
    const time = new Date().toISOString();
    try {
      const res = await api.invoke(fn.name, {
        method: method.value,
        path: path.value.trim(),
        body: body.value,
        headers: parseHeaders(headers.value),
        withToken: fn.spec.private,
      });
      const ok = res.status < 400;
      fill(
        output,
        h(
          'p',
          { class: `status ${ok ? 'ok' : 'error'}`, dataset: { testid: 'invoke-status' } },
          `${res.status} ${res.statusText}`,
          h('span', { class: 'muted' }, ` · ${formatMs(res.ms)} round trip`),
        ),
        reportView(res.report),
        h(
          'details',
          { class: 'headers' },
          h('summary', {}, `Response headers (${res.headers.length})`),
          h('pre', { dataset: { testid: 'invoke-headers' } }, res.headers.map(([k, v]) => `${k}: ${v}`).join('\n')),
        ),
        h(
          'pre',
          { class: 'body', dataset: { testid: 'invoke-response' } },
          res.body === '' ? h('span', { class: 'muted' }, '(empty body)') : res.body,
        ),
      );
      onResult({ status: res.status, report: res.report, time });
    } catch (err) {
      fill(
        output,
        h('p', { class: 'status error', dataset: { testid: 'invoke-status' } }, `Request failed: ${err.message}`),
      );
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

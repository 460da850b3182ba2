// Login: the node's management token, checked against GET /v1/info, kept for this tab's session only.

import { ApiError, api, session } from '../api.js';
import { h } from '../dom.js';

export default {
  title: 'Log in',
  render(view) {
    const token = h('input', {
      type: 'password',
      name: 'token',
      id: 'token',
      required: true,
      autocomplete: 'current-password',
      spellcheck: 'false',
      dataset: { testid: 'login-token' },
    });
    const error = h('p', { class: 'error', role: 'alert', hidden: true, dataset: { testid: 'login-error' } });
    const submit = h('button', { type: 'submit', dataset: { testid: 'login-submit' } }, 'Log in');

    const form = h(
      'form',
      { class: 'card login', novalidate: true },
      h('h1', {}, h('img', { src: 'favicon.svg', alt: '', width: 28, height: 28 }), ' Tern'),
      h('label', { for: 'token' }, 'Management token'),
      token,
      h(
        'p',
        { class: 'hint' },
        'The token from TERN_TOKEN, the config file, or the file `tern serve` printed. Kept only for this session.',
      ),
      error,
      submit,
    );

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const value = token.value.trim();
      if (!value) return showError('Enter the token.');
      submit.disabled = true;
      try {
        await api.info({ token: value, quietAuth: true });
        session.token = value;
        document.dispatchEvent(new Event('tern:login'));
      } catch (err) {
        if (err instanceof ApiError && (err.status === 401 || err.status === 403))
          showError('This token is not valid for this node.');
        else showError(`Cannot reach the node: ${err.message}`);
      } finally {
        submit.disabled = false;
      }
    });

    function showError(message) {
      error.textContent = message;
      error.hidden = false;
      token.focus();
    }

    view.append(h('section', { class: 'login-page' }, form));
    token.focus();
  },
};

// A modal confirmation built on <dialog> (testable, unlike window.confirm).

import { h } from './dom.js';

/** Resolves true when the user confirms, false on cancel or Escape. */
export function confirmDialog({ title, message, confirmLabel = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', dataset: { testid: 'confirm-dialog' }, 'aria-labelledby': 'confirm-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'confirm-title' }, title),
        h('p', {}, message),
        h(
          'menu',
          {},
          h(
            'button',
            { value: 'cancel', type: 'submit', class: 'secondary', dataset: { testid: 'confirm-cancel' } },
            'Cancel',
          ),
          h(
            'button',
            { value: 'ok', type: 'submit', class: danger ? 'danger' : '', dataset: { testid: 'confirm-ok' } },
            confirmLabel,
          ),
        ),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'ok');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('[value=cancel]').focus();
  });
}

'use strict';
// The handler a function module exports: shared by the shim and the deploy-time load check.

function pickHandler(mod, name) {
  if (name) {
    const fn = mod[name] ?? mod.default?.[name];
    if (typeof fn !== 'function') throw new TypeError(`the module exports no function "${name}"`);
    return fn;
  }
  if (typeof mod.default === 'function') return mod.default;
  if (typeof mod.handle === 'function') return mod.handle;
  if (typeof mod.default?.handle === 'function') return mod.default.handle.bind(mod.default);
  throw new TypeError('the module exports no handler: export a default function or a function named "handle"');
}

module.exports = { pickHandler };

// Actions shared by several pages.

import { api } from './api.js';
import { confirmDialog } from './confirm.js';
import { flash } from './dom.js';

/** Ask, then delete a function. Resolves true when it was deleted. */
export async function deleteFunction(name) {
  const ok = await confirmDialog({
    title: `Delete ${name}?`,
    message: `The node drains ${name}'s calls, stops its instances and removes its code and logs. This cannot be undone.`,
  });
  if (!ok) return false;
  try {
    await api.remove(name);
    flash(`Deleted ${name}.`);
    return true;
  } catch (e) {
    flash(`Cannot delete ${name}: ${e.message}`, 'error');
    return false;
  }
}

/** A function name from an archive's file name: "My_Func.tar.gz" -> "my-func". */
export function nameFromFile(fileName) {
  return fileName
    .replace(/^.*[\\/]/, '')
    .replace(/\.(tar\.gz|tgz|zip)$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

/** The policies of a spec as short display strings. */
export function policies(spec) {
  return {
    memory: `${spec.memory} MiB`,
    concurrency: String(spec.concurrentRequests),
    singleUse: spec.singleUse ? 'yes' : 'no',
    instances: `${spec.minInstances}–${spec.maxInstances}`,
  };
}

/**
 * Faasm names a function by a user and a function ("demo", "hello"); Tern by one name. The Tern
 * name is "<user>-<function>", lower-cased, with "_" read as "-": demo/hello is "demo-hello", and
 * a native Tern function "demo-hello" answers Faasm calls for demo/hello.
 */
import { TernError } from '../../core/errors.js';
import type { DeployedFunction } from '../../registry/registry.js';
import { NAME_PATTERN } from '../../registry/spec.js';

/** How a function uploaded through this API says so in its description, naming its Faasm pair. */
export const DESCRIPTION_PREFIX = 'Faasm function';

export function ternName(user: string, fn: string): string {
  if (user === '') throw new TernError('bad_request', 'Empty user');
  if (fn === '') throw new TernError('bad_request', 'Empty function');
  const name = `${user}-${fn}`.toLowerCase().replaceAll('_', '-');
  if (!NAME_PATTERN.test(name)) {
    throw new TernError(
      'bad_request',
      `${user}/${fn}: becomes the Tern function "${name}", but Tern names are 1-63 characters of a-z, 0-9 and "-"`,
    );
  }
  return name;
}

export function description(user: string, fn: string, kind: 'wasm' | 'python'): string {
  return `${DESCRIPTION_PREFIX} ${user}/${fn} (${kind})`;
}

/** Refuse an upload whose Tern name already belongs to another Faasm user/function pair. */
export function checkOwner(existing: DeployedFunction | undefined, user: string, fn: string): void {
  const desc = existing?.spec.description;
  if (desc === undefined || !desc.startsWith(`${DESCRIPTION_PREFIX} `)) return;
  const pair = desc.slice(DESCRIPTION_PREFIX.length + 1).split(' ')[0];
  if (pair !== `${user}/${fn}`) {
    throw new TernError(
      'conflict',
      `${user}/${fn}: its Tern name "${existing!.spec.name}" is taken by the Faasm function ${pair}`,
    );
  }
}

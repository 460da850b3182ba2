/** The sandboxed process's environment: a cleared one with a few safe variables plus spec.env. */
import { TernError } from '../../core/errors.js';
import type { FunctionSpec } from '../../registry/spec.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const MAX_VARS = 256;
const MAX_TOTAL_BYTES = 64 * 1024;

/** Refuse env entries the sandbox could not pass on (bad names, NUL bytes, too much). */
export function checkEnv(env: Record<string, string>): void {
  const entries = Object.entries(env);
  if (entries.length > MAX_VARS)
    throw new TernError('bad_spec', `function.toml: env: ${entries.length} variables, at most ${MAX_VARS}`);
  let total = 0;
  for (const [k, v] of entries) {
    if (!NAME.test(k))
      throw new TernError(
        'bad_spec',
        `function.toml: env: "${k}" is not a valid variable name (letters, digits and _, not starting with a digit)`,
      );
    if (v.includes('\0')) throw new TernError('bad_spec', `function.toml: env.${k}: contains a NUL byte`);
    total += k.length + Buffer.byteLength(v) + 2;
  }
  if (total > MAX_TOTAL_BYTES)
    throw new TernError('bad_spec', `function.toml: env: ${total} bytes, at most ${MAX_TOTAL_BYTES}`);
}

export function sandboxEnv(
  spec: FunctionSpec,
  instanceId: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    TMPDIR: '/tmp',
    LANG: 'C.UTF-8',
    TERN_FUNCTION: spec.name,
    TERN_INSTANCE: instanceId,
    ...extra,
    ...spec.env,
  };
}

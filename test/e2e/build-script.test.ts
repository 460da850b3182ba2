/** `make build` / setup (scripts/build-ts.sh) skips the compiler when nothing changed since the last build. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO } from '../helpers/node.js';

const run = promisify(execFile);

test('a second build of an unchanged tree does not run tsc', async () => {
  const script = join(REPO, 'scripts/build-ts.sh');
  // The first may compile (a source newer than the last build); the second has nothing to do.
  await run('bash', [script], { timeout: 600_000 });
  const { stdout } = await run('bash', [script], { timeout: 60_000 });
  assert.match(stdout, /dist is up to date/);
  assert.doesNotMatch(stdout, /compiling/);
});

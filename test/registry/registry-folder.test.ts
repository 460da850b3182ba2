/**
 * `--registry DIR` with UniFaaS's registry format: UniFaaS ignores function.toml keys it does not
 * know, so a UniFaaS-format folder with one loads, with a warning naming the key; a file in Tern's
 * own format with an unknown key (most likely a typo) is still refused.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { afterEach, beforeEach, test } from 'node:test';
import { pino } from 'pino';
import { DirRegistry, loadRegistryFolder } from '../../src/registry/dir-store.js';
import { LIMITS, PY_FILES, PY_TOML, tempDir, writeFiles } from './fixtures.js';

let dir: string;
let reg: DirRegistry;

beforeEach(async () => {
  dir = await tempDir();
  reg = new DirRegistry({ root: join(dir, 'functions'), limits: LIMITS });
  await reg.open();
});
afterEach(async () => {
  await reg.close();
  await rm(dir, { recursive: true, force: true });
});

/** A logger whose warnings the test reads. */
function capturingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'warn' }, stream);
  return {
    logger,
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('a UniFaaS-format folder with an unknown key loads, with a warning naming the key', async () => {
  const registry = join(dir, 'registry');
  // UniFaaS's keys (no name, keepalive and concurrent-requests) plus Tern's runtime, and a key neither knows.
  await writeFiles(join(registry, 'uni-py'), {
    ...PY_FILES,
    'function.toml': `concurrent-requests = 2\nkeepalive = 30\nsnapshot = true\n${PY_TOML}`,
  });
  // UniFaaS's [vm] form, with an unknown top-level key.
  await writeFiles(join(registry, 'uni-vm'), {
    'function.toml': 'keepalive = 30\nboot-delay = 5\n[vm]\nkernel = "vmlinux"\nimage = "rootfs.img"\n',
  });
  // Tern's own format (a name): an unknown key is a typo, refused.
  await writeFiles(join(registry, 'tern-fn'), {
    ...PY_FILES,
    'function.toml': `name = "tern-fn"\nmemroy = 64\n${PY_TOML}`,
  });

  const { logger, lines } = capturingLogger();
  const result = await loadRegistryFolder(reg, registry, logger);
  assert.deepEqual(result.loaded, ['uni-py', 'uni-vm']);
  assert.deepEqual(
    result.failed.map((f) => f.name),
    ['tern-fn'],
  );
  assert.match(result.failed[0]!.error, /memroy: unknown key/);
  assert.equal(reg.get('uni-py')!.spec.concurrentRequests, 2);
  assert.equal(reg.get('uni-vm')!.spec.runtime, 'microvm');

  const warnings = lines().filter((l) => l.event === 'registry_folder_unknown_keys');
  assert.deepEqual(
    warnings.map((w) => [w.function, w.keys]),
    [
      ['uni-py', ['snapshot']],
      ['uni-vm', ['boot-delay']],
    ],
  );
  assert.match(String(warnings[0]!.msg), /snapshot .*ignored as UniFaaS ignores them/);

  // The deployed copy loads again at the next start (the registry re-reads its function.toml).
  await reg.close();
  reg = new DirRegistry({ root: join(dir, 'functions'), limits: LIMITS });
  await reg.open();
  assert.deepEqual(
    reg
      .list()
      .map((fn) => fn.spec.name)
      .sort(),
    ['uni-py', 'uni-vm'],
  );
});

/**
 * Every package the lockfile installs supports the Node the project targets (issue 20: npm
 * printed EBADENGINE for cookie and content-disposition, which want Node 22). npm itself judges:
 * a dry-run install of the lockfile, on this Node, offline.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO } from '../helpers/node.js';

const run = promisify(execFile);

test('npm ci of the lockfile warns of no engine mismatch on this Node', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tern-engines-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) await copyFile(join(REPO, f), join(dir, f));
    const { stdout, stderr } = await run(
      'npm',
      ['ci', '--dry-run', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'],
      { cwd: dir, timeout: 120_000 },
    );
    const out = stdout + stderr;
    assert.doesNotMatch(
      out,
      /EBADENGINE/,
      out
        .split('\n')
        .filter((l) => /package:|required:/.test(l))
        .join('\n'),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// Runs the whole test suite on the compiled tree: node --test over dist/test/**/*.test.js.
// Optional arguments filter test files by substring (e.g. `npm test -- registry wasm`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.test.js') ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = walk('dist/test')
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('test: no test files found (did the build run?)');
  process.exit(1);
}
const args = ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=300000', ...files];
const run = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  env: { ...process.env, TERN_LOG_LEVEL: process.env.TERN_LOG_LEVEL ?? 'warn' },
});
process.exit(run.status ?? 1);

/**
 * Single-use node and binary functions get sandboxes started ahead of need
 * (src/runtimes/process/spares.ts), through a real `tern serve`: a call is served by a sandbox that
 * loaded its handler before the call was made, which then carries the pool's instance id; nothing
 * of one call is left for the next; a redeploy or a delete ends the old version's spares.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { startTern, type TernProcess } from '../helpers/node.js';
import { waitFor } from '../helpers/wait.js';

const SINGLE_USE = (runtime: string, handler: string) =>
  `runtime = "${runtime}"\nhandler = "${handler}"\nsingle-use = true\nmax-instances = 4\n`;

const TRACES_JS = (version: string) => `
const { existsSync, writeFileSync } = require('node:fs');
const { randomUUID } = require('node:crypto');
const loadedAt = Date.now();
const boot = randomUUID();
const seen = { calls: 0 };
console.log('loaded ${version}');
module.exports = (req, ctx) => {
  const before = { calls: seen.calls, tmp: existsSync('/tmp/left-behind') };
  seen.calls++;
  writeFileSync('/tmp/left-behind', req.body);
  console.log('served', boot);
  return { version: '${version}', before, boot, loadedAt, instance: ctx.instance, env: process.env.TERN_INSTANCE };
};
`;

const CGI_SH = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
if [ -e /tmp/left-behind ]; then echo "found"; else echo "clean"; fi
cat > /tmp/left-behind
echo "$TERN_INSTANCE"
`;

interface Traces {
  version: string;
  before: { calls: number; tmp: boolean };
  boot: string;
  loadedAt: number;
  instance: string;
  env: string;
}

/** Processes on this machine whose command line holds `word` (the function's name is in a shim's argv). */
async function processesWith(word: string): Promise<number> {
  let n = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.some((a) => a.endsWith('shim.cjs') || a.endsWith('cgi_runner.py')) && argv.includes(word)) n++;
  }
  return n;
}

describe('spare sandboxes for single-use functions through tern serve', () => {
  let node: TernProcess;

  before(async () => {
    // Debug logs say when a spare is ready ('spare sandbox ready').
    node = await startTern({ env: { TERN_LOG_LEVEL: 'debug' } });
  });

  /** Spares of `name` that became ready so far (taken or not). */
  const readySpares = (name: string) =>
    node
      .output()
      .split('\n')
      .filter((l) => l.includes('"spare sandbox ready"') && l.includes(`"function":"${name}"`)).length;

  after(async () => {
    await node.stop({ cleanup: true });
  });

  async function deploy(name: string, files: Record<string, string>): Promise<void> {
    const res = await node.api('PUT', `/v1/functions/${name}`, { body: await packFiles(files) });
    assert.ok(res.status === 201 || res.status === 200, `${name}: ${res.status} ${await res.text()}`);
  }

  async function call(name: string, body: string): Promise<string> {
    const res = await fetch(`${node.url}/fn/${name}`, { method: 'POST', body });
    const text = await res.text();
    assert.equal(res.status, 200, `${name}: ${text}`);
    return text;
  }

  test('node: each call gets a sandbox loaded ahead of it, fresh, under the pool’s instance id', async () => {
    await deploy('sp-node', { 'function.toml': SINGLE_USE('node', 'index.js'), 'index.js': TRACES_JS('v1') });
    const boots = new Set<string>();
    for (let i = 0; i < 4; i++) {
      // Calls 1..i-1 each took a spare: one more is ready (the first start had none to take).
      if (i > 0) await waitFor(async () => readySpares('sp-node') >= i, 'a ready spare of sp-node');
      const sentAt = Date.now();
      const seen = JSON.parse(await call('sp-node', `secret-${i}`)) as Traces;
      assert.deepEqual(seen.before, { calls: 0, tmp: false }, `call ${i} found a trace of an earlier one`);
      assert.equal(seen.version, 'v1');
      if (i > 0) assert.ok(seen.loadedAt < sentAt, `call ${i}: the handler was loaded only after the call came`);
      assert.equal(seen.env, seen.instance, 'TERN_INSTANCE and ctx.instance agree');
      assert.match(seen.instance, /^sp-node-/, 'the handler sees the pool’s instance id');
      boots.add(seen.boot);
    }
    assert.equal(boots.size, 4, 'each call had a process of its own');
    // The handler's load-time line and its call's line are logged under the instance that served.
    const logs = (await (await node.api('GET', '/v1/functions/sp-node/logs')).json()) as {
      lines: { instance: string; line: string }[];
    };
    const served = logs.lines.filter((l) => l.line.startsWith('served '));
    assert.equal(served.length, 4);
    for (const s of served) {
      const loaded = logs.lines.filter((l) => l.line === 'loaded v1' && l.instance === s.instance);
      assert.equal(loaded.length, 1, `instance ${s.instance}: its load line, once, under its own id`);
    }
  });

  test('a redeploy ends the old version’s spares and the new code answers', async () => {
    await waitFor(async () => (await processesWith('sp-node')) >= 2, 'spare sandboxes of sp-node');
    await deploy('sp-node', { 'function.toml': SINGLE_USE('node', 'index.js'), 'index.js': TRACES_JS('v2') });
    const seen = JSON.parse(await call('sp-node', 'x')) as Traces;
    assert.equal(seen.version, 'v2');
    // Only the new version's sandboxes are left: each answers with v2.
    await waitFor(async () => (await processesWith('sp-node')) === 2, 'only the new version’s two spares');
    for (let i = 0; i < 3; i++) assert.equal((JSON.parse(await call('sp-node', 'y')) as Traces).version, 'v2');
  });

  test('a delete ends every spare of the function', async () => {
    await waitFor(async () => (await processesWith('sp-node')) >= 2, 'spare sandboxes of sp-node');
    const res = await node.api('DELETE', '/v1/functions/sp-node');
    assert.ok(res.status === 200 || res.status === 204, `delete: ${res.status}`);
    await waitFor(async () => (await processesWith('sp-node')) === 0, 'no sandbox of sp-node left');
  });

  test('binary: a CGI program run in a spare sandbox leaves nothing for the next call', async () => {
    await deploy('sp-cgi', { 'function.toml': SINGLE_USE('binary', 'run.sh'), 'run.sh': CGI_SH });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      if (i > 0) await waitFor(async () => readySpares('sp-cgi') >= i, 'a ready spare of sp-cgi');
      const [found, instance] = (await call('sp-cgi', `secret-${i}`)).trim().split('\n');
      assert.equal(found, 'clean', `call ${i} found a trace of an earlier one`);
      assert.match(instance ?? '', /^sp-cgi-/, 'the program sees the pool’s instance id');
      ids.add(instance!);
    }
    assert.equal(ids.size, 3);
  });
});

/** The OpenFaaS adapter's small translations: image names, memory quantities, callback URLs, basic auth. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NodeCredentials } from '../../src/http/credentials.js';
import { callbackHeaders } from '../../src/compat/openfaas/callback.js';
import { resolveImage, stripTag } from '../../src/compat/openfaas/image.js';
import { parseCallbackUrl } from '../../src/compat/openfaas/invoke-routes.js';
import { formatMiB, memoryQuantityMiB } from '../../src/compat/openfaas/quantity.js';
import { emptyReport } from '../../src/core/report.js';

describe('image names', () => {
  test('stripTag drops a tag or digest, not a registry port', () => {
    assert.equal(stripTag('echo:latest'), 'echo');
    assert.equal(stripTag('ghcr.io/me/fn:1.0'), 'ghcr.io/me/fn');
    assert.equal(stripTag('localhost:5000/fn'), 'localhost:5000/fn');
    assert.equal(stripTag('fn@sha256:abc'), 'fn');
    assert.equal(stripTag('examples/hello'), 'examples/hello');
  });

  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-images-'));
    await mkdir(join(dir, 'images/figlet'), { recursive: true });
    await mkdir(join(dir, 'images/team/tool'), { recursive: true });
    await mkdir(join(dir, 'cwd/examples/hello'), { recursive: true });
    await writeFile(join(dir, 'cwd/mod.wasm'), '');
    await writeFile(join(dir, 'cwd/not-wasm.txt'), '');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('lookup order: absolute path, <images>/<image>, <images>/<last segment>, <cwd>/<image>', async () => {
    const roots = { imagesDir: join(dir, 'images'), cwd: join(dir, 'cwd') };
    assert.deepEqual(await resolveImage('figlet:0.1', roots), { kind: 'folder', path: join(dir, 'images/figlet') });
    assert.deepEqual(await resolveImage('team/tool', roots), { kind: 'folder', path: join(dir, 'images/team/tool') });
    assert.deepEqual(await resolveImage('ghcr.io/openfaas/figlet:latest', roots), {
      kind: 'folder',
      path: join(dir, 'images/figlet'),
    });
    assert.deepEqual(await resolveImage('examples/hello', roots), {
      kind: 'folder',
      path: join(dir, 'cwd/examples/hello'),
    });
    assert.deepEqual(await resolveImage('mod.wasm', roots), { kind: 'wasm', path: join(dir, 'cwd/mod.wasm') });
    assert.deepEqual(await resolveImage(join(dir, 'cwd/mod.wasm'), roots), {
      kind: 'wasm',
      path: join(dir, 'cwd/mod.wasm'),
    });
  });

  test('not found, not a folder or .wasm, or climbing out with "..": 400', async () => {
    const roots = { imagesDir: join(dir, 'images'), cwd: join(dir, 'cwd') };
    for (const image of ['absent', 'not-wasm.txt', '../cwd/examples/hello', '', '  ']) {
      await assert.rejects(resolveImage(image, roots), (e: { status?: number }) => e.status === 400, image);
    }
  });
});

describe('memory quantities', () => {
  test('binary and decimal suffixes, bytes; rounded up to MiB', () => {
    assert.equal(memoryQuantityMiB('m', '128Mi'), 128);
    assert.equal(memoryQuantityMiB('m', '1Gi'), 1024);
    assert.equal(memoryQuantityMiB('m', '128M'), 123);
    assert.equal(memoryQuantityMiB('m', '134217728'), 128);
    assert.equal(memoryQuantityMiB('m', '512Ki'), 1);
    assert.equal(formatMiB(128), '128Mi');
    assert.equal(formatMiB(2048), '2Gi');
  });

  test('nonsense or out of range: 400', () => {
    for (const v of ['lots', '-1Mi', '1Pi', '0'])
      assert.throws(
        () => memoryQuantityMiB('limits.memory', v),
        (e: { status?: number }) => e.status === 400,
        v,
      );
  });
});

describe('callbacks', () => {
  test('X-Callback-Url must be an absolute http(s) URL', () => {
    assert.equal(parseCallbackUrl(undefined), undefined);
    assert.equal(parseCallbackUrl(''), undefined);
    assert.equal(parseCallbackUrl('http://127.0.0.1:9/x?y=1')?.href, 'http://127.0.0.1:9/x?y=1');
    assert.throws(
      () => parseCallbackUrl('/relative'),
      (e: { status?: number }) => e.status === 400,
    );
    assert.throws(
      () => parseCallbackUrl('file:///etc/passwd'),
      (e: { status?: number }) => e.status === 400,
    );
  });

  test("headers: the function's (framing removed) plus the queue worker's four", () => {
    const headers = callbackHeaders({
      url: new URL('http://127.0.0.1/'),
      callId: 'c-1',
      functionName: 'fn',
      seconds: 0.25,
      result: {
        status: 502,
        headers: { 'content-type': 'application/json', 'content-length': '9', 'x-own': '1' },
        body: Buffer.from('{}'),
        report: emptyReport('n', 'fn'),
      },
    });
    assert.deepEqual(headers, {
      'content-type': 'application/json',
      'x-own': '1',
      'x-duration-seconds': '0.250000',
      'x-function-status': '502',
      'x-function-name': 'fn',
      'x-call-id': 'c-1',
    });
  });
});

describe('basic auth', () => {
  const auth = new NodeCredentials('s3cret:with:colons');
  test('the password may contain colons (split at the first)', () => {
    assert.equal(auth.check(`Basic ${Buffer.from('admin:s3cret:with:colons').toString('base64')}`) === 'valid', true);
    assert.equal(auth.check(`basic ${Buffer.from('admin:s3cret:with:colons').toString('base64')}`) === 'valid', true);
    assert.equal(auth.check(`Basic ${Buffer.from('admin:s3cret').toString('base64')}`) === 'valid', false);
    assert.equal(auth.check(undefined) === 'valid', false);
  });
});

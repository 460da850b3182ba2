/** function.toml keys of container functions: Tern's (image, port, [container] runtime) and UniFaaS's [container]. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFunctionToml } from '../../src/registry/spec.js';
import { containerEnv } from '../../src/runtimes/container/runtime.js';
import { normalizeRef } from '../../src/runtimes/container/image-ref.js';

test('image, port and [container] runtime', () => {
  const spec = parseFunctionToml(
    'runtime = "container"\nimage = "build/image"\nport = 80\n[container]\nruntime = "crun"\n',
    'c',
  );
  assert.deepEqual(spec.container, { image: 'build/image', runtime: 'crun', port: 80 });
});

test("UniFaaS's [container] table: image, memory, runtime; Tern's port inside it too", () => {
  const spec = parseFunctionToml('[container]\nimage = "fn:1"\nmemory = 96\nruntime = "runsc-kvm"\nport = 3000\n', 'u');
  assert.equal(spec.runtime, 'container');
  assert.equal(spec.memory, 96);
  assert.deepEqual(spec.container, { image: 'fn:1', runtime: 'runsc-kvm', port: 3000 });
});

test('refusals name the key', () => {
  assert.throws(() => parseFunctionToml('runtime = "container"\n', 'c'), /image: required for runtime "container"/);
  assert.throws(
    () => parseFunctionToml('runtime = "python"\nimage = "x"\n', 'c'),
    /image: only for runtime "container"/,
  );
  assert.throws(() => parseFunctionToml('runtime = "container"\nimage = "x"\nport = 70000\n', 'c'), /port: /);
});

test('image names as docker writes them', () => {
  assert.equal(normalizeRef('busybox'), 'busybox:latest');
  assert.equal(normalizeRef('ghcr.io/me/fn:1.0'), 'ghcr.io/me/fn:1.0');
  assert.equal(normalizeRef('localhost:5000/fn'), 'localhost:5000/fn:latest');
  for (const bad of ['Upper/Case', '../x', 'fn@sha256:abc', 'a//b', ''])
    assert.equal(normalizeRef(bad), undefined, bad);
});

test("the function's env goes over the image's, and a PATH is always there", () => {
  assert.deepEqual(containerEnv(['A=1', 'B=2'], { B: 'x' }), [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'A=1',
    'B=x',
  ]);
  assert.deepEqual(containerEnv(['PATH=/bin'], {}), ['PATH=/bin']);
});

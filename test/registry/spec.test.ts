import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { parseFunctionToml } from '../../src/registry/spec.js';

function badSpec(message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TernError);
    assert.equal(e.code, 'bad_spec');
    assert.match(e.message, message);
    return true;
  };
}

test('durations: "500ms", "10s", "5m" and bare seconds', () => {
  const spec = parseFunctionToml('runtime = "wasm"\ntimeout = "500ms"\nkeepalive = 30\n', 'fn');
  assert.equal(spec.timeoutMs, 500);
  assert.equal(spec.keepaliveMs, 30_000);
  assert.equal(parseFunctionToml('runtime = "wasm"\ntimeout = "10s"\nkeepalive = "5m"\n', 'fn').timeoutMs, 10_000);
  assert.equal(parseFunctionToml('runtime = "wasm"\nkeepalive = "5m"\n', 'fn').keepaliveMs, 300_000);
  assert.throws(
    () => parseFunctionToml('runtime = "wasm"\ntimeout = "soon"\n', 'fn'),
    badSpec(/timeout: not a duration/),
  );
});

test('defaults and the name from the folder', () => {
  const spec = parseFunctionToml('runtime = "python"\n', 'from-folder');
  assert.equal(spec.name, 'from-folder');
  assert.equal(spec.handler, 'main:handle');
  assert.equal(spec.memory, 128);
  assert.equal(spec.maxInstances, 8);
  assert.equal(spec.singleUse, false);
  assert.equal(parseFunctionToml('runtime = "wasm"\n', 'w').singleUse, true);
  assert.equal(parseFunctionToml('name = "own"\nruntime = "node"\n', 'folder').name, 'own');
});

test('an unknown key is refused, named', () => {
  assert.throws(() => parseFunctionToml('runtime = "python"\nmemroy = 1\n', 'fn'), badSpec(/memroy: unknown key/));
  assert.throws(
    () => parseFunctionToml('runtime = "python"\n[triggers]\namqp = "x"\n', 'fn'),
    badSpec(/triggers\.amqp: unknown key/),
  );
  assert.throws(
    () => parseFunctionToml('runtime = "python"\n[[triggers.mqtt]]\ntopic = "a"\nretain = true\n', 'fn'),
    badSpec(/triggers\.mqtt\.0\.retain: unknown key/),
  );
});

test('a wrong type names the key', () => {
  assert.throws(() => parseFunctionToml('runtime = "python"\nmemory = "lots"\n', 'fn'), badSpec(/memory:/));
  assert.throws(() => parseFunctionToml('runtime = "cobol"\n', 'fn'), badSpec(/runtime/));
  assert.throws(() => parseFunctionToml('runtime = "python"\nmemory = \n', 'fn'), badSpec(/function\.toml/));
});

test('min-instances over max-instances is refused', () => {
  assert.throws(
    () => parseFunctionToml('runtime = "python"\nmin-instances = 5\nmax-instances = 2\n', 'fn'),
    badSpec(/min-instances: is 5, more than max-instances \(2\)/),
  );
});

test('a UniFaaS file: no name, no runtime, a [vm] table', () => {
  const spec = parseFunctionToml(
    'memory = 256\nkeepalive = 30\nconcurrent-requests = 4\nsingle-use = false\n[vm]\nkernel = "vmlinux"\nimage = "rootfs.img"\ncmdline = "console=ttyS0 ip=%ip"\n[vm.hypervisor]\ntype = "firecracker"\n',
    'unifaas-fn',
  );
  assert.equal(spec.name, 'unifaas-fn');
  assert.equal(spec.runtime, 'microvm');
  assert.equal(spec.concurrentRequests, 4);
  assert.equal(spec.keepaliveMs, 30_000);
  assert.deepEqual(spec.vm, {
    kernel: 'vmlinux',
    image: 'rootfs.img',
    cpus: 1,
    cmdline: 'console=ttyS0 ip=%ip',
    copyRootfs: false,
    hypervisor: 'firecracker',
  });
  assert.equal(parseFunctionToml('[container]\nimage = "alpine"\n', 'c').runtime, 'container');
  assert.throws(() => parseFunctionToml('memory = 64\n', 'fn'), badSpec(/runtime: missing/));
});

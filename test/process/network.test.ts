/**
 * Granted network (`network = true` or an allow-list) from inside real sandboxes. "Outside" is a
 * network namespace this test makes: a veth pair, 10.x.y.1 on the host's end, 10.x.y.2 in the
 * namespace, where a listener answers on two ports. The host's own services are stood in for by
 * listeners on 127.0.0.1 and on every address (reached through 10.x.y.1, a host address).
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { isTernError } from '../../src/core/errors.js';
import { parseNetworkAllow } from '../../src/registry/network-allow.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { parseFunctionToml, type FunctionSpec } from '../../src/registry/spec.js';
import { createPythonRuntime } from '../../src/runtimes/process/index.js';
import { firewallRules } from '../../src/runtimes/process/sandbox-network.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { invoke, json, testBed, type TestBed } from './helpers.js';

const run = promisify(execFile);

interface Dialled {
  ok: boolean;
  value?: string;
  error?: string;
}

/** A namespace of our own, with a veth to the host and a listener on two ports inside it. */
class OutsideWorld {
  readonly ns = `tern-t${process.pid}`;
  readonly hostIf = `tnh${process.pid % 100000}`;
  readonly peerIf = `tnp${process.pid % 100000}`;
  // 10.100-199.y.0/30 from our pid: concurrent runs on one machine keep apart.
  readonly subnet = `10.${100 + (process.pid % 100)}.${(process.pid >> 7) % 256}`;
  readonly hostAddress = `${this.subnet}.1`;
  readonly address = `${this.subnet}.2`;
  readonly ports = [47_101, 47_102];
  private listener: ChildProcess | undefined;

  async open(): Promise<void> {
    await this.close();
    await run('ip', ['netns', 'add', this.ns]);
    await run('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.peerIf]);
    await run('ip', ['link', 'set', this.peerIf, 'netns', this.ns]);
    await run('ip', ['addr', 'add', `${this.hostAddress}/30`, 'dev', this.hostIf]);
    await run('ip', ['link', 'set', this.hostIf, 'up']);
    const inside = (args: string[]) => run('ip', ['netns', 'exec', this.ns, 'ip', ...args]);
    await inside(['addr', 'add', `${this.address}/30`, 'dev', this.peerIf]);
    await inside(['link', 'set', this.peerIf, 'up']);
    await inside(['link', 'set', 'lo', 'up']);
    await inside(['route', 'add', 'default', 'via', this.hostAddress]);
    const server = `
      const net = require('node:net');
      let up = 0;
      for (const port of ${JSON.stringify(this.ports)})
        net.createServer((s) => { s.on('error', () => {}); s.end('hi from port ' + port + '\\n'); })
          .listen(port, '${this.address}', () => { if (++up === ${this.ports.length}) console.log('listening'); });
      setTimeout(() => process.exit(0), 120000);`;
    this.listener = spawn('ip', ['netns', 'exec', this.ns, process.execPath, '-e', server], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      this.listener!.once('exit', (code) => reject(new Error(`the outside listener exited (${code})`)));
      this.listener!.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('listening')) resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.listener && this.listener.exitCode === null) {
      const gone = new Promise((resolve) => this.listener!.once('exit', resolve));
      this.listener.kill('SIGKILL');
      await gone;
    }
    // Deleting the namespace deletes its veth end, and with it the host's.
    await run('ip', ['netns', 'del', this.ns]).catch(() => undefined);
    await run('ip', ['link', 'del', this.hostIf]).catch(() => undefined);
  }
}

/** A TCP listener on the host standing in for the node's own services. */
async function hostListener(
  host: string,
): Promise<{ port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.end('hi from the host\n');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('sandbox network', () => {
  let bed: TestBed;
  let rt: Runtime;
  let escape: DeployedFunction;
  const outside = new OutsideWorld();
  let loopback: Awaited<ReturnType<typeof hostListener>>;
  let anyAddress: Awaited<ReturnType<typeof hostListener>>;

  before(async () => {
    await outside.open();
    loopback = await hostListener('127.0.0.1');
    anyAddress = await hostListener('0.0.0.0');
    bed = await testBed();
    rt = createPythonRuntime(bed.ctx);
    escape = await bed.fn('py-escape', { handler: 'main:dial' });
    await rt.prepare(escape);
  });

  after(async () => {
    await rt.close();
    await bed.cleanup();
    await loopback?.close();
    await anyAddress?.close();
    await outside.close();
  });

  /** Dial each target from one instance of the function with `network`. */
  async function dialAll(network: Partial<FunctionSpec>, targets: [string, number][]): Promise<Dialled[]> {
    const fn = { ...escape, spec: { ...escape.spec, network: false, ...network } };
    await rt.prepare(fn);
    const inst = await bed.start(rt, fn);
    try {
      const results: Dialled[] = [];
      for (const [host, port] of targets)
        results.push(json(await invoke(inst, { query: `host=${host}&port=${port}` })) as Dialled);
      return results;
    } finally {
      await inst.stop();
    }
  }

  test('network = true reaches a listener outside, but not the host: its loopback, its addresses, the gateway', async () => {
    const [out, lo, hostAddr, gateway] = await dialAll({ network: true }, [
      [outside.address, outside.ports[0]!],
      ['127.0.0.1', loopback.port],
      [outside.hostAddress, anyAddress.port],
      ['10.0.2.2', anyAddress.port],
    ]);
    assert.deepEqual(out, { ok: true, value: `hi from port ${outside.ports[0]}\n` });
    for (const refused of [lo, hostAddr, gateway]) {
      assert.equal(refused!.ok, false, JSON.stringify(refused));
      assert.match(refused!.error!, /ConnectionRefusedError|unreachable|timed out/);
    }
    assert.equal(loopback.accepted(), 0, 'nothing reached the host loopback');
    assert.equal(anyAddress.accepted(), 0, 'nothing reached the host through its own addresses');
  });

  test('without network, nothing outside the sandbox is reached', async () => {
    const [out, lo] = await dialAll({ network: false }, [
      [outside.address, outside.ports[0]!],
      ['127.0.0.1', loopback.port],
    ]);
    assert.equal(out!.ok, false);
    assert.match(out!.error!, /Network is unreachable/);
    assert.equal(lo!.ok, false);
    assert.equal(loopback.accepted(), 0);
  });

  test('an allow-list lets through only what it lists', async () => {
    const [p0, allowed] = outside.ports;
    const [listed, otherPort, lo] = await dialAll({ network: true, networkAllow: [`${outside.address}:${allowed}`] }, [
      [outside.address, allowed!],
      [outside.address, p0!],
      ['127.0.0.1', loopback.port],
    ]);
    assert.deepEqual(listed, { ok: true, value: `hi from port ${allowed}\n` });
    assert.equal(otherPort!.ok, false, JSON.stringify(otherPort));
    assert.match(otherPort!.error!, /ConnectionRefusedError/);
    assert.equal(lo!.ok, false);
    assert.equal(loopback.accepted(), 0);
  });

  test('function.toml: network takes true, false or a list; a bad entry is named', () => {
    const base = 'name = "f"\nruntime = "python"\n';
    assert.equal(parseFunctionToml(`${base}network = true`).network, true);
    assert.equal(parseFunctionToml(`${base}`).networkAllow, undefined);
    const listed = parseFunctionToml(`${base}network = ["10.0.0.0/8", "192.168.1.5:443", "dns"]`);
    assert.equal(listed.network, true);
    assert.deepEqual(listed.networkAllow, ['10.0.0.0/8', '192.168.1.5/32:443', 'dns']);
    const refused = (text: string, message: RegExp) =>
      assert.throws(
        () => parseFunctionToml(`${base}${text}`),
        (e: unknown) => isTernError(e) && e.code === 'bad_spec' && message.test(e.message),
      );
    refused('network = ["10.0.0.0/8", "example.com:443"]', /network\[1\]: "example.com:443": names are not allowed/);
    refused('network = ["10.0.0.1/8"]', /network\[0\]: .*host bits are set \(did you mean 10\.0\.0\.0\/8\?\)/);
    refused('network = ["[::1]:80"]', /network\[0\]: .*IPv6/);
    refused('network = ["10.0.0.1:70000"]', /network\[0\]: .*port must be 1 to 65535/);
    refused('network = []', /network: an empty list allows nothing/);
    refused('network = "yes"', /network:/);
  });

  test('the firewall: host addresses always refused, link-local refused unless listed, lists end in refusal', () => {
    const open = firewallRules(undefined, ['192.0.2.2']);
    assert.match(open, /ip daddr \{ 10\.0\.2\.2, 192\.0\.2\.2 \} jump refuse/);
    assert.match(open, /ip daddr 169\.254\.0\.0\/16 jump refuse/);
    assert.match(open, /meta nfproto ipv6 jump refuse/);
    const listed = firewallRules(parseNetworkAllow(['10.1.0.0/16', '10.2.3.4:443', 'dns']), []);
    assert.match(listed, /ip daddr 10\.1\.0\.0\/16 accept/);
    assert.match(listed, /ip daddr 10\.2\.3\.4\/32 meta l4proto \{ tcp, udp \} th dport 443 accept/);
    assert.match(listed, /ip daddr 10\.0\.2\.3 meta l4proto \{ tcp, udp \} th dport 53 accept/);
    assert.match(listed, /accept\n\s+jump refuse\n/);
    assert.doesNotMatch(listed, /169\.254/);
  });
});

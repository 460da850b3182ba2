/**
 * The MQTT trigger end to end: real `tern serve` nodes against Debian's mosquitto on a loopback
 * port (persistence on), publishing and subscribing with mqtt.js.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { makeCertificates, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { Collector, mqttInfo, publish, subscribed, waitForMqtt } from '../helpers/mqtt-client.js';
import { REPO, startTern, type TernProcess } from '../helpers/node.js';
import { startEtcd } from '../cluster/etcd.js';
import { SECRET, waitForLog } from '../cluster/harness.js';

async function deploy(node: TernProcess, name: string, files: Record<string, string | Buffer>): Promise<Response> {
  return node.api('PUT', `/v1/functions/${name}`, {
    body: await packFiles(files),
    headers: { 'content-type': 'application/gzip' },
  });
}

async function deployOk(node: TernProcess, name: string, files: Record<string, string | Buffer>): Promise<void> {
  const res = await deploy(node, name, files);
  assert.ok(res.status === 201 || res.status === 200, `deploy ${name}: ${res.status} ${await res.text()}`);
}

const mqttNode = (broker: Mosquitto, name: string, data?: string) =>
  startTern({ args: ['--node', name], env: { TERN_MQTT: broker.url }, ...(data ? { data } : {}) });

/**
 * A python function that records each message it finishes in the node's state ("runs", pushed to
 * disk before it answers). A message starting with "slow" sleeps the first time it is seen, after
 * marking it seen on disk ("sleeping:<msg>" says that is done), so the test can kill the node in
 * the middle of that call.
 */
const RECORDER = `
import time

def handle(req, ctx):
    msg = req.text()
    seen = "seen:" + msg
    if msg.startswith("slow") and ctx.state.get(seen) is None:
        ctx.state.set(seen, "1")
        ctx.state.push(seen)
        ctx.state.set("sleeping:" + msg, "1")
        time.sleep(60)
    ctx.state.append("runs", msg + "\\n")
    ctx.state.push("runs")
    return "done " + msg
`;

const recorderToml = (topic: string, reply: string) =>
  `name = "recorder"\nruntime = "python"\nhandler = "main:handle"\ntimeout = "90s"\nmax-instances = 4\n` +
  `[[triggers.mqtt]]\ntopic = "${topic}"\nreply = "${reply}"\nqos = 1\n`;

async function runs(node: TernProcess): Promise<string[]> {
  const res = await node.api('GET', '/v1/state/runs');
  if (res.status === 404) return [];
  return (await res.text()).split('\n').filter((l) => l !== '');
}

function counts(list: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of list) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

describe('MQTT trigger (mosquitto)', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto({ persistence: true });
  });
  after(async () => {
    await broker?.stop();
  });

  it('runs the function for a published message and publishes its reply (wasm: topic in HTTP_MQTT_TOPIC)', async () => {
    const node = await mqttNode(broker, 'mq-reply');
    const replies = await Collector.open(broker.url, 'alerts/temp');
    try {
      const wasm = await readFile(join(REPO, 'examples/echo/echo.wasm'));
      await deployOk(node, 'echo-mq', {
        'function.toml':
          'name = "echo-mq"\nruntime = "wasm"\nhandler = "echo.wasm"\n' +
          '[[triggers.mqtt]]\ntopic = "sensors/+/temp"\nreply = "alerts/temp"\n',
        'echo.wasm': wasm,
      });
      await waitForMqtt(node, subscribed('echo-mq'));
      await publish(broker.url, 'sensors/kitchen/temp', ['21.5']);
      await replies.waitFor((m) => m.length >= 1);
      const echoed = JSON.parse(replies.messages[0]!.payload) as {
        method: string;
        path: string;
        body: string;
        env: Record<string, string>;
      };
      assert.equal(echoed.method, 'POST');
      assert.equal(echoed.path, '/');
      assert.equal(echoed.body, '21.5');
      assert.equal(echoed.env.HTTP_MQTT_TOPIC, 'sensors/kitchen/temp');
      // A topic the filter does not match runs nothing.
      await publish(broker.url, 'sensors/kitchen/humidity', ['40']);
      const info = await waitForMqtt(node, (i) => i.triggers[0]?.replies === 1);
      assert.equal(info.state, 'connected');
      assert.deepEqual(
        { received: info.triggers[0]!.received, ok: info.triggers[0]!.ok, failed: info.triggers[0]!.failed },
        { received: 1, ok: 1, failed: 0 },
      );
      const metrics = await (await node.api('GET', '/metrics')).text();
      assert.match(metrics, /tern_mqtt_messages_total\{function="echo-mq",topic="sensors\/\+\/temp"\} 1/);
      assert.match(
        metrics,
        /tern_mqtt_replies_total\{function="echo-mq",topic="sensors\/\+\/temp",outcome="published"\} 1/,
      );
      assert.match(metrics, /tern_mqtt_connected 1/);
    } finally {
      await replies.close();
      await node.stop({ cleanup: true });
    }
  });

  it('refuses an invalid topic filter, an unknown key, and MQTT triggers on a node without [mqtt] (400)', async () => {
    const node = await mqttNode(broker, 'mq-refuse');
    const plain = await startTern();
    try {
      const py = { 'main.py': 'def handle(req):\n    return "x"\n' };
      const toml = (extra: string) => `runtime = "python"\n[[triggers.mqtt]]\n${extra}\n`;
      let res = await deploy(node, 'bad-filter', { 'function.toml': toml('topic = "sensors/#/temp"'), ...py });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /triggers\.mqtt\.0\.topic: \\"#\\" must be a whole level/);
      res = await deploy(node, 'bad-key', { 'function.toml': toml('topic = "a"\nretain = true'), ...py });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /triggers\.mqtt\.0\.retain: unknown key/);
      res = await deploy(node, 'bad-qos', { 'function.toml': toml('topic = "a"\nqos = 2'), ...py });
      assert.equal(res.status, 400);
      res = await deploy(plain, 'no-broker', { 'function.toml': toml('topic = "a"'), ...py });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /no MQTT broker configured/);
      const listed = (await (await node.api('GET', '/v1/functions')).json()) as { functions: unknown[] };
      assert.equal(listed.functions.length, 0);
      assert.deepEqual((await mqttInfo(node)).triggers, []);
    } finally {
      await Promise.all([node.stop({ cleanup: true }), plain.stop({ cleanup: true })]);
    }
  });

  it('in a cluster, a node without [mqtt] accepts MQTT triggers; the nodes with a broker run them', async () => {
    const etcd = await startEtcd();
    const start = (name: string, env: Record<string, string>) =>
      startTern({
        args: ['--node', name, '--etcd', etcd.url, '--grpc-port', '-1'],
        env: { TERN_CLUSTER_SECRET: SECRET, ...env },
        timeoutMs: 90_000,
      });
    const withBroker = await start('mq-cluster-a', { TERN_MQTT: broker.url });
    const without = await start('mq-cluster-b', {});
    const replies = await Collector.open(broker.url, 'cluster/out');
    try {
      await deployOk(without, 'recorder', {
        'function.toml': recorderToml('cluster/in', 'cluster/out'),
        'main.py': RECORDER,
      });
      await waitForLog(without, (e) => e.event === 'mqtt_not_configured' && e.function === 'recorder', 'the warning');
      await waitForMqtt(withBroker, subscribed('recorder'));
      await publish(broker.url, 'cluster/in', ['via-a']);
      await replies.waitFor((m) => m.some((r) => r.payload === 'done via-a'));
      const call = await fetch(`${without.url}/fn/recorder`, { method: 'POST', body: 'via-http' });
      assert.equal(await call.text(), 'done via-http');
    } finally {
      await replies.close();
      await Promise.all([withBroker.stop({ cleanup: true }), without.stop({ cleanup: true })]);
      await etcd.stop();
    }
  });

  it('keeps serving with an unreachable broker and says why', async () => {
    const dead = await startMosquitto();
    const url = dead.url;
    await dead.stop();
    const node = await startTern({ args: ['--node', 'mq-dead'], env: { TERN_MQTT: url } });
    try {
      assert.match(node.output(), /cannot reach broker mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
      assert.equal((await node.api('GET', '/healthz')).status, 200);
      const info = await mqttInfo(node);
      assert.notEqual(info.state, 'connected');
      assert.match(info.lastError ?? '', /ECONNREFUSED/);
    } finally {
      await node.stop({ cleanup: true });
    }
  });

  it('logs in over TLS (private CA, user and password) and says why a wrong password is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tern-mqtt-tls-'));
    const certs = makeCertificates(dir);
    const secure = await startMosquitto({ tls: certs, users: { sensor: 'right-password' } });
    const nodeWith = async (name: string, password: string) => {
      const path = join(dir, `${name}.toml`);
      await writeFile(path, `[mqtt]\nurl = "${secure.url}"\nusername = "sensor"\nca = "${certs.ca}"\n`);
      return startTern({ args: ['--config', path, '--node', name], env: { TERN_MQTT_PASSWORD: password } });
    };
    const good = await nodeWith('mq-tls', 'right-password');
    const bad = await nodeWith('mq-tls-bad', 'wrong-password');
    try {
      assert.match(secure.url, /^mqtts:/);
      await deployOk(good, 'recorder', { 'function.toml': recorderToml('tls/in', 'tls/out'), 'main.py': RECORDER });
      await waitForMqtt(good, subscribed('recorder'));
      const info = await waitForMqtt(bad, (i) => i.lastError !== undefined);
      assert.notEqual(info.state, 'connected');
      assert.match(info.lastError!, /Bad User Name or Password|Not authorized/i);
      assert.equal((await bad.api('GET', '/healthz')).status, 200);
    } finally {
      await Promise.all([good.stop({ cleanup: true }), bad.stop({ cleanup: true })]);
      await secure.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('QoS 1: messages published mid-call or while the node is down survive kill -9 and each run once', async () => {
    const first = await mqttNode(broker, 'mq-crash');
    const replies = await Collector.open(broker.url, 'jobs-done');
    let second: TernProcess | undefined;
    try {
      await deployOk(first, 'recorder', { 'function.toml': recorderToml('jobs/#', 'jobs-done'), 'main.py': RECORDER });
      await waitForMqtt(first, subscribed('recorder'));
      await publish(broker.url, 'jobs/a', ['m1']);
      await replies.waitFor((m) => m.length === 1);
      await publish(broker.url, 'jobs/a', ['slow-1']);
      // The call is running (it marked itself seen on disk before sleeping): kill the node under it.
      for (let i = 0; (await first.api('GET', '/v1/state/sleeping:slow-1')).status !== 200; i++) {
        assert.ok(i < 600, 'slow-1 never started');
        await new Promise((r) => setTimeout(r, 50));
      }
      await first.stop({ signal: 'SIGKILL' });
      await publish(broker.url, 'jobs/b', ['m3', 'm4']);

      second = await mqttNode(broker, 'mq-crash', first.data);
      await replies.waitFor((m) => ['slow-1', 'm3', 'm4'].every((x) => m.some((r) => r.payload === `done ${x}`)));
      // A last message: redeliveries come first on a resumed session, so any duplicate is in by its reply.
      await publish(broker.url, 'jobs/c', ['end']);
      await replies.waitFor((m) => m.some((r) => r.payload === 'done end'));
      const ran = counts(await runs(second));
      assert.deepEqual(Object.fromEntries(ran), { m1: 1, 'slow-1': 1, m3: 1, m4: 1, end: 1 });
      assert.deepEqual(Object.fromEntries(counts(replies.payloads())), {
        'done m1': 1,
        'done slow-1': 1,
        'done m3': 1,
        'done m4': 1,
        'done end': 1,
      });
    } finally {
      await replies.close();
      await second?.stop({ cleanup: true });
      await first.stop({ cleanup: true });
    }
  });

  it('paces a burst: every QoS 1 and QoS 0 message runs, none refused by the pool', async () => {
    const node = await mqttNode(broker, 'mq-burst');
    try {
      const wasm = await readFile(join(REPO, 'examples/hello/hello.wasm'));
      // Two instances and the default queue of 100: far fewer places than the burst has messages.
      const toml = (qos: number) =>
        `name = "burst${qos}"\nruntime = "wasm"\nhandler = "f.wasm"\nmax-instances = 2\n` +
        `[[triggers.mqtt]]\ntopic = "burst/${qos}"\nqos = ${qos}\n`;
      for (const qos of [0, 1]) {
        await deployOk(node, `burst${qos}`, { 'function.toml': toml(qos), 'f.wasm': wasm });
        await waitForMqtt(node, subscribed(`burst${qos}`));
      }
      const burst = Array.from({ length: 300 }, (_, i) => `b${i}`);
      await Promise.all([publish(broker.url, 'burst/0', burst, 0), publish(broker.url, 'burst/1', burst, 1)]);
      const info = await waitForMqtt(node, (i) => i.triggers.every((t) => t.ok + t.failed + t.dropped === 300));
      assert.deepEqual(
        info.triggers.map((t) => [t.function, t.ok, t.failed, t.dropped]),
        [
          ['burst0', 300, 0, 0],
          ['burst1', 300, 0, 0],
        ],
      );
    } finally {
      await node.stop({ cleanup: true });
    }
  });

  it('two nodes share one subscription: each message runs once', async () => {
    const a = await mqttNode(broker, 'mq-share-a');
    const b = await mqttNode(broker, 'mq-share-b');
    const replies = await Collector.open(broker.url, 'shared-done');
    try {
      for (const node of [a, b]) {
        await deployOk(node, 'recorder', {
          'function.toml': recorderToml('shared/in', 'shared-done'),
          'main.py': RECORDER,
        });
        await waitForMqtt(node, subscribed('recorder'));
      }
      const messages = Array.from({ length: 20 }, (_, i) => `s${i}`);
      await publish(broker.url, 'shared/in', messages);
      await replies.waitFor((m) => messages.every((x) => m.some((r) => r.payload === `done ${x}`)));
      const all = [...(await runs(a)), ...(await runs(b))];
      assert.deepEqual([...counts(all).entries()].sort(), messages.map((x) => [x, 1] as [string, number]).sort());
      const perNode = await Promise.all([a, b].map(async (n) => (await mqttInfo(n)).triggers[0]!.ok));
      assert.equal(perNode[0]! + perNode[1]!, 20);
      assert.ok(perNode[0]! > 0 && perNode[1]! > 0, `both nodes take a share: ${perNode.join(', ')}`);
    } finally {
      await replies.close();
      await Promise.all([a.stop({ cleanup: true }), b.stop({ cleanup: true })]);
    }
  });

  it('survives a broker restart: HTTP keeps serving, the trigger reconnects and delivers again', async () => {
    const node = await mqttNode(broker, 'mq-restart');
    try {
      await deployOk(node, 'recorder', {
        'function.toml': recorderToml('restart/in', 'restart-done'),
        'main.py': RECORDER,
      });
      await waitForMqtt(node, subscribed('recorder'));
      let replies = await Collector.open(broker.url, 'restart-done');
      await publish(broker.url, 'restart/in', ['before']);
      await replies.waitFor((m) => m.length === 1);
      await replies.close();
      // The node has sent its PUBACK (QoS 1 is at least once: one still on the wire when the broker dies is redelivered).
      await waitForMqtt(node, (i) => i.unacknowledged === 0);

      await broker.pause();
      await waitForMqtt(node, (i) => i.state === 'reconnecting');
      assert.equal((await node.api('GET', '/healthz')).status, 200);
      const call = await fetch(`${node.url}/fn/recorder`, { method: 'POST', body: 'http-call' });
      assert.equal(await call.text(), 'done http-call');
      assert.match(await (await node.api('GET', '/metrics')).text(), /tern_mqtt_connected 0/);

      await broker.start();
      await waitForMqtt(node, subscribed('recorder'));
      replies = await Collector.open(broker.url, 'restart-done');
      await publish(broker.url, 'restart/in', ['after']);
      await replies.waitFor((m) => m.some((r) => r.payload === 'done after'));
      await replies.close();
      const info = await mqttInfo(node);
      assert.ok(info.reconnects >= 1);
      assert.deepEqual(Object.fromEntries(counts(await runs(node))), { before: 1, 'http-call': 1, after: 1 });
    } finally {
      await node.stop({ cleanup: true });
    }
  });
});

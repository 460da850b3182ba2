/** Units of the MQTT and schedule triggers: topic rules, acknowledgement order, subscriptions, config, timing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { parseFunctionToml } from '../../src/registry/spec.js';
import { AckQueue } from '../../src/triggers/mqtt/acks.js';
import { Backlog } from '../../src/triggers/mqtt/backlog.js';
import { desiredSubscriptions } from '../../src/triggers/mqtt/subscriptions.js';
import { filterProblem, topicNameProblem } from '../../src/registry/mqtt-topic.js';
import { topicMatches } from '../../src/triggers/mqtt/topic.js';
import { ScheduleTiming } from '../../src/triggers/schedule/timing.js';

describe('MQTT topics', () => {
  it('accepts filters with whole-level wildcards and refuses the rest', () => {
    for (const ok of ['a', 'sensors/+/temp', 'sensors/#', '#', '+', '+/+', '/a', 'a//b', '$SYS/broker/#'])
      assert.equal(filterProblem(ok), undefined, ok);
    for (const bad of ['', 'a/#/b', 'a#', 'a/b+', '+a/b', '$share/g/a', '$queue/a', 'a\u0000b', 'x'.repeat(65_536)])
      assert.notEqual(filterProblem(bad), undefined, bad);
  });

  it('refuses reply topics with wildcards or a leading $', () => {
    assert.equal(topicNameProblem('alerts/temp'), undefined);
    for (const bad of ['', 'a/+', 'a/#', '$SYS/x']) assert.notEqual(topicNameProblem(bad), undefined, bad);
  });

  it('matches as MQTT 5 §4.7 says', () => {
    const cases: [string, string, boolean][] = [
      ['sensors/+/temp', 'sensors/kitchen/temp', true],
      ['sensors/+/temp', 'sensors/kitchen/humidity', false],
      ['sensors/+/temp', 'sensors/a/b/temp', false],
      ['sensors/#', 'sensors', true],
      ['sensors/#', 'sensors/a/b', true],
      ['#', '$SYS/uptime', false],
      ['+/uptime', '$SYS/uptime', false],
      ['$SYS/#', '$SYS/uptime', true],
      ['a/+', 'a/', true],
    ];
    for (const [filter, topic, expected] of cases)
      assert.equal(topicMatches(filter, topic), expected, `${filter} ~ ${topic}`);
  });
});

describe('QoS 1 acknowledgements', () => {
  const queue = () => {
    const sent: number[] = [];
    let online = true;
    const acks = new AckQueue((id) => (online ? (sent.push(id), true) : false));
    return { acks, sent, setOnline: (v: boolean) => (online = v) };
  };

  it('acknowledges in arrival order once each message is finished', () => {
    const { acks, sent } = queue();
    const one = acks.received(1, false).delivery;
    const two = acks.received(2, false).delivery;
    acks.finished(two);
    assert.deepEqual(sent, []);
    acks.finished(one);
    assert.deepEqual(sent, [1, 2]);
    assert.equal(acks.pending, 0);
  });

  it('joins a redelivery after a reconnect to the call already made, and acknowledges it on the new connection', async () => {
    const { acks, sent, setOnline } = queue();
    const first = acks.received(7, false).delivery;
    setOnline(false);
    acks.finished(first);
    assert.deepEqual(sent, []);
    setOnline(true);
    acks.connected(true);
    const again = acks.received(7, true);
    assert.equal(again.fresh, false);
    assert.deepEqual(sent, [7]);
    await acks.running();
  });

  it('gives an abandoned message back without holding up the ones after it', () => {
    const { acks, sent } = queue();
    const one = acks.received(1, false).delivery;
    const two = acks.received(2, false).delivery;
    acks.finished(two);
    acks.abandon(one);
    assert.deepEqual(sent, [2]);
    assert.equal(acks.pending, 0);
  });

  it('forgets everything when the broker lost the session', () => {
    const { acks } = queue();
    acks.received(3, false);
    acks.connected(false);
    assert.equal(acks.pending, 0);
    assert.equal(acks.received(3, true).fresh, true);
  });
});

describe('message backlog', () => {
  it('runs at most `limit` at once, queues within its bounds, cancels the queue on clear', async () => {
    const backlog = new Backlog(2, 2, 100);
    const release: (() => void)[] = [];
    const cancelled: string[] = [];
    const job = (name: string, bytes = 1) => ({
      bytes,
      run: () => new Promise<void>((resolve) => release.push(resolve)),
      cancel: () => cancelled.push(name),
    });
    assert.ok(backlog.offer(job('a')) && backlog.offer(job('b')));
    assert.equal(backlog.running, 2);
    assert.ok(backlog.offer(job('c')));
    assert.equal(backlog.offer(job('big', 100)), false, 'over the byte bound');
    assert.ok(backlog.offer(job('d')));
    assert.equal(backlog.offer(job('e')), false, 'over the count bound');
    release.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([backlog.running, backlog.queued], [2, 1]);
    backlog.clear();
    assert.deepEqual(cancelled, ['d']);
    for (const r of release.splice(0)) r();
    await backlog.idle();
    assert.equal(backlog.running, 0);
  });
});

describe('MQTT subscriptions', () => {
  const fn = (name: string, topics: string[]): DeployedFunction => ({
    spec: parseFunctionToml(
      `name = "${name}"\nruntime = "wasm"\n${topics.map((t) => `[[triggers.mqtt]]\ntopic = "${t}"\n`).join('')}`,
    ),
    dir: '/x',
    version: '0',
    deployedAt: '',
  });

  it('shares each trigger per function and keeps identifiers stable whatever the deploy order', () => {
    const one = desiredSubscriptions([fn('a', ['s/#', 's/+/t']), fn('b', ['s/#'])], 'tern');
    const two = desiredSubscriptions([fn('b', ['s/#']), fn('a', ['s/+/t', 's/#'])], 'tern');
    assert.deepEqual(one, two);
    assert.deepEqual(
      one.map((s) => s.filter),
      ['$share/tern.a/s/#', '$share/tern.a/s/+/t', '$share/tern.b/s/#'],
    );
    assert.equal(new Set(one.map((s) => s.id)).size, 3);
    assert.ok(one.every((s) => s.id >= 1 && s.id <= 268_435_455));
  });
});

describe('[mqtt] node config', () => {
  it('reads the broker from env and flags, the password only from env or file', () => {
    const c = loadConfig({}, { TERN_MQTT: 'mqtt://127.0.0.1:1883', TERN_MQTT_USERNAME: 'u', TERN_MQTT_PASSWORD: 'p' });
    assert.equal(c.mqtt?.url, 'mqtt://127.0.0.1:1883');
    assert.equal(c.mqtt?.username, 'u');
    assert.equal(c.mqtt?.password, 'p');
    assert.equal(c.mqtt?.group, 'tern');
    assert.equal(c.mqtt?.sessionExpirySec, 86_400);
    assert.equal(loadConfig({ mqtt: 'mqtts://broker:8883' }, {}).mqtt?.url, 'mqtts://broker:8883');
    assert.equal(loadConfig({}, {}).mqtt, undefined);
  });

  it('refuses bad values naming the key', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ TERN_MQTT: 'http://x' }, /mqtt\.url: scheme must be mqtt: or mqtts:/],
      [{ TERN_MQTT: 'mqtt://u:p@x' }, /mqtt\.url: must not hold credentials/],
      [{ TERN_MQTT: 'not a url' }, /mqtt\.url: not a URL/],
      [{ TERN_MQTT_PASSWORD: 'p' }, /mqtt\.url/],
      [{ TERN_MQTT: 'mqtt://x', TERN_MQTT_PASSWORD: 'p' }, /mqtt\.password: needs mqtt\.username/],
    ];
    for (const [env, message] of bad)
      assert.throws(
        () => loadConfig({}, env),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
      );
  });
});

describe('schedule timing', () => {
  const spec = (text: string) =>
    parseFunctionToml(`runtime = "wasm"\n[[triggers.schedule]]\n${text}\n`, 'f').triggers.schedule[0]!;

  it('aligns every-slots to the epoch, so every node computes the same ones', () => {
    const t = new ScheduleTiming(spec('every = "10s"'));
    assert.equal(t.next(1_000_000_001), 1_000_010_000);
    assert.equal(t.next(1_000_000_000), 1_000_010_000);
    assert.equal(t.previous(1_000_009_999), 1_000_000_000);
    assert.equal(t.previous(1_000_010_000), 1_000_010_000);
  });

  it('reads cron fields in UTC unless a time zone is given', () => {
    const utc = new ScheduleTiming(spec('cron = "0 9 * * *"'));
    assert.equal(new Date(utc.next(Date.parse('2026-06-01T10:00:00Z'))!).toISOString(), '2026-06-02T09:00:00.000Z');
    const berlin = new ScheduleTiming(spec('cron = "0 9 * * *"\ntimezone = "Europe/Berlin"'));
    assert.equal(new Date(berlin.next(Date.parse('2026-06-01T10:00:00Z'))!).toISOString(), '2026-06-02T07:00:00.000Z');
    const fives = new ScheduleTiming(spec('cron = "*/5 * * * *"'));
    assert.equal(
      new Date(fives.previous(Date.parse('2026-06-01T10:07:00Z'))!).toISOString(),
      '2026-06-01T10:05:00.000Z',
    );
    assert.equal(
      new Date(fives.previous(Date.parse('2026-06-01T10:05:00Z'))!).toISOString(),
      '2026-06-01T10:05:00.000Z',
    );
  });
});

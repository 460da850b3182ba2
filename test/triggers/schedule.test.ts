/**
 * The schedule trigger end to end: real `tern serve` nodes, alone and as a cluster of two on a
 * real etcd. The function records the slot it ran for (header `schedule-time`) in the node's state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startEtcd, type EtcdServer } from '../cluster/etcd.js';
import { SECRET } from '../cluster/harness.js';
import { packFiles } from '../helpers/archive.js';
import { startTern, type TernProcess } from '../helpers/node.js';

const RECORDER = `
def handle(req, ctx):
    line = req.headers.get("schedule-time", "none")
    if req.headers.get("schedule-catch-up"):
        line += " catch-up"
    ctx.state.append("runs", line + "\\n")
    return ""
`;

const toml = (name: string, schedule: string) =>
  `name = "${name}"\nruntime = "python"\nhandler = "main:handle"\n[[triggers.schedule]]\n${schedule}\n`;

async function deploy(node: TernProcess, name: string, schedule: string): Promise<Response> {
  return node.api('PUT', `/v1/functions/${name}`, {
    body: await packFiles({ 'function.toml': toml(name, schedule), 'main.py': RECORDER }),
    headers: { 'content-type': 'application/gzip' },
  });
}

async function deployOk(node: TernProcess, name: string, schedule: string): Promise<void> {
  const res = await deploy(node, name, schedule);
  assert.ok(res.status === 201 || res.status === 200, `deploy ${name}: ${res.status} ${await res.text()}`);
}

async function runs(node: TernProcess): Promise<string[]> {
  const res = await node.api('GET', '/v1/state/runs');
  if (res.status === 404) return [];
  return (await res.text()).split('\n').filter((l) => l !== '');
}

/** Poll the nodes' recorded runs (100 ms apart, bounded) until `ok` holds for all of them together. */
async function waitForRuns(
  nodes: TernProcess[],
  ok: (all: string[]) => boolean,
  timeoutMs = 30_000,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = (await Promise.all(nodes.map(runs))).flat();
    if (ok(all)) return all;
    if (Date.now() > deadline) throw new Error(`runs never matched: ${JSON.stringify(all)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Slot times (ms) of the recorded runs, sorted. */
const slots = (lines: string[]) => lines.map((l) => Date.parse(l.split(' ')[0]!)).sort((a, b) => a - b);

describe('schedule trigger', () => {
  it('runs a 1 s schedule about once a second, one run per slot', async () => {
    const node = await startTern();
    try {
      const started = Date.now();
      await deployOk(node, 'tick', 'every = "1s"');
      const all = await waitForRuns([node], (r) => r.length >= 5);
      const elapsed = Date.now() - started;
      const times = slots(all);
      // Slots are whole seconds, each run once, one second apart.
      assert.ok(
        times.every((t) => t % 1000 === 0),
        JSON.stringify(all),
      );
      for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, 1000, JSON.stringify(all));
      // Five runs take four to five seconds after the first slot; allow a loaded machine some slack.
      assert.ok(elapsed >= 3_500 && elapsed < 15_000, `5 runs in ${elapsed} ms`);
      const info = (await (await node.api('GET', '/v1/info')).json()) as {
        triggerStatus: { schedule: { coordination: string; schedules: { function: string; ok: number }[] } };
      };
      assert.equal(info.triggerStatus.schedule.coordination, 'local');
      assert.ok(info.triggerStatus.schedule.schedules[0]!.ok >= 5);
      assert.match(
        await (await node.api('GET', '/metrics')).text(),
        /tern_schedule_slots_total\{function="tick",schedule="every 1s",outcome="ok"\} \d+/,
      );
    } finally {
      await node.stop({ cleanup: true });
    }
  });

  it('refuses a bad schedule at deploy (400)', async () => {
    const node = await startTern();
    try {
      for (const [schedule, message] of [
        ['cron = "61 * * * *"', /triggers\.schedule\.0\.cron: not a cron expression/],
        ['every = "10s"\ncron = "* * * * *"', /give exactly one of every/],
        ['every = "100ms"', /from 1s to 366 days/],
        ['every = "1m"\nweekly = true', /triggers\.schedule\.0\.weekly: unknown key/],
      ] as const) {
        const res = await deploy(node, 'bad', schedule);
        assert.equal(res.status, 400, schedule);
        assert.match(await res.text(), message);
      }
    } finally {
      await node.stop({ cleanup: true });
    }
  });

  it('replays missed slots once with catch-up = true, and not at all without it', async () => {
    const node = await startTern({ args: ['--node', 'sched-catch'] });
    let again: TernProcess | undefined;
    try {
      await deployOk(node, 'eager', 'every = "1s"\ncatch-up = true');
      await deployOk(node, 'plain', 'every = "1s"');
      await waitForRuns([node], (r) => r.length >= 4);
      await node.stop();
      // Down for a few slots: the time passing is the point here.
      await new Promise((r) => setTimeout(r, 3_500));
      again = await startTern({ args: ['--node', 'sched-catch'], data: node.data });
      const before = (await runs(again)).length;
      const all = await waitForRuns([again], (r) => r.length >= before + 4);
      const catchUps = all.filter((l) => l.endsWith(' catch-up'));
      assert.equal(catchUps.length, 1, JSON.stringify(all));
      // The one catch-up run is for the last slot missed, before the node came back.
      assert.ok(Date.parse(catchUps[0]!.split(' ')[0]!) < Date.now());
    } finally {
      await again?.stop({ cleanup: true });
      await node.stop({ cleanup: true });
    }
  });

  describe('in a cluster of two nodes', () => {
    let etcd: EtcdServer;
    before(async () => {
      etcd = await startEtcd();
    });
    after(async () => {
      await etcd?.stop();
    });

    it('runs each slot of a 1 s schedule on one node only', async () => {
      const start = (name: string) =>
        startTern({
          args: ['--node', name, '--etcd', etcd.url, '--grpc-port', '-1'],
          env: { TERN_CLUSTER_SECRET: SECRET },
          timeoutMs: 90_000,
        });
      const a = await start('sched-a');
      const b = await start('sched-b');
      try {
        await deployOk(a, 'tick', 'every = "1s"');
        // The function reaches b through etcd; wait until b runs its share or has seen slots claimed by a.
        const all = await waitForRuns([a, b], (r) => r.length >= 8, 60_000);
        const times = slots(all);
        assert.equal(new Set(times).size, times.length, `a slot ran twice: ${JSON.stringify(all)}`);
        const info = await Promise.all(
          [a, b].map(async (n) => {
            const i = (await (await n.api('GET', '/v1/info')).json()) as {
              triggerStatus: { schedule: { coordination: string; schedules: { elsewhere: number; ok: number }[] } };
            };
            return i.triggerStatus.schedule;
          }),
        );
        assert.deepEqual(
          info.map((s) => s.coordination),
          ['etcd', 'etcd'],
        );
        // Both nodes woke for the slots; each slot one of them lost to the other.
        const elsewhere = info.reduce((n, s) => n + (s.schedules[0]?.elsewhere ?? 0), 0);
        assert.ok(elsewhere > 0, JSON.stringify(info));
      } finally {
        await Promise.all([a.stop({ cleanup: true }), b.stop({ cleanup: true })]);
      }
    });
  });
});

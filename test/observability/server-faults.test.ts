/**
 * Every 5xx the native API or the HTTP trigger's lean path answers is logged with its cause
 * (issue 20: a deploy failed with "internal error (HTTP 500)" and nothing in the node log).
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { TernError } from '../../src/core/errors.js';
import { emptyReport } from '../../src/core/report.js';
import { errorResult } from '../../src/core/result.js';
import type { GatewayDeps } from '../../src/gateway/deps.js';
import { buildServer } from '../../src/gateway/server.js';
import type { FaultLogger } from '../../src/http/errors.js';
import type { Registry } from '../../src/registry/registry.js';
import type { Scheduler } from '../../src/scheduler/types.js';

const TOKEN = 'test-token-0123456789';

interface Logged {
  level: 'error' | 'warn';
  fields: Record<string, unknown>;
  msg: string;
}

const logged: Logged[] = [];
const record =
  (level: Logged['level']) =>
  (fields: Record<string, unknown>, msg: string): void => {
    logged.push({ level, fields, msg });
  };
const logger = { error: record('error'), warn: record('warn') } as unknown as FaultLogger;

const registry: Registry = {
  open: async () => {},
  list: () => [],
  get: () => undefined,
  deploy: async () => {
    throw new Error('the disk is on fire');
  },
  deployFolder: async () => {
    throw new Error('not in this fake');
  },
  remove: async () => undefined,
  prune: async () => {},
  subscribe: () => () => {},
  close: async () => {},
};

const scheduler: Scheduler = {
  invoke: async (inv) => errorResult(new TernError('not_found', 'none'), emptyReport('n', inv.function)),
  submit: async () => {
    throw new TernError('no_capacity', 'no memory left for "busy"');
  },
  call: () => undefined,
  status: () => undefined,
  capacity: () => ({ memoryMiB: 100, usedMiB: 0 }),
  close: async () => {},
};

const deps: GatewayDeps = {
  nodeName: 'test-node',
  version: '0.0.0',
  token: TOKEN,
  limits: { bodyBytes: 1024, archiveBytes: 1 << 20 },
  registry,
  scheduler,
  runtimes: () => [],
  triggers: () => ({}),
  logs: { read: async () => [], follow: () => () => {} },
  metrics: { contentType: 'text/plain', render: async () => '' },
  nodes: async () => [],
  settled: async () => {},
  recentCalls: () => [],
  logger,
};

describe('server faults are logged with their cause', () => {
  let app: FastifyInstance;
  let base: string;

  before(async () => {
    app = await buildServer(deps);
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await app.close();
  });

  test('a 500 from a route: the answer hides the cause, the log line has it and the stack', async () => {
    logged.length = 0;
    const res = await fetch(`${base}/v1/functions/x`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/gzip' },
      body: Buffer.from([0x1f, 0x8b, 8, 0]),
    });
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /fire/);
    assert.equal(logged.length, 1);
    const [line] = logged;
    assert.equal(line!.level, 'error');
    assert.match(line!.msg, /PUT \/v1\/functions\/x: 500 the disk is on fire/);
    assert.equal(line!.fields.status, 500);
    assert.match(String((line!.fields.err as Error).stack), /the disk is on fire/);
  });

  test('a 503 on the lean path is logged at warn with its code; a 4xx is not logged', async () => {
    logged.length = 0;
    const res = await fetch(`${base}/async/fn/busy`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 503);
    assert.deepEqual(
      logged.map((l) => [l.level, l.fields.code, l.msg]),
      [['warn', 'no_capacity', 'POST /async/fn/busy: 503 no_capacity: no memory left for "busy"']],
    );
    logged.length = 0;
    assert.equal((await fetch(`${base}/v1/functions`)).status, 401);
    assert.equal(logged.length, 0);
  });
});

describe('5xx answers of a compat listener are logged too', () => {
  test('a fault in an adapter route: logged with its cause and the profile', async () => {
    const { buildCompatApp } = await import('../../src/compat/server.js');
    type Profile = Parameters<typeof buildCompatApp>[0];
    type Deps = Parameters<typeof buildCompatApp>[2];
    const lines: Array<{ bindings: Record<string, unknown>; fields: Record<string, unknown>; msg: string }> = [];
    const compatLogger = {
      child: (bindings: Record<string, unknown>) => ({
        error: (fields: Record<string, unknown>, msg: string) => lines.push({ bindings, fields, msg }),
        warn: (fields: Record<string, unknown>, msg: string) => lines.push({ bindings, fields, msg }),
      }),
    };
    const profile = {
      name: 'faasm',
      defaultPort: 0,
      register: (app: FastifyInstance) => {
        app.get('/broken', { config: { access: 'public' } }, async () => {
          throw new Error('the adapter tripped');
        });
      },
    } as unknown as Profile;
    const deps = {
      ...({ token: TOKEN, limits: { bodyBytes: 1024, archiveBytes: 1024 } } as Partial<Deps>),
      logger: compatLogger,
    } as unknown as Deps;
    const app = await buildCompatApp(profile, {}, deps);
    try {
      const res = await app.inject({ method: 'GET', url: '/broken' });
      assert.equal(res.statusCode, 500);
      assert.equal(lines.length, 1);
      assert.deepEqual(lines[0]!.bindings, { compat: 'faasm' });
      assert.match(lines[0]!.msg, /GET \/broken: 500 the adapter tripped/);
    } finally {
      await app.close();
    }
  });
});

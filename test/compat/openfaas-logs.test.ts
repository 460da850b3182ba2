/**
 * The OpenFaaS profile's /system/logs as faas-cli asks for it (openfaas/faas-cli proxy/logs.go) and
 * as faas-provider answers (openfaas/faas-provider logs/handler.go): NDJSON, filters, follow.
 * The registry is real; the scheduler and log store are in-test fakes of Tern's interfaces.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createOpenfaasProfile } from '../../src/compat/openfaas/index.js';
import { ADMIN, clearHarness, IMAGES, startHarness, type Harness } from '../fixtures/compat/openfaas/harness.js';

let h: Harness;

before(async () => {
  h = await startHarness(createOpenfaasProfile({ imagesDir: IMAGES }));
});
after(async () => h.close());

const clear = () => clearHarness(h);

describe('logs', () => {
  beforeEach(async () => {
    await clear();
    h.logs.lines.length = 0;
    await h.registry.deployFolder('echo', join(IMAGES, 'echo'));
    for (let i = 1; i <= 5; i++)
      h.logs.lines.push({
        time: `2026-11-24T10:00:0${i}.000Z`,
        fn: 'echo',
        instance: i % 2 ? 'i-odd' : 'i-even',
        stream: 'stderr',
        line: `line ${i}`,
      });
  });

  test('GET /system/logs as faas-cli asks: NDJSON {name, namespace, instance, timestamp, text}', async () => {
    // faas-cli proxy/logs.go reqAsQueryValues: name, follow always; tail and since when set.
    const res = await h.app.inject({
      method: 'GET',
      url: '/system/logs?name=echo&follow=false&tail=2',
      headers: { authorization: ADMIN },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], 'application/x-ndjson');
    const messages = res.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(messages, [
      {
        name: 'echo',
        namespace: 'openfaas-fn',
        instance: 'i-even',
        timestamp: '2026-11-24T10:00:04.000Z',
        text: 'line 4',
      },
      {
        name: 'echo',
        namespace: 'openfaas-fn',
        instance: 'i-odd',
        timestamp: '2026-11-24T10:00:05.000Z',
        text: 'line 5',
      },
    ]);
  });

  test('instance and since filter; tail <= 0 means all', async () => {
    const res = await h.app.inject({
      method: 'GET',
      url: '/system/logs?name=echo&instance=i-odd&since=2026-11-24T10:00:02Z&tail=0',
      headers: { authorization: ADMIN },
    });
    assert.deepEqual(
      res.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).text),
      ['line 3', 'line 5'],
    );
  });

  test('follow=true streams new lines and ends when the function is removed', async () => {
    const base = await h.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${base}/system/logs?name=echo&follow=true&tail=1`, { headers: { authorization: ADMIN } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const reader = res.body!.getReader();
    let buffered = '';
    const nextLine = async (): Promise<Record<string, string> | undefined> => {
      while (!buffered.includes('\n')) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffered += Buffer.from(value).toString();
      }
      const nl = buffered.indexOf('\n');
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      return JSON.parse(line) as Record<string, string>;
    };
    assert.equal((await nextLine())?.text, 'line 5');
    h.logs.emit({ time: '2026-11-24T10:00:09.000Z', fn: 'echo', instance: 'i-new', stream: 'stdout', line: 'fresh' });
    assert.deepEqual(await nextLine(), {
      name: 'echo',
      namespace: 'openfaas-fn',
      instance: 'i-new',
      timestamp: '2026-11-24T10:00:09.000Z',
      text: 'fresh',
    });
    await h.registry.remove('echo');
    assert.equal(await nextLine(), undefined, 'the stream ends with the function');
    assert.equal(h.logs.followers, 0);
  });

  test('closing the listener ends open followers instead of waiting on them', async () => {
    const own = await startHarness(createOpenfaasProfile({ imagesDir: IMAGES }));
    await own.registry.deployFolder('echo', join(IMAGES, 'echo'));
    const base = await own.app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${base}/system/logs?name=echo&follow=1`, { headers: { authorization: ADMIN } });
    assert.equal(res.status, 200);
    const drained = res.text();
    await own.close();
    assert.equal(await drained, '');
    assert.equal(own.logs.followers, 0);
  });

  test('bad tail or since: 422; unknown function: 404', async () => {
    for (const q of ['tail=many', 'since=yesterday']) {
      const res = await h.app.inject({
        method: 'GET',
        url: `/system/logs?name=echo&${q}`,
        headers: { authorization: ADMIN },
      });
      assert.equal(res.statusCode, 422, q);
      assert.equal(res.body, 'could not parse the log request\n');
    }
    const res = await h.app.inject({ method: 'GET', url: '/system/logs?name=nope', headers: { authorization: ADMIN } });
    assert.equal(res.statusCode, 404);
  });
});

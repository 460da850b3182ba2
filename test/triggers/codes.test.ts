/** The translation tables of the CoAP and gRPC triggers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { coapCodeOf, contentFormatOf, contentTypeOf, retryAfterSeconds } from '../../src/triggers/coap/codes.js';
import { CoapRoutes } from '../../src/triggers/coap/routes.js';
import { grpcStatusOf } from '../../src/triggers/grpc/status.js';
import { parseFunctionToml } from '../../src/registry/spec.js';
import type { DeployedFunction } from '../../src/registry/registry.js';

describe('CoAP codes', () => {
  it('maps HTTP statuses to response codes', () => {
    const cases: [number, string, string][] = [
      [200, 'GET', '2.05'],
      [201, 'POST', '2.01'],
      [204, 'POST', '2.04'],
      [204, 'PUT', '2.04'],
      [204, 'DELETE', '2.02'],
      [400, 'GET', '4.00'],
      [401, 'GET', '4.01'],
      [403, 'GET', '4.03'],
      [404, 'GET', '4.04'],
      [405, 'GET', '4.05'],
      [413, 'POST', '4.13'],
      [415, 'POST', '4.15'],
      [429, 'GET', '4.29'],
      [500, 'GET', '5.00'],
      [502, 'GET', '5.02'],
      [503, 'GET', '5.03'],
      [504, 'GET', '5.04'],
      [418, 'GET', '4.00'],
      [599, 'GET', '5.00'],
      [202, 'POST', '2.05'],
      [302, 'GET', '5.02'],
    ];
    for (const [http, method, coap] of cases) assert.equal(coapCodeOf(http, method), coap, `${method} ${http}`);
  });

  it('maps content formats both ways', () => {
    for (const [format, type] of [
      [0, 'text/plain'],
      [40, 'application/link-format'],
      [41, 'application/xml'],
      [42, 'application/octet-stream'],
      [50, 'application/json'],
      [60, 'application/cbor'],
    ] as const) {
      assert.equal(contentFormatOf(contentTypeOf(format)), format);
      assert.equal(contentFormatOf(`${type}; charset=utf-8`), format);
    }
    assert.equal(contentFormatOf('text/html'), undefined);
    assert.equal(contentTypeOf(9999), undefined);
  });

  it('reads Retry-After as seconds or a date', () => {
    assert.equal(retryAfterSeconds('7'), 7);
    assert.equal(retryAfterSeconds(new Date(10_000).toUTCString(), 0), 10);
    assert.equal(retryAfterSeconds('soon'), undefined);
  });
});

describe('CoAP routes', () => {
  const fn = (toml: string): DeployedFunction => ({
    spec: parseFunctionToml(toml),
    dir: '/x',
    version: '0',
    deployedAt: '',
  });

  it('extra paths win by longest match and never shadow another function', () => {
    const routes = new CoapRoutes();
    const warnings = routes.rebuild([
      fn('name = "a"\nruntime = "wasm"\n[triggers]\ncoap = ["x/y", "x/y/z", "b/taken"]\n'),
      fn('name = "b"\nruntime = "wasm"\n'),
      fn('name = "c"\nruntime = "wasm"\n[triggers]\ncoap = "x/y"\n'),
    ]);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.deepEqual(routes.resolve(['x', 'y', 'z', 'q']), { function: 'a', rest: ['q'] });
    assert.deepEqual(routes.resolve(['x', 'y']), { function: 'a', rest: [] });
    assert.deepEqual(routes.resolve(['b', 'taken']), { function: 'b', rest: ['taken'] });
    assert.deepEqual(routes.resolve(['zz']), { function: 'zz', rest: [] });
    assert.equal(routes.resolve([]), undefined);
  });
});

describe('gRPC status', () => {
  it('maps HTTP statuses to gRPC codes', () => {
    const cases: [number, status][] = [
      [200, status.OK],
      [204, status.OK],
      [400, status.INVALID_ARGUMENT],
      [401, status.UNAUTHENTICATED],
      [403, status.PERMISSION_DENIED],
      [404, status.NOT_FOUND],
      [413, status.RESOURCE_EXHAUSTED],
      [429, status.RESOURCE_EXHAUSTED],
      [500, status.INTERNAL],
      [502, status.UNKNOWN],
      [503, status.UNAVAILABLE],
      [504, status.DEADLINE_EXCEEDED],
      [418, status.FAILED_PRECONDITION],
    ];
    for (const [http, code] of cases) assert.equal(grpcStatusOf(http), code, `HTTP ${http}`);
  });
});

/** The CGI response rule and environment, as pure functions. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { createInvocation } from '../../src/core/invocation.js';
import { DEFAULT_CONTENT_TYPE, parseCgiOutput } from '../../src/runtimes/cgi/response.js';
import { cgiVariables, envBlock } from '../../src/runtimes/cgi/variables.js';

const parse = (s: string | Buffer) => parseCgiOutput(Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'));

describe('CGI response parsing', () => {
  test('header block, blank line, body', () => {
    const r = parse('Content-Type: text/html\nX-A: 1\n\n<p>hi</p>\n');
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, { 'content-type': 'text/html', 'x-a': '1' });
    assert.equal(r.body.toString(), '<p>hi</p>\n');
  });

  test('no header block: everything is the body', () => {
    for (const out of [
      'hello\n',
      'hello: world',
      'first line\nX-A: 1\n\nbody',
      '',
      '\n\nbody',
      'Content-Type: text/html\n(no blank line)\n',
      'Bad Header: x\n\nbody',
    ]) {
      const r = parse(out);
      assert.equal(r.status, 200, out);
      assert.deepEqual(r.headers, { 'content-type': DEFAULT_CONTENT_TYPE }, out);
      assert.equal(r.body.toString('latin1'), out);
    }
  });

  test('a header block needs every line to be a header', () => {
    const out = 'X-A: 1\nnot a header\n\nbody';
    assert.equal(parse(out).body.toString(), out);
  });

  test('a header block ending at the end of output has an empty body', () => {
    const r = parse('Status: 204 No Content\n\n');
    assert.equal(r.status, 204);
    assert.equal(r.body.length, 0);
  });

  test('Status, Location, defaults, repeats, whitespace, CRLF', () => {
    assert.equal(parse('Status: 418\n\n').status, 418);
    assert.equal(parse('status:503 Busy\n\n').status, 503);
    const redirect = parse('Location: https://example.test/\n\n');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers['content-type'], DEFAULT_CONTENT_TYPE);
    assert.equal(parse('Location: /x\nStatus: 301 Moved\n\n').status, 301);
    assert.deepEqual(parse('Set-Cookie: a=1\nset-cookie: b=2\n\n').headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(parse('X-Spaces:   padded   \n\n').headers['x-spaces'], 'padded');
    const crlf = parse('Content-Type: a/b\r\nX-A: 1\r\n\r\nbody\r\n');
    assert.deepEqual(crlf.headers, { 'content-type': 'a/b', 'x-a': '1' });
    assert.equal(crlf.body.toString(), 'body\r\n');
  });

  test('bad Status values fail the call', () => {
    for (const s of ['Status: 99\n\n', 'Status: 600\n\n', 'Status: abc\n\n', 'Status: 2000\n\n']) {
      assert.throws(
        () => parse(s),
        (e: unknown) => e instanceof TernError && e.code === 'function_error',
      );
    }
  });

  test('framing, X-Tern-* and control characters are dropped and reported', () => {
    const r = parse(
      'Content-Length: 5\nTransfer-Encoding: chunked\nConnection: close\nX-Tern-Report: {}\nX-Bad: a\rb\nX-Ok: y\n\nbody',
    );
    assert.deepEqual(r.headers, { 'x-ok': 'y', 'content-type': DEFAULT_CONTENT_TYPE });
    assert.equal(r.dropped.length, 5);
  });

  test('a body holds any bytes', () => {
    const body = Buffer.from([0, 1, 2, 255, 10, 10, 13]);
    const r = parse(Buffer.concat([Buffer.from('Content-Type: application/octet-stream\n\n'), body]));
    assert.deepEqual(r.body, body);
  });
});

describe('CGI environment', () => {
  const envOf = (
    init: Parameters<typeof createInvocation>[0],
    opts: { functionName?: string; specEnv?: Record<string, string> } = {},
  ) => {
    const block = envBlock(cgiVariables(createInvocation(init), opts.functionName ?? 'fn', opts.specEnv ?? {}));
    const text = block.bytes.toString('utf8');
    assert.ok(text.endsWith('\0'));
    const entries = text.slice(0, -1).split('\0');
    assert.equal(entries.length, block.count);
    return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  };

  test('headers become HTTP_*; names that cannot be variables are skipped; NULs removed', () => {
    const env = envOf({
      function: 'fn',
      trigger: 'http',
      headers: { 'x-a-b': '1', 'bad name': '2', x_under: '3', 'x-nul': 'a\0b' },
    });
    assert.equal(env.HTTP_X_A_B, '1');
    assert.equal(env.HTTP_X_NUL, 'ab');
    assert.equal(
      Object.keys(env).some((k) => k.includes(' ') || k.includes('UNDER')),
      false,
    );
  });

  test('precedence: CGI variables over function env over headers', () => {
    const env = envOf(
      { function: 'fn', trigger: 'http', method: 'put', headers: { 'x-mine': 'header' } },
      { specEnv: { HTTP_X_MINE: 'spec', REQUEST_METHOD: 'spec', OTHER: 'o' } },
    );
    assert.equal(env.HTTP_X_MINE, 'spec');
    assert.equal(env.REQUEST_METHOD, 'PUT');
    assert.equal(env.OTHER, 'o');
  });

  test('the Authorization header a caller sent is the function’s to read (the node strips its own token before)', () => {
    const headers = { authorization: 'Bearer mine' };
    assert.equal(envOf({ function: 'fn', trigger: 'http', headers }).HTTP_AUTHORIZATION, 'Bearer mine');
  });

  test('SCRIPT_NAME, PATH_INFO, REQUEST_URI', () => {
    const env = envOf({ function: 'fn', trigger: 'coap', path: '/a/b', query: 'x=1' }, { functionName: 'sieve' });
    assert.equal(env.SCRIPT_NAME, '/fn/sieve');
    assert.equal(env.PATH_INFO, '/a/b');
    assert.equal(env.REQUEST_URI, '/fn/sieve/a/b?x=1');
    assert.equal(env.TERN_TRIGGER, 'coap');
  });
});

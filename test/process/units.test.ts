/** The pure parts of the process runtime: framing, CGI, log lines, exit reasons, the bwrap command. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createInvocation } from '../../src/core/invocation.js';
import { parseCgiOutput } from '../../src/runtimes/cgi/response.js';
import { cgiVariables } from '../../src/runtimes/cgi/variables.js';
import { TernError } from '../../src/core/errors.js';
import { describeExit } from '../../src/runtimes/process/exit-reason.js';
import { LineSplitter, MAX_LINE_BYTES } from '../../src/core/lines.js';
import { encodeFrame, FrameDecoder, MAX_BODY_BYTES, ProtocolError } from '../../src/runtimes/process/protocol.js';
import { bwrapArgs, LAUNCH_FD, SANDBOX_COMMAND, shellQuote } from '../../src/runtimes/process/sandbox.js';
import {
  FUNCTION_UID_BASE,
  FUNCTION_UID_COUNT,
  preferredUid,
  SANDBOX_UID,
  UidAllocator,
} from '../../src/runtimes/process/uids.js';

describe('frames', () => {
  test('decode whole frames from arbitrary chunks', () => {
    const wire = Buffer.concat([...encodeFrame({ t: 'a', n: 1 }, Buffer.from('body-one')), ...encodeFrame({ t: 'b' })]);
    for (const step of [1, 3, 7, wire.length]) {
      const d = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < wire.length; i += step) frames.push(...d.push(wire.subarray(i, i + step)));
      assert.deepEqual(
        frames.map((f) => [f.header, f.body.toString()]),
        [
          [{ t: 'a', n: 1 }, 'body-one'],
          [{ t: 'b' }, ''],
        ],
      );
    }
  });

  test('refuse oversized, empty and non-object headers', () => {
    const prefix = (h: number, b: number) => {
      const p = Buffer.alloc(8);
      p.writeUInt32BE(h, 0);
      p.writeUInt32BE(b, 4);
      return p;
    };
    assert.throws(() => new FrameDecoder().push(prefix(0, 0)), ProtocolError);
    assert.throws(() => new FrameDecoder().push(prefix(2, MAX_BODY_BYTES + 1)), ProtocolError);
    assert.throws(() => new FrameDecoder().push(Buffer.concat([prefix(2, 0), Buffer.from('[]')])), ProtocolError);
    assert.throws(() => new FrameDecoder().push(Buffer.concat([prefix(2, 0), Buffer.from('{x')])), ProtocolError);
  });
});

describe('CGI', () => {
  test('environment from an invocation', () => {
    const inv = createInvocation({
      function: 'f',
      trigger: 'http',
      method: 'post',
      path: '/a',
      query: 'q=1',
      headers: { 'Content-Type': 'text/plain', 'X-Y': 'z', Proxy: 'evil' },
      body: Buffer.from('abc'),
    });
    const env = Object.fromEntries(cgiVariables(inv, 'f'));
    assert.equal(env.REQUEST_METHOD, 'POST');
    assert.equal(env.PATH_INFO, '/a');
    assert.equal(env.QUERY_STRING, 'q=1');
    assert.equal(env.CONTENT_TYPE, 'text/plain');
    assert.equal(env.CONTENT_LENGTH, '3');
    assert.equal(env.HTTP_X_Y, 'z');
    assert.equal(env.HTTP_PROXY, undefined);
    assert.equal(env.HTTP_CONTENT_TYPE, undefined);
  });

  test('output with and without a header block', () => {
    const full = parseCgiOutput(Buffer.from('Status: 201 Created\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\n\nmore'));
    assert.equal(full.status, 201);
    assert.deepEqual(full.headers, { 'x-a': ['1', '2'], 'content-type': 'text/plain; charset=utf-8' });
    assert.equal(full.body.toString(), 'body\n\nmore');
    const redirect = parseCgiOutput(Buffer.from('Location: /x\n\n'));
    assert.equal(redirect.status, 302);
    const plain = parseCgiOutput(Buffer.from('hello world\n\nnot: headers'));
    assert.equal(plain.status, 200);
    assert.equal(plain.body.toString(), 'hello world\n\nnot: headers');
    assert.throws(() => parseCgiOutput(Buffer.from('Status: abc\n\nx')), TernError, 'a bad Status fails the call');
  });
});

describe('log lines', () => {
  test('split on newlines across chunks, cut long lines, flush the rest', () => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l));
    s.push(Buffer.from('one\ntw'));
    s.push(Buffer.from('o\r\nthr'));
    s.push(Buffer.alloc(MAX_LINE_BYTES + 5, 'x'.charCodeAt(0)));
    s.end();
    assert.deepEqual(lines.slice(0, 2), ['one', 'two']);
    assert.equal(lines[2]!.length, MAX_LINE_BYTES);
    assert.equal(lines[3], 'xxxxxxxx');
  });
});

describe('exit reasons', () => {
  const base = { code: null, signal: null, oomKills: 0, memoryMiB: 64, stderrTail: [] };
  test('OOM wins, then signals, then exit codes with the last stderr line', () => {
    assert.equal(describeExit({ ...base, code: 137, oomKills: 1 }), 'out of memory (limit 64 MiB)');
    assert.equal(
      describeExit({
        ...base,
        code: 134,
        stderrTail: ['FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'],
      }),
      'out of memory (limit 64 MiB)',
    );
    assert.equal(describeExit({ ...base, code: 137 }), 'killed by signal 9 (SIGKILL)');
    assert.equal(describeExit({ ...base, signal: 'SIGTERM' }), 'killed by signal 15 (SIGTERM)');
    assert.equal(describeExit({ ...base, code: 1, stderrTail: ['Error: boom'] }), 'exited with code 1: Error: boom');
  });
});

describe('bwrap command', () => {
  test('namespaces, read-only binds, private tmp, cleared env; the command travels quoted in TERN_EXEC', () => {
    const plan = {
      fnDir: '/run/tern/x/fn/f',
      shimsDir: '/s',
      etcDir: '/e',
      network: false,
      tmpBytes: 1024,
      hostname: 'f',
      env: { A: '1' },
      command: ['/usr/bin/python3', "it's"],
    };
    const args = bwrapArgs(plan);
    for (const flag of [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-net',
      '--as-pid-1',
      '--die-with-parent',
      '--new-session',
      '--clearenv',
    ])
      assert.ok(args.includes(flag), flag);
    const at = (a: string[], i: number, n = 3) => a.slice(i, i + n).join(' ');
    assert.ok(args.some((_, i) => at(args, i) === '--ro-bind /run/tern/x/fn/f /fn'));
    assert.ok(args.some((_, i) => at(args, i) === '--ro-bind /e /etc'));
    assert.ok(args.some((_, i) => at(args, i, 2) === `--seccomp ${LAUNCH_FD.seccomp}`));
    assert.ok(args.some((_, i) => at(args, i, 4) === `--uid ${SANDBOX_UID} --gid ${SANDBOX_UID}`));
    assert.ok(
      args.some((_, i) => at(args, i, 2) === '--remount-ro /'),
      'the root is read-only once built',
    );
    assert.ok(!args.includes('--info-fd') && !args.includes('--block-fd'), 'no network: nothing to wait for');
    assert.ok(!args.includes('--'), 'only options: the command is fixed in bwrap’s argv');
    assert.equal(args.at(-1), `'/usr/bin/python3' 'it'\\''s'`);
    assert.equal(args.at(-2), 'TERN_EXEC');
    assert.deepEqual(SANDBOX_COMMAND, ['/tern/bin/tern-init']);
    const online = bwrapArgs({ ...plan, network: true });
    assert.ok(online.includes('--unshare-net'), 'a network sandbox has its own namespace too');
    assert.ok(online.some((_, i) => at(online, i, 4) === `--info-fd ${LAUNCH_FD.info} --block-fd ${LAUNCH_FD.go}`));
  });

  test('shellQuote survives sh', async () => {
    const { execFileSync } = await import('node:child_process');
    const argv = ['plain', "quote'd", 'new\nline', '$HOME `x` "y" \\z', ''];
    const out = execFileSync('/bin/sh', ['-c', `eval "set -- $Q"; for a do printf '%s\\0' "$a"; done`], {
      env: { Q: shellQuote(argv) },
    });
    assert.deepEqual(out.toString().split('\0').slice(0, -1), argv);
  });
});

describe('function uids', () => {
  test('a stable uid per name, in the range, never 0; two names on one slot get two uids', () => {
    const uids = new UidAllocator();
    const hello = uids.identityOf('hello');
    assert.deepEqual(uids.identityOf('hello'), hello, 'stable');
    assert.equal(hello.uid, preferredUid('hello'));
    assert.equal(hello.gid, hello.uid);
    assert.ok(hello.uid >= FUNCTION_UID_BASE && hello.uid < FUNCTION_UID_BASE + FUNCTION_UID_COUNT);
    assert.notEqual(uids.identityOf('world').uid, hello.uid);
    // Find two names that hash to one slot (a birthday search over a few thousand names).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair && i < 100_000; i++) {
      const name = `f${i}`;
      const other = seen.get(preferredUid(name));
      if (other) pair = [other, name];
      else seen.set(preferredUid(name), name);
    }
    assert.ok(pair, 'a collision exists');
    const first = uids.identityOf(pair[0]).uid;
    const second = uids.identityOf(pair[1]).uid;
    assert.equal(first, preferredUid(pair[0]));
    assert.notEqual(second, first);
    assert.equal(second, first + 1, 'the second probes to the next free uid');
  });
});

/** A reference server in its own process (bare node:http, workerd): started, awaited, always stopped. */
import { spawn, type ChildProcess } from 'node:child_process';
import { onCleanup } from './cleanup.js';
import { log } from './log.js';
import { OutputTail } from './output-tail.js';

export interface ChildServer {
  url: string;
  pid: number;
  proc: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface ChildServerOptions {
  label: string;
  command: string;
  args: string[];
  cwd?: string;
  /** Resolves to the server's base URL once it serves; receives the output so far and whether the child exited. */
  ready: (child: { output: () => string; exited: () => string | null }) => Promise<string>;
}

const STOP_GRACE_MS = 5_000;

export async function startChildServer(o: ChildServerOptions): Promise<ChildServer> {
  const proc = spawn(o.command, o.args, { stdio: ['ignore', 'pipe', 'pipe'], ...(o.cwd ? { cwd: o.cwd } : {}) });
  const tail = new OutputTail();
  proc.stdout!.on('data', (c: Buffer) => tail.push(c));
  proc.stderr!.on('data', (c: Buffer) => tail.push(c));
  let exitedWith: string | null = null;
  let spawnError: Error | null = null;
  proc.once('error', (e) => (spawnError = e));
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitedWith = `${o.label} exited (${code ?? signal}):\n${tail}`;
      resolve();
    });
    proc.once('error', () => resolve());
  });
  const stop = onCleanup(o.label, async () => {
    if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  });
  try {
    const url = await o.ready({
      output: () => tail.toString(),
      exited: () => (spawnError ? `${o.label}: ${String(spawnError)}` : exitedWith),
    });
    log(`${o.label} pid ${proc.pid} serving on ${url}`);
    return { url, pid: proc.pid!, proc, output: () => tail.toString(), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Waits for a line "listening PORT" on the child's output (the bare node:http reference prints one). */
export async function waitForListeningLine(
  child: { output: () => string; exited: () => string | null },
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = /listening (\d+)/.exec(child.output());
    if (m) return `http://127.0.0.1:${m[1]}`;
    const why = child.exited();
    if (why !== null) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`no "listening PORT" line within ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

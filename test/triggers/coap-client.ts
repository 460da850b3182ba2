/** Runs libcoap's coap-client (the real, independent client) and reads what it printed. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const COAP_CLIENT = 'coap-client-notls';

export interface CoapClientRun {
  stdout: string;
  stderr: string;
  /** The response body as the client wrote it with -o (empty when none). */
  payload: Buffer;
  /** PDUs logged at -v 6, e.g. `v:1 t:ACK c:2.05 i:1234 {01} [ Content-Format:application/json ] :: '…'`. */
  pdus: Pdu[];
}

export interface Pdu {
  type: string;
  code: string;
  options: string;
}

const PDU_LINE = /^v:1 t:(\w+) c:([\w.]+) i:\w+ \{\w*\}(?: \[ (.*?) \])?/;

/** Run the client; `body` is sent from a file (-f), so any size and bytes work. */
export async function coapClient(args: string[], body?: Buffer): Promise<CoapClientRun> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-coap-'));
  try {
    const out = join(dir, 'out');
    const input = body !== undefined ? ['-f', join(dir, 'in')] : [];
    if (body !== undefined) await writeFile(join(dir, 'in'), body);
    // -B bounds how long the client waits; the exec timeout bounds the whole run.
    const argv = ['-B', '20', '-v', '6', '-o', out, ...input, ...args];
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile(COAP_CLIENT, argv, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err && err.killed) reject(new Error(`${COAP_CLIENT} ${argv.join(' ')}: timed out`));
        else resolve({ stdout, stderr });
      });
    });
    const payload = await readFile(out).catch(() => Buffer.alloc(0));
    const pdus = stdout
      .split('\n')
      .map((line) => PDU_LINE.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ type: m[1] ?? '', code: m[2] ?? '', options: m[3] ?? '' }));
    return { stdout, stderr, payload, pdus };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The responses among the logged PDUs (codes 2.xx-5.xx), in order. */
export function responses(run: CoapClientRun): Pdu[] {
  return run.pdus.filter((p) => /^[2-5]\.\d\d$/.test(p.code));
}

export function lastResponse(run: CoapClientRun): Pdu {
  const all = responses(run);
  const last = all[all.length - 1];
  if (last === undefined) throw new Error(`no response logged; stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  return last;
}

/**
 * The cold-start references: what starting the same code costs with no platform at all — a plain
 * spawn of the interpreter or program, or the wasm module instantiated and run inline in this process
 * (with Node's own WASI, compiled once like Tern's runtime compiles once at deploy).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** Spawn, feed stdin, wait for exit with stdout drained; returns the elapsed ms. */
export function spawnOnce(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; expect: string },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'ignore'],
      ...(options.env ? { env: options.env } : {}),
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0 || !out.includes(options.expect))
        reject(new Error(`${command} ${args.join(' ')} exited ${code} printing ${JSON.stringify(out.slice(0, 200))}`));
      else resolve(ms);
    });
    child.stdin.end(options.stdin ?? '');
  });
}

interface WasmApi {
  compile(bytes: Uint8Array): Promise<unknown>;
  instantiate(module: unknown, imports: object): Promise<object>;
}

// @types/node 20 does not declare WebAssembly (it is in the DOM lib): a local view of what is used.
const webAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Returns a function that instantiates and runs the module once (fresh memory each time), in ms. */
export async function wasmInlineRunner(path: string): Promise<{ run: () => Promise<number>; close: () => void }> {
  // Imported here: node:wasi prints an ExperimentalWarning when loaded, only worth it when used.
  const { WASI } = await import('node:wasi');
  const module = await webAssembly.compile(readFileSync(path));
  const sink = openSync('/dev/null', 'w');
  const run = async () => {
    const t0 = performance.now();
    const wasi = new WASI({
      version: 'preview1',
      args: ['hello.wasm'],
      env: { REQUEST_METHOD: 'POST', PATH_INFO: '/' },
      stdout: sink,
      returnOnExit: true,
    });
    const instance = await webAssembly.instantiate(module, wasi.getImportObject());
    const code = wasi.start(instance);
    if (code !== 0) throw new Error(`the inline wasm module exited ${code}`);
    return performance.now() - t0;
  };
  return { run, close: () => closeSync(sink) };
}

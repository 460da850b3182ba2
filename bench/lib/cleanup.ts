/**
 * Everything the bench starts (nodes, reference servers, temp folders) registers how to undo it here,
 * so a failure, Ctrl-C or SIGTERM still stops every process and removes every folder.
 */
type Undo = () => Promise<unknown>;

interface Entry {
  label: string;
  run: () => Promise<void>;
}

const pending = new Map<number, Entry>();
let nextId = 1;
let signalled = false;

/** Register an undo; returns a function that runs it now (once, however often called) and forgets it. */
export function onCleanup(label: string, undo: Undo): () => Promise<void> {
  const id = nextId++;
  let done: Promise<void> | undefined;
  const run = () => {
    done ??= (async () => {
      pending.delete(id);
      await undo();
    })();
    return done;
  };
  pending.set(id, { label, run });
  return run;
}

/** Run every registered undo, newest first, until none is left; failures are reported, never thrown. */
export async function cleanupAll(): Promise<void> {
  while (pending.size > 0) {
    for (const { label, run } of [...pending.values()].reverse()) {
      try {
        await run();
      } catch (e) {
        process.stderr.write(`bench: cleanup of ${label} failed: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }
}

/** True once SIGINT/SIGTERM arrived: the run must start nothing more and write no results. */
export function interrupted(): boolean {
  return signalled;
}

/** On SIGINT/SIGTERM: clean up, then exit 130 (a second signal exits at once). */
export function cleanupOnSignals(): void {
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130);
    signalled = true;
    process.stderr.write(`bench: ${signal}, stopping everything started\n`);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

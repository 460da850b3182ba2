/**
 * Reads a tar stream entry by entry, in order, one handler at a time: layers must be applied in
 * the order they were written (a whiteout after its file, a hard link after its target). The
 * feed waits while more than one entry is in hand, so no more than a chunk is ever buffered.
 */
import { Parser, type ReadEntry } from 'tar';
import { badImage } from './digest.js';

export interface TarWalkOptions {
  /** Most tar bytes read (headers, padding and data); more is refused. */
  maxTarBytes: number;
  /** What the stream is, for messages ("layer 2", "the archive"). */
  what: string;
}

/** Entry data to be skipped must still be drained for the parser to go on. */
export function skipEntry(entry: ReadEntry): void {
  entry.resume();
}

export async function walkTar(
  source: AsyncIterable<Buffer>,
  handle: (entry: ReadEntry, abort: Promise<never>) => Promise<void>,
  o: TarWalkOptions,
): Promise<void> {
  let failure: unknown;
  let pending = 0;
  let chain: Promise<void> = Promise.resolve();
  let progress: () => void = () => undefined;
  // Rejects on the first failure: a handler waiting for entry data that will never come stops.
  let abortWith: (e: unknown) => void = () => undefined;
  const abort = new Promise<never>((_, reject) => (abortWith = reject));
  abort.catch(() => undefined);
  const fail = (e: unknown) => {
    if (failure === undefined) {
      failure = e ?? new Error('tar walk failed');
      abortWith(failure);
    }
    progress();
  };
  const parser = new Parser({ strict: true });
  parser.on('error', (e: Error) => fail(badImage(`${o.what}: corrupt tar data: ${e.message}`)));
  parser.on('ignoredEntry', (entry: ReadEntry) => fail(badImage(`${o.what}: oversized ${entry.type} entry`)));
  parser.on('entry', (entry: ReadEntry) => {
    pending++;
    chain = chain
      .then(() => (failure === undefined ? handle(entry, abort) : undefined))
      .catch(fail)
      .finally(() => {
        // A failed or skipped entry's remaining data must not hold the parser up.
        if (failure !== undefined) entry.resume();
        pending--;
        progress();
      });
  });
  const settled = () => new Promise<void>((r) => (progress = r));
  let total = 0;
  try {
    for await (const chunk of source) {
      while (pending > 1 && failure === undefined) await settled();
      if (failure !== undefined) break;
      total += chunk.length;
      if (total > o.maxTarBytes) {
        fail(badImage(`${o.what}: more than ${o.maxTarBytes} bytes of tar data (the limit)`));
        break;
      }
      if (!parser.write(chunk)) await Promise.race([new Promise((r) => parser.once('drain', r)), settled()]);
    }
  } catch (e) {
    // The source failed (a digest mismatch, corrupt gzip): handlers still running stop first.
    fail(e);
  }
  if (failure === undefined) {
    let ended = false;
    const end = new Promise<void>((r) => parser.once('end', r)).then(() => (ended = true));
    parser.end();
    while (!ended && failure === undefined) await Promise.race([end, settled()]);
  }
  // Entries are chained as the parser emits them: once it ended, the chain holds them all.
  await chain;
  if (failure !== undefined) throw failure;
}

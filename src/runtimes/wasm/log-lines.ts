/** A wasm call's output (whole buffers once the call ended) as log lines. */
import { splitLines } from '../../core/lines.js';
import type { LogSink, LogStream } from '../runtime.js';

export function logOutput(log: LogSink, output: Buffer, stream: LogStream, instance: string, callId: string): void {
  splitLines(output, (line) => log(line, stream, instance, callId));
}

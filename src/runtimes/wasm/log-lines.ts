/** A guest's output as log lines: split on "\n", "\r\n" trimmed, long lines cut, empty trailing line skipped. */
import type { LogSink, LogStream } from '../runtime.js';

const MAX_LINE = 16 * 1024;

export function logOutput(log: LogSink, output: Buffer, stream: LogStream, instance: string, callId: string): void {
  let start = 0;
  while (start < output.length) {
    let nl = output.indexOf(0x0a, start);
    if (nl < 0) nl = output.length;
    const end = nl > start && output[nl - 1] === 0x0d ? nl - 1 : nl;
    const line = output.toString('utf8', start, Math.min(end, start + MAX_LINE));
    log(end - start > MAX_LINE ? `${line}… [line cut at ${MAX_LINE} bytes]` : line, stream, instance, callId);
    start = nl + 1;
  }
}

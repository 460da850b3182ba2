/** Function output as the node keeps it: the sink runtimes write to, the lines readers get back. */

export type LogStream = 'stdout' | 'stderr';

/** Receives a function's output, one line at a time. */
export type LogSink = (line: string, stream: LogStream, instance: string, callId?: string) => void;

export interface LogLine {
  time: string;
  fn: string;
  instance: string;
  call?: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface LogReader {
  read(fn: string, opts: { since?: Date; tail?: number }): Promise<LogLine[]>;
  follow(fn: string, listener: (entry: LogLine) => void): () => void;
}

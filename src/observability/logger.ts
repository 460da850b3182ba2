/**
 * The node's own structured log: one JSON object per line on stdout (pino), or readable lines on
 * a terminal (log-format.ts). Ship the JSON as it is to a log collector, or read it with `jq`.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { TernError } from '../core/errors.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * The `event` field of lifecycle lines, so a collector can filter on one key. Info unless noted.
 * Other parts of the node add their own (`serving`, `stopping`, `runtime`, …); keep them snake_case.
 */
export const LogEvent = {
  deploy: 'deploy',
  update: 'update',
  remove: 'remove',
  instanceStart: 'instance_start',
  /** keepalive, single_use, update, removed, shutdown. */
  instanceStop: 'instance_stop',
  /** Stopped to free memory for another function. */
  instanceEvict: 'instance_evict',
  /** Killed: timeout or crashed (warn when crashed). */
  instanceKill: 'instance_kill',
  offload: 'offload',
  /** One line per completed call (debug). */
  call: 'call',
  /** One line per refused call (debug). */
  reject: 'reject',
} as const;

export type LogEventName = (typeof LogEvent)[keyof typeof LogEvent];

function isLevel(level: string): level is (typeof LOG_LEVELS)[number] {
  return (LOG_LEVELS as readonly string[]).includes(level);
}

/**
 * The node logger. `node` is in every line's base bindings. `destination` is for tests; the node
 * writes to stdout synchronously so nothing is lost when the process exits right after a line.
 */
export function createNodeLogger(level: string, node: string, destination?: DestinationStream): Logger {
  if (!isLevel(level))
    throw new TernError('bad_request', `log-level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
  const options = {
    level,
    base: { node, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options, pino.destination({ dest: 1, sync: true }));
}

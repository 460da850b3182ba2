/**
 * Telemetry as node log lines: lifecycle events (deploy, update, remove, instance start/stop/evict/
 * kill, offload) at info, one line per call at debug. Event names are those of LogEvent.
 * A single-use instance lives for one call (wasm's default): its start and its `single_use` stop
 * are per-call events, so they go to debug with the call line rather than adding two info lines per call.
 */
import type { Logger } from 'pino';
import type { InstanceStopReason, Telemetry } from '../core/telemetry.js';
import { LogEvent } from './logger.js';

const FUNCTION_EVENTS = { deployed: LogEvent.deploy, updated: LogEvent.update, removed: LogEvent.remove } as const;

function stopEvent(reason: InstanceStopReason): string {
  if (reason === 'evicted') return LogEvent.instanceEvict;
  if (reason === 'timeout' || reason === 'crashed') return LogEvent.instanceKill;
  return LogEvent.instanceStop;
}

export interface LifecycleOptions {
  /** Whether `fn` is a single-use function (its instance starts go to debug); default: none is. */
  singleUse?: (fn: string) => boolean;
}

export function lifecycleTelemetry(logger: Logger, options: LifecycleOptions = {}): Telemetry {
  const singleUse = options.singleUse ?? (() => false);
  return {
    callCompleted(inv, result) {
      // Checked first so a node at info pays nothing per call.
      if (!logger.isLevelEnabled('debug')) return;
      const r = result.report;
      logger.debug(
        {
          event: LogEvent.call,
          function: inv.function,
          call: inv.id,
          trigger: inv.trigger,
          status: result.status,
          instance: r.instance,
          cold: r.cold,
          queueMs: r.queueMs,
          initMs: r.initMs,
          runMs: r.runMs,
          totalMs: r.totalMs,
          ...(r.offloaded ? { offloaded: true, ranOn: r.node } : {}),
          ...(r.error ? { error: r.error } : {}),
        },
        `call ${inv.function} ${result.status}`,
      );
    },
    callRejected(fn, reason) {
      if (logger.isLevelEnabled('debug'))
        logger.debug({ event: LogEvent.reject, function: fn, reason }, `rejected call to ${fn}: ${reason}`);
    },
    instanceStarted(fn, instance, initMs) {
      const level = singleUse(fn) ? 'debug' : 'info';
      if (logger.isLevelEnabled(level))
        logger[level](
          { event: LogEvent.instanceStart, function: fn, instance, initMs },
          `instance ${instance} started`,
        );
    },
    instanceStopped(fn, instance, reason, detail) {
      if (reason === 'single_use') {
        if (logger.isLevelEnabled('debug'))
          logger.debug(
            { event: LogEvent.instanceStop, function: fn, instance, reason },
            `instance ${instance} stopped: ${reason}`,
          );
        return;
      }
      const fields = { event: stopEvent(reason), function: fn, instance, reason, ...(detail ? { detail } : {}) };
      // The pool already logs a failed start at warn; one line per event is enough.
      if (reason === 'start_failed') logger.debug(fields, `instance ${instance} failed to start`);
      else if (reason === 'crashed') logger.warn(fields, `instance ${instance} crashed`);
      else logger.info(fields, `instance ${instance} stopped: ${reason}`);
    },
    offloaded(fn, target, ok) {
      logger.info(
        { event: LogEvent.offload, function: fn, target, ok },
        `offloaded a call to ${fn} to ${target}${ok ? '' : ' (failed)'}`,
      );
    },
    functionEvent(fn, event, version) {
      logger.info({ event: FUNCTION_EVENTS[event], function: fn, ...(version ? { version } : {}) }, `${event} ${fn}`);
    },
  };
}

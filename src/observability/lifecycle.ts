/**
 * Telemetry as node log lines: lifecycle events (deploy, update, remove, instance start/stop/evict/
 * kill, offload) at info, one line per call at debug. Event names are those of LogEvent.
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

export function lifecycleTelemetry(logger: Logger): Telemetry {
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
      if (logger.isLevelEnabled('debug')) logger.debug({ event: LogEvent.reject, function: fn, reason }, `rejected call to ${fn}: ${reason}`);
    },
    instanceStarted(fn, instance, initMs) {
      logger.info({ event: LogEvent.instanceStart, function: fn, instance, initMs }, `instance ${instance} started`);
    },
    instanceStopped(fn, instance, reason, detail) {
      const fields = { event: stopEvent(reason), function: fn, instance, reason, ...(detail ? { detail } : {}) };
      // The pool already logs a failed start at warn; one line per event is enough.
      if (reason === 'start_failed') logger.debug(fields, `instance ${instance} failed to start`);
      else if (reason === 'crashed') logger.warn(fields, `instance ${instance} crashed`);
      else logger.info(fields, `instance ${instance} stopped: ${reason}`);
    },
    offloaded(fn, target, ok) {
      logger.info({ event: LogEvent.offload, function: fn, target, ok }, `offloaded a call to ${fn} to ${target}${ok ? '' : ' (failed)'}`);
    },
    functionEvent(fn, event, version) {
      logger.info({ event: FUNCTION_EVENTS[event], function: fn, ...(version ? { version } : {}) }, `${event} ${fn}`);
    },
  };
}

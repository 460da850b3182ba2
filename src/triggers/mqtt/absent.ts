/**
 * A node without `[mqtt]`. Alone, it refuses to deploy a function with MQTT triggers (400): the
 * deployer learns now that its triggers could never fire, rather than from messages that silently
 * never run anything. In a cluster it accepts them, because a deploy there is cluster-wide (peers
 * adopt it through the same validation, and nodes that have a broker subscribe), and says in its
 * log that the triggers fire elsewhere.
 */
import { TernError } from '../../core/errors.js';
import type { FunctionSpec } from '../../registry/spec.js';
import type { Trigger, TriggerContext } from '../trigger.js';

/** Deploy check of a node without `[mqtt]` outside a cluster. */
export function refuseMqttTriggers(spec: FunctionSpec): void {
  if (spec.triggers.mqtt.length === 0) return;
  throw new TernError(
    'bad_spec',
    'triggers.mqtt: this node has no MQTT broker configured ([mqtt] url in its config, TERN_MQTT or --mqtt); deploy through a node that has one, or remove the [[triggers.mqtt]] tables',
  );
}

/** Stands in for the MQTT trigger: logs once per function version that its MQTT triggers do not fire here. */
export function mqttWithoutBroker(): Trigger {
  let unsubscribe: (() => void) | undefined;
  return {
    name: 'mqtt',
    async start(ctx: TriggerContext): Promise<void> {
      const warned = new Set<string>();
      const check = () => {
        for (const fn of ctx.registry.list()) {
          const key = `${fn.spec.name}@${fn.version}`;
          if (fn.spec.triggers.mqtt.length === 0 || warned.has(key)) continue;
          warned.add(key);
          ctx.logger.warn(
            { event: 'mqtt_not_configured', function: fn.spec.name },
            `function ${fn.spec.name} has MQTT triggers, but this node has no [mqtt] broker: they fire on the nodes that have one`,
          );
        }
      };
      unsubscribe = ctx.registry.subscribe(check);
      check();
    },
    async stop(): Promise<void> {
      unsubscribe?.();
    },
    address: () => undefined,
  };
}

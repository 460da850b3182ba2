/**
 * Registry changes reach the pools here — deploys from this node's API or, in a cluster, from
 * peers — and the stored functions are activated at start. `settled(name)` lets the API answer a
 * deploy or delete only once the pool has caught up.
 */
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import type { FunctionLogs } from '../observability/function-logs.js';
import { loadRegistryFolder } from '../registry/dir-store.js';
import type { DeployedFunction, Registry } from '../registry/registry.js';
import type { NodeScheduler } from '../scheduler/scheduler.js';
import type { RuntimeSet } from './runtime-set.js';

export interface ActivationDeps {
  registry: Registry;
  runtimes: RuntimeSet;
  scheduler: NodeScheduler;
  logs: FunctionLogs;
  logger: Logger;
}

/** Opens the registry, activates what it holds (and the registry folder), follows its changes. */
export async function activateFunctions(
  config: NodeConfig,
  d: ActivationDeps,
): Promise<(name: string) => Promise<void>> {
  const activate = async (fn: DeployedFunction) => {
    try {
      const runtime = await d.runtimes.require(fn.spec);
      await runtime.prepare(fn);
      await d.scheduler.deployed(fn);
    } catch (e) {
      d.logger.error(
        { event: 'activate_failed', function: fn.spec.name, err: (e as Error).message },
        `function ${fn.spec.name} cannot run here`,
      );
    }
  };
  const pending = new Map<string, Promise<void>>();
  const track = (name: string, work: Promise<void>) => {
    const done = work.finally(() => {
      if (pending.get(name) === done) pending.delete(name);
    });
    pending.set(name, done);
  };
  const removed = (name: string) =>
    d.scheduler
      .removed(name)
      .then(() => Promise.all([d.registry.prune(name), d.logs.remove(name)]))
      .then(() => undefined);
  d.registry.subscribe((event) => {
    if (event.type === 'deployed') {
      // An identical redeploy changes nothing: the running instances already serve this version.
      if (event.previous?.version === event.fn.version) return;
      track(event.fn.spec.name, activate(event.fn));
    } else track(event.name, removed(event.name));
  });
  await d.registry.open();
  await Promise.all(d.registry.list().map(activate));
  if (config.registryDir) {
    const { loaded, failed } = await loadRegistryFolder(d.registry, config.registryDir, d.logger);
    d.logger.info(
      { event: 'registry_folder', folder: config.registryDir, loaded, failed },
      `loaded ${loaded.length} function(s) from ${config.registryDir}`,
    );
  }
  return async (name) => {
    await pending.get(name);
  };
}

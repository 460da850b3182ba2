/**
 * Parallel and Map: branches and items run as nested machines with keys of their own, so each
 * completed nested state is journaled like any other. The first failure cancels the siblings.
 */
import { StatesError, STATES_ERRORS } from './errors.js';
import type { Execution, Scope } from './interpreter.js';
import { typeName, type Json } from './json.js';
import type { MapState, ParallelState } from './machine.js';
import { readPath } from './paths.js';
import { applyTemplate } from './template.js';

function childScope(prefix: string, label: string, signal: AbortSignal, mapItem?: Scope['mapItem']): Scope {
  return { prefix, label, signal, visits: new Map(), ...(mapItem ? { mapItem } : {}) };
}

/** An AbortController that follows `parent` and can also be aborted on its own. */
function linked(parent: AbortSignal): { controller: AbortController; release: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  return { controller, release: () => parent.removeEventListener('abort', onAbort) };
}

export async function runParallel(
  exec: Execution,
  state: ParallelState,
  input: Json,
  key: string,
  attempt: number,
  scope: Scope,
): Promise<Json> {
  const { controller, release } = linked(scope.signal);
  try {
    const outputs = await Promise.all(
      state.branches.map((branch, i) =>
        exec
          .runMachine(
            branch,
            input,
            childScope(`${key}.${attempt}/${i}/`, `${scope.label}${state.name}.Branches[${i}] > `, controller.signal),
          )
          .catch((e: unknown) => {
            controller.abort(e);
            throw e;
          }),
      ),
    );
    exec.checkSize(outputs, `the output of Parallel "${state.name}"`);
    return outputs;
  } finally {
    release();
  }
}

export async function runMap(
  exec: Execution,
  state: MapState,
  effective: Json,
  key: string,
  attempt: number,
  scope: Scope,
): Promise<Json> {
  const items = mapItems(exec, state, effective, scope);
  const limit = exec.o.limits.maxMapConcurrency;
  const concurrency = Math.min(
    state.maxConcurrency === 0 ? limit : state.maxConcurrency,
    limit,
    Math.max(1, items.length),
  );
  const outputs: Json[] = new Array<Json>(items.length).fill(null);
  const { controller, release } = linked(scope.signal);
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < items.length) {
      const index = nextIndex++;
      const mapItem = { Index: index, Value: items[index]! };
      const context = { ...exec.context(state.name, scope, attempt), Map: { Item: mapItem } };
      const itemInput = state.itemSelector ? applyTemplate(state.itemSelector, effective, context) : items[index]!;
      const itemScope = childScope(
        `${key}.${attempt}/${index}/`,
        `${scope.label}${state.name}[${index}] > `,
        controller.signal,
        mapItem,
      );
      outputs[index] = await exec.runMachine(state.processor, itemInput, itemScope);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: concurrency }, () =>
        worker().catch((e: unknown) => {
          controller.abort(e);
          throw e;
        }),
      ),
    );
    exec.checkSize(outputs, `the output of Map "${state.name}"`);
    return outputs;
  } finally {
    release();
  }
}

function mapItems(exec: Execution, state: MapState, effective: Json, scope: Scope): Json[] {
  let items: Json = effective;
  if (state.itemsPath !== undefined) {
    const v = readPath(state.itemsPath, effective, exec.context(state.name, scope));
    if (!v.found)
      throw new StatesError(
        STATES_ERRORS.Runtime,
        `Map "${state.name}": ItemsPath "${state.itemsPath.text}" selects nothing (${v.missing} is absent)`,
      );
    items = v.value;
  }
  if (!Array.isArray(items))
    throw new StatesError(
      STATES_ERRORS.Runtime,
      `Map "${state.name}": the items must be an array, got ${typeName(items)}`,
    );
  if (items.length > exec.o.limits.maxMapItems)
    throw new StatesError(
      STATES_ERRORS.Runtime,
      `Map "${state.name}": ${items.length} items is over the node's limit of ${exec.o.limits.maxMapItems} ([workflows] max-map-items)`,
    );
  return items;
}

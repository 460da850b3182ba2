/**
 * Chaining: a function calls another by name through the node's scheduler, so the child runs warm,
 * cold or offloaded like any call. The child is an Invocation with trigger "chain", depth + 1 and
 * the parent's id; past the depth limit it is refused with 400 before it reaches the scheduler.
 * Each finished child is noted for its parent, whose report lists them (report.children).
 */
import { TernError } from '../core/errors.js';
import { createInvocation, newCallId, type Invocation } from '../core/invocation.js';
import { emptyReport, ms, type ChildCall } from '../core/report.js';
import { errorResult, type Result } from '../core/result.js';
import { NAME_PATTERN } from '../registry/spec.js';
import type { CallRunner } from '../core/host.js';

/** Children listed per parent; more are still run, not listed. */
const MAX_LISTED_CHILDREN = 1000;
/** Parents tracked at once: a bound on what a runtime that never reports an end can leak. */
const MAX_PARENTS = 10_000;

export interface ChainOptions {
  nodeName: string;
  /** Deepest chain allowed (config chain-depth): a call from outside is depth 0. */
  maxDepth: number;
}

export interface ChainRequest {
  method?: string;
  /** Path after the function name, may carry "?query". */
  path?: string;
  headers?: Record<string, string>;
}

export class Chaining {
  private scheduler: CallRunner | undefined;
  private readonly children = new Map<string, ChildCall[]>();

  constructor(private readonly o: ChainOptions) {}

  /** The scheduler exists after the runtimes that need this object: bound once it does. */
  bind(scheduler: CallRunner): void {
    this.scheduler = scheduler;
  }

  async invoke(parent: Invocation, fn: string, body: Buffer, req: ChainRequest = {}): Promise<Result> {
    const started = performance.now();
    const listed = this.listFor(parent.id);
    const depth = parent.depth + 1;
    let result: Result;
    let id: string;
    if (!NAME_PATTERN.test(fn)) {
      id = newCallId();
      result = this.refuse(
        fn,
        new TernError('bad_request', `cannot chain to ${JSON.stringify(fn)}: not a function name`),
      );
    } else if (depth > this.o.maxDepth) {
      id = newCallId();
      result = this.refuse(
        fn,
        new TernError(
          'bad_request',
          `chain depth limit ${this.o.maxDepth} reached: ${parent.function} (depth ${parent.depth}) cannot call ${fn} (config chain-depth)`,
        ),
      );
    } else if (!this.scheduler) {
      id = newCallId();
      result = this.refuse(fn, new TernError('unavailable', 'the node is not ready for chained calls yet'));
    } else {
      const [path, query] = splitPath(req.path ?? '/');
      const inv = createInvocation({
        function: fn,
        method: req.method ?? 'POST',
        path,
        query,
        headers: req.headers ?? {},
        body,
        trigger: 'chain',
        depth,
        parent: parent.id,
      });
      id = inv.id;
      result = await this.scheduler.invoke(inv);
    }
    if (listed && listed.length < MAX_LISTED_CHILDREN)
      listed.push({ id, function: fn, status: result.status, ms: ms(performance.now() - started) });
    return result;
  }

  /** The children of a call that ended (and forget them). */
  take(parentId: string): ChildCall[] | undefined {
    const list = this.children.get(parentId);
    if (list) this.children.delete(parentId);
    return list;
  }

  private listFor(parentId: string): ChildCall[] | undefined {
    let list = this.children.get(parentId);
    if (list) return list;
    if (this.children.size >= MAX_PARENTS) this.children.delete(this.children.keys().next().value as string);
    this.children.set(parentId, (list = []));
    return list;
  }

  private refuse(fn: string, err: TernError): Result {
    return errorResult(err, emptyReport(this.o.nodeName, fn));
  }
}

function splitPath(path: string): [string, string] {
  const q = path.indexOf('?');
  return q < 0 ? [path, ''] : [path.slice(0, q), path.slice(q + 1)];
}

/** The execution report: where and how one call ran. Returned to every caller and fed to metrics. */
export interface Hop {
  /** Node the call was forwarded to. */
  node: string;
  /** Round-trip time of that forward as seen by the forwarding node, ms. */
  ms: number;
}

export interface ChildCall {
  id: string;
  function: string;
  status: number;
  ms: number;
}

export interface Report {
  /** Node that ran the function (the last hop when offloaded). */
  node: string;
  function: string;
  /** Instance id that served the call ("" when none was reached). */
  instance: string;
  cold: boolean;
  /** Time waiting for an instance, ms. */
  queueMs: number;
  /** Time starting the instance (cold start), ms; 0 when warm. */
  initMs: number;
  /** Time inside the function, ms. */
  runMs: number;
  /** Whole time on this node from receipt to result, ms. */
  totalMs: number;
  offloaded: boolean;
  hops: Hop[];
  /** Chained calls made by this call. */
  children?: ChildCall[];
  /** Error code when the call failed (see core/errors.ts). */
  error?: string;
}

export function emptyReport(node: string, fn: string): Report {
  return {
    node,
    function: fn,
    instance: '',
    cold: false,
    queueMs: 0,
    initMs: 0,
    runMs: 0,
    totalMs: 0,
    offloaded: false,
    hops: [],
  };
}

/** Round to microseconds so reports stay short. */
export function ms(value: number): number {
  return Math.round(value * 1000) / 1000;
}

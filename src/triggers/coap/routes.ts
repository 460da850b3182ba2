/**
 * Which function a CoAP URI path names: extra paths from `[triggers] coap = "…"` first
 * (longest match), else the first path segment. Rebuilt from the registry on every change.
 */
import type { DeployedFunction } from '../../registry/registry.js';

export interface Route {
  function: string;
  /** Path segments after the matched prefix (decoded text, as Uri-Path options carry them). */
  rest: string[];
}

export function splitPath(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

export class CoapRoutes {
  /** "sieve/primes" -> "sieve" */
  private extra = new Map<string, string>();
  private longest = 0;

  /** Returns a warning per extra path that was refused. */
  rebuild(functions: readonly DeployedFunction[]): string[] {
    const names = new Set(functions.map((f) => f.spec.name));
    const extra = new Map<string, string>();
    const warnings: string[] = [];
    // Sorted so that which of two claimants wins never depends on deploy order.
    for (const fn of [...functions].sort((a, b) => a.spec.name.localeCompare(b.spec.name))) {
      for (const raw of fn.spec.triggers.coap) {
        const segments = splitPath(raw);
        const key = segments.join('/');
        const head = segments[0];
        if (head === undefined) {
          warnings.push(`function "${fn.spec.name}": empty CoAP path "${raw}" ignored`);
        } else if (head !== fn.spec.name && names.has(head)) {
          warnings.push(`function "${fn.spec.name}": CoAP path "${raw}" would shadow function "${head}"; ignored`);
        } else if (extra.has(key) && extra.get(key) !== fn.spec.name) {
          warnings.push(
            `function "${fn.spec.name}": CoAP path "${raw}" is already taken by "${extra.get(key)}"; ignored`,
          );
        } else {
          extra.set(key, fn.spec.name);
        }
      }
    }
    this.extra = extra;
    this.longest = Math.max(0, ...[...extra.keys()].map((k) => splitPath(k).length));
    return warnings;
  }

  resolve(segments: readonly string[]): Route | undefined {
    for (let n = Math.min(this.longest, segments.length); n > 0; n--) {
      const owner = this.extra.get(segments.slice(0, n).join('/'));
      if (owner !== undefined) return { function: owner, rest: segments.slice(n) };
    }
    const head = segments[0];
    return head === undefined ? undefined : { function: head, rest: segments.slice(1) };
  }
}

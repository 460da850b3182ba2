/** What the HTTP scenarios share: one Tern node with the functions deployed, and the reference peers. */
import type { ChildServer } from '../lib/child-server.js';
import type { Plan } from '../lib/plan.js';
import type { Comparison, Measurement, Skipped } from '../lib/schema.js';
import type { TernNode } from '../lib/tern-node.js';

export interface Peers {
  /** The bare node:http server, or why it could not start. */
  bare: ChildServer | string;
  /** workerd, or why it could not start. */
  workerd: ChildServer | string;
}

export interface ScenarioContext {
  plan: Plan;
  node: TernNode;
  peers: Peers;
}

export const NODE_HTTP = 'node:http (inline)';
export const WORKERD = 'workerd';

export function peerUrl(peer: ChildServer | string): string | null {
  return typeof peer === 'string' ? null : peer.url;
}

export function peerSkip(target: string, peer: ChildServer | string): Skipped[] {
  return typeof peer === 'string' ? [{ target, reason: peer }] : [];
}

/** Ratio of two positive figures; null when either is missing or zero. */
export function ratio(value: number | undefined, reference: number | undefined): number | null {
  if (value === undefined || reference === undefined || !(value > 0) || !(reference > 0)) return null;
  return Math.round((value / reference) * 1000) / 1000;
}

/** Compare every row's throughput with each reference row's. */
export function throughputVs(rows: Measurement[], references: string[]): void {
  for (const row of rows) {
    row.vs = references
      .filter((name) => name !== row.target)
      .map((name): Comparison => ({
        reference: name,
        ratio: ratio(row.rps, rows.find((r) => r.target === name)?.rps),
      }));
  }
}

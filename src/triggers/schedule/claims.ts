/**
 * Who runs a schedule's slot. Each schedule has one record holding the last slot claimed; a node
 * runs a slot only if it moves that record forward. In a cluster the record is an etcd key and the
 * move a transaction (compare the stored slot, then put), so of the nodes that wake for a slot
 * exactly one runs it, and a node whose clock lags never runs a slot twice. Alone, the record is
 * this process's memory, kept in `<data>/schedules.json` for schedules with `catch-up`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../cluster/etcd.js';
import { writeFileAtomic } from '../../registry/atomic-file.js';

export interface SlotClaims {
  readonly kind: 'etcd' | 'local';
  /** True when this node should run slot `slotMs` of schedule `key`: no node has claimed it or a later one. */
  claim(key: string, slotMs: number, durable: boolean): Promise<boolean>;
  /** The last slot claimed by any node; undefined when none is recorded. */
  last(key: string): Promise<number | undefined>;
  /** Drop the records of schedules that no longer exist. */
  forget(keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Slots as fixed-width decimal text, so etcd's byte-wise compare orders them as numbers. */
const SLOT_DIGITS = 16;
const slotText = (ms: number) => String(ms).padStart(SLOT_DIGITS, '0');
const ETCD_PREFIX = 'tern/schedules/';

export class EtcdClaims implements SlotClaims {
  readonly kind = 'etcd';
  private readonly client: Etcd3;

  constructor(
    endpoints: string[],
    private readonly nodeName: string,
  ) {
    this.client = createEtcdClient(endpoints);
  }

  async claim(key: string, slotMs: number): Promise<boolean> {
    const k = ETCD_PREFIX + key;
    const value = `${slotText(slotMs)} ${this.nodeName}`;
    const moved = await this.client
      .if(k, 'Value', '<', slotText(slotMs))
      .then(this.client.put(k).value(value))
      .commit();
    if (moved.succeeded) return true;
    // etcd fails every value compare on a missing key: the first claim ever creates it.
    const created = await this.client.if(k, 'Version', '==', 0).then(this.client.put(k).value(value)).commit();
    return created.succeeded;
  }

  async last(key: string): Promise<number | undefined> {
    const value = await this.client.get(ETCD_PREFIX + key).string();
    return parseSlot(value);
  }

  async forget(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => this.client.delete().key(ETCD_PREFIX + k)));
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

function parseSlot(value: string | null | undefined): number | undefined {
  const m = value ? /^(\d{1,16})/.exec(value) : null;
  return m ? Number(m[1]) : undefined;
}

export class LocalClaims implements SlotClaims {
  readonly kind = 'local';
  private readonly slots = new Map<string, number>();
  /** Keys whose record is kept on disk (catch-up schedules). */
  private readonly durable = new Set<string>();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      if (parsed === null || typeof parsed !== 'object') return;
      for (const [k, v] of Object.entries(parsed)) {
        if (typeof v === 'number' && Number.isSafeInteger(v)) {
          this.slots.set(k, v);
          this.durable.add(k);
        }
      }
    } catch {
      // Absent or unreadable: no history, so nothing to catch up.
    }
  }

  async claim(key: string, slotMs: number, durable: boolean): Promise<boolean> {
    const last = this.slots.get(key);
    if (last !== undefined && last >= slotMs) return false;
    this.slots.set(key, slotMs);
    if (durable) {
      this.durable.add(key);
      await this.save();
    }
    return true;
  }

  async last(key: string): Promise<number | undefined> {
    return this.slots.get(key);
  }

  async forget(keys: string[]): Promise<void> {
    let changed = false;
    for (const k of keys) {
      this.slots.delete(k);
      if (this.durable.delete(k)) changed = true;
    }
    if (changed) await this.save();
  }

  async close(): Promise<void> {
    await this.writing.catch(() => undefined);
  }

  /** One write at a time; changes made while one runs go out in the next. */
  private save(): Promise<void> {
    this.dirty = true;
    const write = this.writing
      .catch(() => undefined)
      .then(async () => {
        if (!this.dirty) return;
        this.dirty = false;
        const record = Object.fromEntries(
          [...this.durable].flatMap((k) => {
            const slot = this.slots.get(k);
            return slot === undefined ? [] : [[k, slot]];
          }),
        );
        await mkdir(dirname(this.path), { recursive: true });
        await writeFileAtomic(this.path, JSON.stringify(record));
      });
    this.writing = write;
    return write;
  }
}

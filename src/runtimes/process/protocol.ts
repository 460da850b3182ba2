/**
 * The node side of the shim protocol on the sandbox's fd 3 (one full-duplex socket).
 * Frame: u32 BE header length, u32 BE body length, JSON header, body bytes.
 *
 * node -> shim  {t:"call", id, call, method, path, query, headers[, env]} + request body
 *               {t:"host-result", id[, status, headers][, error]} + body        (answer to "host")
 * shim -> node  {t:"ready", pid, version} | {t:"init-error", message}
 *               {t:"result", id, status, headers} + body
 *               {t:"cgi", id, exit | signal} + stdout                           (binary helper)
 *               {t:"error", id, message}                                       (handler threw)
 *               {t:"log", s:"stdout"|"stderr"[, id]} + bytes                   (print/console)
 *               {t:"host", id, call, op, args} + body                          (function -> node)
 * Anything malformed from the shim ends the instance: the function shares its process and
 * may have written to fd 3 itself.
 */
export const MAX_HEADER_BYTES = 1 << 20;
export const MAX_BODY_BYTES = 64 << 20;

export type Header = Record<string, unknown>;

export interface Frame {
  header: Header;
  body: Buffer;
}

export class ProtocolError extends Error {}

const EMPTY = Buffer.alloc(0);

/** The frame as buffers to write in one go (the body is not copied). */
export function encodeFrame(header: Header, body: Buffer = EMPTY): Buffer[] {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.allocUnsafe(8);
  prefix.writeUInt32BE(json.length, 0);
  prefix.writeUInt32BE(body.length, 4);
  return body.length ? [prefix, json, body] : [prefix, json];
}

/** Incremental decoder: push socket chunks, get whole frames. Throws ProtocolError. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private headerLength = -1;
  private bodyLength = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.headerLength < 0) {
        if (this.buffered < 8) break;
        const prefix = this.take(8);
        this.headerLength = prefix.readUInt32BE(0);
        this.bodyLength = prefix.readUInt32BE(4);
        if (this.headerLength === 0 || this.headerLength > MAX_HEADER_BYTES)
          throw new ProtocolError(`bad frame header length ${this.headerLength}`);
        if (this.bodyLength > MAX_BODY_BYTES)
          throw new ProtocolError(`frame body of ${this.bodyLength} bytes, more than ${MAX_BODY_BYTES}`);
      }
      const need = this.headerLength + this.bodyLength;
      if (this.buffered < need) break;
      const raw = this.take(need);
      let header: unknown;
      try {
        header = JSON.parse(raw.toString('utf8', 0, this.headerLength));
      } catch {
        throw new ProtocolError('frame header is not JSON');
      }
      if (header === null || typeof header !== 'object' || Array.isArray(header))
        throw new ProtocolError('frame header is not an object');
      frames.push({ header: header as Header, body: raw.subarray(this.headerLength) });
      this.headerLength = -1;
    }
    return frames;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }
}

export function str(h: Header, key: string): string | undefined {
  const v = h[key];
  return typeof v === 'string' ? v : undefined;
}

export function int(h: Header, key: string): number | undefined {
  const v = h[key];
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** A string-to-string record, or undefined when the value is anything else. */
export function stringRecord(v: unknown): Record<string, string> | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') return undefined;
    out[k] = val;
  }
  return out;
}

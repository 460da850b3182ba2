/**
 * CoAP wire details the codec (coap-packet) leaves to us: option numbers, uint and block
 * option values (RFC 7252 §3.2, RFC 7959 §2.2), method codes and the protocol's timing constants.
 */
import type { Option, ParsedPacket } from 'coap-packet';

export const OPT = {
  ifMatch: 1,
  uriHost: 3,
  etag: 4,
  ifNoneMatch: 5,
  observe: 6,
  uriPort: 7,
  uriPath: 11,
  contentFormat: 12,
  maxAge: 14,
  uriQuery: 15,
  accept: 17,
  block2: 23,
  block1: 27,
  size2: 28,
  proxyUri: 35,
  proxyScheme: 39,
  size1: 60,
  noResponse: 258,
  requestTag: 292,
  /** Tern's own elective option (experimental range): ask for / carry the execution report as JSON. */
  ternReport: 65000,
} as const;

/** coap-packet names the options it knows; everything else arrives as its number in a string. */
const NUMBER_BY_NAME: Readonly<Record<string, number>> = {
  'If-Match': 1,
  'Uri-Host': 3,
  ETag: 4,
  'If-None-Match': 5,
  Observe: 6,
  'Uri-Port': 7,
  'Location-Path': 8,
  OSCORE: 9,
  'Uri-Path': 11,
  'Content-Format': 12,
  'Max-Age': 14,
  'Uri-Query': 15,
  'Hop-Limit': 16,
  Accept: 17,
  'Q-Block1': 19,
  'Location-Query': 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  'Q-Block2': 31,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  Size1: 60,
  'No-Response': 258,
  'OCF-Accept-Content-Format-Version': 2049,
  'OCF-Content-Format-Version': 2053,
};

/** Critical options (odd numbers) this server understands; any other critical option gets 4.02 Bad Option. */
const UNDERSTOOD_CRITICAL: ReadonlySet<number> = new Set([
  OPT.uriHost,
  OPT.uriPort,
  OPT.uriPath,
  OPT.uriQuery,
  OPT.accept,
  OPT.block2,
  OPT.block1,
  OPT.proxyUri,
  OPT.proxyScheme,
]);

export interface WireOption {
  number: number;
  value: Buffer;
}

export function optionNumber(name: string | number): number {
  if (typeof name === 'number') return name;
  return NUMBER_BY_NAME[name] ?? Number.parseInt(name, 10);
}

export function readOptions(packet: ParsedPacket): WireOption[] {
  // coap-packet leaves `options` null on empty messages despite its typings.
  const raw: ParsedPacket['options'] | null = packet.options;
  return (raw ?? []).map((o) => ({ number: optionNumber(o.name), value: o.value }));
}

export function firstOption(options: WireOption[], number: number): Buffer | undefined {
  return options.find((o) => o.number === number)?.value;
}

export function allOptions(options: WireOption[], number: number): Buffer[] {
  return options.filter((o) => o.number === number).map((o) => o.value);
}

export function unknownCriticalOption(options: WireOption[]): number | undefined {
  return options.find((o) => o.number % 2 === 1 && !UNDERSTOOD_CRITICAL.has(o.number))?.number;
}

/** Unsigned integer option value: big-endian, no leading zero bytes, 0 is the empty value. */
export function encodeUint(value: number): Buffer {
  if (value === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return Buffer.from(bytes);
}

export function decodeUint(value: Buffer): number {
  let n = 0;
  for (const byte of value.subarray(0, 4)) n = n * 256 + byte;
  return n;
}

export interface Block {
  num: number;
  more: boolean;
  /** Size exponent: block size = 2^(szx + 4); 7 is reserved (BERT, TCP only). */
  szx: number;
}

export const MAX_SZX = 6;

export function blockSize(szx: number): number {
  return 16 << szx;
}

export function decodeBlock(value: Buffer): Block {
  const v = decodeUint(value);
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx: v & 7 };
}

export function encodeBlock(block: Block): Buffer {
  return encodeUint(block.num * 16 + (block.more ? 8 : 0) + block.szx);
}

export function option(number: number, value: Buffer): Option {
  return { name: number, value };
}

const METHOD_BY_CODE: Readonly<Record<string, string>> = {
  '0.01': 'GET',
  '0.02': 'POST',
  '0.03': 'PUT',
  '0.04': 'DELETE',
  '0.06': 'PATCH',
};

/** The HTTP method of a request code; undefined for FETCH, iPATCH and unknown codes. */
export function methodOf(code: string): string | undefined {
  return METHOD_BY_CODE[code];
}

/** RFC 7252 §4.8 transmission parameters (seconds unless named otherwise). */
export const TIMING = {
  ackTimeoutMs: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  exchangeLifetimeMs: 247_000,
} as const;

/** Largest payload of one block we send or accept (SZX 6); a message stays within RFC 7252's 1152 bytes. */
export const MAX_BLOCK_BYTES = 1024;
/** Ceiling for one outgoing datagram: an IPv4 UDP payload within a 1500-byte MTU. */
export const MAX_DATAGRAM_BYTES = 1472;

/**
 * The node's `[mqtt]` table: the broker every MQTT trigger of this node uses. src/config.ts
 * embeds the schema and calls `mqttConfigOf`; the env variables and flags map onto its keys there.
 */
import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

/** MQTT 5's Session Expiry Interval is 32 bits of seconds; 0xFFFFFFFF means "never". */
const MAX_SESSION_EXPIRY_SEC = 0xfffffffe;
/** MQTT's Keep Alive is 16 bits of seconds. */
const MAX_KEEPALIVE_SEC = 65_535;

const duration = (fallbackMs: number) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return ms;
    })
    .default(fallbackMs);

const brokerUrl = z.string().superRefine((v, ctx) => {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `not a URL: ${JSON.stringify(v)} (use mqtt://host:1883 or mqtts://host:8883)`,
    });
    return;
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:')
    ctx.addIssue({ code: 'custom', message: `scheme must be mqtt: or mqtts:, not ${url.protocol}` });
  else if (url.hostname === '') ctx.addIssue({ code: 'custom', message: 'names no host' });
  else if (url.username !== '' || url.password !== '')
    ctx.addIssue({ code: 'custom', message: 'must not hold credentials: set [mqtt] username and password instead' });
  else if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '')
    ctx.addIssue({ code: 'custom', message: 'must not have a path or query' });
});

/** A client id or share-group name: what every broker accepts, and no MQTT wildcard or separator. */
const clientName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of letters, digits, ".", "_" and "-"');

export const mqttConfigSchema = z
  .object({
    url: brokerUrl,
    username: z.string().min(1).max(65_535).optional(),
    password: z.string().max(65_535).optional(),
    /** Default: "tern-<node name>", stable across restarts so the broker keeps the node's session. */
    'client-id': clientName.optional(),
    /** Shared-subscription group prefix: nodes with the same group share each function's messages. */
    group: clientName.default('tern'),
    'session-expiry': duration(86_400_000),
    keepalive: duration(30_000),
    /** Messages running at once (more wait in a bounded backlog), and the MQTT 5 Receive Maximum asked of the broker. */
    'max-in-flight': z.coerce.number().int().min(1).max(65_535).default(64),
    'connect-timeout': duration(10_000),
    'reconnect-max': duration(30_000),
    /** TLS (mqtts://): PEM files. */
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
  })
  .strict();

export interface MqttConfig {
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  group: string;
  sessionExpirySec: number;
  keepaliveSec: number;
  maxInFlight: number;
  connectTimeoutMs: number;
  reconnectMaxMs: number;
  /** Absolute paths of PEM files. */
  tls: { ca?: string; cert?: string; key?: string };
}

/**
 * The normalised [mqtt] config, TLS paths resolved against `cwd`. Throws an Error naming the key
 * when values do not fit together or a file cannot be read (the node refuses to start).
 */
export function mqttConfigOf(raw: z.output<typeof mqttConfigSchema>, cwd: string): MqttConfig {
  const sec = (key: string, ms: number, min: number, max: number): number => {
    const s = Math.round(ms / 1000);
    if (s < min || s > max) throw new Error(`mqtt.${key}: must be ${min}s to ${max}s`);
    return s;
  };
  const tls: MqttConfig['tls'] = {};
  for (const key of ['ca', 'cert', 'key'] as const) {
    const value = raw[key];
    if (value === undefined) continue;
    const path = resolve(cwd, value);
    try {
      accessSync(path, constants.R_OK);
    } catch (e) {
      throw new Error(
        `mqtt.${key}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    tls[key] = path;
  }
  if (Object.keys(tls).length > 0 && !raw.url.startsWith('mqtts:'))
    throw new Error('mqtt.ca, cert, key: TLS files need an mqtts:// url');
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new Error('mqtt.cert and mqtt.key go together');
  if (raw.password !== undefined && raw.username === undefined)
    throw new Error('mqtt.password: needs mqtt.username (TERN_MQTT_USERNAME)');
  return {
    url: raw.url,
    group: raw.group,
    sessionExpirySec: sec('session-expiry', raw['session-expiry'], 0, MAX_SESSION_EXPIRY_SEC),
    keepaliveSec: sec('keepalive', raw.keepalive, 5, MAX_KEEPALIVE_SEC),
    maxInFlight: raw['max-in-flight'],
    connectTimeoutMs: Math.max(1000, raw['connect-timeout']),
    reconnectMaxMs: Math.max(1000, raw['reconnect-max']),
    tls,
    ...(raw.username !== undefined ? { username: raw.username } : {}),
    ...(raw.password !== undefined ? { password: raw.password } : {}),
    ...(raw['client-id'] !== undefined ? { clientId: raw['client-id'] } : {}),
  };
}

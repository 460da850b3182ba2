/**
 * Node configuration: a TOML or YAML file, then TERN_* env variables, then flags (flags win).
 * File keys are kebab-case (`[queue] capacity`, `memory-budget`); this module returns one typed object.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, freemem, hostname, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DAY_MS, durationField, HOUR_MS, SECOND_MS, type DurationRange } from './core/duration.js';
import { LOG_FORMATS } from './core/log-formats.js';
import { OFFLOAD_POLICIES } from './registry/spec.js';
import { mqttConfigOf, mqttConfigSchema, type MqttConfig } from './config/mqtt.js';
import { workflowLimits, workflowsConfigSchema, type WorkflowLimits } from './config/workflows.js';

// Duration bounds (docs/config.md): every timer stays far below Node's 2^31-1 ms limit, and zero is
// allowed only where it means something ("do not wait").
export const CONFIG_DURATIONS = {
  drainTimeout: { minMs: 0, maxMs: HOUR_MS },
  queueWait: { minMs: 1, maxMs: HOUR_MS },
  callsRetention: { minMs: SECOND_MS, maxMs: 7 * DAY_MS },
  lockWait: { minMs: 0, maxMs: HOUR_MS },
  lockTtl: { minMs: SECOND_MS, maxMs: 24 * HOUR_MS },
  leaseTtl: { minMs: 2 * SECOND_MS, maxMs: HOUR_MS },
} as const satisfies Record<string, DurationRange>;
/** etcd leases count whole seconds. */
const leaseSeconds = durationField(CONFIG_DURATIONS.leaseTtl).transform((ms, ctx) => {
  if (Number.isInteger(ms / SECOND_MS)) return ms / SECOND_MS;
  ctx.addIssue({ code: 'custom', message: `${ms} ms is not a whole number of seconds` });
  return z.NEVER;
});

const port = z.coerce.number().int().min(0).max(65535);
const size = z.coerce.number().int().min(1);

/** `open-management`: let the profile's deploy/delete routes work without the token, as the original system does. */
const compatProfile = z
  .object({ enabled: z.boolean().default(false), port: port.optional(), 'open-management': z.boolean().default(false) })
  .strict();

/**
 * tinyFaaS's layout (docs/compat.md): `layout = "tinyfaas"` turns the profile on with its management
 * API on `management-port` (tinyFaaS's 8080) and its functions on `port` (8000), and moves the
 * node's own API to TINYFAAS_LAYOUT_NATIVE_PORT unless `port` is set. Every port stays overridable.
 */
export const TINYFAAS_LAYOUTS = ['tern', 'tinyfaas'] as const;
export const TINYFAAS_MANAGEMENT_PORT = 8080;
export const TINYFAAS_LAYOUT_NATIVE_PORT = 8090;
/** tinyFaaS's HTTP function endpoint, the profile's default `port` (src/compat/tinyfaas). */
const TINYFAAS_HTTP_PORT = 8000;
const tinyfaasProfile = compatProfile
  .extend({ layout: z.enum(TINYFAAS_LAYOUTS).default('tern'), 'management-port': port.optional() })
  .strict();

export const configSchema = z
  .object({
    node: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,63}$/)
      .optional(),
    host: z.string().default('127.0.0.1'),
    port: port.default(8080),
    'coap-port': port.default(5683),
    /** -1 disables; 0 picks a free port. */
    'grpc-port': z.coerce.number().int().min(-1).max(65535).default(9000),
    coap: z.boolean().default(true),
    grpc: z.boolean().default(true),
    data: z.string().optional(),
    registry: z.string().optional(),
    token: z.string().min(16).optional(),
    'log-level': z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** auto: readable lines on a terminal, JSON lines otherwise. */
    'log-format': z.enum(LOG_FORMATS).default('auto'),
    /** Node memory budget for instances, MiB. Default: half the machine's memory. */
    'memory-budget': size.optional(),
    'drain-timeout': durationField(CONFIG_DURATIONS.drainTimeout).default(10_000),
    /** The HTTP edge (src/loops/, docs/config.md). */
    http: z
      .object({
        /** Event loops serving HTTP and hosting instances beside the control loop; 0 serves on the control loop alone. */
        loops: z.coerce.number().int().min(0).max(256).optional(),
        /** Open connections in all (default: the file limit less the reserve). */
        'max-connections': z.coerce.number().int().min(16).max(10_000_000).optional(),
        /** Open connections from one client address. */
        'max-connections-per-client': z.coerce.number().int().min(1).max(10_000_000).default(512),
        /** File descriptors kept for the node itself (files, pipes, sandboxes), never for connections. */
        'reserve-fds': z.coerce.number().int().min(16).max(1_000_000).default(256),
      })
      .strict()
      .default({ 'max-connections-per-client': 512, 'reserve-fds': 256 }),
    queue: z
      .object({
        capacity: z.coerce.number().int().min(0).default(100),
        wait: durationField(CONFIG_DURATIONS.queueWait).default(30_000),
      })
      .strict()
      .default({ capacity: 100, wait: 30_000 }),
    calls: z
      .object({
        retention: durationField(CONFIG_DURATIONS.callsRetention).default(3_600_000),
        max: size.default(10_000),
      })
      .strict()
      .default({ retention: 3_600_000, max: 10_000 }),
    limits: z
      .object({
        body: size.default(6 * 1024 * 1024),
        archive: size.default(64 * 1024 * 1024),
        unpacked: size.default(256 * 1024 * 1024),
        files: size.default(10_000),
      })
      .strict()
      .default({ body: 6 * 1024 * 1024, archive: 64 * 1024 * 1024, unpacked: 256 * 1024 * 1024, files: 10_000 }),
    logs: z
      .object({ 'max-lines': size.default(10_000) })
      .strict()
      .default({ 'max-lines': 10_000 }),
    'chain-depth': z.coerce.number().int().min(1).max(64).default(8),
    cluster: z
      .object({
        etcd: z.array(z.string()).default([]),
        role: z.enum(['edge', 'cloud']).default('edge'),
        area: z.string().default('default'),
        secret: z.string().optional(),
        /** URL peers use to reach this node; default http://host:port. */
        advertise: z.string().optional(),
        offload: z.enum(OFFLOAD_POLICIES).default('none'),
        'max-hops': z.coerce.number().int().min(0).max(8).default(2),
        'lease-ttl': leaseSeconds.default(6),
        // ---- etcd TLS and auth (src/cluster/etcd.ts, docs/cluster.md) ----
        /** PEM files: the CA that signed etcd's certificate; this node's client certificate and key. */
        'etcd-ca': z.string().min(1).optional(),
        'etcd-cert': z.string().min(1).optional(),
        'etcd-key': z.string().min(1).optional(),
        /** etcd's own user/password authentication. */
        'etcd-user': z.string().min(1).optional(),
        'etcd-password': z.string().min(1).optional(),
      })
      .strict()
      .superRefine(checkEtcdAccess)
      .default({ etcd: [], role: 'edge', area: 'default', offload: 'none', 'max-hops': 2, 'lease-ttl': 6 }),
    redis: z.string().optional(),
    /** State store bounds (src/state/, docs/state.md). */
    state: z
      .object({
        'max-value': size.default(16 * 1024 * 1024),
        'max-keys': size.default(10_000),
        'max-bytes': size.default(256 * 1024 * 1024),
        'lock-wait': durationField(CONFIG_DURATIONS.lockWait).default(10_000),
        'lock-ttl': durationField(CONFIG_DURATIONS.lockTtl).default(30_000),
      })
      .strict()
      .default({
        'max-value': 16 * 1024 * 1024,
        'max-keys': 10_000,
        'max-bytes': 256 * 1024 * 1024,
        'lock-wait': 10_000,
        'lock-ttl': 30_000,
      }),
    compat: z
      .object({
        openfaas: compatProfile.prefault({}),
        faasm: compatProfile.prefault({}),
        serverledge: compatProfile.prefault({}),
        tinyfaas: tinyfaasProfile.prefault({}),
        unifaas: compatProfile.prefault({}),
      })
      .strict()
      .prefault({}),
    microvm: z
      .object({ accel: z.enum(['auto', 'kvm', 'tcg']).default('auto'), tap: z.boolean().default(false) })
      .strict()
      .default({ accel: 'auto', tap: false }),
    /** The MQTT broker of the MQTT triggers (src/config/mqtt.ts, docs/triggers.md); absent: none. */
    mqtt: mqttConfigSchema.optional(),
    // Workflows (src/config/workflows.ts): bounds on definitions and runs.
    workflows: workflowsConfigSchema,
  })
  .strict();

type RawConfig = z.output<typeof configSchema>;

// ---- etcd TLS and auth: pairs that go together, TLS only on https:// endpoints ----
function checkEtcdAccess(
  c: { etcd: string[] } & Partial<Record<'etcd-ca' | 'etcd-cert' | 'etcd-key' | 'etcd-user' | 'etcd-password', string>>,
  ctx: z.RefinementCtx,
): void {
  const pair = (a: keyof typeof c, b: keyof typeof c) => {
    if ((c[a] === undefined) !== (c[b] === undefined))
      ctx.addIssue({ code: 'custom', path: [c[a] === undefined ? a : b], message: `${a} and ${b} go together` });
  };
  pair('etcd-cert', 'etcd-key');
  pair('etcd-user', 'etcd-password');
  const tls = c['etcd-ca'] !== undefined || c['etcd-cert'] !== undefined;
  const plain = c.etcd.filter((u) => !u.startsWith('https://'));
  if (tls && plain.length > 0)
    ctx.addIssue({
      code: 'custom',
      path: ['etcd'],
      message: `etcd TLS options are set, so every etcd endpoint must be https:// (not ${plain.join(', ')})`,
    });
}

/** Files are paths (resolved against the working directory); the node reads them when it joins. */
export interface EtcdAccessConfig {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  user?: string;
  password?: string;
}

export interface CompatProfileConfig {
  enabled: boolean;
  port?: number;
  /** Deploy/delete routes without the management token (the original systems have no auth). */
  'open-management'?: boolean;
  /** tinyFaaS only: "tinyfaas" splits management (on `management-port`) from the functions (on `port`). */
  layout?: (typeof TINYFAAS_LAYOUTS)[number];
  'management-port'?: number;
}

export interface NodeConfig {
  node: string;
  host: string;
  port: number;
  coapPort: number;
  grpcPort: number;
  coap: boolean;
  grpc: boolean;
  dataDir: string;
  registryDir?: string;
  token?: string;
  logLevel: RawConfig['log-level'];
  logFormat: RawConfig['log-format'];
  memoryBudgetMiB: number;
  drainTimeoutMs: number;
  http: { loops: number; maxConnections?: number; perClient: number; reserveFds: number };
  queue: { capacity: number; waitMs: number };
  calls: { retentionMs: number; max: number };
  limits: { bodyBytes: number; archiveBytes: number; unpackedBytes: number; files: number };
  logs: { maxLines: number };
  chainDepth: number;
  cluster: {
    etcd: string[];
    role: 'edge' | 'cloud';
    area: string;
    secret?: string;
    advertise?: string;
    offload: RawConfig['cluster']['offload'];
    maxHops: number;
    leaseTtlSec: number;
    etcdAccess: EtcdAccessConfig;
  };
  redis?: string;
  state: { maxValueBytes: number; maxKeys: number; maxTotalBytes: number; lockWaitMs: number; lockTtlMs: number };
  compat: Record<'openfaas' | 'faasm' | 'serverledge' | 'tinyfaas' | 'unifaas', CompatProfileConfig>;
  microvm: { accel: 'auto' | 'kvm' | 'tcg'; tap: boolean };
  mqtt?: MqttConfig;
  workflows: WorkflowLimits;
}

/** Flags and env both map onto these file keys. */
export interface ConfigOverrides {
  config?: string;
  port?: string | number;
  coapPort?: string | number;
  grpcPort?: string | number;
  data?: string;
  registry?: string;
  etcd?: string;
  token?: string;
  host?: string;
  node?: string;
  logLevel?: string;
  logFormat?: string;
  memoryBudget?: string | number;
  role?: string;
  area?: string;
  secret?: string;
  redis?: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPassword?: string;
  /** [http] loops */
  loops?: string | number;
  /** [mqtt] url, username, password */
  mqtt?: string;
  mqttUsername?: string;
  mqttPassword?: string;
}

export class ConfigError extends Error {}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`config ${path}: ${(e as Error).message}`);
  }
  try {
    const parsed: unknown = /\.ya?ml$/i.test(path) ? parseYaml(text) : parseToml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('top level must be a table');
    return parsed as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`config ${path}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function envOverrides(env: NodeJS.ProcessEnv): ConfigOverrides {
  const o: ConfigOverrides = {};
  const map: [keyof ConfigOverrides, string][] = [
    ['config', 'TERN_CONFIG'],
    ['port', 'TERN_PORT'],
    ['coapPort', 'TERN_COAP_PORT'],
    ['grpcPort', 'TERN_GRPC_PORT'],
    ['data', 'TERN_DATA'],
    ['registry', 'TERN_REGISTRY'],
    ['etcd', 'TERN_ETCD'],
    ['token', 'TERN_TOKEN'],
    ['host', 'TERN_HOST'],
    ['node', 'TERN_NODE'],
    ['logLevel', 'TERN_LOG_LEVEL'],
    ['logFormat', 'TERN_LOG_FORMAT'],
    ['memoryBudget', 'TERN_MEMORY_BUDGET'],
    ['role', 'TERN_ROLE'],
    ['area', 'TERN_AREA'],
    ['secret', 'TERN_CLUSTER_SECRET'],
    ['redis', 'TERN_REDIS'],
    ['loops', 'TERN_HTTP_LOOPS'],
    ['etcdCa', 'TERN_ETCD_CA'],
    ['etcdCert', 'TERN_ETCD_CERT'],
    ['etcdKey', 'TERN_ETCD_KEY'],
    ['etcdUser', 'TERN_ETCD_USER'],
    ['etcdPassword', 'TERN_ETCD_PASSWORD'],
    ['mqtt', 'TERN_MQTT'],
    ['mqttUsername', 'TERN_MQTT_USERNAME'],
    ['mqttPassword', 'TERN_MQTT_PASSWORD'],
  ];
  for (const [key, name] of map) {
    const v = env[name];
    if (v !== undefined && v !== '') (o as Record<string, string>)[key] = v;
  }
  return o;
}

function applyOverrides(file: Record<string, unknown>, o: ConfigOverrides): Record<string, unknown> {
  const out: Record<string, unknown> = { ...file };
  const cluster: Record<string, unknown> = { ...((file.cluster as Record<string, unknown> | undefined) ?? {}) };
  const set = (k: string, v: unknown) => {
    if (v !== undefined) out[k] = v;
  };
  set('port', o.port);
  set('coap-port', o.coapPort);
  set('grpc-port', o.grpcPort);
  set('data', o.data);
  set('registry', o.registry);
  set('token', o.token);
  set('host', o.host);
  set('node', o.node);
  set('log-level', o.logLevel);
  set('log-format', o.logFormat);
  set('memory-budget', o.memoryBudget);
  if (o.loops !== undefined)
    out.http = { ...((file.http as Record<string, unknown> | undefined) ?? {}), loops: o.loops };
  set('redis', o.redis);
  if (o.etcd !== undefined)
    cluster.etcd = o.etcd
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (o.role !== undefined) cluster.role = o.role;
  if (o.area !== undefined) cluster.area = o.area;
  if (o.secret !== undefined) cluster.secret = o.secret;
  if (o.etcdCa !== undefined) cluster['etcd-ca'] = o.etcdCa;
  if (o.etcdCert !== undefined) cluster['etcd-cert'] = o.etcdCert;
  if (o.etcdKey !== undefined) cluster['etcd-key'] = o.etcdKey;
  if (o.etcdUser !== undefined) cluster['etcd-user'] = o.etcdUser;
  if (o.etcdPassword !== undefined) cluster['etcd-password'] = o.etcdPassword;
  if (Object.keys(cluster).length) out.cluster = cluster;
  // [mqtt]: url, username, password from env/flags (a password only from env or file: flags show in `ps`).
  const mqtt: Record<string, unknown> = { ...((file.mqtt as Record<string, unknown> | undefined) ?? {}) };
  if (o.mqtt !== undefined) mqtt.url = o.mqtt;
  if (o.mqttUsername !== undefined) mqtt.username = o.mqttUsername;
  if (o.mqttPassword !== undefined) mqtt.password = o.mqttPassword;
  if (Object.keys(mqtt).length) out.mqtt = mqtt;
  return out;
}

/** Resolve the node config: file (from flags, else env), env, flags. Throws ConfigError naming the key. */
/** Zod's issues as one message, each naming its key. */
function describeConfigIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .map(
      (i) =>
        `${i.path.join('.') || '(top level)'}: ${i.code === 'unrecognized_keys' ? `unknown key ${i.keys.join(', ')}` : i.message}`,
    )
    .join('; ');
}

export function loadConfig(
  flags: ConfigOverrides,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): NodeConfig {
  const fromEnv = envOverrides(env);
  const configPath = flags.config ?? fromEnv.config;
  const file = configPath ? readConfigFile(resolve(cwd, configPath)) : {};
  const merged = applyOverrides(applyOverrides(file, fromEnv), flags);
  const c = parseConfig(merged);
  const nodePort = merged.port === undefined ? defaultNodePort(c) : c.port;
  checkTinyfaasLayout(c, nodePort);
  const defaultBudget = Math.floor(Math.min(totalmem() / 2, Math.max(freemem(), totalmem() / 4)) / 1048576);
  const cfg: NodeConfig = {
    node: c.node ?? `${hostname().split('.')[0]}-${nodePort}`,
    host: c.host,
    port: nodePort,
    coapPort: c['coap-port'],
    grpcPort: c['grpc-port'],
    coap: c.coap,
    grpc: c.grpc && c['grpc-port'] >= 0,
    dataDir: resolve(cwd, c.data ?? '.tern'),
    logLevel: c['log-level'],
    logFormat: c['log-format'],
    memoryBudgetMiB: c['memory-budget'] ?? defaultBudget,
    drainTimeoutMs: c['drain-timeout'],
    http: {
      loops: c.http.loops ?? Math.min(availableParallelism(), 64),
      perClient: c.http['max-connections-per-client'],
      reserveFds: c.http['reserve-fds'],
      ...(c.http['max-connections'] !== undefined ? { maxConnections: c.http['max-connections'] } : {}),
    },
    queue: { capacity: c.queue.capacity, waitMs: c.queue.wait },
    calls: { retentionMs: c.calls.retention, max: c.calls.max },
    limits: {
      bodyBytes: c.limits.body,
      archiveBytes: c.limits.archive,
      unpackedBytes: c.limits.unpacked,
      files: c.limits.files,
    },
    logs: { maxLines: c.logs['max-lines'] },
    chainDepth: c['chain-depth'],
    cluster: clusterConfigOf(c.cluster, cwd),
    state: {
      maxValueBytes: c.state['max-value'],
      maxKeys: c.state['max-keys'],
      maxTotalBytes: c.state['max-bytes'],
      lockWaitMs: c.state['lock-wait'],
      lockTtlMs: c.state['lock-ttl'],
    },
    compat: {
      ...c.compat,
      tinyfaas: { ...c.compat.tinyfaas, enabled: c.compat.tinyfaas.enabled || c.compat.tinyfaas.layout === 'tinyfaas' },
    },
    microvm: c.microvm,
    workflows: workflowLimits(c.workflows),
  };
  if (c.registry !== undefined) cfg.registryDir = resolve(cwd, c.registry);
  if (c.token !== undefined) cfg.token = c.token;
  if (c.redis !== undefined) cfg.redis = c.redis;
  if (c.mqtt !== undefined) {
    try {
      cfg.mqtt = mqttConfigOf(c.mqtt, cwd);
    } catch (e) {
      throw new ConfigError(`config: ${(e as Error).message}`);
    }
  }
  return cfg;
}

/** Validate the merged layers; the error names every bad key. */
function parseConfig(merged: Record<string, unknown>): RawConfig {
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  throw new ConfigError(`config: ${describeConfigIssues(parsed.error.issues)}`);
}

function clusterConfigOf(c: RawConfig['cluster'], cwd: string): NodeConfig['cluster'] {
  return {
    etcd: c.etcd,
    role: c.role,
    area: c.area,
    offload: c.offload,
    maxHops: c['max-hops'],
    leaseTtlSec: c['lease-ttl'],
    etcdAccess: etcdAccessOf(c, cwd),
    ...(c.secret !== undefined ? { secret: c.secret } : {}),
    ...(c.advertise !== undefined ? { advertise: c.advertise } : {}),
  };
}

/** tinyFaaS's layout holds 8080 for its management API: the node's own API moves unless `port` is set. */
function defaultNodePort(c: RawConfig): number {
  return c.compat.tinyfaas.layout === 'tinyfaas' ? TINYFAAS_LAYOUT_NATIVE_PORT : c.port;
}

/** The tinyFaaS layout's two listeners must not take the node's port or each other's. */
function checkTinyfaasLayout(c: RawConfig, nodePort: number): void {
  const tf = c.compat.tinyfaas;
  if (tf.layout !== 'tinyfaas') return;
  const management = tf['management-port'] ?? TINYFAAS_MANAGEMENT_PORT;
  const functions = tf.port ?? TINYFAAS_HTTP_PORT;
  const clash = (a: number, b: number) => a !== 0 && a === b;
  if (clash(management, nodePort) || clash(management, functions))
    throw new ConfigError(
      `config: compat.tinyfaas.management-port: ${management} is also the ${clash(management, nodePort) ? "node's port (set port to another)" : 'functions port (compat.tinyfaas.port)'}`,
    );
  if (clash(functions, nodePort))
    throw new ConfigError(`config: compat.tinyfaas.port: ${functions} is also the node's port (set port to another)`);
}

function etcdAccessOf(c: RawConfig['cluster'], cwd: string): EtcdAccessConfig {
  const file = (v: string | undefined) => (v === undefined ? undefined : resolve(cwd, v));
  const access: EtcdAccessConfig = {
    caFile: file(c['etcd-ca']),
    certFile: file(c['etcd-cert']),
    keyFile: file(c['etcd-key']),
    user: c['etcd-user'],
    password: c['etcd-password'],
  };
  return Object.fromEntries(Object.entries(access).filter(([, v]) => v !== undefined)) as EtcdAccessConfig;
}

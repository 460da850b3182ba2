/**
 * function.toml: the one schema for a function's spec, and the parsed, normalised form
 * every other layer uses. UniFaaS files (no name/runtime, [vm] or [container]) parse as they stand.
 */
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { DAY_MS, durationField, HOUR_MS, type DurationRange } from '../core/duration.js';
import { TernError } from '../core/errors.js';
import { mqttTriggersSchema, type MqttTriggerSpec } from './mqtt-spec.js';
import { scheduleTriggersSchema, type ScheduleSpec } from './schedule-spec.js';
import { formatNetworkRule, parseNetworkAllow } from './network-allow.js';

export const RUNTIMES = ['wasm', 'python', 'node', 'binary', 'microvm', 'container'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];
export const OFFLOAD_POLICIES = ['none', 'edge', 'cloud', 'edge-cloud'] as const;
export type OffloadPolicy = (typeof OFFLOAD_POLICIES)[number];

export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

// Duration bounds (docs/functions.md): a call needs at least 1 ms and gets at most a day; an idle
// instance may be kept up to a week (UniFaaS registries use keepalive = 100000 s, about 28 h).
export const TIMEOUT_RANGE: DurationRange = { minMs: 1, maxMs: 24 * HOUR_MS };
export const KEEPALIVE_RANGE: DurationRange = { minMs: 0, maxMs: 7 * DAY_MS };

const stringList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

const vmTable = z
  .object({
    kernel: z.string().min(1),
    image: z.string().min(1),
    cpus: z.number().int().min(1).max(64).default(1),
    memory: z.number().int().min(16).max(65536).optional(),
    cmdline: z.string().default(''),
    'copy-rootfs': z.boolean().default(false),
    // UniFaaS writes copy-rootfs inside the hypervisor table (`{ type = "firecracker", copy-rootfs = true }`).
    // UniFaaS names QEMU's microvm machine "microvm"; Tern runs every QEMU guest on that machine.
    hypervisor: z
      .object({
        type: z.enum(['qemu', 'microvm', 'firecracker']).default('qemu'),
        'copy-rootfs': z.boolean().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** UniFaaS's [container]: image, memory (MiB) and an optional OCI runtime ("crun", "runc", "runsc"); Tern adds port. */
const port = z.number().int().min(1).max(65535);
const containerTable = z
  .object({
    image: z.string().min(1).optional(),
    memory: z.number().int().min(1).max(65536).optional(),
    runtime: z.string().min(1).max(64).optional(),
    port: port.optional(),
  })
  .loose();

export const functionTomlSchema = z
  .object({
    name: z
      .string()
      .regex(NAME_PATTERN, 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit')
      .optional(),
    runtime: z.enum(RUNTIMES).optional(),
    handler: z.string().min(1).optional(),
    memory: z.number().int().min(1).max(65536).default(128),
    timeout: durationField(TIMEOUT_RANGE).default(10_000),
    'concurrent-requests': z.number().int().min(1).max(10_000).default(1),
    'single-use': z.boolean().optional(),
    keepalive: durationField(KEEPALIVE_RANGE).default(60_000),
    'min-instances': z.number().int().min(0).max(1000).default(0),
    'max-instances': z.number().int().min(1).max(10_000).default(8),
    env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    // true, false, or the only destinations allowed (registry/network-allow.ts).
    network: z.union([z.boolean(), z.array(z.string())]).default(false),
    /** Grant the wasm guest a read-only preopen of its own folder at "/". */
    files: z.boolean().default(false),
    /** Invocations need the management token. */
    private: z.boolean().default(false),
    offload: z.enum(OFFLOAD_POLICIES).optional(),
    /** Safe to run twice: a failed forward may be retried on another node. */
    idempotent: z.boolean().default(false),
    description: z.string().max(1000).optional(),
    // [[triggers.mqtt]] and [[triggers.schedule]]: their schemas live with their triggers (src/triggers/*/spec.ts).
    triggers: z
      .object({
        coap: stringList.optional(),
        mqtt: mqttTriggersSchema.optional(),
        schedule: scheduleTriggersSchema.optional(),
      })
      .strict()
      .default({}),
    vm: vmTable.optional(),
    // runtime = "container" (issue 23): an image in the function folder or imported by name, served on `port`.
    image: z.string().min(1).max(1024).optional(),
    port: port.optional(),
    container: containerTable.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s['min-instances'] > s['max-instances']) {
      ctx.addIssue({
        code: 'custom',
        path: ['min-instances'],
        message: `is ${s['min-instances']}, more than max-instances (${s['max-instances']})`,
      });
    }
  });

export interface VmSpec {
  kernel: string;
  image: string;
  cpus: number;
  memory?: number;
  cmdline: string;
  copyRootfs: boolean;
  hypervisor: 'qemu' | 'firecracker';
}

/** The normalised spec: every layer reads this, never the raw TOML. Times in ms, memory in MiB. */
export interface FunctionSpec {
  name: string;
  runtime: RuntimeName;
  handler: string;
  memory: number;
  timeoutMs: number;
  concurrentRequests: number;
  singleUse: boolean;
  keepaliveMs: number;
  minInstances: number;
  maxInstances: number;
  env: Record<string, string>;
  network: boolean;
  /** With network: the only destinations allowed, canonical (absent: any but the host's own). */
  networkAllow?: string[];
  files: boolean;
  private: boolean;
  /** Undefined: the node's default applies. */
  offload?: OffloadPolicy;
  idempotent: boolean;
  description?: string;
  triggers: { coap: string[]; mqtt: MqttTriggerSpec[]; schedule: ScheduleSpec[] };
  vm?: VmSpec;
  /** runtime = "container": `image` is a path in the function folder or an imported "name:tag". */
  container?: { image: string; runtime?: string; port?: number };
}

const DEFAULT_HANDLER: Record<RuntimeName, string> = {
  wasm: 'main.wasm',
  python: 'main:handle',
  node: 'index.js',
  binary: 'main',
  microvm: '',
  container: '',
};

/** Zod issues as one message per key: `memory: expected number, received string`. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const key = i.path.length ? i.path.join('.') : '(top level)';
      if (i.code === 'unrecognized_keys')
        return `${i.keys.map((k) => (i.path.length ? `${key}.${k}` : k)).join(', ')}: unknown key`;
      return `${key}: ${i.message}`;
    })
    .join('; ');
}

function withoutKeys(table: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(table).filter(([key]) => !keys.includes(key)));
}

function normaliseNetworkAllow(entries: string[]): string[] {
  try {
    return parseNetworkAllow(entries).map(formatNetworkRule);
  } catch (e) {
    throw new TernError('bad_spec', `function.toml: ${(e as Error).message}`);
  }
}

/**
 * Parse function.toml text. `folderName` names the function when the file has no `name`
 * (UniFaaS registries name functions by folder). Throws TernError('bad_spec') naming key and reason.
 */
export function parseFunctionToml(text: string, folderName?: string): FunctionSpec {
  return parseFunctionTomlWithIgnored(text, folderName).spec;
}

/** As parseFunctionToml, and the keys it ignored (unknown keys of a UniFaaS file, see unifaasIgnoredKeys). */
export function parseFunctionTomlWithIgnored(
  text: string,
  folderName?: string,
): { spec: FunctionSpec; ignoredKeys: string[] } {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    throw new TernError('bad_spec', `function.toml: ${(e as Error).message.split('\n')[0]}`);
  }
  return { spec: normaliseSpec(raw, folderName), ignoredKeys: unifaasIgnoredKeys(raw) };
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A file in UniFaaS's format: no `name` (its registry names functions by folder), and a [vm] or
 * [container] table or the two keys UniFaaS requires (`keepalive`, `concurrent-requests`).
 */
function isUnifaasFormat(raw: Record<string, unknown>): boolean {
  if ('name' in raw) return false;
  return isTable(raw.vm) || isTable(raw.container) || ('keepalive' in raw && 'concurrent-requests' in raw);
}

/**
 * The top-level keys Tern does not know in a file of UniFaaS's format, which UniFaaS ignores, and
 * so Tern does too (the registry folder warns about each). Any other file with an unknown key is
 * refused: there an unknown key is most likely a typo.
 */
export function unifaasIgnoredKeys(raw: unknown): string[] {
  if (!isTable(raw) || !isUnifaasFormat(raw)) return [];
  return Object.keys(raw).filter((key) => !Object.hasOwn(functionTomlSchema.shape, key));
}

/** Validate an already-parsed object (TOML, JSON from a compat API) as a function spec. */
export function normaliseSpec(raw: unknown, folderName?: string): FunctionSpec {
  const ignored = unifaasIgnoredKeys(raw);
  const known = ignored.length > 0 && isTable(raw) ? withoutKeys(raw, ignored) : raw;
  const parsed = functionTomlSchema.safeParse(known);
  if (!parsed.success) throw new TernError('bad_spec', `function.toml: ${describeIssues(parsed.error)}`);
  const s = parsed.data;
  const name = s.name ?? folderName;
  if (name === undefined || !NAME_PATTERN.test(name)) {
    throw new TernError(
      'bad_spec',
      `function.toml: name: ${name === undefined ? 'missing' : `"${name}" must be 1-63 characters of a-z, 0-9 and "-"`}`,
    );
  }
  const runtime: RuntimeName | undefined = s.runtime ?? (s.vm ? 'microvm' : s.container ? 'container' : undefined);
  const image = s.image ?? s.container?.image;
  if (runtime === undefined)
    throw new TernError('bad_spec', `function.toml: runtime: missing (one of ${RUNTIMES.join(', ')})`);
  if (runtime === 'microvm' && !s.vm)
    throw new TernError('bad_spec', 'function.toml: vm: a [vm] table is required for runtime "microvm"');
  if (runtime === 'container' && image === undefined)
    throw new TernError('bad_spec', 'function.toml: image: required for runtime "container" (or [container] image)');
  if (runtime !== 'container' && (s.image !== undefined || s.port !== undefined))
    throw new TernError(
      'bad_spec',
      `function.toml: ${s.image !== undefined ? 'image' : 'port'}: only for runtime "container"`,
    );
  const spec: FunctionSpec = {
    name,
    runtime,
    handler: s.handler ?? DEFAULT_HANDLER[runtime],
    memory: s.vm?.memory ?? s.container?.memory ?? s.memory,
    timeoutMs: s.timeout,
    concurrentRequests: s['concurrent-requests'],
    // Wasm instances cost microseconds: a fresh one per call is the safe default there.
    singleUse: s['single-use'] ?? runtime === 'wasm',
    keepaliveMs: s.keepalive,
    minInstances: s['min-instances'],
    maxInstances: s['max-instances'],
    env: s.env,
    network: s.network !== false,
    files: s.files,
    private: s.private,
    idempotent: s.idempotent,
    triggers: { coap: s.triggers.coap ?? [], mqtt: s.triggers.mqtt ?? [], schedule: s.triggers.schedule ?? [] },
  };
  if (Array.isArray(s.network)) spec.networkAllow = normaliseNetworkAllow(s.network);
  if (s.offload !== undefined) spec.offload = s.offload;
  if (s.description !== undefined) spec.description = s.description;
  if (s.vm) {
    spec.vm = {
      kernel: s.vm.kernel,
      image: s.vm.image,
      cpus: s.vm.cpus,
      cmdline: s.vm.cmdline,
      copyRootfs: s.vm['copy-rootfs'] || s.vm.hypervisor?.['copy-rootfs'] === true,
      hypervisor: s.vm.hypervisor?.type === 'firecracker' ? 'firecracker' : 'qemu',
      ...(s.vm.memory !== undefined ? { memory: s.vm.memory } : {}),
    };
  }
  if (image !== undefined && (runtime === 'container' || s.container)) {
    const containerPort = s.port ?? s.container?.port;
    spec.container = {
      image,
      ...(s.container?.runtime !== undefined ? { runtime: s.container.runtime } : {}),
      ...(containerPort !== undefined ? { port: containerPort } : {}),
    };
  }
  return spec;
}

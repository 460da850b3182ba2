/**
 * Builds small container images in a test, without a registry: tar layers written entry by entry
 * (so hostile names and whiteouts can be made), an OCI image layout around them, and the
 * oci-archive / docker-archive files skopeo and `docker save` would write.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export type TarEntry =
  | { path: string; type?: 'file'; content: string | Buffer; mode?: number }
  | { path: string; type: 'dir'; mode?: number }
  | { path: string; type: 'symlink' | 'hardlink'; target: string }
  | { path: string; type: 'chardev' | 'fifo' };

const TYPE_FLAG = { file: '0', hardlink: '1', symlink: '2', chardev: '3', dir: '5', fifo: '6' } as const;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, type: keyof typeof TYPE_FLAG, size: number, mode: number, link = ''): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(1_700_000_000, 12), 136);
  h.write('        ', 148);
  h.write(TYPE_FLAG[type], 156);
  h.write(link, 157, 100, 'utf8');
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

/** A tar with exactly these entries, names used verbatim. */
export function tarOf(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.type === undefined || e.type === 'file') {
      const data = Buffer.from(e.content);
      parts.push(header(e.path, 'file', data.length, e.mode ?? 0o644), data);
      parts.push(Buffer.alloc((512 - (data.length % 512)) % 512));
    } else if (e.type === 'dir') {
      parts.push(header(e.path, 'dir', 0, e.mode ?? 0o755));
    } else if (e.type === 'symlink' || e.type === 'hardlink') {
      parts.push(header(e.path, e.type, 0, 0o777, e.target));
    } else {
      parts.push(header(e.path, e.type, 0, 0o644));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface ImageOptions {
  /** Uncompressed layer tars, bottom first. */
  layers: Buffer[];
  /** gzip the layer blobs (default true). */
  gzip?: boolean;
  config?: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; WorkingDir?: string; User?: string };
  architecture?: string;
  /** org.opencontainers.image.ref.name annotation in index.json. */
  refName?: string;
}

export interface BuiltImage {
  configDigest: string;
  manifestDigest: string;
  /** Layer blob digests, bottom first. */
  layerDigests: string[];
}

const HOST_ARCH = process.arch === 'x64' ? 'amd64' : process.arch;

export function configBlob(o: ImageOptions): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: o.architecture ?? HOST_ARCH,
      os: 'linux',
      config: o.config ?? {},
      rootfs: { type: 'layers', diff_ids: o.layers.map((l) => sha256(l)) },
    }),
  );
}

/** Write an OCI image layout into `dir` (created). */
export async function writeOciLayout(dir: string, o: ImageOptions): Promise<BuiltImage> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer) => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const gzip = o.gzip ?? true;
  const layers = [];
  for (const tar of o.layers) {
    const blob = gzip ? gzipSync(tar) : tar;
    const mediaType = `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`;
    layers.push({ mediaType, ...(await put(blob)) });
  }
  const config = { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await put(configBlob(o))) };
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers }),
  );
  const m = await put(manifest);
  const annotations = o.refName ? { 'org.opencontainers.image.ref.name': o.refName } : undefined;
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, ...(annotations ? { annotations } : {}) },
      ],
    }),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { configDigest: config.digest, manifestDigest: m.digest, layerDigests: layers.map((l) => l.digest) };
}

/** A docker-archive (`docker save`'s classic format: manifest.json, <config>.json, <id>/layer.tar). */
export function dockerArchive(o: ImageOptions & { repoTags?: string[] }): Buffer {
  const config = configBlob(o);
  const configName = `${sha256(config).slice(7)}.json`;
  const entries: TarEntry[] = [{ path: configName, content: config }];
  const layerPaths = o.layers.map((tar, i) => {
    const id = sha256(`${i}:${sha256(tar)}`).slice(7);
    entries.push({ path: `${id}/`, type: 'dir' }, { path: `${id}/layer.tar`, content: tar });
    return `${id}/layer.tar`;
  });
  entries.push({
    path: 'manifest.json',
    content: JSON.stringify([{ Config: configName, RepoTags: o.repoTags ?? null, Layers: layerPaths }]),
  });
  return tarOf(entries);
}

/** An oci-archive: the layout folder's files in one tar. */
export async function ociArchive(o: ImageOptions): Promise<Buffer> {
  const { mkdtemp, readdir, readFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'tern-oci-'));
  try {
    await writeOciLayout(dir, o);
    const entries: TarEntry[] = [
      { path: 'oci-layout', content: await readFile(join(dir, 'oci-layout')) },
      { path: 'index.json', content: await readFile(join(dir, 'index.json')) },
      { path: 'blobs/', type: 'dir' },
      { path: 'blobs/sha256/', type: 'dir' },
    ];
    for (const name of await readdir(join(dir, 'blobs', 'sha256')))
      entries.push({ path: `blobs/sha256/${name}`, content: await readFile(join(dir, 'blobs', 'sha256', name)) });
    return tarOf(entries);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Debian's static busybox (busybox-static), the one program these images need. */
export const BUSYBOX = '/bin/busybox';

/** CGI headers end in CRLF: busybox httpd passes them on as the script wrote them. */
const HEAD = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n";

export const CGI = {
  /** Counts the calls this instance served (a file in its /tmp). */
  count: HEAD + 'echo x >> /tmp/count\nwc -l < /tmp/count\n',
  /** Who and where it runs: uid, hostname, network interfaces, the root folder's entries. */
  whoami:
    HEAD +
    'echo "uid=$(id -u) gid=$(id -g) greeting=$GREETING"\n' +
    'echo "ifaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\\n" ,)"\n' +
    'echo "root=$(ls / | tr "\\n" ,)"\n',
  /** Tries to read the file named by the query string. */
  read: HEAD + 'cat "$QUERY_STRING" 2>&1 || echo "read failed"\n',
  /** Tries a TCP connection to 127.0.0.1:<query string>. */
  connect:
    HEAD +
    '' +
    'if echo hi | nc -w 2 127.0.0.1 "$QUERY_STRING" >/dev/null 2>&1; then echo connected; else echo refused; fi\n',
  /** Tries to write into the image's own files. */
  write: HEAD + '(echo x > /bin/evil) 2>&1 && echo wrote || echo "write failed"\n',
  /** Holds <query string> MiB in a shell variable. */
  hog: HEAD + 'x=$(head -c "${QUERY_STRING}m" /dev/zero | tr "\\0" x)\necho "held ${#x}"\n',
};

/** The layer of a busybox httpd function: /bin/busybox, /bin/sh, a web root with CGI scripts. */
export function busyboxLayer(extra: TarEntry[] = []): Buffer {
  const entries: TarEntry[] = [
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 },
    { path: 'bin/sh', type: 'symlink', target: 'busybox' },
    { path: 'etc/', type: 'dir' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/www:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\nweb:x:1000:\n' },
    { path: 'www/', type: 'dir' },
    { path: 'www/index.html', content: 'hello from a container\n' },
    { path: 'www/cgi-bin/', type: 'dir' },
    ...Object.entries(CGI).map(([name, content]) => ({ path: `www/cgi-bin/${name}`, content, mode: 0o755 })),
    ...extra,
  ];
  return tarOf(entries);
}

/** busybox httpd in the foreground on `port`, PATH set so CGI scripts find busybox's applets through sh. */
export function httpdConfig(port = 8080): NonNullable<ImageOptions['config']> {
  return {
    Entrypoint: ['/bin/busybox', 'httpd', '-f', '-p', String(port)],
    Cmd: ['-h', '/www'],
    Env: ['PATH=/bin', 'GREETING=from-image'],
    WorkingDir: '/www',
  };
}

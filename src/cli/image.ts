/** `tern image import FILE [NAME]`, `tern image ls`, `tern image rm NAME`: container images kept on a node. */
import { readFile } from 'node:fs/promises';
import { Client, errorFrom, type ClientOptions } from './client.js';

interface ImageDescription {
  name: string;
  digest: string;
  importedAt: string;
}

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

/** Image names keep their "/" in the path: the node takes the rest of the path as the name. */
function imagePath(name: string): string {
  return `/v1/images/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export async function importImage(file: string, name: string | undefined, opts: ClientOptions): Promise<void> {
  const body = await readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new Error(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  const client = new Client(opts);
  // Without a name (POST), the node names the image as the archive does (index annotation, docker RepoTags).
  const image = await client.json<ImageDescription>(name ? 'PUT' : 'POST', name ? imagePath(name) : '/v1/images', {
    body,
    headers: { 'content-type': 'application/x-tar' },
  });
  out(`imported ${image.name} (${image.digest})`);
}

export async function listImages(opts: ClientOptions & { json?: boolean }): Promise<void> {
  const { images } = await new Client(opts).json<{ images: ImageDescription[] }>('GET', '/v1/images');
  if (opts.json) return out(JSON.stringify(images, null, 2));
  if (images.length === 0) return out('no images');
  for (const i of images) out(`${i.name}\t${i.digest.slice(0, 19)}\t${i.importedAt}`);
}

export async function removeImage(name: string, opts: ClientOptions): Promise<void> {
  const res = await new Client(opts).request('DELETE', imagePath(name));
  if (!res.ok) throw errorFrom(res.status, await res.text());
  out(`removed ${name}`);
}

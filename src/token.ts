/** The node's management token: from config, else kept in the data folder (made on first start). */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function resolveToken(
  configured: string | undefined,
  dataDir: string,
): Promise<{ token: string; path?: string; created: boolean }> {
  if (configured) return { token: configured, created: false };
  const path = join(dataDir, 'token');
  try {
    const stored = (await readFile(path, 'utf8')).trim();
    if (stored.length >= 16) return { token: stored, path, created: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const token = randomBytes(24).toString('base64url');
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${token}\n`, { mode: 0o600 });
  await rename(tmp, path);
  return { token, path, created: true };
}

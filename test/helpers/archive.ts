/** Test archives: tar.gz of a folder or of in-memory files. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packFolder } from '../../src/registry/archive.js';

export { packFolder };

/** Pack in-memory files ({"function.toml": "...", "main.py": "..."}) as a .tar.gz. */
export async function packFiles(
  files: Record<string, string | Buffer>,
  mode?: Record<string, number>,
): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-pack-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content, { mode: mode?.[name] ?? 0o644 });
    }
    return await packFolder(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The user an image runs as: its config's `User` ("", "uid", "uid:gid", "name", "name:group"),
 * names looked up in the image's own /etc/passwd and /etc/group (read without following links out
 * of the root folder). Ids must lie inside the mapped range: the host never sees them as root.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badImage } from './digest.js';
import { HOST_ID_COUNT } from './oci-spec.js';
import { resolveDirInRoot } from './scoped-path.js';

const MAX_ID_FILE = 1024 * 1024;

async function idFile(rootfs: string, name: 'passwd' | 'group'): Promise<string[][]> {
  const etc = await resolveDirInRoot(rootfs, ['etc'], false, 'user').catch(() => undefined);
  if (etc === undefined) return [];
  const path = join(etc, name);
  const info = await lstat(path).catch(() => undefined);
  if (!info?.isFile() || info.size > MAX_ID_FILE) return [];
  return (await readFile(path, 'utf8')).split('\n').map((line) => line.split(':'));
}

function checkId(id: number, what: string): number {
  if (!Number.isInteger(id) || id < 0 || id >= HOST_ID_COUNT)
    throw badImage(`config User: ${what} ${id} is outside the ids a container may use (0-${HOST_ID_COUNT - 1})`);
  return id;
}

async function lookup(rootfs: string, file: 'passwd' | 'group', name: string): Promise<string[] | undefined> {
  return (await idFile(rootfs, file)).find((fields) => fields[0] === name);
}

export async function resolveUser(rootfs: string, user: string): Promise<{ uid: number; gid: number }> {
  if (user === '') return { uid: 0, gid: 0 };
  const [userPart = '', groupPart] = user.split(':', 2);
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = (await idFile(rootfs, 'passwd')).find((f) => f[2] === userPart);
    if (entry?.[3] !== undefined && /^\d+$/.test(entry[3])) gid = Number(entry[3]);
  } else {
    const entry = await lookup(rootfs, 'passwd', userPart);
    if (!entry || !/^\d+$/.test(entry[2] ?? '') || !/^\d+$/.test(entry[3] ?? ''))
      throw badImage(`config User: no user ${JSON.stringify(userPart)} in the image's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const entry = await lookup(rootfs, 'group', groupPart);
      if (!entry || !/^\d+$/.test(entry[2] ?? ''))
        throw badImage(`config User: no group ${JSON.stringify(groupPart)} in the image's /etc/group`);
      gid = Number(entry[2]);
    }
  }
  return { uid: checkId(uid, 'uid'), gid: checkId(gid ?? 0, 'gid') };
}

/** Hand-made hostile archives: tar entries with names `tar` would refuse to write. */
import { gzipSync } from 'node:zlib';

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A one-entry tar.gz whose entry name is used verbatim (e.g. "../x" or "/etc/x"). */
export async function tarWithEntry(
  name: string,
  content: string,
  type: '0' | '2' = '0',
  linkTarget = '',
): Promise<Buffer> {
  const data = Buffer.from(content);
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100);
  header.write(octal(0, 8), 108);
  header.write(octal(0, 8), 116);
  header.write(octal(type === '0' ? data.length : 0, 12), 124);
  header.write(octal(Math.floor(Date.now() / 1000), 12), 136);
  header.write('        ', 148);
  header.write(type, 156);
  header.write(linkTarget, 157, 100, 'utf8');
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(octal(sum, 7) + ' ', 148);
  const body = type === '0' ? Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]) : Buffer.alloc(0);
  return gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)]));
}

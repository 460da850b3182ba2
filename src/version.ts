import { readFileSync } from 'node:fs';

/** The package version, read once. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** The repository root (where package.json, shims/, ui/ and templates/ live). */
export const PROJECT_ROOT: string = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

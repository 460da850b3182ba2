/** Where things are, from the compiled file's place in dist/bench/lib/. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO, 'dist/src/cli/main.js');
export const EXAMPLES = join(REPO, 'examples');
/** Reference sources that are not TypeScript (the workerd config and Worker) stay in the source tree. */
export const REFERENCE_SRC = join(REPO, 'bench/reference');
export const DIST_BENCH = join(REPO, 'dist/bench');
export const RESULTS = join(REPO, 'bench/results');
export const WORKERD = join(REPO, 'node_modules/@cloudflare/workerd-linux-64/bin/workerd');

/** What every OpenFaaS route needs, built once per listener. */
import type { ArchiveLimits } from '../../registry/entry-rules.js';
import type { CompatDeps } from '../compat.js';
import type { ImageRoots } from './image.js';
import type { KeyedSerial } from '../../core/keyed-serial.js';
import type { MetaCache } from './metadata.js';

export interface OpenfaasContext {
  deps: CompatDeps;
  /** Serialises changes to one function (read current version, write the next). */
  lock: KeyedSerial;
  meta: MetaCache;
  images: ImageRoots;
  /** Bounds on a function folder staged for deployment (the registry checks again). */
  stagingLimits: ArchiveLimits;
}

/** What a node says about itself: its runtimes and, in a cluster, its members. */

export interface RuntimeInfo {
  name: string;
  available: boolean;
  detail?: string;
}

export interface NodeMember {
  name: string;
  role: string;
  area: string;
  url: string;
  load: { freeMemoryMiB: number; queued: number; warm: number };
  self?: boolean;
}

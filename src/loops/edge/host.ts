/**
 * Host requests (state, chained calls) of sandboxed instances on an edge loop go to the control
 * loop, where the state service and the scheduler live. The loop remembers which calls made one:
 * only those need the end-of-call bookkeeping there (chained children, state locks).
 */
import type { Invocation } from '../../core/invocation.js';
import type { HostOpsServer } from '../../runtimes/runtime.js';
import type { HostOpAnswer, HostOpRequest } from '../protocol.js';
import { invocationToWire } from '../wire.js';

export interface RemoteHostOps {
  /** RuntimeContext.hostOps */
  opsFor(instance: string): HostOpsServer;
  /** Whether call `callId` made a host request (forgotten once asked). */
  used(callId: string): boolean;
}

export function remoteHostOps(send: (request: HostOpRequest) => Promise<HostOpAnswer>): RemoteHostOps {
  const calls = new Set<string>();
  return {
    opsFor: (instance) => ({
      async serve(parent: Invocation, op: string | undefined, args: Record<string, unknown>, body: Buffer) {
        calls.add(parent.id);
        const answer = await send({ instance, parent: invocationToWire(parent), op, args, body: new Uint8Array(body) });
        return answer.body === undefined
          ? { header: answer.header }
          : {
              header: answer.header,
              body: Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength),
            };
      },
      forget: () => undefined,
    }),
    used: (callId) => calls.delete(callId),
  };
}

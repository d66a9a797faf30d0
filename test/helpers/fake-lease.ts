/**
 * A scripted Lease for the elector's unit tests: each call takes the next
 * scripted reply (or a function of the clock) and is recorded, so a table
 * case can list the calls it expects.
 */
import { formatToken } from '../../src/redis/keys.js';
import type { AcquireRequest, AcquireResult, Lease, ReleaseKind, UnknownWhy } from '../../src/election/lease.js';

export type Reply<T> = T | Error | 'hang' | (() => Promise<T>);

export class FakeLease implements Lease {
  calls: string[] = [];
  acquireRequests: AcquireRequest[] = [];
  private vacancyWaiters = new Set<() => void>();

  constructor(
    public acquireReplies: Reply<AcquireResult>[],
    public renewReplies: Reply<boolean>[] = [],
    public releaseReply: Reply<boolean> = true,
    public servingReply: Reply<boolean> = true,
  ) {}

  tryAcquire(req: AcquireRequest): Promise<AcquireResult> {
    this.calls.push('acquire');
    this.acquireRequests.push(req);
    return play(this.acquireReplies.length > 1 ? this.acquireReplies.shift()! : this.acquireReplies[0]!);
  }

  renew(token: string): Promise<boolean> {
    this.calls.push(`renew ${token}`);
    return play(this.renewReplies.length > 1 ? this.renewReplies.shift()! : (this.renewReplies[0] ?? true));
  }

  serving(token: string): Promise<boolean> {
    this.calls.push(`serving ${token}`);
    return play(this.servingReply);
  }

  release(token: string, kind: ReleaseKind): Promise<boolean> {
    this.calls.push(`release ${token} ${kind}`);
    return play(this.releaseReply);
  }

  waitForVacancy(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = () => resolve();
      this.vacancyWaiters.add(wake);
      signal.addEventListener('abort', () => {
        this.vacancyWaiters.delete(wake);
        reject(signal.reason);
      }, { once: true });
    });
  }

  /** Simulates a `released` event from another candidate. */
  announceVacancy(): void {
    const waiters = [...this.vacancyWaiters];
    this.vacancyWaiters.clear();
    for (const w of waiters) w();
  }
}

function play<T>(reply: Reply<T>): Promise<T> {
  if (reply === 'hang') return new Promise(() => {});
  if (reply instanceof Error) return Promise.reject(reply);
  if (typeof reply === 'function') return (reply as () => Promise<T>)();
  return Promise.resolve(reply);
}

export const won = (epoch: number, id = 'me', previousGcsAddress: string | null = null, previousEpoch: number | null = null): AcquireResult => ({
  acquired: true,
  token: formatToken(id, epoch),
  epoch,
  previousGcsAddress,
  previousId: null,
  previousEpoch,
  previousTtlMs: null,
});

export const taken = (
  holderEpoch: number,
  pttlMs: number,
  holderId = 'other',
  o: { gcsAddress?: string; ttlMs?: number | null } = {},
): Extract<AcquireResult, { holderId: string }> => ({
  acquired: false,
  holderId,
  holderEpoch,
  pttlMs,
  storedEpoch: holderEpoch,
  gcsAddress: o.gcsAddress ?? '10.0.0.1:6379',
  hashEpoch: holderEpoch,
  hashTtlMs: o.ttlMs ?? null,
});

/** Vacant, no epoch counter (a new namespace, or one Redis lost), seen through connection `session`. */
export const unknownState = (session: number | null = 1, why: UnknownWhy = 'missing'): AcquireResult => ({
  acquired: false,
  unknownState: true,
  why,
  session,
});

/**
 * The lease as the elector sees it: five methods, no Redis in sight
 * (client-go's resourcelock.Interface). src/election/redis-lease.ts is the
 * implementation; the elector's unit tests use a scripted fake.
 */
export interface AcquireRequest {
  /** Highest epoch this candidate has ever seen: the new epoch is above it even if Redis restarted empty. */
  minEpoch: number;
  /** Last GCS address this candidate saw published, used when Redis lost the leader hash. */
  knownGcsAddress: string | null;
  /**
   * Take a vacant lease even when the namespace has no epoch counter, but only
   * through this connection session (the one that showed it so for a ttl).
   * Null, or another session: such an attempt returns `unknownState`
   * (docs/design.md decision 28).
   */
  unknownSession: number | null;
  /**
   * The candidate has seen no term since it started (minEpoch 0): it cannot tell a
   * clean vacancy from one Redis made by losing its latest writes, so a vacancy is
   * held back on like a missing counter (decision 34). Absent: false.
   */
  unseen?: boolean;
}

export type AcquireResult =
  | {
      acquired: true;
      token: string;
      epoch: number;
      /** The GCS address of the term before this one, if any: the new head waits until it refuses connections. */
      previousGcsAddress: string | null;
      previousId: string | null;
      /** The epoch the replaced leader hash named: below the last holder this candidate saw when Redis lost writes. */
      previousEpoch: number | null;
      /** The ttl the replaced leader hash published, if any. */
      previousTtlMs: number | null;
      /** Stored values that failed their shape check and were ignored ('epoch', 'gcsAddress', ...), if any. */
      dropped?: string[];
    }
  | {
      /** Vacant, but the namespace has no epoch counter: a new one, or one Redis lost. Not taken (takeUnknown was false). */
      acquired: false;
      unknownState: true;
      /**
       * 'missing': no counter; 'behind': a counter below an epoch this candidate has seen (lost
       * writes); 'unseen': this candidate has seen no term since it started (it cannot tell).
       */
      why: UnknownWhy;
      /**
       * The connection this was seen through (a new one after every reconnect: possibly
       * another server), or null when it changed during the attempt. A hold counts only
       * while the same connection keeps seeing the namespace so.
       */
      session: number | null;
      dropped?: string[];
    }
  | {
      acquired: false;
      unknownState?: false;
      holderId: string;
      holderEpoch: number;
      /** PTTL of the lease in Redis (ms); negative when it has no expiry or just vanished. */
      pttlMs: number;
      /** The epoch counter as stored. */
      storedEpoch: number;
      gcsAddress: string | null;
      /** The epoch and the ttl the leader hash names (the holder's, unless Redis lost writes). */
      hashEpoch: number | null;
      hashTtlMs: number | null;
      /** Stored values that failed their shape check and were ignored, if any. */
      dropped?: string[];
    };

export type UnknownWhy = 'missing' | 'behind' | 'unseen';

export type ReleaseKind = 'released' | 'stepped-down';

export interface Lease {
  tryAcquire(req: AcquireRequest): Promise<AcquireResult>;
  /** True when the lease is still ours and its ttl was reset; false when it is lost. Throws on transport errors. */
  renew(token: string): Promise<boolean>;
  /**
   * Records, token-checked, that this term's head is coming up at the candidate's GCS
   * address: the next leader waits on it from now on (decision 35). True when recorded
   * (or there is no address to record), false when the lease is no longer ours.
   */
  serving(token: string): Promise<boolean>;
  /** Deletes the lease only if it is still ours; true when it was. */
  release(token: string, kind: ReleaseKind): Promise<boolean>;
  /** Resolves at the next `released` / `stepped-down` event; rejects when the signal aborts. */
  waitForVacancy(signal: AbortSignal): Promise<void>;
}

/**
 * Monotonic time for deadlines. `process.hrtime` is libuv's uv_hrtime, which is
 * CLOCK_MONOTONIC on Linux: the same clock the native keeper reads, so an
 * absolute deadline computed here means the same instant over there.
 * Never Date.now(): wall time jumps.
 */

export interface Clock {
  /** Milliseconds on CLOCK_MONOTONIC. */
  nowMs(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const monotonicClock: Clock = {
  nowMs: () => Number(process.hrtime.bigint()) / 1e6,
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(done, Math.max(0, ms));
      function done() {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }
      function onAbort() {
        clearTimeout(timer);
        reject(signal!.reason);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

/**
 * The one timed, cancellable wait of the package: the head of a rate
 * limiter's queue sleeping until its slot (in process and on Redis), a
 * `limitFetch` back-off, an HTTP pause. Waits longer than `setTimeout`'s
 * limit (2³¹−1 ms, about 24.8 days; `setTimeout` fires at once past it) are
 * slept in steps, so a rate of one per month is not admitted early.
 *
 * @module
 */

/** setTimeout's largest delay (ms); a longer one fires at once. */
export const MAX_TIMEOUT = 2_147_483_647;

/** A sleep in progress: its promise and how to end it early. */
export interface Sleep {
  /** Resolves after the time, or rejects: `signal.reason` on abort, the reason given to `cancel`. */
  readonly promise: Promise<void>;
  /** Ends the sleep now, rejecting with `reason`. No effect once it has ended. */
  cancel(reason: unknown): void;
}

/**
 * Sleeps `ms` milliseconds (any length; `Infinity`: until aborted or
 * cancelled). An aborted `signal` rejects with its reason — at once if it
 * is aborted already — after `onAbort` runs (for counters and events). The
 * timer and the listener are gone once it ends, however it ends.
 * @internal
 */
export function sleep(ms: number, signal?: AbortSignal | null, onAbort?: () => void): Sleep {
  let end: (error: unknown, failed: boolean) => void = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      onAbort?.();
      reject(signal.reason);
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Only a wait past the limit reads the clock (once per 24.8-day step).
    const long = ms > MAX_TIMEOUT;
    const due = long ? Date.now() + ms : 0;
    const step = (): void => {
      const left = long ? due - Date.now() : 0;
      if (left <= 0) end(undefined, false);
      else timer = setTimeout(step, Math.min(MAX_TIMEOUT, Math.ceil(left)));
    };
    const aborted = (): void => {
      onAbort?.();
      end(signal?.reason, true);
    };
    end = (error, failed) => {
      end = () => {};
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      if (failed) reject(error);
      else resolve();
    };
    if (ms !== Infinity) timer = setTimeout(step, Math.min(MAX_TIMEOUT, Math.max(0, Math.ceil(ms))));
    signal?.addEventListener("abort", aborted, { once: true });
  });
  return { promise, cancel: (reason) => end(reason, true) };
}

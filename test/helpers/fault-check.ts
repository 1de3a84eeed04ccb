/**
 * The offline checker of the fault harness: a pure function over what the
 * holders logged. No I/O, no clock; unit-tested with hand-made intervals
 * (test/redis/fault-check.test.ts).
 *
 * Times are ms of the system's monotonic clock (`process.hrtime`), which
 * every process on one machine shares. (Not `performance.timeOrigin +
 * performance.now()`: `timeOrigin` is the wall clock at process start, and
 * the wall clock drifts against the monotonic one — 21 ppm measured here —
 * so a test process that started minutes before its workers disagrees with
 * them by milliseconds.) `toleranceMs` absorbs what skew remains.
 */

/** One permit as its holder saw it. */
export interface Hold {
  /** Which process and task held it (for messages). */
  readonly who: string;
  readonly token: number;
  readonly weight: number;
  /** When the `acquire` call was made. */
  readonly acquireStart: number;
  /** When `acquire` resolved: the start of the believed-valid interval. */
  readonly granted: number;
  /**
   * The last validity check that passed before a write: the end of the
   * believed-valid interval. Undefined if no check passed: the holder never
   * wrote, so the hold counts as empty.
   */
  readonly end: number | undefined;
  /**
   * The holder's own safe deadline, if the harness could tell: the send
   * time of the last command that renewed this permit and was answered, plus
   * `leaseMs`. Believing past it (by more than `toleranceMs`) fails: the
   * lease may be gone, whether or not someone else was granted it yet.
   */
  readonly deadline?: number | undefined;
  /** The holder saw its lease lost (check failed) during the hold. */
  readonly lost?: boolean | undefined;
}

/** One task's last operation, as the parent saw it when it stopped waiting. */
export interface Pending {
  readonly who: string;
  /** When the operation (an acquire, a hold) started. */
  readonly since: number;
  readonly what: string;
}

/** Everything one scenario run produced. */
export interface RunLog {
  readonly capacity: number;
  readonly leaseMs: number;
  readonly holds: readonly Hold[];
  /** Operations still unsettled when the hang bound passed (each is a hang). */
  readonly pending: readonly Pending[];
  /** Unhandled rejections, uncaught exceptions, unexpected exits, reported by workers. */
  readonly crashes: readonly string[];
  /**
   * Whether a fresh instance's `tryAcquire(capacity)` succeeded once faults
   * had ended and one lease had passed (undefined: not checked).
   */
  readonly capacityBack?: boolean | undefined;
  /** ms from the kill until full capacity was acquired (SIGKILL scenarios). */
  readonly recoveryMs?: number | undefined;
}

export interface CheckOptions {
  /**
   * Clock slack between processes, ms: a belief starting less than this
   * after another ended does not overlap it, and causality needs B's acquire
   * to start more than this after A's grant. Default 0.
   */
  readonly toleranceMs?: number;
  /** Recovery bound as a multiple of the lease (default 1.2). */
  readonly recoveryFactor?: number;
  /**
   * Report over-admission but do not fail on it: for a failover to a
   * lagging replica, where grants made on the old master in the lag are
   * unknown to the new one (the docs say so; `WAIT` is the user's tool).
   */
  readonly allowOverAdmission?: boolean;
}

/** The figures of one run; `ok` is the acceptance of issue 11. */
export interface Verdict {
  /** Highest total weight believed valid at one instant. */
  maxBelieved: number;
  /** Maximal stretches of time in which more than `capacity` was believed valid. */
  violations: number;
  /** Longest such stretch, ms (0 if none). */
  longestOverMs: number;
  /** Who believed at the first instant the highest level was reached: `who token [granted, end]`. */
  atMax: string[];
  /** Grants whose token had already been handed out. */
  repeatedTokens: number;
  /** Grants whose token was not above every token granted before their acquire started. */
  causalViolations: number;
  /** Longest time a holder went on believing past its own deadline, ms (0 if never; undefined if no hold had one). */
  lateMs: number | undefined;
  /** Unsettled operations at the hang bound. */
  hung: number;
  crashes: readonly string[];
  /** A permit was lost for good: `tryAcquire(capacity)` failed after the faults. */
  lostPermits: boolean;
  /** recoveryMs ÷ leaseMs, if measured. */
  recoveryRatio: number | undefined;
  /** Which acceptance criteria failed (empty: the run passes). */
  failures: string[];
}

/**
 * Checks a run against the acceptance of issue 11: never more than the
 * capacity believed valid at any instant, no lease believed past its
 * holder's own deadline, tokens unique and causally increasing, no hang, no
 * crash, no permit lost, recovery within bound.
 */
export function checkRun(log: RunLog, options: CheckOptions = {}): Verdict {
  const tolerance = options.toleranceMs ?? 0;
  const factor = options.recoveryFactor ?? 1.2;

  // Over-admission: sweep the believed intervals. Ends sort before starts at
  // the same instant, so a belief that ended before (or as) another started
  // never counts as overlap; starts are moved `tolerance` later for the
  // same reason across process clocks.
  const events: { t: number; dw: number; h: Hold }[] = [];
  for (const h of log.holds) {
    if (h.end === undefined) continue;
    const start = h.granted + tolerance;
    if (h.end <= start) continue;
    events.push({ t: start, dw: h.weight, h }, { t: h.end, dw: -h.weight, h });
  }
  events.sort((a, b) => a.t - b.t || a.dw - b.dw);
  let level = 0;
  let maxBelieved = 0;
  let violations = 0;
  let longestOverMs = 0;
  let overSince: number | undefined;
  const live = new Set<Hold>();
  let atMax: string[] = [];
  const origin = events[0]?.t ?? 0;
  for (const e of events) {
    level += e.dw;
    if (e.dw > 0) live.add(e.h);
    else live.delete(e.h);
    if (level > maxBelieved) {
      maxBelieved = level;
      atMax = [...live].map(
        (h) => `${h.who} token ${h.token} [${(h.granted - origin).toFixed(1)}, ${(h.end! - origin).toFixed(1)}]${h.lost === true ? " (saw loss)" : ""}`,
      );
    }
    if (level > log.capacity && overSince === undefined) overSince = e.t;
    else if (level <= log.capacity && overSince !== undefined) {
      violations++;
      longestOverMs = Math.max(longestOverMs, e.t - overSince);
      overSince = undefined;
    }
  }

  // Tokens: unique, and above every token granted before the acquire began.
  const seen = new Set<number>();
  let repeatedTokens = 0;
  for (const h of log.holds) {
    if (seen.has(h.token)) repeatedTokens++;
    else seen.add(h.token);
  }
  const byGrant = [...log.holds].sort((a, b) => a.granted - b.granted);
  const prefixMax: number[] = [];
  let running = -Infinity;
  for (const h of byGrant) {
    running = Math.max(running, h.token);
    prefixMax.push(running);
  }
  let causalViolations = 0;
  for (const b of log.holds) {
    // the last grant observed more than `tolerance` before b's acquire began
    const cutoff = b.acquireStart - tolerance;
    let lo = 0;
    let hi = byGrant.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (byGrant[mid]!.granted < cutoff) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && b.token <= prefixMax[lo - 1]!) causalViolations++;
  }

  let lateMs: number | undefined;
  for (const h of log.holds) {
    if (h.deadline === undefined || h.end === undefined) continue;
    lateMs = Math.max(lateMs ?? 0, h.end - h.deadline);
  }

  let lateHolds = 0;
  for (const h of log.holds) {
    if (h.deadline !== undefined && h.end !== undefined && h.end - h.deadline > tolerance) lateHolds++;
  }
  const lostPermits = log.capacityBack === false;
  const recoveryRatio = log.recoveryMs === undefined ? undefined : log.recoveryMs / log.leaseMs;

  const failures: string[] = [];
  if (violations > 0 && options.allowOverAdmission !== true) {
    failures.push(`over-admission: ${violations} stretch(es) with more than ${log.capacity} believed valid (max ${maxBelieved}, longest ${longestOverMs.toFixed(1)} ms)`);
  }
  if (lateHolds > 0) {
    failures.push(`${lateHolds} holder(s) believed their permit past their own deadline (by up to ${lateMs!.toFixed(0)} ms)`);
  }
  if (repeatedTokens > 0) failures.push(`${repeatedTokens} fencing token(s) repeated`);
  if (causalViolations > 0) failures.push(`${causalViolations} token(s) not above a grant observed before their acquire began`);
  if (log.pending.length > 0) {
    const p = log.pending[0]!;
    failures.push(`${log.pending.length} operation(s) hung (first: ${p.who} ${p.what})`);
  }
  if (log.crashes.length > 0) failures.push(`crashes: ${log.crashes.join("; ")}`);
  if (lostPermits) failures.push(`permits lost: tryAcquire(${log.capacity}) failed after the faults and one lease`);
  if (recoveryRatio !== undefined && !(recoveryRatio <= factor)) {
    failures.push(`recovery took ${recoveryRatio.toFixed(2)} x the lease (bound ${factor})`);
  }
  return {
    maxBelieved,
    violations,
    longestOverMs,
    atMax,
    repeatedTokens,
    causalViolations,
    lateMs,
    hung: log.pending.length,
    crashes: log.crashes,
    lostPermits,
    recoveryRatio,
    failures,
  };
}

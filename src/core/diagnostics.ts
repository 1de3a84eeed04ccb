/**
 * Observability through `node:diagnostics_channel`, free unless someone
 * subscribes. The core imports nothing from Node: the module is looked up at
 * run time with `process.getBuiltinModule` (Node ≥ 20.16, Bun, Deno); where it
 * does not exist (browsers) every channel is an inert stand-in.
 *
 * Channels (subscribe with `diagnostics_channel.subscribe(name, fn)`):
 *
 * | name | published when | message |
 * |---|---|---|
 * | `permits:queued` | an acquire joins the queue | `{ limiter, weight }` |
 * | `permits:granted` | a permit is granted | `{ limiter, weight, waitedMs }` (`waitedMs` 0 on the fast path) |
 * | `permits:released` | a permit is released | `{ limiter, weight }` |
 * | `permits:aborted` | a queued waiter is aborted by its signal | `{ limiter, weight, reason }` |
 * | `permits:timedOut` | a queued waiter's timeout elapses | `{ limiter, weight }` |
 * | `permits:leaseLost` | a distributed permit's lease is lost | `{ limiter, weight, error }` |
 * | `permits:limit` | an `AdaptiveSemaphore`'s limit changes | `{ limiter, limit, previous, cause }` |
 *
 * `limiter` is the semaphore (or limiter) object; its `name` option, when
 * given, identifies it.
 *
 * @module
 */

/** The part of a diagnostics channel the core uses. */
export interface Channel {
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

interface DiagnosticsChannelModule {
  channel(name: string): Channel;
}

const inert: Channel = { hasSubscribers: false, publish() {} };

function load(): DiagnosticsChannelModule | undefined {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.("node:diagnostics_channel") as DiagnosticsChannelModule | undefined;
    return typeof mod?.channel === "function" ? mod : undefined;
  } catch {
    return undefined;
  }
}

const dc = load();
function make(name: string): Channel {
  return dc === undefined ? inert : dc.channel(name);
}

/**
 * The named channels. Check `hasSubscribers` before building a message.
 *
 * @example
 * ```ts
 * import diagnostics_channel from "node:diagnostics_channel";
 * import { Semaphore } from "permit-pool";
 * diagnostics_channel.subscribe("permits:granted", (message) => console.log("granted", message));
 * const sem = new Semaphore(1, { name: "db" });
 * (await sem.acquire()).release();
 * ```
 */
export const channels: {
  readonly queued: Channel;
  readonly granted: Channel;
  readonly released: Channel;
  readonly aborted: Channel;
  readonly timedOut: Channel;
  readonly leaseLost: Channel;
  readonly limit: Channel;
} = {
  queued: make("permits:queued"),
  granted: make("permits:granted"),
  released: make("permits:released"),
  aborted: make("permits:aborted"),
  timedOut: make("permits:timedOut"),
  leaseLost: make("permits:leaseLost"),
  limit: make("permits:limit"),
};

/**
 * A thin adapter over the Redis clients users already have: ioredis (and its
 * fork iovalkey, standalone or Cluster) and node-redis v5 (`createClient`,
 * `createCluster`). `permit-pool/redis` imports none of them: the client is
 * recognised by its shape.
 *
 * What the semaphore needs from a client is small: run a script by SHA with
 * an `EVAL` fallback on `NOSCRIPT` (keys and arguments kept apart, so key
 * prefixes and cluster routing work), say whether it is connected, name the
 * server for error messages, and make one subscriber connection per process.
 *
 * @module
 */

import { RedisCommandError, RedisUnavailableError } from "./errors.js";
import type { Script } from "./scripts.js";
import { invalidArgument } from "../core/errors.js";

type Callback = (...args: never[]) => unknown;
type Loose = Record<string, unknown> & { on?: (event: string, listener: Callback) => unknown };

/**
 * A Redis client `permit-pool/redis` can work with, described by its shape (the
 * package imports no client library): an ioredis or iovalkey client,
 * standalone or `Cluster`, or a node-redis v5 client (`createClient`,
 * `createCluster`). Any other object is refused at compile time, and at run
 * time with a `TypeError`.
 *
 * The members named here are only what tells the two families apart; the
 * client must be a real one of them (the adapter also calls `duplicate()`'s
 * result's subscribe methods, `on`, `disconnect`, …).
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisSemaphore, type RedisClient } from "permit-pool/redis";
 * function jobs(client: RedisClient): RedisSemaphore {
 *   return new RedisSemaphore(client, "jobs", 3);
 * }
 * const redis = new Redis();
 * console.log(jobs(redis).capacity); // 3
 * redis.disconnect();
 * ```
 */
export type RedisClient =
  | {
      /** ioredis / iovalkey: `EVALSHA`. */
      evalsha(...args: never[]): unknown;
      eval(...args: never[]): unknown;
      duplicate(...args: never[]): unknown;
      /** ioredis / iovalkey: the connection state (`"ready"`, `"reconnecting"`, …). */
      readonly status: string;
    }
  | {
      /** node-redis v5: `EVALSHA`. */
      evalSha(...args: never[]): unknown;
      eval(...args: never[]): unknown;
      duplicate(...args: never[]): unknown;
    };

/** A subscriber connection, shared by every semaphore of one client in a process. */
export interface PubSub {
  /**
   * Subscribes to `channel`, with sharded pub/sub (`SSUBSCRIBE`) where the
   * server has it and classic `SUBSCRIBE` otherwise. Resolves once the
   * server confirmed.
   */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** What `permit-pool/redis` needs from a Redis client. */
export interface RedisAdapter {
  /** Runs a script: `EVALSHA`, then `EVAL` if the server answers `NOSCRIPT`. */
  run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /**
   * Why the connection is known to be down now (it was lost and the client is
   * reconnecting, or it was closed), or undefined if commands may go ahead —
   * including while a new client makes its first connection, when they queue.
   */
  readonly down: string | undefined;
  /** `host:port` (or the cluster's first node) for error messages. */
  readonly server: string;
  /**
   * Creates a subscriber connection; `onMessage` gets every message, `onReady`
   * is called each time it (re)connects (messages may have been lost).
   */
  /**
   * A subscriber connection. `onReady` runs each time it is (re)connected
   * and its subscriptions are back, with the channels that could not be
   * subscribed again (no longer subscribed: the caller subscribes them anew).
   */
  subscriber(onMessage: (channel: string, message: string) => void, onReady: (failed: readonly string[]) => void): PubSub;
  /** Whether the client's own connection is up and ready now. */
  readonly ready: boolean;
  /** Calls `listener` each time the client's own connection becomes ready (again). */
  onReady(listener: () => void): void;
  /** Calls `listener` once the client is closed for good (`disconnect()`, `quit()`, `destroy()`). */
  onEnd(listener: () => void): void;
  /**
   * While the client has no connection yet (its first connect, or a
   * reconnect), `fail` is called with the reason as soon as that attempt
   * fails; returns the function that stops watching, or undefined when the
   * client is connected (then nothing is watched).
   */
  watchConnect(fail: (why: string) => void): (() => void) | undefined;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

function isUnknownCommand(error: unknown): boolean {
  return error instanceof Error && /unknown command/i.test(error.message);
}

function text(value: unknown): string {
  return typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString() : String(value);
}

function call<T>(target: Loose, method: string, ...args: unknown[]): T {
  return (target[method] as (...a: unknown[]) => T).apply(target, args);
}

/** ioredis / iovalkey, standalone or Cluster. */
function ioredisAdapter(client: Loose): RedisAdapter {
  const isCluster = client.isCluster === true;
  const options = (client.options ?? {}) as { host?: string; port?: number };
  const nodes = (client as { startupNodes?: unknown[] }).startupNodes;
  let server = `${options.host ?? "localhost"}:${options.port ?? 6379}`;
  if (isCluster && Array.isArray(nodes) && nodes.length > 0) {
    const first = nodes[0] as { host?: string; port?: number } | string;
    server = typeof first === "string" ? first : `${first.host ?? "localhost"}:${first.port ?? 6379}`;
    server = `cluster ${server}`;
  }
  // Commands sent before the connection is up wait in the client's offline
  // queue, and a refused connection would leave them there until our
  // timeout: fail them as soon as the attempt fails instead. Listening for
  // "reconnecting" (not "error") keeps the client's own reporting of
  // unhandled errors as it is.
  const connecting = new Set<(why: string) => void>();
  const failConnecting = (why: string): void => {
    const waiting = [...connecting];
    connecting.clear();
    for (const fail of waiting) fail(why);
  };
  client.on?.("reconnecting", () =>
    failConnecting(`could not connect (the client is retrying; is a server listening at ${server}?)`),
  );
  client.on?.("end", () => failConnecting("the client's connection is closed"));
  return {
    server,
    onReady(listener) {
      client.on?.("ready", listener);
    },
    onEnd(listener) {
      client.on?.("end", listener);
    },
    get ready() {
      return client.status === "ready";
    },
    watchConnect(fail) {
      if (client.status === "ready" || isCluster) return undefined;
      connecting.add(fail);
      return () => connecting.delete(fail);
    },
    get down() {
      const status = client.status;
      return status === "reconnecting" || status === "close" || status === "end"
        ? `the client's connection is ${status === "reconnecting" ? "lost (reconnecting)" : "closed"}`
        : undefined;
    },
    async run(script, keys, args) {
      try {
        return await call<Promise<unknown>>(client, "evalsha", script.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return await call<Promise<unknown>>(client, "eval", script.source, keys.length, ...keys, ...args);
      }
    },
    subscriber(onMessage, onReady) {
      // A Cluster routes SSUBSCRIBE to the node owning the channel's slot only
      // with sharded subscribers on, and resubscribes by itself (its promises
      // handled). A standalone client's own resubscription after a reconnect
      // leaves its promises unhandled (a close in between is an unhandled
      // rejection), so we turn it off and resubscribe here.
      const sub = isCluster
        ? call<Loose>(client, "duplicate", undefined, { shardedSubscribers: true })
        : call<Loose>(client, "duplicate", { autoResubscribe: false });
      let sharded: boolean | undefined;
      const confirmed = new Set<string>();
      const listener = (channel: unknown, message: unknown): void => onMessage(text(channel), text(message));
      const subscribe = async (channel: string): Promise<void> => {
        if (sharded !== false) {
          try {
            await call<Promise<unknown>>(sub, "ssubscribe", channel);
            sharded = true;
            return;
          } catch (error) {
            if (sharded === true || !isUnknownCommand(error)) throw error;
            sharded = false;
          }
        }
        await call<Promise<unknown>>(sub, "subscribe", channel);
      };
      sub.on?.("message", listener);
      sub.on?.("smessage", listener);
      sub.on?.("error", () => {}); // the subscriber reconnects by itself; failures surface through commands
      sub.on?.("ready", () => {
        if (isCluster || confirmed.size === 0) return onReady([]);
        // Tell the semaphores only once the subscriptions are back, so that
        // what they ask Redis next cannot miss a wake-up.
        // A channel whose resubscription failed (the connection dropped
        // again, say) is handed back to the hub, which subscribes it anew:
        // otherwise its wake-ups would be lost until the next reconnect.
        const channels = [...confirmed];
        void Promise.allSettled(channels.map(subscribe)).then((results) => {
          const failed: string[] = [];
          results.forEach((result, i) => {
            if (result.status === "rejected") {
              confirmed.delete(channels[i]!);
              failed.push(channels[i]!);
            }
          });
          onReady(failed);
        });
      });
      return {
        async subscribe(channel) {
          await subscribe(channel);
          confirmed.add(channel);
        },
        async unsubscribe(channel) {
          confirmed.delete(channel);
          await call<Promise<unknown>>(sub, sharded === false ? "unsubscribe" : "sunsubscribe", channel);
        },
        close() {
          confirmed.clear();
          call<unknown>(sub, "disconnect");
        },
      };
    },
  };
}

/** node-redis v5 (`createClient` or `createCluster`). */
function nodeRedisAdapter(client: Loose): RedisAdapter {
  // A cluster client keeps its options in `_options` (v5).
  const options = (client.options ?? client._options ?? {}) as {
    url?: string;
    socket?: { host?: string; port?: number; path?: string };
    rootNodes?: { url?: string; socket?: { host?: string; port?: number } }[];
  };
  let server: string;
  const root = options.rootNodes?.[0];
  if (root !== undefined) {
    server = `cluster ${root.url ?? `${root.socket?.host ?? "localhost"}:${root.socket?.port ?? 6379}`}`;
  } else if (options.url !== undefined) {
    server = options.url.replace(/\/\/[^@/]*@/, "//"); // never print credentials
  } else if (options.socket?.path !== undefined) {
    server = options.socket.path;
  } else {
    server = `${options.socket?.host ?? "localhost"}:${options.socket?.port ?? 6379}`;
  }
  const isCluster = root !== undefined;
  return {
    server,
    onReady(listener) {
      client.on?.("ready", listener);
    },
    onEnd(listener) {
      client.on?.("end", listener);
    },
    get ready() {
      return client.isReady === true;
    },
    // A node-redis client that is not open fails commands at once itself.
    watchConnect: () => undefined,
    get down() {
      // Not open: the command itself fails at once with the client's own error.
      // A cluster client has no isReady.
      if (isCluster || client.isOpen !== true || client.isReady === true) return undefined;
      return "the client's connection is lost (reconnecting)";
    },
    async run(script, keys, args) {
      const options = { keys: [...keys], arguments: args.map(String) };
      try {
        return await call<Promise<unknown>>(client, "evalSha", script.sha, options);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        return await call<Promise<unknown>>(client, "eval", script.source, options);
      }
    },
    subscriber(onMessage, onReady) {
      const sub = call<Loose>(client, "duplicate");
      let sharded: boolean | undefined;
      const listener = (message: unknown, channel: unknown): void => onMessage(text(channel), text(message));
      sub.on?.("error", () => {}); // node-redis reconnects by itself; an unheard "error" event would crash the process
      sub.on?.("ready", () => onReady([]));
      const connected = call<Promise<unknown>>(sub, "connect");
      connected.catch(() => {}); // surfaced by subscribe()
      return {
        async subscribe(channel) {
          await connected;
          if (sharded !== false) {
            try {
              await call<Promise<unknown>>(sub, "sSubscribe", channel, listener);
              sharded = true;
              return;
            } catch (error) {
              if (sharded === true || !isUnknownCommand(error)) throw error;
              sharded = false;
            }
          }
          await call<Promise<unknown>>(sub, "subscribe", channel, listener);
        },
        async unsubscribe(channel) {
          await call<Promise<unknown>>(sub, sharded === false ? "unsubscribe" : "sUnsubscribe", channel);
        },
        close() {
          const destroy = typeof sub.destroy === "function" ? "destroy" : "disconnect";
          void connected.then(
            () => {
              try {
                const closing = call<unknown>(sub, destroy);
                if (closing instanceof Promise) closing.catch(() => {});
              } catch {
                // already closed
              }
            },
            () => {},
          );
        },
      };
    },
  };
}

const adapters = new WeakMap<object, RedisAdapter>();

/**
 * Wraps a connected client. The same client always gets the same adapter, so
 * every semaphore built on one client shares one subscriber connection.
 *
 * @throws TypeError for anything that is neither an ioredis/iovalkey nor a
 *   node-redis v5 client.
 */
export function adapt(client: unknown): RedisAdapter {
  if (typeof client !== "object" || client === null) {
    throw invalidArgument(`Expected \`client\` to be a connected ioredis, iovalkey or node-redis client, got ${String(client)}`);
  }
  const known = adapters.get(client);
  if (known !== undefined) return known;
  const loose = client as Loose;
  let adapter: RedisAdapter;
  if (typeof loose.evalsha === "function" && typeof loose.duplicate === "function" && "status" in loose) {
    adapter = ioredisAdapter(loose);
  } else if (typeof loose.evalSha === "function" && typeof loose.duplicate === "function") {
    adapter = nodeRedisAdapter(loose);
  } else {
    throw invalidArgument(
      "Expected `client` to be a connected ioredis, iovalkey or node-redis v5 client " +
        "(an object with `evalsha` and `duplicate`, or `evalSha` and `duplicate`)",
    );
  }
  adapters.set(client, adapter);
  return adapter;
}

/**
 * Reply errors that mean "not now", not "never as sent": the same command
 * succeeds unchanged once the server's condition passes (it finished
 * loading, a failover completed and the client reached the new primary,
 * memory was freed, …). They are a {@link RedisUnavailableError}, so code
 * that fails open or waits through an outage (`whenUnavailable: "wait"`)
 * treats a full or read-only server as it treats an unreachable one.
 */
const TRANSIENT = /^(LOADING|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|BUSY|OOM|NOREPLICAS|MISCONF)\b/;

/** What to do about a "not now" reply, by its code: the setting or state to change. */
const ADVICE: Readonly<Record<string, string>> = {
  OOM:
    "the server is at its `maxmemory` and evicts nothing for these keys; raise `maxmemory`, free memory, " +
    "or use a `volatile-*` `maxmemory-policy` (never `allkeys-*`: the semaphore's keys have no TTL)",
  READONLY:
    "this connection reaches a replica, not the primary (after a failover the client must follow the new " +
    "primary: use Sentinel or Cluster support in your client, or point it at the primary)",
  MISCONF: "the server cannot persist (`stop-writes-on-bgsave-error`); fix its disk or `dir`",
  LOADING: "the server is loading its dataset after a restart",
  BUSY: "a script or module is blocking the server",
  NOREPLICAS: "the server has fewer connected replicas than `min-replicas-to-write`",
};

/** An error's message, with its `code` when the message does not say it. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  }
  return String(error);
}

/**
 * Runs one script with a deadline — the one way every Redis limiter talks to
 * Redis — and turns what the client throws into our errors:
 * - a client known to be disconnected fails at once, and one still
 *   connecting fails as soon as that attempt fails (a refused connection
 *   is reported then, not after `timeoutMs`);
 * - no answer within `timeoutMs`: {@link RedisUnavailableError};
 * - `known(message)` may turn a script's own error reply into a specific
 *   error (a capacity or settings mismatch);
 * - a reply error that means "not now" (LOADING, READONLY, BUSY, OOM, …) or a
 *   connection error: {@link RedisUnavailableError}, whose message says what
 *   to change for a known reply code; any other reply error (a wrong type, a
 *   broken script): {@link RedisCommandError}. docs/redis.md lists them.
 */
export function callScript(
  adapter: RedisAdapter,
  script: Script,
  keys: readonly string[],
  args: readonly (string | number)[],
  timeoutMs: number,
  known?: (message: string, error: unknown) => Error | undefined,
): Promise<unknown> {
  const down = adapter.down;
  if (down !== undefined) {
    return Promise.reject(new RedisUnavailableError(`Redis at ${adapter.server} is unavailable: ${down}`));
  }
  return new Promise((resolve, reject) => {
    const unwatch = adapter.watchConnect((why) => {
      clearTimeout(timer);
      reject(new RedisUnavailableError(`Redis at ${adapter.server} is unavailable: ${why}`));
    });
    const timer = setTimeout(() => {
      unwatch?.();
      reject(
        new RedisUnavailableError(
          `Redis at ${adapter.server} did not answer within ${timeoutMs} ms ` +
            "(raise `commandTimeoutMs` if the server is just slow)",
        ),
      );
    }, timeoutMs);
    adapter.run(script, keys, args).then(
      (value) => {
        clearTimeout(timer);
        unwatch?.();
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        unwatch?.();
        reject(classify(adapter, error, known));
      },
    );
  });
}

function classify(
  adapter: RedisAdapter,
  error: unknown,
  known: ((message: string, error: unknown) => Error | undefined) | undefined,
): Error {
  const message = errorText(error);
  const specific = known?.(message, error);
  if (specific !== undefined) return specific;
  const name = error instanceof Error ? error.name : "";
  const isReply = name === "ReplyError" || name === "ErrorReply" || /^[A-Z]+ /.test(message);
  if (isReply && !TRANSIENT.test(message)) {
    return new RedisCommandError(`Redis at ${adapter.server} refused a command: ${message}`, { cause: error });
  }
  const advice = isReply ? ADVICE[/^[A-Z]+/.exec(message)?.[0] ?? ""] : undefined;
  return new RedisUnavailableError(
    `Redis at ${adapter.server} is unavailable: ${message}${advice === undefined ? "" : ` (${advice})`}`,
    { cause: error },
  );
}

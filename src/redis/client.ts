/**
 * A thin adapter over the Redis clients users already have: ioredis (and its
 * fork iovalkey, standalone or Cluster) and node-redis v5 (`createClient`,
 * `createCluster`). `permits/redis` imports none of them: the client is
 * recognised by its shape.
 *
 * What the semaphore needs from a client is small: run a script by SHA with
 * an `EVAL` fallback on `NOSCRIPT` (keys and arguments kept apart, so key
 * prefixes and cluster routing work), say whether it is connected, name the
 * server for error messages, and make one subscriber connection per process.
 *
 * @module
 */

import type { Script } from "./scripts.js";

type Callback = (...args: never[]) => unknown;
type Loose = Record<string, unknown> & { on?: (event: string, listener: Callback) => unknown };

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

/** What `permits/redis` needs from a Redis client. */
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
  subscriber(onMessage: (channel: string, message: string) => void, onReady: () => void): PubSub;
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
  return {
    server,
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
        if (isCluster || confirmed.size === 0) return onReady();
        // Tell the semaphores only once the subscriptions are back, so that
        // what they ask Redis next cannot miss a wake-up.
        const channels = [...confirmed];
        void Promise.allSettled(channels.map(subscribe)).then((results) => {
          results.forEach((result, i) => {
            if (result.status === "rejected") confirmed.delete(channels[i]!);
          });
          onReady();
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
      sub.on?.("ready", onReady);
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
    throw new TypeError(`Expected \`client\` to be a connected ioredis, iovalkey or node-redis client, got ${String(client)}`);
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
    throw new TypeError(
      "Expected `client` to be a connected ioredis, iovalkey or node-redis v5 client " +
        "(an object with `evalsha` and `duplicate`, or `evalSha` and `duplicate`)",
    );
  }
  adapters.set(client, adapter);
  return adapter;
}

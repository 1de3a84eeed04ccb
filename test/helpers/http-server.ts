/**
 * A loopback HTTP server for tests and demos that counts how many requests it
 * is serving at once — the number a limit is supposed to bound, seen from the
 * side that matters.
 *
 * @example
 * ```ts
 * import { startTestServer } from "../helpers/http-server.js";
 *
 * const server = await startTestServer({ delay: 100 });   // every response takes ~100 ms
 * try {
 *   await Promise.all(Array.from({ length: 10 }, () => fetch(server.url).then((r) => r.text())));
 *   console.log(server.peak, server.total);              // e.g. 10, 10 — nothing limited these
 * } finally {
 *   await server.close();
 * }
 * ```
 *
 * What a response looks like is decided, from weakest to strongest, by:
 * 1. the options given to {@link startTestServer} (defaults for every request);
 * 2. the request's query string: `?delay=50&status=429&retryAfter=1&chunks=4&chunkDelay=20&size=1000`
 *    (handy when one server must answer differently per request);
 * 3. the `respond(request)` callback, which returns a partial {@link ResponsePlan}
 *    (e.g. "the first 2 requests get a 429").
 *
 * A request counts as "being served" from the moment its headers arrive until
 * the response has been completely written, or the connection is gone (client
 * abort). `peak` is the maximum of that count since start or the last `reset()`.
 *
 * Node-only (node:http); listens on 127.0.0.1 with an ephemeral port.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

/** How the server answers one request. Every field is optional where it is accepted. */
export interface ResponsePlan {
  /** Milliseconds to wait before sending the status and headers. Default 0. */
  delay: number;
  /** HTTP status code. Default 200. */
  status: number;
  /** Extra response headers. Default none. */
  headers: Record<string, string>;
  /** Sets a `Retry-After` header: a number of seconds, or a string sent verbatim (an HTTP-date). */
  retryAfter?: number | string;
  /** Response body. Default: `size` bytes of "x", or "ok\n" when `size` is not set. */
  body?: string;
  /** Body length in bytes when `body` is not given. */
  size?: number;
  /** Split the body into this many chunks (a "slow body"). Default 1. */
  chunks: number;
  /** Milliseconds between body chunks. Default 0. */
  chunkDelay: number;
  /** Destroy the socket instead of answering (simulates a network error). Default false. */
  destroy: boolean;
}

/** What the server knows about one request; passed to `respond` and kept in `requests`. */
export interface RecordedRequest {
  /** 0-based arrival order. */
  index: number;
  method: string;
  /** Path including query string, e.g. "/a?delay=10". */
  path: string;
  /** Query parameters of the request. */
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  /** Milliseconds since the server started (or the last `reset()`) when the request arrived. */
  start: number;
  /** Milliseconds since start when the server stopped serving it (`undefined` while in progress). */
  end: number | undefined;
  /** Status the server sent or planned to send. */
  status: number;
  /** True when the connection closed before the response was completely written. */
  aborted: boolean;
  /** How many requests were being served (this one included) right after it arrived. */
  activeAtStart: number;
}

/** Options for {@link startTestServer}: defaults for every response, plus an optional per-request override. */
export interface TestServerOptions extends Partial<ResponsePlan> {
  /** Called once per request; its fields override the defaults and query string. */
  respond?: (request: RecordedRequest) => Partial<ResponsePlan> | undefined;
}

/** A running server. Read the counters any time; they are updated synchronously. */
export interface TestServer {
  /** Base URL, e.g. "http://127.0.0.1:38123" (no trailing slash). */
  readonly url: string;
  /** Same as `url`, the origin of every request to this server. */
  readonly origin: string;
  readonly port: number;
  /** Requests being served right now. */
  readonly active: number;
  /** The most requests ever served at once since start or the last `reset()`. */
  readonly peak: number;
  /** Requests received since start or the last `reset()`. */
  readonly total: number;
  /** Every request received since start or the last `reset()`, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  /** `performance.now()` at start or the last `reset()`: add it to `start`/`end` to compare servers. */
  readonly t0: number;
  /** Zero `peak`, `total` and `requests`, and restart the clock (does not touch requests in progress' counting). */
  reset(): void;
  /** Resolves once `active` is 0 (immediately if it already is). */
  idle(): Promise<void>;
  /** Stop listening and drop every open connection. Idempotent. */
  close(): Promise<void>;
}

const sleep = (ms: number): Promise<void> =>
  ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

function fromQuery(query: URLSearchParams): Partial<ResponsePlan> {
  const plan: Partial<ResponsePlan> = {};
  const num = (name: string): number | undefined => {
    const v = query.get(name);
    return v === null ? undefined : Number(v);
  };
  const delay = num("delay");
  if (delay !== undefined) plan.delay = delay;
  const status = num("status");
  if (status !== undefined) plan.status = status;
  const retryAfter = query.get("retryAfter");
  if (retryAfter !== null) plan.retryAfter = /^\d+$/.test(retryAfter) ? Number(retryAfter) : retryAfter;
  const chunks = num("chunks");
  if (chunks !== undefined) plan.chunks = chunks;
  const chunkDelay = num("chunkDelay");
  if (chunkDelay !== undefined) plan.chunkDelay = chunkDelay;
  const size = num("size");
  if (size !== undefined) plan.size = size;
  if (query.get("destroy") !== null) plan.destroy = true;
  return plan;
}

/**
 * Start a loopback HTTP server on 127.0.0.1 (ephemeral port) that counts concurrent requests.
 * See the module documentation for how responses are chosen.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { respond, ...defaults } = options;
  let t0 = performance.now();
  let active = 0;
  let peak = 0;
  let requests: RecordedRequest[] = [];
  let idleWaiters: Array<() => void> = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = new URL(req.url ?? "/", "http://127.0.0.1");
    const record: RecordedRequest = {
      index: requests.length,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      query: target.searchParams,
      headers: req.headers,
      start: performance.now() - t0,
      end: undefined,
      status: 200,
      aborted: false,
      activeAtStart: 0,
    };
    requests.push(record);
    active += 1;
    record.activeAtStart = active;
    if (active > peak) peak = active;

    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      active -= 1;
      record.end = performance.now() - t0;
      if (!res.writableFinished) record.aborted = true;
      if (active === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    };
    // "close" fires after the response is fully written and also when the client goes away first.
    res.on("close", finish);

    // Drain the request body so the client is never blocked writing it.
    req.resume();

    const plan: ResponsePlan = {
      delay: 0,
      status: 200,
      headers: {},
      chunks: 1,
      chunkDelay: 0,
      destroy: false,
      ...defaults,
      ...fromQuery(target.searchParams),
      ...(respond?.(record) ?? {}),
    };
    record.status = plan.status;

    await sleep(plan.delay);
    if (res.destroyed) return;
    if (plan.destroy) {
      req.socket.destroy();
      return;
    }
    const body = plan.body ?? (plan.size !== undefined ? "x".repeat(plan.size) : "ok\n");
    const headers: Record<string, string> = {
      "content-type": "text/plain",
      "content-length": String(Buffer.byteLength(body)),
      ...plan.headers,
    };
    if (plan.retryAfter !== undefined) headers["retry-after"] = String(plan.retryAfter);
    res.writeHead(plan.status, headers);
    const chunks = Math.max(1, Math.floor(plan.chunks));
    if (chunks === 1) {
      res.end(body);
      return;
    }
    res.flushHeaders();
    const step = Math.ceil(body.length / chunks);
    for (let i = 0; i < chunks; i++) {
      if (i > 0) await sleep(plan.chunkDelay);
      if (res.destroyed) return;
      const part = body.slice(i * step, (i + 1) * step);
      if (i === chunks - 1) res.end(part);
      else res.write(part);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;

  return {
    url,
    origin: url,
    port,
    get active() {
      return active;
    },
    get peak() {
      return peak;
    },
    get t0() {
      return t0;
    },
    get total() {
      return requests.length;
    },
    get requests() {
      return requests;
    },
    reset() {
      t0 = performance.now();
      peak = active;
      requests = [];
    },
    idle() {
      return active === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

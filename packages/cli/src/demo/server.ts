/**
 * The demo's stand-in for "your internal server, or an API that has usage
 * limits": a loopback HTTP server that takes `delay` ms per request and
 * records what it was serving when, so the demo reports the concurrency the
 * *server* saw rather than what the client believes.
 *
 * (The tests have their own, richer server in `test/helpers`; the product
 * cannot import test code, and the demo needs only this much.)
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

/** Header the demo's client sends so the server can match its record to the client's. */
export const REQUEST_ID_HEADER = "x-permits-demo-id";

/** One request as the server saw it. Times are `performance.now()` values. */
export interface ServedRequest {
  /** The client's request id (from {@link REQUEST_ID_HEADER}), or -1 when absent. */
  id: number;
  /** When the request's headers arrived. */
  start: number;
  /** When the response was completely written or the connection dropped; `undefined` while serving. */
  end: number | undefined;
  /** How many requests the server was serving right after this one arrived (itself included). */
  concurrent: number;
}

/** A running demo server; counters are updated synchronously. */
export interface DemoServer {
  /** e.g. `http://127.0.0.1:41234/` */
  readonly url: string;
  /** Requests being served right now. */
  readonly active: number;
  /** The most requests served at once since start or the last {@link DemoServer.reset}. */
  readonly peak: number;
  /** Every request since start or the last reset, in arrival order. */
  readonly served: readonly ServedRequest[];
  /** Forget peak and records (does not touch requests in progress). */
  reset(): void;
  /** Stop listening and drop open connections. Idempotent. */
  close(): Promise<void>;
}

/** Starts the demo server on 127.0.0.1 with an ephemeral port; every response takes `delay` ms. */
export async function startDemoServer({ delay }: { delay: number }): Promise<DemoServer> {
  let active = 0;
  let peak = 0;
  let served: ServedRequest[] = [];

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const id = Number(req.headers[REQUEST_ID_HEADER] ?? -1);
    active += 1;
    peak = Math.max(peak, active);
    const record: ServedRequest = { id: Number.isInteger(id) ? id : -1, start: performance.now(), end: undefined, concurrent: active };
    served.push(record);
    // "close" fires once the response is completely written, and also when the client goes away first.
    res.once("close", () => {
      active -= 1;
      record.end = performance.now();
    });
    req.resume();
    const timer = setTimeout(() => {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "3" });
      res.end("ok\n");
    }, delay);
    res.once("close", () => clearTimeout(timer));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/`,
    get active() {
      return active;
    },
    get peak() {
      return peak;
    },
    get served() {
      return served;
    },
    reset() {
      peak = active;
      served = [];
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

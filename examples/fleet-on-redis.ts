// A fleet of worker processes sharing one limit through Redis: 4 workers, each
// wanting to call a partner API 8 times, and never more than 3 calls in flight
// across all of them. The code in each worker is the in-process code with one
// constructor changed: `new RedisSemaphore(redis, name, 3)` instead of
// `new Semaphore(3)`.
//
//   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/fleet-on-redis.ts
//   npx tsx examples/fleet-on-redis.ts      starts a throwaway redis-server on loopback
//
// Needs ioredis (or iovalkey, or node-redis) and a Redis/Valkey. Run by
// test/platform/examples.test.ts.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { createServer as createHttpServer } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { RedisSemaphore } from "permit-pool/redis";

const WORKERS = 4;
const CALLS_PER_WORKER = 8;
const FLEET_LIMIT = 3;

if (process.argv[2] === "--worker") {
  // ---- one worker: the code you would deploy --------------------------------
  const [, , , redisUrl = "", apiUrl = "", name = ""] = process.argv;
  const redis = new Redis(redisUrl);
  const partner = new RedisSemaphore(redis, name, FLEET_LIMIT, { leaseMs: 5_000 });
  try {
    for (let i = 0; i < CALLS_PER_WORKER; i++) {
      await partner.run(async (permit) => {
        // permit.signal aborts if this worker loses its lease (a long pause, a partition).
        const response = await fetch(`${apiUrl}/call`, { signal: permit.signal });
        await response.text();
      });
    }
  } finally {
    await partner.close();
    redis.disconnect();
  }
} else {
  // ---- the demo around it: a partner API, Redis, and the fleet ---------------
  let active = 0;
  let peak = 0;
  let calls = 0;
  let first = 0;
  let last = 0;
  const api = createHttpServer((_req, res) => {
    active++;
    calls++;
    first ||= Date.now();
    peak = Math.max(peak, active);
    setTimeout(() => {
      active--;
      last = Date.now();
      res.end("ok");
    }, 20);
  });
  await new Promise<void>((resolve) => api.listen(0, "127.0.0.1", resolve));
  const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

  let redisServer: ChildProcess | undefined;
  let redisUrl = process.env.REDIS_URL;
  if (redisUrl === undefined) {
    const port = await freePort();
    redisServer = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    redisUrl = `redis://127.0.0.1:${port}`;
    await waitForRedis(redisUrl);
  }

  const name = `fleet-demo:${process.pid}`;
  try {
    const script = fileURLToPath(import.meta.url);
    const workers = Array.from({ length: WORKERS }, () => fork(script, ["--worker", redisUrl, apiUrl, name], { stdio: "inherit" }));
    const codes = await Promise.all(workers.map((worker) => new Promise<number | null>((resolve) => worker.once("exit", resolve))));
    if (codes.some((code) => code !== 0)) throw new Error(`a worker failed: exit codes ${codes.join(", ")}`);
    // (The span includes the workers' staggered start-up.)
    console.log(`${WORKERS} workers made ${calls} calls, first to last in ${last - first} ms`);
    console.log(`partner API saw at most ${peak} calls at once (fleet limit ${FLEET_LIMIT})`);
  } finally {
    api.close();
    redisServer?.kill();
  }
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitForRedis(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {}); // refused while the server starts: retried below
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}

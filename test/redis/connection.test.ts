/**
 * The client's connection, as a user meets it: a server that is not running
 * is reported as soon as the connection is refused, and a process exits as
 * soon as the user disconnects their client.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisRateLimiter, RedisSemaphore, RedisUnavailableError } from "../../src/redis/index.js";
import { freePort, startRedisServer, type RedisServer } from "../helpers/redis-server.js";

const SOURCE = fileURLToPath(new URL("./fixtures/exit-after-disconnect.ts", import.meta.url));
const FIXTURE = fileURLToPath(new URL("../../node_modules/.cache/permits-test/exit-after-disconnect.mjs", import.meta.url));

let server: RedisServer;
beforeAll(async () => {
  await build({ entryPoints: [SOURCE], bundle: true, platform: "node", format: "esm", packages: "external", outfile: FIXTURE, logLevel: "error" });
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});

describe("a Redis that is not running", () => {
  it("is reported as soon as the connection is refused, naming the server — not after commandTimeoutMs", async () => {
    const port = await freePort(); // nothing listens here
    const redis = new Redis(port, "127.0.0.1", { retryStrategy: () => 1_000 });
    redis.on("error", () => {}); // the refusal itself is what this test looks at
    try {
      const sem = new RedisSemaphore(redis, "nobody-home", 2);
      const rate = new RedisRateLimiter(redis, "nobody-home", { limit: 1, interval: 1_000 });
      const started = performance.now();
      const [semError, rateError] = await Promise.all([
        sem.acquire().catch((e: unknown) => e),
        rate.acquire().catch((e: unknown) => e),
      ]);
      expect(performance.now() - started).toBeLessThan(1_000); // before: 5 s, "did not answer within 5000 ms"
      for (const error of [semError, rateError]) {
        expect(error).toBeInstanceOf(RedisUnavailableError);
        expect((error as Error).message).toContain(`127.0.0.1:${port}`);
        expect((error as Error).message).toMatch(/could not connect/);
      }
    } finally {
      redis.disconnect();
    }
  });
});

describe("disconnecting the client", () => {
  it("lets the process exit at once: the subscriber connection is closed with the client, not 500 ms later", async () => {
    const child = spawn(process.execPath, [FIXTURE, String(server.port)], { stdio: ["ignore", "pipe", "inherit"] });
    let disconnectedAt = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("disconnected")) disconnectedAt = performance.now();
    });
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    expect(disconnectedAt).toBeGreaterThan(0);
    // Before: the idle subscriber kept the process alive for LINGER_MS (500 ms).
    expect(performance.now() - disconnectedAt).toBeLessThan(300);
  });
});

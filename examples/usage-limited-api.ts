// Call an API with usage limits: never more than 3 requests in flight, never
// more than 20 a second, and when the server still says 429 Too Many
// Requests, wait for its Retry-After and try again — with `permit-pool/http`'s
// limitFetch, which holds each slot until the response body is read.
//
//   npx tsx examples/usage-limited-api.ts
//
// The "API" is a loopback server with a quota of 15 requests per second that
// answers 429 + Retry-After past it. Run by test/platform/examples.test.ts.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { limitFetch } from "permit-pool/http";

// --- the API: at most 15 requests per rolling second, else 429 -----------------
const QUOTA = 15;
const arrivals: number[] = [];
let active = 0;
let peak = 0;
let rejected = 0;
const server = createServer((_req, res) => {
  const now = Date.now();
  while (arrivals.length > 0 && (arrivals[0] ?? 0) <= now - 1_000) arrivals.shift();
  if (arrivals.length >= QUOTA) {
    rejected++;
    res.writeHead(429, { "retry-after": "1" }).end("slow down\n");
    return;
  }
  arrivals.push(now);
  active++;
  peak = Math.max(peak, active);
  setTimeout(() => {
    active--;
    res.end(JSON.stringify({ ok: true }));
  }, 10);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// --- the client ------------------------------------------------------------------
const limitedFetch = limitFetch({
  concurrency: 3, // in flight at once
  rate: { limit: 20, interval: 1_000 }, // our own budget per origin; deliberately above the server's quota
  retries: 3, // 429/503 are retried after Retry-After (or a jittered back-off)
  maxRetryAfter: 5_000, // never let a server park us for longer
});

const started = Date.now();
try {
  const results = await Promise.all(
    Array.from({ length: 25 }, async (_, i) => {
      const response = await limitedFetch(`${api}/items/${i}`);
      const body = (await response.json()) as { ok: boolean }; // reading the body frees the slot
      return response.ok && body.ok;
    }),
  );
  const stats = limitedFetch.stats();
  console.log(`${results.filter(Boolean).length}/${results.length} requests succeeded in ${Date.now() - started} ms`);
  console.log(`server: peak ${peak} in flight (limit 3), ${rejected} answered 429; client: ${stats.retries} retries, ${stats.pauses} pauses`);
} finally {
  limitedFetch.close();
  server.close();
}

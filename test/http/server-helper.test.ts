import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("test/helpers/http-server", () => {
  it("counts the requests it serves at once (unlimited client sees them all)", async () => {
    server = await startTestServer({ delay: 50 });
    const bodies = await Promise.all(Array.from({ length: 5 }, () => fetch(server!.url).then((r) => r.text())));
    expect(bodies).toEqual(Array(5).fill("ok\n"));
    expect(server.peak).toBe(5);
    expect(server.total).toBe(5);
    expect(server.active).toBe(0);
  });

  it("takes status, Retry-After and slow bodies from the query string", async () => {
    server = await startTestServer();
    const res = await fetch(`${server.url}/x?status=429&retryAfter=2&size=10&chunks=5&chunkDelay=10`);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("2");
    expect(await res.text()).toBe("x".repeat(10));
    const rec = server.requests[0]!;
    expect(rec.end! - rec.start).toBeGreaterThanOrEqual(35);
  });

  it("lets respond() decide per request and records client aborts", async () => {
    server = await startTestServer({ respond: (r) => (r.index === 0 ? { status: 503 } : { delay: 1000 }) });
    expect((await fetch(server.url)).status).toBe(503);
    const ac = new AbortController();
    const p = fetch(server.url, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 50));
    expect(server.active).toBe(1);
    ac.abort();
    await expect(p).rejects.toThrow();
    await server.idle();
    expect(server.requests[1]!.aborted).toBe(true);
  });
});

/**
 * A pause longer than setTimeout's limit (2^31 − 1 ms ≈ 24.8 days, reachable
 * once `maxRetryAfter` is raised): Node fires such a timer after 1 ms, so the
 * pause timer must wait in steps, not re-arm in a spin.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { limitFetch } from "../../src/http/index.js";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const DAY = 86_400_000;
let server: TestServer | undefined;

afterEach(async () => {
  vi.restoreAllMocks();
  await server?.close();
  server = undefined;
});

describe("limitFetch: a Retry-After of 30 days", () => {
  it("waits out the pause with a timer that does not spin (no new timer every millisecond)", async () => {
    server = await startTestServer({ respond: (r) => (r.index === 0 ? { status: 429, retryAfter: 30 * 86_400 } : undefined) });
    const f = limitFetch({ retries: 0, maxRetryAfter: 40 * DAY });
    const refused = await f(server.url);
    expect(refused.status).toBe(429);
    await refused.text();
    expect(f.stats().origins[server.origin]!.pausedFor).toBeGreaterThan(29 * DAY);
    const timers = vi.spyOn(globalThis, "setTimeout");
    // Waits in the pause until the signal gives up after 300 ms.
    await expect(f(server.url, { signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ name: "TimeoutError" });
    // Before: ~one pause timer per millisecond (219 fires in 300 ms). Now a handful.
    expect(timers.mock.calls.length).toBeLessThan(20);
    expect(server.total).toBe(1);
  });
});

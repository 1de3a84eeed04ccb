/**
 * Issue 12 in `permit-pool/http`: a request's `priority` and `tenant`, per
 * request, on `limitFetch` and on the undici interceptor, against a real
 * loopback server that records the order requests reach it.
 */
import { Agent, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { limitFetch, limitInterceptor } from "../../src/http/index.js";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});
async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  cleanup.push(() => s.close());
  return s;
}
const tick = (ms = 10): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The paths after the first (which held the one slot while the rest queued), in arrival order. */
const arrived = (s: TestServer): string[] => s.requests.slice(1).map((r) => r.path.slice(1).split("?")[0]!);

describe("limitFetch: priority and tenant per request", () => {
  it("serves a higher priority first; the option never reaches fetch", async () => {
    const s = await server();
    const seen: unknown[] = [];
    const limited = limitFetch({
      concurrency: 1,
      fetch: (input, init) => {
        seen.push(init === undefined ? undefined : Object.keys(init).sort());
        return fetch(input, init);
      },
    });
    const first = limited(`${s.url}/first?delay=100`);
    await tick();
    const all = [
      limited(`${s.url}/low`, { priority: 0 }),
      limited(`${s.url}/high`, { priority: 5 }),
      limited(`${s.url}/mid`, { priority: 2, tenant: "t" }),
    ];
    await tick();
    // A response holds its slot until its body is read: read each as it comes.
    await Promise.all([first, ...all].map(async (r) => (await r).text()));
    expect(arrived(s)).toEqual(["high", "mid", "low"]);
    expect(seen.slice(1)).toEqual([[], [], []]);
  });

  it("shares the capacity fairly between tenants, by weight", async () => {
    const s = await server();
    const limited = limitFetch({ concurrency: 1, weights: (t) => (t === "big" ? 2 : 1) });
    const first = limited(`${s.url}/first?delay=100`);
    await tick();
    const all = [
      ...Array.from({ length: 6 }, () => limited(`${s.url}/small`, { tenant: "small" })),
      ...Array.from({ length: 6 }, () => limited(`${s.url}/big`, { tenant: "big" })),
    ];
    await tick();
    // A response holds its slot until its body is read: read each as it comes.
    await Promise.all([first, ...all].map(async (r) => (await r).text()));
    // While both wait: two for big for each one for small, not all of small first.
    const firstSix = arrived(s).slice(0, 6);
    expect(firstSix.filter((p) => p === "big")).toHaveLength(4);
  });

  it("passes fetch's own priority hint on, and rejects a bad priority or tenant naming it", async () => {
    const s = await server();
    const seen: unknown[] = [];
    const limited = limitFetch({
      fetch: (input, init) => {
        seen.push((init as { priority?: unknown } | undefined)?.priority);
        return fetch(input, init);
      },
    });
    await (await limited(s.url, { priority: "high" })).text();
    expect(seen).toEqual(["high"]);
    await expect(limited(s.url, { priority: 1.5 })).rejects.toThrow(/priority/);
    await expect(limited(s.url, { tenant: 7 as never })).rejects.toThrow(/tenant/);
    expect(() => limitFetch({ aging: 0 })).toThrow(/aging/);
    expect(() => limitFetch({ weights: 1 as never })).toThrow(/weights/);
  });
});

describe("limitInterceptor: priority and tenant in the dispatch options", () => {
  it("serves a higher priority first", async () => {
    const s = await server();
    const a = new Agent({ connections: 10 });
    cleanup.push(() => a.close());
    const limited = limitInterceptor({ concurrency: 1 });
    const dispatcher = a.compose(limited);
    const go = async (path: string, extra: object = {}): Promise<void> => {
      const { body } = await request(`${s.url}${path}`, { dispatcher, ...extra });
      await body.text();
    };
    const first = go("/first?delay=100");
    await tick();
    const all = [go("/low", { priority: -1 }), go("/high", { priority: 3 }), go("/zero", { tenant: "t" })];
    await tick();
    await Promise.all([first, ...all]);
    expect(arrived(s)).toEqual(["high", "zero", "low"]);
  });
});

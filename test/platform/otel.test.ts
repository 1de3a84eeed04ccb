/**
 * permit-pool/otel against the real OpenTelemetry SDK: a MeterProvider whose
 * PeriodicExportingMetricReader exports into the SDK's InMemoryMetricExporter,
 * flushed on demand. What a collector would receive is what is asserted.
 */
import diagnosticsChannel from "node:diagnostics_channel";
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AdaptiveSemaphore, KeyedSemaphore, Limiter, RateLimiter, Semaphore } from "../../src/index.js";
import { limitFetch } from "../../src/http/index.js";
import { startTestServer } from "../helpers/http-server.js";
import { PermitsMetrics, instrument } from "../../src/otel/index.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let exporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let provider: MeterProvider;
const bridges: PermitsMetrics[] = [];

function setUp(temporality: AggregationTemporality): void {
  exporter = new InMemoryMetricExporter(temporality);
  // A long interval: every export in these tests is an explicit forceFlush.
  reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  provider = new MeterProvider({ readers: [reader] });
}

function bridge(...args: ConstructorParameters<typeof PermitsMetrics>): PermitsMetrics {
  const created = new PermitsMetrics(...args);
  bridges.push(created);
  return created;
}

beforeEach(() => setUp(AggregationTemporality.CUMULATIVE));

afterEach(async () => {
  for (const b of bridges.splice(0)) b.close();
  await provider.shutdown();
});

/** Flushes once and returns the metrics of the last export, by instrument name. */
async function collect(): Promise<Map<string, MetricData>> {
  exporter.reset();
  await reader.forceFlush();
  const exported = exporter.getMetrics().at(-1);
  const byName = new Map<string, MetricData>();
  for (const scope of exported?.scopeMetrics ?? []) for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
  return byName;
}

/** The value of `metric`'s point whose attributes include `match`. */
function point<T>(metric: MetricData | undefined, match: Record<string, string>): DataPoint<T> | undefined {
  const points = (metric?.dataPoints ?? []) as DataPoint<T>[];
  return points.find((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
}

function gauges(metrics: Map<string, MetricData>, name: string, kind = "concurrency") {
  const match = { "permits.limiter.name": name, "permits.limiter.kind": kind };
  return {
    inUse: point<number>(metrics.get("permits.limiter.in_use"), match)?.value,
    queued: point<number>(metrics.get("permits.limiter.queued"), match)?.value,
    capacity: point<number>(metrics.get("permits.limiter.capacity"), match)?.value,
  };
}

describe("permit-pool/otel", () => {
  it("reports in-use, queued and capacity gauges per named limiter", async () => {
    const db = new Semaphore(3);
    const api = new Semaphore(1);
    bridge({ meterProvider: provider }).register("db", db).register("api", api);
    const held = [await db.acquire({ weight: 2 }), await api.acquire()];
    const waiting = [api.acquire(), api.acquire()];

    const metrics = await collect();
    expect(metrics.get("permits.limiter.in_use")?.dataPointType).toBe(DataPointType.GAUGE);
    expect(metrics.get("permits.limiter.in_use")?.descriptor.unit).toBe("{permit}");
    expect(gauges(metrics, "db")).toEqual({ inUse: 2, queued: 0, capacity: 3 });
    expect(gauges(metrics, "api")).toEqual({ inUse: 1, queued: 2, capacity: 1 });

    for (const p of held) p.release();
    for (const w of waiting) (await w).release();
    expect(gauges(await collect(), "api")).toEqual({ inUse: 0, queued: 0, capacity: 1 });
  });

  it("records the wait from acquire to grant in seconds in a histogram", async () => {
    const sem = new Semaphore(1);
    bridge({ meterProvider: provider }).register("pool", sem);
    const held = await sem.acquire(); // fast path: waited 0
    const waiting = sem.acquire();
    await sleep(60);
    held.release();
    (await waiting).release();

    const metrics = await collect();
    const histogram = metrics.get("permits.limiter.wait.duration");
    expect(histogram?.descriptor.unit).toBe("s");
    expect(histogram?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const value = point<Histogram>(histogram, { "permits.limiter.name": "pool" })?.value;
    expect(value?.count).toBe(2);
    expect(value?.sum).toBeGreaterThanOrEqual(0.05);
    expect(value?.sum).toBeLessThan(5);
    expect(value?.buckets.boundaries).toContain(0.1);
  });

  it("counts cancellations by reason: aborted and timeout", async () => {
    const sem = new Semaphore(1);
    bridge({ meterProvider: provider }).register("pool", sem);
    const held = await sem.acquire();
    const controller = new AbortController();
    const aborted = sem.acquire({ signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toThrow();
    await expect(sem.acquire({ timeout: 5 })).rejects.toThrow();
    held.release();

    const counter = (await collect()).get("permits.limiter.cancellations");
    expect(counter?.dataPointType).toBe(DataPointType.SUM);
    expect(point<number>(counter, { "permits.limiter.name": "pool", "permits.cancellation.reason": "aborted" })?.value).toBe(1);
    expect(point<number>(counter, { "permits.limiter.name": "pool", "permits.cancellation.reason": "timeout" })?.value).toBe(1);
  });

  it("reports both halves of a Limiter, a RateLimiter and a KeyedSemaphore summed over live keys", async () => {
    const limiter = new Limiter({ concurrency: 2, rate: { limit: 100, interval: 1_000 }, name: "partner" });
    const rate = new RateLimiter({ limit: 1, interval: 60_000, name: "slow" });
    const perHost = new KeyedSemaphore(2);
    bridges.push(instrument({ partner: limiter, slow: rate, hosts: perHost }, { meterProvider: provider }));
    const lp = await limiter.acquire();
    const rp = await rate.acquire();
    const rateWaiting = rate.acquire({ timeout: 50 }).catch(() => undefined);
    const hp = [await perHost.acquire("a.example"), await perHost.acquire("a.example"), await perHost.acquire("b.example")];
    const hostWaiting = perHost.acquire("a.example");

    const metrics = await collect();
    expect(gauges(metrics, "partner", "concurrency")).toEqual({ inUse: 1, queued: 0, capacity: 2 });
    expect(gauges(metrics, "partner", "rate").queued).toBe(0);
    expect(gauges(metrics, "partner", "rate").capacity).toBeUndefined(); // a rate has no fixed capacity
    expect(gauges(metrics, "slow", "rate")).toMatchObject({ inUse: 1, queued: 1 });
    expect(gauges(metrics, "hosts")).toEqual({ inUse: 3, queued: 1, capacity: 4 });

    lp.release();
    rp.release();
    await rateWaiting;
    for (const p of hp) p.release();
    (await hostWaiting).release();
  });

  it("reports only registered limiters, and nothing after unregister or close", async () => {
    // Delta temporality: a cumulative reader keeps re-exporting a series' last value.
    await provider.shutdown();
    setUp(AggregationTemporality.DELTA);
    const a = new Semaphore(1);
    const b = new Semaphore(1);
    const metrics = bridge({ meterProvider: provider, attributes: { service: "test" } });
    metrics.register("a", a);
    (await b.acquire()).release();
    let collected = await collect();
    expect(point(collected.get("permits.limiter.capacity"), { "permits.limiter.name": "a", service: "test" })).toBeDefined();
    expect(collected.get("permits.limiter.capacity")?.dataPoints).toHaveLength(1);

    expect(metrics.unregister("a")).toBe(true);
    expect(metrics.unregister("a")).toBe(false);
    collected = await collect();
    expect(collected.get("permits.limiter.capacity")?.dataPoints ?? []).toHaveLength(0);

    metrics.register("a", a);
    expect(diagnosticsChannel.channel("permits:granted").hasSubscribers).toBe(true);
    metrics.close();
    metrics.close(); // idempotent
    expect(diagnosticsChannel.channel("permits:granted").hasSubscribers).toBe(false);
    expect(() => metrics.register("b", b)).toThrow(/closed/);
  });

  it("reports an AdaptiveSemaphore's limit as a gauge that follows every change", async () => {
    const sem = new AdaptiveSemaphore({ algorithm: "aimd", initial: 8 });
    const changes: number[] = [];
    const onLimit = (message: unknown): void => void changes.push((message as { limit: number }).limit);
    diagnosticsChannel.subscribe("permits:limit", onLimit);
    try {
      bridge({ meterProvider: provider }).register("partner", sem);
      const limitOf = async () =>
        point<number>((await collect()).get("permits.limiter.limit"), { "permits.limiter.name": "partner", "permits.limiter.kind": "concurrency" })?.value;
      expect(await limitOf()).toBe(8);
      (await sem.acquire()).drop(); // 8 × 0.75
      expect(await limitOf()).toBe(6);
      sem.retryAfter(1_000);
      expect(await limitOf()).toBe(3);
      expect(changes).toEqual([6, 3]); // the gauge shows what permits:limit published last
      expect(gauges(await collect(), "partner").capacity).toBe(3);
    } finally {
      diagnosticsChannel.unsubscribe("permits:limit", onLimit);
    }
  });

  it("reports an adaptive limitFetch: requests, the global limit, and each origin's limit with permits.http.origin", async () => {
    const s = await startTestServer({ respond: (r) => (r.path === "/busy" ? { status: 503 } : {}) });
    try {
      const f = limitFetch({ concurrency: { algorithm: "aimd", initial: 8 }, perOrigin: { algorithm: "aimd", initial: 4 }, retries: 0 });
      bridge({ meterProvider: provider }).register("api", f);
      await (await f(`${s.url}/busy`)).text();
      const metrics = await collect();
      const name = { "permits.limiter.name": "api" };
      const limits = (metrics.get("permits.limiter.limit")?.dataPoints ?? []) as DataPoint<number>[];
      const global = limits.find((p) => p.attributes["permits.limiter.name"] === "api" && p.attributes["permits.http.origin"] === undefined);
      const origin = point<number>(metrics.get("permits.limiter.limit"), { ...name, "permits.http.origin": s.origin });
      expect(global?.value).toBe(6); // the 503 was a drop for both limits
      expect(origin?.value).toBe(3);
      expect(global?.value).toBe(f.stats().adaptive!.limit);
      expect(gauges(metrics, "api")).toEqual({ inUse: 0, queued: 0, capacity: 6 });
    } finally {
      await s.close();
    }
  });

  it("fails loudly on bad input", () => {
    // @ts-expect-error -- unknown option
    expect(() => new PermitsMetrics({ meterProvider: provider, prefix: "x" })).toThrow(/Unknown option `prefix`/);
    const metrics = bridge({ meterProvider: provider });
    metrics.register("db", new Semaphore(1));
    expect(() => metrics.register("db", new Semaphore(1))).toThrow(/already registered as "db"/);
    expect(() => metrics.register("", new Semaphore(1))).toThrow(TypeError);
    // @ts-expect-error -- not a limiter
    expect(() => metrics.register("x", {})).toThrow(/permits limiter/);
  });

  it("uses the global MeterProvider when none is given", () => {
    const metrics = bridge();
    expect(metrics.recordsWaits).toBe(true);
    expect(metrics.register("db", new Semaphore(1)).names).toEqual(["db"]);
  });
});

/** AsyncLocalStorage context of the caller survives the queue (as p-limit tests it). */
import { AsyncLocalStorage } from "node:async_hooks";
import { describe, expect, it } from "vitest";
import { KeyedSemaphore, Semaphore, limit, map } from "../../src/index.js";
import { deferred, flush } from "./helpers.js";

const als = new AsyncLocalStorage<string>();

describe("AsyncLocalStorage context", () => {
  it("continues into the code after `await acquire()` when the grant comes from another context's release", async () => {
    const sem = new Semaphore(1);
    const holder = await als.run("holder", () => sem.acquire());
    const seen = als.run("waiter", async () => {
      const permit = await sem.acquire();
      const store = als.getStore();
      permit.release();
      return store;
    });
    await flush();
    als.run("releaser", () => holder.release());
    expect(await seen).toBe("waiter");
  });

  it("continues into run() callbacks that had to wait", async () => {
    const sem = new Semaphore(1);
    const gate = deferred();
    const first = als.run("first", () => sem.run(() => gate.promise));
    const stores = Promise.all(
      ["a", "b", "c"].map((name) => als.run(name, () => sem.run(async () => {
        await flush();
        return als.getStore();
      }))),
    );
    await flush();
    als.run("other", () => gate.resolve());
    await first;
    expect(await stores).toEqual(["a", "b", "c"]);
  });

  it("continues into limit() callbacks that had to wait", async () => {
    const lim = limit(1);
    const gate = deferred();
    const first = als.run("first", () => lim(() => gate.promise));
    const stores = Promise.all(["a", "b", "c"].map((name) => als.run(name, () => lim(() => als.getStore()))));
    await flush();
    als.run("other", () => gate.resolve());
    await first;
    expect(await stores).toEqual(["a", "b", "c"]);
  });

  it("continues into map() callbacks and KeyedSemaphore.run callbacks", async () => {
    const fromMap = await als.run("mapper", () => map([1, 2, 3], async () => als.getStore(), { concurrency: 1 }));
    expect(fromMap).toEqual(["mapper", "mapper", "mapper"]);

    const keyed = new KeyedSemaphore(1);
    const gate = deferred();
    const first = als.run("first", () => keyed.run("k", () => gate.promise));
    const second = als.run("second", () => keyed.run("k", () => als.getStore()));
    await flush();
    als.run("other", () => gate.resolve());
    await first;
    expect(await second).toBe("second");
  });
});

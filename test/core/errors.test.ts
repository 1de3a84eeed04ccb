/** Error classes: a name, a stable code, and instanceof across two copies of the package. */
import { describe, expect, it, vi } from "vitest";
import * as permits from "../../src/index.js";
import { ClosedError, Semaphore } from "../../src/index.js";

type Module = typeof permits;

/** Every exported class that builds Errors, except a base class that needs a code to be built. */
function errorClasses(mod: Module): [string, new () => Error][] {
  return (Object.entries(mod) as [string, unknown][]).filter(
    (entry): entry is [string, new () => Error] =>
      typeof entry[1] === "function" && entry[1].prototype instanceof Error && entry[0] !== "PermitsError",
  );
}

/** A second, independent copy of the package's module graph (as if installed twice). */
async function secondCopy(): Promise<Module> {
  vi.resetModules();
  const copy: Module = await import("../../src/index.js");
  expect(copy.ClosedError).not.toBe(ClosedError); // really a second copy
  return copy;
}

describe("errors", () => {
  it("ClosedError has a name, a stable code, and is an Error", () => {
    const err = new ClosedError();
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(ClosedError);
    expect(err.name).toBe("ClosedError");
    expect(typeof err.code).toBe("string");
    expect(err.code.length).toBeGreaterThan(0);
    expect(new ClosedError().code).toBe(err.code);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err.stack).toBeDefined();
  });

  it("every exported error class has its own name and a stable string code", () => {
    const classes = errorClasses(permits);
    expect(classes.map(([name]) => name)).toContain("ClosedError");
    for (const [exportName, ErrorClass] of classes) {
      const err = new ErrorClass() as Error & { code?: unknown };
      expect(typeof err.code, exportName).toBe("string");
      expect(err.name).toBe(exportName);
    }
  });

  it("a closed semaphore rejects with a fresh ClosedError each time, never a shared instance", async () => {
    const sem = new Semaphore(1);
    sem.close();
    const e1 = await sem.acquire().catch((e: unknown) => e);
    const e2 = await sem.acquire().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ClosedError);
    expect(e2).toBeInstanceOf(ClosedError);
    expect(e1).not.toBe(e2);
  });

  it("instanceof works across two copies of the package", async () => {
    const copy = await secondCopy();
    expect(new copy.ClosedError()).toBeInstanceOf(ClosedError);
    expect(new ClosedError()).toBeInstanceOf(copy.ClosedError);
    expect(new copy.ClosedError().code).toBe(new ClosedError().code);

    const sem = new copy.Semaphore(1);
    sem.close();
    const err = await sem.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClosedError);

    for (const [name, ErrorClass] of errorClasses(copy)) {
      const Original = (permits as unknown as Record<string, new () => Error>)[name];
      expect(Original, name).toBeDefined();
      expect(new ErrorClass(), name).toBeInstanceOf(Original as new () => Error);
      expect(new ErrorClass(), name).toBeInstanceOf(permits.PermitsError); // the base matches every error of any copy
    }
  });

  it("instanceof across copies does not confuse different error classes or plain errors", async () => {
    const copy = await secondCopy();
    expect(new Error("plain")).not.toBeInstanceOf(copy.ClosedError);
    expect(new TypeError("plain")).not.toBeInstanceOf(ClosedError);
    const others = errorClasses(copy).filter(([name]) => name !== "ClosedError");
    for (const [name, Other] of others) {
      expect(new Other(), name).not.toBeInstanceOf(ClosedError);
    }
  });
});

// The benchmark's quick mode, run as `npm run bench -- --quick` would run it: it proves
// that every adapter loads, runs every workload it takes part in, and holds its limit.
// No speed assertions: numbers from a few-second run on a shared machine mean nothing.

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Cell {
  workload: string;
  adapter: string;
  cap: number;
  samples: number[];
  failures: string[];
  limit: { max: number; expected: number; completed: boolean } | null;
}

const ADAPTERS = [
  "floor",
  "naive",
  "naive+permit",
  "naive+signal",
  "permits",
  "permits run()",
  "permits limit()",
  "permits map()",
  "p-limit",
  "p-limit .map",
  "p-queue",
  "async-sema",
  "async-mutex",
  "es-toolkit",
  "@shopify/semaphore",
  "p-map",
];
const WORKLOADS = ["a", "b", "c", "d", "e-weighted", "e-keyed", "f"];

let dir: string;
let cells: Cell[] = [];
let stdout = "";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "permits-bench-"));
  const json = join(dir, "quick.json");
  const result = await promisify(execFile)(process.execPath, ["bench/run.js", "--quick", "--json", json], {
    cwd: join(import.meta.dirname, ".."),
    maxBuffer: 16 * 1024 * 1024,
  });
  stdout = result.stdout;
  cells = (JSON.parse(await readFile(json, "utf8")) as { cells: Cell[] }).cells;
}, 240_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("npm run bench -- --quick", () => {
  it("runs every adapter and every workload", () => {
    expect(new Set(cells.map((c) => c.adapter))).toEqual(new Set(ADAPTERS));
    expect(new Set(cells.map((c) => c.workload))).toEqual(new Set(WORKLOADS));
    // (b) at capacities 1, 4 and 64, and (d) at two queue lengths.
    expect(new Set(cells.filter((c) => c.workload === "b").map((c) => c.cap))).toEqual(new Set([1, 4, 64]));
  });

  it("measures every cell without a failure", () => {
    const failed = cells.filter((c) => c.failures.length > 0 || c.samples.length === 0);
    expect(failed.map((c) => `${c.workload}/${c.adapter}: ${c.failures.join("; ")}`)).toEqual([]);
    for (const c of cells) expect(c.samples.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
  });

  it("proves every limiter reaches exactly its capacity before it is timed", () => {
    for (const c of cells) {
      if (c.adapter === "floor") {
        expect(c.limit).toBeNull();
        continue;
      }
      expect(c.limit, `${c.workload}/${c.adapter}`).toEqual({ max: c.cap, expected: c.cap, completed: true });
    }
  });

  it("prints the Markdown report with the targets and one table per workload", () => {
    expect(stdout).toContain("## Targets");
    expect(stdout).toContain("| adapter | median");
    for (const w of ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]) expect(stdout).toContain(`### ${w}`);
  });
});

// Issue 12's cells (`--set scheduling`): priority, fair share, memory, the FIFO path and
// the user-style hand-off, each proving its limiter first. No speed assertions here either.
describe("npm run bench -- --set scheduling --quick", () => {
  let sched: Cell[] = [];
  let out = "";
  beforeAll(async () => {
    const json = join(dir, "scheduling.json");
    const result = await promisify(execFile)(process.execPath, ["bench/run.js", "--set", "scheduling", "--quick", "--json", json], {
      cwd: join(import.meta.dirname, ".."),
      maxBuffer: 16 * 1024 * 1024,
    });
    out = result.stdout;
    sched = (JSON.parse(await readFile(json, "utf8")) as { cells: Cell[] }).cells;
  }, 240_000);

  it("measures every scheduling cell without a failure, priority and fair share among them", () => {
    const failed = sched.filter((c) => c.failures.length > 0 || c.samples.length === 0);
    expect(failed.map((c) => `${c.workload}/${c.adapter}: ${c.failures.join("; ")}`)).toEqual([]);
    const workloads = new Set(sched.map((c) => c.workload));
    for (const w of ["p", "b", "u", "s", "l", "c"]) expect(workloads).toContain(w);
    const adapters = new Set(sched.map((c) => c.adapter));
    for (const a of ["permits priority", "permits tenant", "p-queue", "naive priority"]) expect(adapters).toContain(a);
  });

  it("prints every issue-12 target with its floor beside it", () => {
    expect(out).toContain("priority enqueue + drain: permits ≥ 10× p-queue");
    expect(out).toContain("the floor of the first ratio");
    expect(out).toContain("hand-off with random priorities ≥ 0.8× FIFO permits");
    expect(out).toContain("Jain's index");
  });
});

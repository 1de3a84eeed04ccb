// A smoke run of `npm run bench:adaptive` (bench/adaptive/run.js) in quick mode:
// short simulated phases, three controllers, no real-time run, no cost
// measurement. It proves the benchmark runs and its outputs are well-formed, and
// that the server model behaves as documented (a static limit of 10 at the knee:
// 100 requests/s at exactly the 100 ms no-load latency, no 503s). No speed
// thresholds: figures that depend on this machine are `npm run bench:adaptive`'s.

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface Check {
  section: string;
  name: string;
  figure: string;
  target: string;
  pass: boolean;
  asserted: boolean;
}
interface Phase {
  label: string;
  goodput: number;
  p99: number;
  deferred: number;
}
interface Result {
  quick: boolean;
  checks: Check[];
  figures: Record<string, { phases: Phase[]; conv?: number; windows: number }>;
  svgs: string[];
}

let dir: string;
let result: Result;
let markdown: string;
let stdout: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "permits-bench-adaptive-"));
  const out = await promisify(execFile)(
    process.execPath,
    [
      "bench/adaptive/run.js",
      "--quick",
      "--no-real",
      "--no-cost",
      "--only",
      "gradient2,static-10,netflix-aimd",
      "--svg-dir",
      dir,
      "--json",
      join(dir, "result.json"),
      "--out",
      join(dir, "RESULTS.md"),
    ],
    { cwd: join(import.meta.dirname, ".."), maxBuffer: 16 * 1024 * 1024 },
  );
  stdout = out.stdout;
  result = JSON.parse(await readFile(join(dir, "result.json"), "utf8")) as Result;
  markdown = await readFile(join(dir, "RESULTS.md"), "utf8");
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("npm run bench:adaptive -- --quick", () => {
  it("reports every check with a figure, a target and a verdict, on stdout and in the JSON", () => {
    expect(result.quick).toBe(true);
    expect(result.checks.length).toBeGreaterThanOrEqual(14);
    for (const c of result.checks) {
      expect(typeof c.pass).toBe("boolean");
      expect(c.figure.length).toBeGreaterThan(0);
      expect(c.target.length).toBeGreaterThan(0);
      expect(stdout).toContain(`${c.section} · ${c.name}: ${c.figure}`);
    }
    const names = result.checks.map((c) => `${c.section} · ${c.name}`);
    for (const expected of [
      "sim gradient2 · limit reaches [0.85 K, 1.2 K] from initial 4",
      "sim gradient2 · deferred (503) after convergence",
      "sim gradient2 · capacity 10 → 3: limit ≤ 4",
      "sim gradient2 · restored 3 → 10: limit ≥ 9",
      "creep gradient2 · limit over 1 min after settling at",
      "drift gradient2 · no-load RTT estimate (true: 100 ms)",
    ]) {
      expect(names.some((name) => name.startsWith(expected)), expected).toBe(true);
    }
    expect(names.some((name) => name.startsWith("sim aimd vs netflix-aimd"))).toBe(false); // aimd was not run
  });

  it("the server model holds its documented shape: static 10 at the knee gets 100/s at 100 ms, no 503s", () => {
    const steady = result.figures["static-10"]!.phases[0]!;
    expect(steady.goodput).toBeGreaterThan(98);
    expect(steady.goodput).toBeLessThanOrEqual(100.5);
    expect(steady.p99).toBe(100);
    expect(steady.deferred).toBe(0);
    // Capacity 3 (503s above 4): static 10 saturates the server at 30/s and is refused the rest.
    const low = result.figures["static-10"]!.phases[1]!;
    expect(low.goodput).toBeGreaterThan(29);
    expect(low.goodput).toBeLessThan(32);
    expect(low.deferred).toBeGreaterThan(0.5);
  });

  it("the adaptive controller ran its windows on virtual time", () => {
    const ours = result.figures.gradient2!;
    expect(ours.windows).toBeGreaterThan(50);
    expect(ours.conv).toBeGreaterThan(0);
  });

  it("writes well-formed SVG pictures and the Markdown report", async () => {
    expect(result.svgs.map((f) => f.split(/[\\/]/).pop()).sort()).toEqual(["adaptive-capacity.svg", "adaptive-creep.svg", "adaptive-drift.svg"]);
    for (const file of result.svgs) {
      const svg = await readFile(file, "utf8");
      expect(svg.startsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"")).toBe(true);
      expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
      expect(svg).not.toMatch(/NaN|undefined|Infinity/);
      expect(svg.match(/<path d="M/g)?.length ?? 0).toBeGreaterThanOrEqual(3);
    }
    expect(markdown).toContain("npm run bench:adaptive");
    expect(markdown).toContain("| where | check | figure | target | |");
  });
});

/**
 * `permits demo` end to end: the CLI is spawned from source and runs against
 * its own loopback server; these tests read what it printed.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApproachRun } from "../../packages/cli/src/demo/model.js";
import { runCli } from "./run-cli.js";

/** The escape that starts an ANSI colour sequence. */
const ESC = "\u001b[";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "permits-demo-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Each test spawns the CLI; on a loaded machine a spawn alone can take seconds.
describe("permits demo (the seed's scenario: 10 requests, limit 3, 100 ms each)", { timeout: 60_000 }, () => {
  it("the Semaphore and limitFetch hold the server at exactly 3; the article's versions show what they really do", async () => {
    const result = await runCli(["demo", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { requests: number; limit: number; runs: ApproachRun[] };
    expect(report).toMatchObject({ requests: 10, limit: 3 });
    const byKey = Object.fromEntries(report.runs.map((run) => [run.key, run]));
    expect(Object.keys(byKey)).toEqual(["polled", "locked", "semaphore", "limitFetch"]);
    for (const run of report.runs) {
      expect(run.traces, run.key).toHaveLength(10);
      expect(run.server, run.key).toHaveLength(10);
      expect(run.traces.every((t) => t.ended !== undefined && t.error === undefined), run.key).toBe(true);
    }
    expect(byKey.semaphore?.serverPeak).toBe(3);
    expect(byKey.limitFetch?.serverPeak).toBe(3);
    // No await between check and increment: the polled counter cannot overshoot in JavaScript…
    expect(byKey.polled?.serverPeak).toBeLessThanOrEqual(3);
    // …and it pays with wake-ups that find no slot.
    expect(byKey.polled?.traces.some((t) => t.wakeUps.some((w) => w.wasted))).toBe(true);
    // The lock version, checked outside the lock as written, lets everyone through.
    expect(byKey.locked?.serverPeak).toBeGreaterThan(3);
  });

  it("prints the table, verdicts and a timeline per approach, and writes the SVG", async () => {
    const svg = join(dir, "timeline.svg");
    const result = await runCli(["demo", "--requests", "6", "--limit", "2", "--delay", "50ms", "--width", "80", "--svg", svg]);
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out).toContain("permits demo: 6 requests, limit 2, the server takes 50 ms per request");
    expect(out).toMatch(/^approach\s+server peak\s+total\s+mean wait\s+max wait\s+wake-ups \(wasted\)$/m);
    expect(out).toMatch(/^3 Semaphore\s+2 \/ 2\s+\d+ ms\s+\d+ ms\s+\d+ ms\s+0 \(0\)$/m);
    expect(out).toMatch(/^4 limitFetch\s+2 \/ 2\s+\d+ ms/m);
    expect(out).toMatch(/^2 counter \+ Lock\s+[3-6] \/ 2 ✗/m);
    expect(out).toMatch(/^2 counter \+ Lock: OVER THE LIMIT/m);
    for (const heading of ["1 polled counter ·", "2 counter + Lock ·", "3 Semaphore ·", "4 limitFetch ·"]) {
      expect(out).toContain(heading);
    }
    // One row per request in every timeline, none wider than asked.
    expect(out.match(/^ {3}#6 /gm)).toHaveLength(4);
    for (const line of out.split("\n")) expect([...line].length).toBeLessThanOrEqual(80);
    expect(out).not.toContain(ESC); // NO_COLOR is set by the test runner helper
    expect(out).toContain(`SVG timeline written to ${svg}`);
    const picture = await readFile(svg, "utf8");
    expect(picture).toMatch(/^<\?xml[^>]*>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(picture.match(/<rect [^>]*fill="#2563eb"/g)?.length).toBe(24);
  });

  it("--only runs the chosen approaches; 5 is the lock version with asyncio's semantics, which does not race", async () => {
    const result = await runCli(["demo", "--only", "lockedAsyncio,semaphore,4", "--requests", "6", "--delay", "30", "--json"]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { runs: ApproachRun[] };
    expect(report.runs.map((r) => r.key)).toEqual(["semaphore", "limitFetch", "lockedAsyncio"]);
    for (const run of report.runs) expect(run.serverPeak, run.key).toBe(3);
  });

  it("--help explains the four approaches and exits 0", async () => {
    const result = await runCli(["demo", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: permits demo/);
    expect(result.stdout).toContain("--svg <file>");
  });

  it("a bad value is a usage error: message on stderr, no stack trace, exit 2", async () => {
    const result = await runCli(["demo", "--limit", "abc"]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "permits: Expected `--limit` to be an integer from 1 to 1000, got `abc`\nRun `permits demo --help` for usage.\n",
    );
  });
});

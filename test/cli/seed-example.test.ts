/**
 * examples/seed.ts — the seed's example rewritten with `permits` — runs and
 * holds its limit. It imports the package by name, so it needs the build
 * (`npm test` builds first); without dist/ the test is skipped.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./run-cli.js";

const built = existsSync(join(ROOT, "dist", "index.js"));

describe("examples/seed.ts", () => {
  it.skipIf(!built)("runs the seed's 10 requests through a Semaphore(3); its server never sees more than 3", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "examples/seed.ts"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    clearTimeout(killer);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^10 requests in \d+ ms; the server saw at most 3 at once\.\n$/);
  });
});

/**
 * Issue 10 §3: library users get zero runtime dependencies; the CLI and its
 * dependencies (cli-progress) reach only those who run the CLI. The CLI is its
 * own package in an npm workspace (packages/cli, `permit-pool-cli`, bin
 * `permits`); the root package (`permit-pool`) is the library alone.
 */
import { execFile, execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "./run-cli.js";

const run = promisify(execFile);

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  bin?: Record<string, string> | string;
  workspaces?: string[];
}
const manifest = (path: string): Manifest => JSON.parse(readFileSync(join(ROOT, path), "utf8")) as Manifest;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("packaging: the library has no runtime dependencies, the CLI is a package of its own", () => {
  it("permit-pool has no dependencies and no bin; permit-pool-cli has the bin and the CLI's dependencies", () => {
    const lib = manifest("package.json");
    expect(lib.name).toBe("permit-pool");
    expect(lib.dependencies ?? {}).toEqual({});
    expect(lib.bin).toBeUndefined();
    expect(lib.workspaces).toEqual(["packages/cli"]);
    const cli = manifest("packages/cli/package.json");
    expect(cli.name).toBe("permit-pool-cli");
    // A file kept in git, not one in dist/: npm links a bin only if its file exists at install time, and in a
    // fresh clone `npm ci` runs before the build (`npx permits` would then fetch an unrelated registry package).
    expect(cli.bin).toEqual({ permits: "./bin/permits.js" });
    expect(execFileSync("git", ["ls-files", "packages/cli/bin/permits.js"], { cwd: ROOT, encoding: "utf8" }).trim()).toBe(
      "packages/cli/bin/permits.js",
    );
    expect(Object.keys(cli.dependencies ?? {}).sort()).toEqual(["cli-progress", "permit-pool"]);
    expect(cli.dependencies?.["permit-pool"]).toBe(`^${lib.version}`);
  });

  it("no library source imports the CLI or cli-progress", () => {
    for (const file of sourceFiles(join(ROOT, "src"))) {
      const text = readFileSync(file, "utf8");
      expect(text, file).not.toMatch(/from "cli-progress"|\/cli\//);
    }
  });

  it("the library's tarball holds no CLI file, and the CLI imports the library by name only", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, timeout: 60_000 });
    const [packed] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
    const paths = packed?.files.map((f) => f.path) ?? [];
    expect(paths.length).toBeGreaterThan(0);
    // A failure here in a working copy can be a stale dist/cli from an older build: remove dist/ and build again.
    expect(paths.filter((p) => /(^|\/)cli(\/|\.)|cli-progress/.test(p))).toEqual([]);
    for (const file of sourceFiles(join(ROOT, "packages/cli/src"))) {
      expect(readFileSync(file, "utf8"), file).not.toMatch(/from "\.\.\/\.\.\/\.\.\/|from "\.\.\/\.\.\/(index|http|core)/);
    }
  }, 60_000);

  it("`npx permits` works inside the repository after a build (the workspace links its bin)", async () => {
    const { stdout } = await run("npx", ["--no-install", "permits", "--version"], { cwd: ROOT, timeout: 60_000 });
    expect(stdout).toBe(`${manifest("packages/cli/package.json").version}\n`);
  }, 60_000);
});

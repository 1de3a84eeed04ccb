/**
 * scripts/ensure-system-deps.sh, the first step of `npm test`: on a fresh
 * Debian machine it installs what npm cannot (redis-server, redis-tools,
 * chromium, tmux) when root, and otherwise stops at once naming the packages
 * and the command. Run with PATH set to a scratch directory of stand-ins:
 * `id` says who we are, `apt-get` records its arguments and "installs" a
 * package by creating the program it provides. (The real apt-get would change
 * this machine; everything else is the real script in the real bash.)
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { scratchDir } from "../helpers/code-blocks.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const script = join(root, "scripts/ensure-system-deps.sh");
const PROGRAMS = { "redis-server": "redis-server", "redis-tools": "redis-cli", chromium: "chromium", tmux: "tmux" };
let dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function executable(path: string, body: string): void {
  writeFileSync(path, `#!/bin/bash\n${body}\n`, { mode: 0o755 });
}

/** A PATH directory holding `programs`, an `id` answering `uid`, and (optionally) a recording apt-get. */
function machine(programs: string[], uid: number, aptGet = true): { bin: string; log: string } {
  const bin = scratchDir(root, "permits-system-deps");
  dirs.push(bin);
  const log = join(bin, "apt-get.log");
  for (const program of programs) executable(join(bin, program), "exit 0");
  executable(join(bin, "id"), `echo ${uid}`);
  if (aptGet) {
    const installs = Object.entries(PROGRAMS)
      .map(([pkg, program]) => `    ${pkg}) printf '#!/bin/bash\\n' > "${bin}/${program}"; /bin/chmod +x "${bin}/${program}" ;;`)
      .join("\n");
    executable(
      join(bin, "apt-get"),
      `echo "$*" >> "${log}"\n[ "$1" = install ] || exit 0\nfor pkg in "$@"; do\n  case "$pkg" in\n${installs}\n  esac\ndone`,
    );
  }
  return { bin, log };
}

function run(bin: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile("/bin/bash", [script], { env: { PATH: bin }, timeout: 10_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
    });
  });
}

describe("scripts/ensure-system-deps.sh", () => {
  it("does nothing and says nothing when every program is there", async () => {
    const { bin, log } = machine(Object.values(PROGRAMS), 1000);
    const result = await run(bin);
    expect(result).toEqual({ code: 0, stderr: "" });
    expect(existsSync(log)).toBe(false);
  });

  it("as a user, stops at once naming the missing packages and the exact command, installing nothing", async () => {
    const { bin, log } = machine(["redis-server", "chromium"], 1000);
    const result = await run(bin);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Debian packages: redis-tools tmux");
    expect(result.stderr).toContain("sudo apt-get update && sudo apt-get install -y --no-install-recommends redis-tools tmux");
    expect(existsSync(log)).toBe(false);
  });

  it("as root on a fresh machine, installs all four with apt-get, then finds them", async () => {
    const { bin, log } = machine([], 0);
    const result = await run(bin);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(log, "utf8").trim().split("\n")).toEqual([
      "update -qq",
      "install -y -qq --no-install-recommends redis-server redis-tools chromium tmux",
    ]);
    for (const program of Object.values(PROGRAMS)) expect(existsSync(join(bin, program)), program).toBe(true);
    expect(result.stderr).toContain("installed redis-server redis-tools chromium tmux");
  });

  it("as root, fails if a program is still missing after the install", async () => {
    const { bin } = machine([], 0);
    executable(join(bin, "apt-get"), "exit 0"); // installs nothing
    const result = await run(bin);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("still cannot find: redis-server redis-cli chromium tmux");
  });

  it("as root without apt-get, stops naming the packages", async () => {
    const { bin } = machine(["redis-server", "redis-cli", "chromium"], 0, false);
    const result = await run(bin);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no apt-get here; install these with your system's package manager: tmux");
  });
});

/** The command dispatcher, in process (fast): help, version, unknown commands, usage errors. */
import { readFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Io } from "../../packages/cli/src/io.js";
import { terminalWidth } from "../../packages/cli/src/io.js";
import { main } from "../../packages/cli/src/run.js";

function memoryIo(): Io & { out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  return {
    stdin: new PassThrough(),
    stdout,
    stderr,
    env: {},
    onInterrupt: () => () => {},
    out: () => out,
    err: () => err,
  };
}

describe("permits (no command)", () => {
  it("without a command prints the usage on stderr and exits 2", async () => {
    const io = memoryIo();
    expect(await main([], io)).toBe(2);
    expect(io.err()).toMatch(/^Usage: permits <command>/);
    expect(io.out()).toBe("");
  });

  it("--help prints the usage on stdout and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const io = memoryIo();
      expect(await main([flag], io)).toBe(0);
      expect(io.out()).toContain("demo");
      expect(io.out()).toContain("fetch [file]");
    }
  });

  it("`help <command>` is that command's --help", async () => {
    const io = memoryIo();
    expect(await main(["help", "fetch"], io)).toBe(0);
    expect(io.out()).toMatch(/^Usage: permits fetch/);
  });

  it("--version prints the package version", async () => {
    const { version } = JSON.parse(readFileSync(new URL("../../packages/cli/package.json", import.meta.url), "utf8")) as { version: string };
    const io = memoryIo();
    expect(await main(["--version"], io)).toBe(0);
    expect(io.out()).toBe(`${version}\n`);
  });

  it("an unknown command is a usage error naming it", async () => {
    const io = memoryIo();
    expect(await main(["fecth"], io)).toBe(2);
    expect(io.err()).toBe("permits: Unknown command `fecth` (expected one of: demo, fetch)\nRun `permits --help` for usage.\n");
  });

  it("usage errors of a command point to that command's help", async () => {
    const io = memoryIo();
    expect(await main(["demo", "--requests", "0"], io)).toBe(2);
    expect(io.err()).toBe(
      "permits: Expected `--requests` to be an integer from 1 to 1000, got `0`\nRun `permits demo --help` for usage.\n",
    );
  });

  it.each([
    [["fetch", "a.txt", "b.txt"], /Unexpected argument "b.txt"/],
    [["fetch", "."], /Cannot read `.`: it is a directory/],
    [["fetch", "no/such/file.txt"], /Cannot read `no\/such\/file.txt`: ENOENT/],
    [["fetch", "--burst", "5"], /`--burst` needs `--rate`/],
    [["fetch", "--timeout", "0"], /`--timeout`.*above 0, got `0`/],
    [["fetch", "--retries", "-1"], /^permits: Option '--retries' argument is ambiguous\. Did you forget/],
    [["demo", "--only", "6"], /Expected `--only` to list approaches by number \(1-5\)/],
    [["demo", "--only", "1", "--all"], /`--only` and `--all` do not go together/],
    [["demo", "--delay", "2h"], /capped at 60s/],
    [["demo", "extra"], /Unexpected argument "extra"/],
  ])("%j is a usage error", async (args, message) => {
    const io = memoryIo();
    expect(await main(args, io)).toBe(2);
    expect(io.err()).toMatch(message);
    expect(io.err()).not.toMatch(/\n\s+at /);
  });
});

describe("terminalWidth", () => {
  it("uses the terminal's width, else $COLUMNS, else 80", () => {
    expect(terminalWidth({ write: () => true, isTTY: true, columns: 120 }, { COLUMNS: "90" })).toBe(120);
    expect(terminalWidth({ write: () => true }, { COLUMNS: "90" })).toBe(90);
    expect(terminalWidth({ write: () => true }, { COLUMNS: "wide" })).toBe(80);
    expect(terminalWidth({ write: () => true }, {})).toBe(80);
  });
});

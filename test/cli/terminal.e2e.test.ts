/**
 * Issue 10 §4: `permits` in a real terminal. Each test runs the CLI (from
 * source) in a tmux pane of 100×30 on a tmux server of its own, against a
 * loopback HTTP server in this process, and reads the screen back with
 * `capture-pane` (`-J`: lines the terminal wrapped are joined again, so a
 * line that was cut shows as cut) and the raw bytes the pane received
 * (`pipe-pane`). Skipped, saying so, when tmux is not installed.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http-server.js";
import { ROOT } from "./run-cli.js";

const hasTmux = ((): boolean => {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasTmux) console.warn("test/cli/terminal.e2e.test.ts: SKIPPED — tmux is not installed (apt-get install tmux)");

const SOCKET = `permits-test-${process.pid}`;
let dir: string;
let sessions = 0;
const servers: TestServer[] = [];

/** Runs a tmux command on our own tmux server (never the user's), asynchronously: the test server must keep answering. */
function tmux(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("tmux", ["-L", SOCKET, "-f", "/dev/null", ...args], { encoding: "utf8", timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`tmux ${args.join(" ")}: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A pane running `shell` (sh syntax) in the repository root, with its raw output recorded. */
interface Pane {
  /** The screen and its scrollback, wrapped lines joined, trailing blanks dropped. */
  screen(): Promise<string[]>;
  /** Every byte the pane received. */
  raw(): Promise<string>;
  /** Polls the screen every 100 ms until `condition` holds (at most `timeout` ms). */
  waitFor(condition: (lines: string[]) => boolean, what: string, timeout?: number): Promise<string[]>;
  keys(...keys: string[]): Promise<void>;
  /** The exit code the command printed as `EXIT=<code>`, once it has. */
  exitCode(timeout?: number): Promise<number>;
}

async function pane(shell: string): Promise<Pane> {
  const name = `t${++sessions}`;
  const rawFile = join(dir, `${name}.raw`);
  // `read` holds the command back until pipe-pane is recording; FORCE_COLOR from the runner would override NO_COLOR.
  const command = `read _go; cd ${JSON.stringify(ROOT)} && export NO_COLOR=1 && unset FORCE_COLOR && ${shell}; echo "EXIT=$?"; sleep 600`;
  await tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "30", command);
  await tmux("pipe-pane", "-o", "-t", name, `cat >> ${JSON.stringify(rawFile)}`);
  await tmux("send-keys", "-t", name, "Enter");
  const screen = async (): Promise<string[]> => {
    const text = await tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", name);
    const lines = text.split("\n").map((line) => line.trimEnd());
    while (lines.length > 0 && lines.at(-1) === "") lines.pop();
    return lines;
  };
  const waitFor = async (condition: (lines: string[]) => boolean, what: string, timeout = 30_000): Promise<string[]> => {
    const until = performance.now() + timeout;
    for (;;) {
      const lines = await screen();
      if (condition(lines)) return lines;
      if (performance.now() > until) throw new Error(`timed out waiting for ${what}; the screen:\n${lines.join("\n")}`);
      await sleep(100);
    }
  };
  return {
    screen,
    raw: () => readFile(rawFile, "utf8").catch(() => ""),
    waitFor,
    keys: async (...keys) => void (await tmux("send-keys", "-t", name, ...keys)),
    async exitCode(timeout = 30_000) {
      // Anywhere in a line: a garbled screen (the shell's output landing on top of earlier lines) must fail on what
      // it shows, not time out here.
      const exit = (lines: string[]) => lines.map((line) => /EXIT=(\d+)/.exec(line)?.[1]).find((code) => code !== undefined);
      return Number(exit(await waitFor((l) => exit(l) !== undefined, "the command to exit", timeout)));
    },
  };
}

const cli = (args: string): string => `${JSON.stringify(process.execPath)} --import tsx packages/cli/src/main.ts ${args}`;

const isResult = (line: string): boolean => line.startsWith("{");
const BAR = /\d+\/\d+ \| \d+ ok, \d+ failed/;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "permits-tty-"));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  if (hasTmux) await tmux("kill-server").catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

async function server(options: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const s = await startTestServer(options);
  servers.push(s);
  return s;
}

async function urlFile(name: string, lines: string[]): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

describe.skipIf(!hasTmux)(
  hasTmux ? "permits in a real terminal (tmux, 100×30)" : "permits in a real terminal — SKIPPED: tmux is not installed (apt-get install tmux)",
  { timeout: 90_000 },
  () => {
    it("fetch: results scroll above a bar redrawn in place; nothing is cut; wrapping and the cursor are left alone", async () => {
      const s = await server({ delay: 40 });
      // Lines longer than the 100 columns: the terminal must wrap them, not cut them.
      const long = "/a-path-long-enough-that-the-result-line-is-wider-than-the-terminal/".repeat(2);
      const urls = [...Array.from({ length: 39 }, (_, i) => `${s.url}${i % 5 === 0 ? long : "/"}${i}`), `${s.url}/missing?status=404`];
      const p = await pane(cli(`fetch ${JSON.stringify(await urlFile("list.txt", urls))} --concurrency 4`));
      expect(await p.exitCode()).toBe(1); // the 404
      const lines = await p.screen();
      const results = lines.filter(isResult);
      expect(results).toHaveLength(40);
      const parsed = results.map((line) => JSON.parse(line) as { url: string; error: string | null });
      expect(parsed.map((r) => r.url).sort()).toEqual([...urls].sort());
      expect(parsed.find((r) => r.url.endsWith("status=404"))?.error).toBe("HTTP 404 Not Found");
      // One bar is left on the screen, the final one, below every result and above the summary.
      const bars = lines.filter((line) => BAR.test(line));
      expect(bars).toHaveLength(1);
      expect(bars[0]).toMatch(/ 40\/40 \| 39 ok, 1 failed \| /);
      const lastResult = lines.length - 1 - [...lines].reverse().findIndex(isResult);
      const barAt = lines.findIndex((line) => BAR.test(line));
      const summaryAt = lines.findIndex((line) => /^permits: 40 lines: 39 ok, 1 failed in [\d.]+s$/.test(line));
      expect(barAt).toBeGreaterThan(lastResult);
      expect(summaryAt).toBe(barAt + 1);
      expect(lines[summaryAt + 1]).toBe("EXIT=1");
      // Never sent: wrapping off (ESC[?7l), save/restore cursor (ESC 7 / ESC 8, ESC[s / ESC[u).
      const raw = await p.raw();
      expect(raw).toContain("40/40 | 39 ok, 1 failed");
      for (const sequence of ["\x1b[?7l", "\x1b7", "\x1b8", "\x1b[s", "\x1b[u"]) expect(raw).not.toContain(sequence);
    });

    it("fetch, Ctrl-C: the bar's final counts agree with the summary, interrupted lines counted as interrupted", async () => {
      const s = await server();
      const urls = [`${s.url}/done-1`, `${s.url}/done-2`, ...Array.from({ length: 6 }, (_, i) => `${s.url}/hang-${i}?delay=20000`)];
      const p = await pane(cli(`fetch ${JSON.stringify(await urlFile("hang.txt", urls))} --concurrency 3`));
      await p.waitFor((lines) => lines.filter(isResult).length === 2 && s.active === 3, "2 results and 3 requests in flight");
      await p.keys("C-c");
      expect(await p.exitCode()).toBe(130);
      const lines = await p.screen();
      const results = lines.filter(isResult).map((line) => JSON.parse(line) as { error: string | null; code: string | null });
      expect(results).toHaveLength(8);
      expect(results.filter((r) => r.code === "INTERRUPTED")).toHaveLength(6);
      const bars = lines.filter((line) => BAR.test(line));
      expect(bars).toHaveLength(1);
      expect(bars[0]).toMatch(/ 8\/8 \| 2 ok, 0 failed, 6 interrupted \| /);
      expect(lines.some((line) => /interrupted — 2 finished before Ctrl-C\. 8 lines: 2 ok, 0 failed, 6 interrupted in/.test(line))).toBe(true);
    });

    it("fetch | tee: the file gets pure NDJSON and every result line on the screen is whole", async () => {
      const s = await server({ delay: 30 });
      const urls = Array.from({ length: 30 }, (_, i) => `${s.url}/through-tee/${i}`);
      const out = join(dir, "tee.ndjson");
      const p = await pane(`${cli(`fetch ${JSON.stringify(await urlFile("tee.txt", urls))} --concurrency 3`)} | tee ${JSON.stringify(out)}`);
      expect(await p.exitCode()).toBe(0);
      const file = await readFile(out, "utf8");
      expect(file).not.toContain("\x1b");
      expect(file.trimEnd().split("\n").map((line) => (JSON.parse(line) as { url: string }).url).sort()).toEqual([...urls].sort());
      const results = (await p.screen()).filter((line) => line.includes('"url"'));
      expect(results).toHaveLength(30);
      for (const line of results) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    });

    it("demo: shows its progress while it runs, and clears it before the report", async () => {
      const p = await pane(cli("demo --only 3,4 --requests 6 --limit 2 --delay 300"));
      const during = await p.waitFor(
        (lines) => lines.some((line) => /\d+\/12 requests \| [12]\/2 (Semaphore|limitFetch)/.test(line)),
        "the demo's progress line",
      );
      expect(during.some((line) => line.startsWith("approach"))).toBe(false); // the report is not out yet
      expect(await p.exitCode()).toBe(0);
      const lines = await p.screen();
      expect(lines.some((line) => line.startsWith("approach"))).toBe(true);
      expect(lines.some((line) => / requests \| /.test(line))).toBe(false);
    });
  },
);

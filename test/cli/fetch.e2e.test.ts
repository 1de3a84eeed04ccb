/**
 * `permits fetch` end to end: the CLI is spawned from source against loopback
 * servers that count how many requests they serve at once.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http-server.js";
import { ndjson, ROOT, runCli, startCli, waitFor } from "./run-cli.js";

let dir: string;
const servers: TestServer[] = [];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "permits-fetch-"));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
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

/** util-linux `script`, to give the CLI a terminal for stderr; the progress-bar test is skipped without it. */
const hasScript = ((): boolean => {
  try {
    execFileSync("script", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const KEYS = ["url", "status", "bytes", "ms", "attempts", "error", "code"];

// Each test spawns the CLI one or more times; on a loaded machine a spawn alone can take seconds.
describe("permits fetch", { timeout: 60_000 }, () => {
  it("fetches every URL of a file, one NDJSON line each, the server never seeing more than --concurrency", async () => {
    const s = await server({ delay: 50 });
    const urls = Array.from({ length: 24 }, (_, i) => `${s.url}/item/${i}`);
    const result = await runCli(["fetch", await urlFile("list.txt", urls), "--concurrency", "4"]);
    expect(result.code).toBe(0);
    const lines = ndjson(result.stdout);
    expect(lines).toHaveLength(24);
    expect(lines.map((l) => l.url).sort()).toEqual([...urls].sort());
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(KEYS);
      expect(line).toMatchObject({ status: 200, bytes: 3, attempts: 1, error: null });
      expect(line.ms).toBeGreaterThanOrEqual(40);
    }
    expect(s.total).toBe(24);
    expect(s.peak).toBe(4);
    expect(result.stderr).toMatch(/^permits: 24 lines: 24 ok, 0 failed in [\d.]+s\n$/);
  });

  it("reads stdin when no file (or `-`) is given", async () => {
    const s = await server();
    for (const args of [["fetch"], ["fetch", "-"]]) {
      const result = await runCli(args, { input: `${s.url}/a\n${s.url}/b\n` });
      expect(result.code).toBe(0);
      expect(ndjson(result.stdout).map((l) => l.url).sort()).toEqual([`${s.url}/a`, `${s.url}/b`]);
    }
  });

  it("--per-origin holds each origin to its own limit", async () => {
    const a = await server({ delay: 60 });
    const b = await server({ delay: 60 });
    const urls = Array.from({ length: 10 }, (_, i) => [`${a.url}/${i}`, `${b.url}/${i}`]).flat();
    const result = await runCli(["fetch", "--concurrency", "10", "--per-origin", "2"], { input: urls.join("\n") });
    expect(result.code).toBe(0);
    expect(ndjson(result.stdout)).toHaveLength(20);
    expect(a.peak).toBe(2);
    expect(b.peak).toBe(2);
  });

  it("--concurrency auto finds a limit near the server's capacity and prints where it settled", async () => {
    // The server refuses (503) what arrives while 6 are being served.
    const s = await server({ respond: (r) => (r.activeAtStart > 6 ? { status: 503 } : { delay: 20 }) });
    const urls = Array.from({ length: 300 }, (_, i) => `${s.url}/item/${i}`);
    const result = await runCli(["fetch", await urlFile("auto.txt", urls), "--concurrency", "auto", "--retries", "8"]);
    const lines = ndjson(result.stdout);
    expect(lines).toHaveLength(300);
    expect(lines.filter((l) => l.status === 200).length).toBeGreaterThan(250);
    const settled = /^permits: adaptive concurrency settled at (\d+) \(gradient2(?:, ranged \d+–\d+)?, (\d+) drops?\)$/m.exec(result.stderr);
    expect(settled, result.stderr).not.toBeNull();
    const [limit, drops] = [Number(settled![1]), Number(settled![2])];
    // It met the capacity (503s are how it finds it) and came back under it: not stuck above, not collapsed.
    expect(drops).toBeGreaterThan(0);
    expect(limit).toBeGreaterThanOrEqual(1);
    expect(limit).toBeLessThanOrEqual(12);
    expect(s.requests.some((r) => r.status === 503)).toBe(true);
  });

  it("--per-origin auto gives each origin its own adaptive limit, each in the summary", async () => {
    const a = await server({ delay: 10 });
    const b = await server({ delay: 10 });
    const urls = Array.from({ length: 30 }, (_, i) => [`${a.url}/${i}`, `${b.url}/${i}`]).flat();
    const result = await runCli(["fetch", "--concurrency", "16", "--per-origin", "auto"], { input: urls.join("\n") });
    expect(result.code).toBe(0);
    expect(ndjson(result.stdout)).toHaveLength(60);
    expect(result.stderr).toMatch(/^permits: adaptive per-origin limits settled: /m);
    for (const origin of [a.origin, b.origin]) expect(result.stderr).toMatch(new RegExp(`${origin} at \\d+ \\(gradient2`));
    expect(result.stderr).not.toContain("concurrency settled"); // the global limit is the static 16
  });

  it("a malformed line or a failed request is a line of output, never a crash; any failure means exit 1", async () => {
    const s = await server();
    const input = [
      `${s.url}/fine`,
      "not a url",
      "",
      "ftp://example.com/file",
      `${s.url}/missing?status=404`,
      `${s.url}/dropped?destroy=1`,
      "   ",
    ].join("\r\n");
    const result = await runCli(["fetch", "--retries", "0"], { input });
    expect(result.code).toBe(1);
    const lines = ndjson(result.stdout);
    // Blank lines are skipped; every other line has exactly one result.
    expect(lines).toHaveLength(5);
    const by = (url: string) => lines.find((l) => l.url === url);
    expect(by(`${s.url}/fine`)).toMatchObject({ status: 200, error: null, code: null, attempts: 1 });
    expect(by("not a url")).toEqual({ url: "not a url", status: null, bytes: 0, ms: 0, attempts: 1, error: "malformed URL", code: "BAD_URL" });
    expect(by("ftp://example.com/file")).toMatchObject({
      status: null,
      attempts: 1,
      error: "unsupported protocol ftp: (http: and https: only)",
      code: "UNSUPPORTED_PROTOCOL",
    });
    expect(by(`${s.url}/missing?status=404`)).toMatchObject({ status: 404, bytes: 3, attempts: 1, error: "HTTP 404 Not Found", code: "HTTP_ERROR" });
    expect(by(`${s.url}/dropped?destroy=1`)).toMatchObject({
      status: null,
      attempts: 1,
      error: "the server closed the connection",
      code: "UND_ERR_SOCKET",
    });
    expect(result.stderr).toMatch(/5 lines: 1 ok, 4 failed/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("blank lines and `# comment` lines of a URL file are skipped, not reported as malformed", async () => {
    const s = await server();
    const file = await urlFile("commented.txt", [
      "# URLs to check",
      `${s.url}/a`,
      "",
      "   # an indented comment",
      "\t",
      `${s.url}/b  `,
      "#",
    ]);
    const result = await runCli(["fetch", file]);
    expect(result.code).toBe(0);
    expect(ndjson(result.stdout).map((l) => l.url).sort()).toEqual([`${s.url}/a`, `${s.url}/b`]);
    expect(result.stderr).toMatch(/^permits: 2 lines: 2 ok, 0 failed in [\d.]+s\n$/);
  });

  it("failed requests: one readable form (no codes or OpenSSL text in `error`) and a stable `code`", async () => {
    const s = await server();
    const closed = await startTestServer();
    const refusedUrl = `${closed.url}/gone`;
    await closed.close(); // a port nothing listens on any more
    const input = [refusedUrl, "http://127.0.0.1:1/blocked", `https://127.0.0.1:${s.port}/not-tls`].join("\n");
    const result = await runCli(["fetch", "--retries", "0"], { input });
    expect(result.code).toBe(1);
    const by = (url: string) => ndjson(result.stdout).find((l) => l.url === url);
    expect(by(refusedUrl)).toMatchObject({ status: null, code: "ECONNREFUSED", error: `connection refused by ${closed.url.slice(7)}` });
    expect(by("http://127.0.0.1:1/blocked")).toMatchObject({ status: null, code: "BAD_PORT", error: "port 1 is blocked by fetch (a \"bad port\")" });
    // OpenSSL's complaint depends on what the plain-HTTP server answers the TLS hello with.
    expect(by(`https://127.0.0.1:${s.port}/not-tls`)).toMatchObject({
      status: null,
      code: expect.stringMatching(/^ERR_SSL_[A-Z_]+$/),
      error: expect.stringMatching(/^TLS error: [a-z ]+$/),
    });
    for (const line of ndjson(result.stdout)) {
      expect(line.error).toMatch(/^[^\n]+$/); // one line, no trailing newline
      expect(line.error).not.toMatch(/UND_ERR|ECONN|ERR_|0A00|openssl/i);
      expect(line.code).toMatch(/^[A-Z][A-Z0-9_]+$/);
    }
  });

  it("--rate spreads the starts the server sees", async () => {
    const s = await server();
    const urls = Array.from({ length: 4 }, (_, i) => `${s.url}/${i}`);
    const result = await runCli(["fetch", "--rate", "2/s"], { input: urls.join("\n") });
    expect(result.code).toBe(0);
    const starts = s.requests.map((r) => r.start);
    expect(starts).toHaveLength(4);
    // Default burst 1: one start per 500 ms. Measured on the server, so allow 100 ms for a busy machine delaying
    // one arrival more than another, and from the second request on: the first one's arrival is late by the CLI's
    // first-fetch set-up (loading undici, connecting), which would make the gap after it look short.
    for (let k = 2; k < starts.length; k++) {
      expect((starts[k] as number) - (starts[1] as number)).toBeGreaterThanOrEqual((k - 1) * 500 - 100);
    }
    expect((starts[3] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(1300);
  });

  it("--retries: a 429 with Retry-After is retried and the attempts are counted", async () => {
    const s = await server({ respond: (r) => (r.index < 2 ? { status: 429, retryAfter: 0 } : undefined) });
    const ok = await runCli(["fetch", "--retries", "2"], { input: `${s.url}/x\n` });
    expect(ok.code).toBe(0);
    expect(ndjson(ok.stdout)).toEqual([expect.objectContaining({ status: 200, attempts: 3, error: null })]);

    s.reset();
    const s2 = await server({ respond: () => ({ status: 429, retryAfter: 0 }) });
    const gaveUp = await runCli(["fetch", "--retries", "1"], { input: `${s2.url}/x\n` });
    expect(gaveUp.code).toBe(1);
    expect(ndjson(gaveUp.stdout)).toEqual([
      expect.objectContaining({ status: 429, attempts: 2, error: "HTTP 429 Too Many Requests" }),
    ]);
  });

  it("--timeout limits each attempt, the body included", async () => {
    const s = await server();
    const slowBody = `${s.url}/drip?size=20&chunks=20&chunkDelay=100`;
    const result = await runCli(["fetch", "--timeout", "200ms"], { input: `${s.url}/slow?delay=5000\n${s.url}/quick\n${slowBody}\n` });
    expect(result.code).toBe(1);
    const lines = ndjson(result.stdout);
    expect(lines.find((l) => l.url === `${s.url}/slow?delay=5000`)).toMatchObject({
      status: null,
      attempts: 1,
      error: "timed out after 200 ms",
      code: "TIMEOUT",
    });
    expect(lines.find((l) => l.url === `${s.url}/quick`)).toMatchObject({ status: 200, error: null });
    // Given up after about 200 ms, not after the server's 5 s.
    const slow = lines.find((l) => l.url === `${s.url}/slow?delay=5000`);
    expect(slow?.ms).toBeGreaterThanOrEqual(190);
    expect(slow?.ms).toBeLessThan(3000);
    // Headers arrived (status 200) but the body took too long.
    expect(lines.find((l) => l.url === slowBody)).toMatchObject({ status: 200, attempts: 1, error: "timed out after 200 ms" });
  });

  it("Ctrl-C cancels what is in flight, reports every line read, summarizes on stderr and exits 130", async () => {
    const s = await server();
    const urls = [
      `${s.url}/done-1?delay=0`,
      `${s.url}/done-2?delay=0`,
      ...Array.from({ length: 6 }, (_, i) => `${s.url}/hang-${i}?delay=20000`),
    ];
    const cli = startCli(["fetch", "--concurrency", "3", await urlFile("hang.txt", urls)]);
    await waitFor(() => ndjson(cli.stdout).length === 2 && s.active === 3, 15_000, "2 results and 3 requests in flight");
    cli.child.kill("SIGINT");
    const result = await cli.done;
    expect(result.code).toBe(130);
    const lines = ndjson(result.stdout);
    expect(lines).toHaveLength(8);
    expect(lines.filter((l) => l.error === null).map((l) => l.url).sort()).toEqual(urls.slice(0, 2));
    const interrupted = lines.filter((l) => l.error === "interrupted");
    expect(interrupted).toHaveLength(6);
    expect(interrupted.every((l) => l.code === "INTERRUPTED")).toBe(true);
    // 3 were in flight and 3 queued; every line reports at least one attempt.
    expect(interrupted.every((l) => l.attempts === 1)).toBe(true);
    expect(result.stderr).toMatch(/interrupted — 2 finished before Ctrl-C\. 8 lines: 2 ok, 0 failed, 6 interrupted/);
    // The cancelled requests were really cancelled: the server is not serving them any more.
    await waitFor(() => s.active === 0, 5_000, "the server to see the aborts");
    expect(s.total).toBe(5);
  });

  it("Ctrl-C also stops a run reading a stdin that never ends", async () => {
    const s = await server();
    const cli = startCli(["fetch"], { keepStdinOpen: true });
    cli.child.stdin?.write(`${s.url}/a\n${s.url}/b?delay=20000\n`);
    await waitFor(() => ndjson(cli.stdout).length === 1 && s.active === 1, 15_000, "one result and one request in flight");
    cli.child.kill("SIGINT");
    const result = await cli.done;
    expect(result.code).toBe(130);
    expect(ndjson(result.stdout).map((l) => l.error)).toEqual([null, "interrupted"]);
  });

  it("usage errors: a clear message on stderr, no stack trace, exit 2", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["fetch", "--concurrency", "abc"], /^permits: Expected `--concurrency` to be an integer from 1 to 10000 or `auto`, got `abc`\n/],
      [["fetch", "--per-origin", "automatic"], /^permits: Expected `--per-origin` to be an integer from 1 to 10000 or `auto`, got `automatic`\n/],
      [["fetch", "--rate", "10"], /Expected `--rate` to be a rate such as `10\/s`/],
      [["fetch", "--bogus"], /Unknown option '--bogus'/],
      [["fetch", join(dir, "does-not-exist.txt")], /Cannot read `.*does-not-exist\.txt`: ENOENT/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, { input: "" });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain("Run `permits fetch --help` for usage.");
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it.skipIf(!hasScript)("draws a progress bar (cli-progress) on stderr when it is a terminal, and none in the results", async () => {
    const s = await server({ delay: 20 });
    const list = await urlFile("bar.txt", Array.from({ length: 30 }, (_, i) => `${s.url}/${i}`));
    const out = join(dir, "bar.out");
    const transcript = join(dir, "bar.tty");
    // `script` runs the CLI on a pseudo-terminal (stderr is a TTY) while stdout goes to a file.
    const command = `${JSON.stringify(process.execPath)} --import tsx packages/cli/src/main.ts fetch ${JSON.stringify(list)} --concurrency 2 > ${JSON.stringify(out)}`;
    // Asynchronously: the test server lives in this process and must keep answering.
    const child = spawn("script", ["-qec", command, transcript], { cwd: ROOT, stdio: "ignore" });
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const status = await new Promise<number | null>((resolve) => child.once("close", resolve));
    clearTimeout(killer);
    expect(status).toBe(0);
    const tty = await readFile(transcript, "utf8");
    expect(tty).toContain("30/30 | 30 ok, 0 failed");
    expect(tty).toContain("permits: 30 lines: 30 ok, 0 failed");
    const results = ndjson(await readFile(out, "utf8"));
    expect(results).toHaveLength(30);
  });

  it("--help documents the output and exits 0", async () => {
    const result = await runCli(["fetch", "--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: permits fetch \[file\] \[options\]/);
    for (const flag of ["--concurrency", "--per-origin", "--rate", "--retries", "--timeout"]) expect(result.stdout).toContain(flag);
  });
});

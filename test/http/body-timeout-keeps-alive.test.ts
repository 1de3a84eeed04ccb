/**
 * Issue 10 §5: a caller waiting for a slot that an unread body holds must keep
 * the process alive until `bodyTimeout` frees the slot. The body timer used to
 * be unref'd, so Node saw nothing keeping the process alive and exited with
 * code 13 (unsettled top-level await) before the second request was sent.
 * A real child process against a real loopback server: the property is about
 * the process's event loop, which no in-process test can observe.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/http-server.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const child = fileURLToPath(new URL("./fixtures/unread-body.ts", import.meta.url));

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", child, ...args], { cwd: root, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("limitFetch: an unread body holding the only slot", () => {
  it("keeps the process alive while a request waits for that slot, until bodyTimeout frees it", async () => {
    server = await startTestServer();
    const result = await run([`${server.url}/a`, "300"]);
    // Before the fix: code 13 and "Warning: Detected unsettled top-level await" on stderr.
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe("first 200\nsecond 200 ok\n");
    expect(result.stderr).toBe("");
    expect(server.total).toBe(2);
  }, 60_000);

  it("still lets a process exit that has an unread body but nobody waiting", async () => {
    server = await startTestServer();
    // bodyTimeout 10 minutes: if the timer kept the process alive, execFile's 30 s timeout would kill it.
    const script = `import { limitFetch } from "./src/http/index.js";
      const f = limitFetch({ concurrency: 1, bodyTimeout: 600_000 });
      const r = await f(${JSON.stringify(server.url)});
      console.log("got", r.status);`;
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, timeout: 30_000 }, (error, stdout) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : null, stdout }),
      );
    });
    expect(result.stdout).toBe("got 200\n");
    expect(result.code).toBe(0);
  }, 60_000);
});

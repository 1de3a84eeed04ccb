/**
 * Runs every TypeScript code block of README.md as written, so the docs
 * cannot drift from the code. Each block is written to a temporary `.mts`
 * file inside the repository (so `import ... from "permits"` resolves to the
 * built package through its own `exports` map) and run with tsx.
 *
 * A block may use `process.env.REDIS_URL`; when it imports `permits/redis`
 * the test starts a real redis-server for it.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const readme = readFileSync(join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match, index) => ({
  index,
  code: match[1] ?? "",
  line: readme.slice(0, match.index).split("\n").length,
}));
const dir = mkdtempSync(join(root, "test", ".readme-"));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("README code blocks run as written", () => {
  it("has code blocks to run", () => {
    expect(blocks.length).toBeGreaterThan(2);
  });

  for (const block of blocks) {
    it(`block ${block.index + 1} (README.md line ${block.line}) runs without error`, async () => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      let stopRedis: (() => Promise<void>) | undefined;
      if (block.code.includes("permits/redis")) {
        const { startRedisServer } = await import("./helpers/redis-server.js");
        const server = await startRedisServer();
        env.REDIS_URL = server.url;
        stopRedis = () => server.stop();
      }
      const file = join(dir, `block-${block.index + 1}.mts`);
      writeFileSync(file, block.code);
      try {
        const { stderr } = await run(process.execPath, ["--import", "tsx", file], {
          cwd: root,
          env,
          timeout: 30_000,
        });
        expect(stderr).toBe("");
      } finally {
        await stopRedis?.();
      }
    }, 40_000);
  }
});

/**
 * Every TSDoc @example of src/redis/*.ts (and of src/http/limits.ts, whose
 * SharedRate example uses Redis) and every ```ts block of
 * docs/redis.md runs against a real redis-server: types stripped by esbuild,
 * `new Redis()` pointed at the test server (the only change), `permit-pool/redis`
 * resolved by name to dist/ as a user's code would resolve it (`npm test`
 * builds first). Examples that call a partner API on the internet
 * (`partner.example`) or are fenced ```ts no-run are only compiled.
 */
import { execFile } from "node:child_process";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { transform } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { markdownBlocks, scratchDir, tsdocExamples } from "../helpers/code-blocks.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
let scratch = "";

const sources = [
  ...readdirSync(join(root, "src/redis"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => `src/redis/${f}`),
  "src/http/limits.ts", // SharedRate: limitFetch with a RedisRateLimiter
];
const all = [
  ...sources.flatMap((file) => tsdocExamples(root, file)),
  ...markdownBlocks(root, "docs/redis.md", { noRun: true }),
  ...markdownBlocks(root, "docs/scheduling.md", { noRun: true }),
].map((block) => ({ ...block, where: `${block.file}:${block.line}` }));
const runnable = all.filter((b) => !b.noRun && !b.code.includes("partner.example"));

let server: RedisServer;

beforeAll(async () => {
  server = await startRedisServer();
  scratch = scratchDir(root, "permits-redis-examples");
});

afterAll(async () => {
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
  await server.stop();
});

describe("permit-pool/redis examples", () => {
  it("found the examples", () => {
    expect(all.length).toBeGreaterThanOrEqual(25);
  });

  it.each(all.map((b) => [b.where, b] as const))("compiles: %s", async (_where, block) => {
    await transform(block.code, { loader: "ts", format: "esm", target: "es2022" });
  });

  it.each(runnable.map((b) => [b.where, b] as const))("runs: %s", async (_where, block) => {
    const file = join(scratch, `${block.where.replace(/\W+/g, "_")}.mjs`);
    const source = block.code.replaceAll("new Redis()", `new Redis(${server.port}, "127.0.0.1")`);
    const { code } = await transform(source, { loader: "ts", format: "esm", target: "es2022", supported: { using: false } });
    writeFileSync(file, code);
    await server.cli("FLUSHALL"); // examples share names ("partner-api"): each starts from an empty Redis
    const { stderr } = await run(process.execPath, [file], { cwd: root, timeout: 20_000 });
    expect(stderr).toBe("");
  });
});

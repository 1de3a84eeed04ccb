/**
 * Runs every TypeScript code block of README.md as written, so the docs
 * cannot drift from the code. Each block is written to a temporary `.mts`
 * file inside the repository (so `import ... from "permit-pool"` resolves to the
 * built package through its own `exports` map) and run with tsx.
 *
 * A block may use `process.env.REDIS_URL`; when it imports `permit-pool/redis`
 * the test starts a real redis-server for it.
 *
 * A `console.log(...)` line that ends in a comment (`// 3 3 0 0 false`)
 * states what it prints, and the test holds it to that: the line is tagged
 * so its output can be found, and the output must either be how the comment
 * begins (`// 0: idle keys are dropped` for `0`) or match it with `…` as a
 * wildcard. Arrays are compared without Node's inner padding (`[1, 2]`).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { markdownBlocks } from "./helpers/code-blocks.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..");
const blocks = markdownBlocks(root, "README.md").map((block, index) => ({ ...block, index }));
const dir = mkdtempSync(join(root, "test", ".readme-"));

interface Expectation {
  tag: string;
  comment: string;
  line: number;
}

/** Tags every commented `console.log(` line; returns the code to run and what each tag must print. */
function tagged(code: string, firstLine: number): { code: string; expectations: Expectation[] } {
  const expectations: Expectation[] = [];
  const lines = code.split("\n").map((text, i) => {
    const match = /console\.log\(.*\/\/\s*(\S.*)$/.exec(text);
    if (match === null) return text;
    const tag = `§${expectations.length + 1}`;
    expectations.push({ tag, comment: match[1]!.trim(), line: firstLine + 1 + i });
    return text.replace("console.log(", `console.log(${JSON.stringify(tag)}, `);
  });
  return { code: lines.join("\n"), expectations };
}

const flat = (text: string): string => text.replace(/\[ /g, "[").replace(/ \]/g, "]").replace(/\s+/g, " ").trim();

/** Whether `output` is what `comment` says it prints. */
export function printsAsSaid(output: string, comment: string): boolean {
  const out = flat(output);
  const said = flat(comment);
  if (out.length > 0 && said.startsWith(out) && !/[\w"'\]]/.test(said.charAt(out.length))) return true;
  if (!said.includes("…")) return false;
  const pattern = said
    .split("…")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${pattern}`).test(out);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("README code blocks run as written", () => {
  it("has code blocks to run, and states what they print", () => {
    expect(blocks.length).toBeGreaterThan(2);
    const stated = blocks.flatMap((block) => tagged(block.code, block.line).expectations);
    expect(stated.length).toBeGreaterThan(10);
  });

  it("holds an output to its comment: a prefix up to punctuation, or a pattern with …", () => {
    expect(printsAsSaid("0", "0: idle keys are dropped")).toBe(true);
    expect(printsAsSaid("[ 2, 4, 6 ]", "[2, 4, 6]")).toBe(true);
    expect(printsAsSaid("locked: true", "locked: true")).toBe(true);
    expect(printsAsSaid("10 responses; the server saw at most 3 at once", "10 … 3")).toBe(true);
    expect(printsAsSaid("1", "10")).toBe(false);
    expect(printsAsSaid("4 41", "4 42")).toBe(false);
    expect(printsAsSaid("true", "false")).toBe(false);
    expect(printsAsSaid("9 responses", "10 … 3")).toBe(false);
    expect(printsAsSaid("", "anything")).toBe(false);
  });

  for (const block of blocks) {
    it(`block ${block.index + 1} (README.md line ${block.line}) runs as written and prints what its comments say`, async () => {
      const env: NodeJS.ProcessEnv = { ...process.env };
      let stopRedis: (() => Promise<void>) | undefined;
      if (block.code.includes("permit-pool/redis")) {
        const { startRedisServer } = await import("./helpers/redis-server.js");
        const server = await startRedisServer();
        env.REDIS_URL = server.url;
        stopRedis = () => server.stop();
      }
      const file = join(dir, `block-${block.index + 1}.mts`);
      const { code, expectations } = tagged(block.code, block.line);
      writeFileSync(file, code);
      try {
        const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", file], {
          cwd: root,
          env,
          timeout: 30_000,
        });
        expect(stderr).toBe("");
        const printed = stdout.split("\n");
        for (const { tag, comment, line } of expectations) {
          const output = printed.find((text) => text.startsWith(`${tag} `) || text === tag);
          expect(output, `README.md line ${line} printed nothing`).toBeDefined();
          const text = output!.slice(tag.length).trim();
          expect(printsAsSaid(text, comment), `README.md line ${line} printed "${text}", its comment says "${comment}"`).toBe(true);
        }
      } finally {
        await stopRedis?.();
      }
    }, 40_000);
  }
});

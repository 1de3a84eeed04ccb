/**
 * The guides' code blocks run: every ```ts block of the guides listed below
 * (choosing limits, cancellation, distributed, observability), and every TSDoc
 * @example of the core and permits/otel sources, is written to
 * a scratch .mjs file (types stripped by esbuild, nothing else changed) and
 * run by node, the package resolved by name to dist/ as a user's code would
 * resolve it. A block fenced ```ts no-run is only
 * shown (docs/distributed.md needs a Redis the reader has).
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { transform } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const guides = ["docs/choosing-limits.md", "docs/cancellation.md", "docs/distributed.md", "docs/observability.md"];
// Inside node_modules (ignored by git) so that `import "permits"` resolves through the package's own link.
const scratch = join(root, "node_modules/.cache/permits-docs");

interface Block {
  guide: string;
  line: number;
  code: string;
}

function blocks(guide: string): Block[] {
  const lines = readFileSync(join(root, guide), "utf8").split("\n");
  const found: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== "```ts") continue; // "```ts no-run" and other languages are skipped
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]?.trim() !== "```") end++;
    found.push({ guide, line: start, code: lines.slice(start, end).join("\n") });
    i = end;
  }
  return found;
}

/** TSDoc @example blocks of these sources run the same way (rate and http ones: test/rate/examples.test.ts). */
const sources = [
  "src/index.ts",
  "src/core/semaphore.ts",
  "src/core/keyed.ts",
  "src/core/limit.ts",
  "src/core/map.ts",
  "src/core/errors.ts",
  "src/core/diagnostics.ts",
  "src/otel/index.ts",
];

function examples(source: string): Block[] {
  const text = readFileSync(join(root, source), "utf8");
  const found: Block[] = [];
  const re = /@example\s*\n\s*\*\s*```ts\n([\s\S]*?)\n\s*\*\s*```/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const code = (m[1] ?? "")
      .split("\n")
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .join("\n");
    found.push({ guide: source, line: text.slice(0, m.index).split("\n").length, code });
  }
  return found;
}

const all = [...guides.flatMap(blocks), ...sources.flatMap(examples)];

describe("docs/ guides and TSDoc examples: code blocks run", () => {
  mkdirSync(scratch, { recursive: true });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("found the blocks", () => {
    expect(all.length).toBeGreaterThanOrEqual(30);
  });

  it.each(all.map((b) => [`${b.guide}:${b.line}`, b] as const))("%s", async (_name, block) => {
    const file = join(scratch, `${block.guide.replace(/\W+/g, "_")}_${block.line}.mjs`);
    const { code } = await transform(block.code, { loader: "ts", format: "esm", target: "es2022", supported: { using: false } });
    writeFileSync(file, code);
    const { stderr } = await run(process.execPath, [file], { cwd: root, timeout: 30_000 });
    expect(stderr).toBe("");
  });
});

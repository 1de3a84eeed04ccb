/**
 * The guides' code blocks run: every ```ts block of the guides listed below
 * (choosing limits, cancellation, distributed, observability), and every TSDoc
 * @example of the core and permit-pool/otel sources, is written to
 * a scratch .mjs file (types stripped by esbuild, nothing else changed) and
 * run by node, the package resolved by name to dist/ as a user's code would
 * resolve it. A block fenced ```ts no-run is only
 * shown (docs/distributed.md needs a Redis the reader has).
 */
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { transform } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { markdownBlocks, scratchDir, tsdocExamples } from "../helpers/code-blocks.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const run = promisify(execFile);
const guides = ["docs/choosing-limits.md", "docs/cancellation.md", "docs/distributed.md", "docs/observability.md"];
const scratch = scratchDir(root, "permits-docs");

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

const all = [
  ...guides.flatMap((guide) => markdownBlocks(root, guide)),
  ...sources.flatMap((source) => tsdocExamples(root, source)),
];

describe("docs/ guides and TSDoc examples: code blocks run", () => {
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("found the blocks", () => {
    expect(all.length).toBeGreaterThanOrEqual(30);
  });

  it.each(all.map((b) => [`${b.file}:${b.line}`, b] as const))("%s", async (_name, block) => {
    const file = join(scratch, `${block.file.replace(/\W+/g, "_")}_${block.line}.mjs`);
    const { code } = await transform(block.code, { loader: "ts", format: "esm", target: "es2022", supported: { using: false } });
    writeFileSync(file, code);
    const { stderr } = await run(process.execPath, [file], { cwd: root, timeout: 30_000 });
    expect(stderr).toBe("");
  });
});

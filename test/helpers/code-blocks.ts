/**
 * The code blocks the docs tests run: TSDoc `@example` blocks of a source
 * file and ```ts blocks of a Markdown file, each with the 1-based line of its
 * opening fence. A block fenced ```ts no-run (or any other language) is not a
 * ```ts block; `markdownBlocks(..., { noRun: true })` returns those too, marked.
 *
 * @example
 * ```ts
 * for (const block of tsdocExamples(root, "src/core/semaphore.ts")) console.log(block.line);
 * ```
 */
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A fresh directory to write blocks into, inside node_modules (ignored by git)
 * so that `import "permit-pool"` resolves through the package's own link; one per
 * call, so that two runs at once (Node 20 and Node 24, say) never remove each
 * other's files. The caller removes it.
 */
export function scratchDir(root: string, prefix: string): string {
  const cache = join(root, "node_modules/.cache");
  mkdirSync(cache, { recursive: true });
  return mkdtempSync(join(cache, `${prefix}-`));
}

export interface CodeBlock {
  /** The file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** Fenced ```ts no-run: compile it, do not run it. */
  noRun: boolean;
}

export function tsdocExamples(root: string, file: string): CodeBlock[] {
  const text = readFileSync(join(root, file), "utf8");
  const found: CodeBlock[] = [];
  const re = /@example\s*\n\s*\*\s*```ts\n([\s\S]*?)\n\s*\*\s*```/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const code = (m[1] ?? "")
      .split("\n")
      .map((line) => line.replace(/^\s*\* ?/, ""))
      .join("\n");
    found.push({ file, line: text.slice(0, m.index).split("\n").length, code, noRun: false });
  }
  return found;
}

export function markdownBlocks(root: string, file: string, options: { noRun?: boolean } = {}): CodeBlock[] {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const found: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i]?.trim();
    const noRun = fence === "```ts no-run";
    if (fence !== "```ts" && !(noRun && options.noRun === true)) continue;
    let end = i + 1;
    while (end < lines.length && lines[end]?.trim() !== "```") end++;
    found.push({ file, line: i + 1, code: lines.slice(i + 1, end).join("\n"), noRun });
    i = end;
  }
  return found;
}

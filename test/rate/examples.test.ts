/**
 * The TSDoc examples of src/core/rate.ts and src/http/*.ts (limits.ts too) are compiled
 * (strict, against the sources) and the rate ones are run, so they cannot
 * drift from the API. The http ones need the network, so they are only
 * type-checked.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { markdownBlocks, tsdocExamples } from "../helpers/code-blocks.js";

const root = resolve(fileURLToPath(new URL("../../", import.meta.url)));
const files = ["src/core/rate.ts", "src/http/fetch.ts", "src/http/undici.ts", "src/http/index.ts", "src/http/headers.ts", "src/http/limits.ts"];

const docs = ["docs/rate.md", "docs/http.md"];
const all = [
  ...files.flatMap((file) => tsdocExamples(root, file)),
  ...docs.flatMap((doc) => markdownBlocks(root, doc)),
];
const dir = mkdtempSync(join(tmpdir(), "permits-examples-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Point the package's own specifiers at the sources. */
function localize(code: string): string {
  return code
    .replaceAll('from "permit-pool/http"', `from ${JSON.stringify(join(root, "src/http/index.ts"))}`)
    .replaceAll('from "permit-pool"', `from ${JSON.stringify(join(root, "src/index.ts"))}`);
}

describe("TSDoc examples of RateLimiter, Limiter and permit-pool/http", () => {
  it("there are examples on every public export", () => {
    expect(all.length).toBeGreaterThanOrEqual(19);
  });

  it("all type-check under the project's strict options", () => {
    const names = all.map((ex, i) => {
      const name = join(root, `__example_${i}.ts`);
      return { name, ex, source: `${localize(ex.code)}\nexport {};\n` };
    });
    const parsed = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: () => {},
    })!;
    const options: ts.CompilerOptions = { ...parsed.options, noEmit: true, allowImportingTsExtensions: true };
    const host = ts.createCompilerHost(options);
    const original = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, language, ...rest) => {
      const virtual = names.find((n) => n.name === fileName);
      return virtual !== undefined
        ? ts.createSourceFile(fileName, virtual.source, language)
        : original(fileName, language, ...rest);
    };
    const baseExists = host.fileExists.bind(host);
    host.fileExists = (f) => names.some((n) => n.name === f) || baseExists(f);
    const program = ts.createProgram(
      names.map((n) => n.name),
      options,
      host,
    );
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file !== undefined && names.some((n) => n.name === d.file!.fileName))
      .map((d) => {
        const ex = names.find((n) => n.name === d.file!.fileName)!.ex;
        return `${ex.file}:${ex.line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
    expect(problems).toEqual([]);
  }, 180_000); // a whole-program type-check: slow on a loaded 2-core machine

  // Everything that needs no network beyond loopback.
  const runnable = all.filter(
    (ex) =>
      ex.file === "src/core/rate.ts" ||
      ex.file === "src/http/headers.ts" ||
      ex.file === "docs/rate.md" ||
      (ex.file === "docs/http.md" && !ex.code.includes("example.com")),
  );
  it.each(runnable.map((ex) => [`${ex.file}:${ex.line}`, ex] as const))("runs %s", async (_, ex) => {
    const path = join(dir, `ex_${ex.line}.ts`);
    writeFileSync(path, `${localize(ex.code)}\nexport {};\n`);
    const log = console.log;
    const printed: unknown[][] = [];
    console.log = (...args: unknown[]) => void printed.push(args);
    try {
      await import(path);
    } finally {
      console.log = log;
    }
    if (ex.code.includes("the server saw at most")) {
      // The seed's example: the server really saw 3 at once, not more.
      expect(printed).toEqual([[10, "responses; the server saw at most", 3, "at once"]]);
    }
  });
});

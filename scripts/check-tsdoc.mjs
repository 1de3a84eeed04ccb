// Checks the TSDoc promise of the public API (issue: "every public export
// documented with an example, async methods with Cancel safety and Fairness
// paragraphs"), with the TypeScript compiler API over the entry points:
//   - every exported class, function and variable has an @example, directly
//     or on one of its declarations;
//   - every public method of an exported class that waits for a permit
//     (`acquire`, `run`, and `tryAcquire` where it returns a promise) says
//     "Fairness" and "Cancel safety" in its doc comment.
// Types and interfaces need a description but no example.
//
//   node scripts/check-tsdoc.mjs          report; exit 1 on a gap
//   node scripts/check-tsdoc.mjs --warn   report only (exit 0)
/* global console, process */
import { existsSync } from "node:fs";
import ts from "typescript";

const root = new URL("../", import.meta.url).pathname;
const entries = ["src/index.ts", "src/http/index.ts", "src/redis/index.ts", "src/otel/index.ts"]
  .map((p) => root + p)
  .filter((p) => existsSync(p));
const WAITING_METHODS = new Set(["acquire", "run"]);

const program = ts.createProgram(entries, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
});
const checker = program.getTypeChecker();

/** @type {string[]} */
const gaps = [];
/** @type {Set<ts.Symbol>} */
const seen = new Set();
let methods = 0;

/** @param {ts.Symbol} symbol */
function docOf(symbol) {
  const text = ts.displayPartsToString(symbol.getDocumentationComment(checker));
  const tags = symbol.getJsDocTags(checker);
  return { text, tags, all: `${text}\n${tags.map((t) => `@${t.name} ${ts.displayPartsToString(t.text ?? [])}`).join("\n")}` };
}

/** @param {ts.Symbol} symbol */
function where(symbol) {
  const decl = symbol.declarations?.[0];
  if (decl === undefined) return "?";
  const file = decl.getSourceFile();
  const { line } = file.getLineAndCharacterOfPosition(decl.getStart());
  return `${file.fileName.replace(root, "")}:${line + 1}`;
}

for (const entry of entries) {
  const source = program.getSourceFile(entry);
  if (source === undefined) continue;
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) continue;
  const subpath = entry.replace(root + "src/", "").replace(/\/?index\.ts$/, "") || ".";
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (seen.has(symbol)) continue;
    seen.add(symbol);
    const name = `${subpath === "." ? "permit-pool" : `permits/${subpath}`}: ${exported.getName()}`;
    const doc = docOf(symbol);
    const isValue = symbol.flags & (ts.SymbolFlags.Class | ts.SymbolFlags.Function | ts.SymbolFlags.Variable);
    if (doc.text.trim() === "") gaps.push(`${name} (${where(symbol)}): no description`);
    else if (isValue && !doc.tags.some((t) => t.name === "example")) gaps.push(`${name} (${where(symbol)}): no @example`);
    if (!(symbol.flags & ts.SymbolFlags.Class)) continue;
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    for (const member of type.getProperties()) {
      if (!WAITING_METHODS.has(member.getName())) continue;
      methods++;
      const memberDoc = docOf(member);
      const missing = ["Fairness", "Cancel safety"].filter((word) => !memberDoc.all.includes(word));
      if (missing.length > 0) gaps.push(`${name}.${member.getName()} (${where(member)}): no ${missing.join(" / ")} paragraph`);
    }
  }
}

for (const gap of gaps) console.log(`tsdoc: ${gap}`);
console.log(`tsdoc: ${seen.size} public exports and ${methods} waiting methods checked, ${gaps.length} gaps`);
process.exit(gaps.length > 0 && !process.argv.includes("--warn") ? 1 : 0);

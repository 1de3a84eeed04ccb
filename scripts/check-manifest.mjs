// Checks the package as unpacked from the tarball (what the registry and
// node_modules hold), for what `npm pack`'s own checks do not catch:
//   - a LICENSE file, and `repository`, `homepage` and `bugs` in the manifest;
//   - the manifest builds in `prepack`, and has no `prepare` (npm runs that on
//     every git install and warns about install scripts);
//   - every link and image in the shipped README works from the registry page
//     and from node_modules: it is absolute, and a link into this repository
//     (github.com/permit-pool/permit-pool/blob/main/…, raw.githubusercontent…)
//     names a file that exists here; or it is relative and the file is shipped;
//   - every shipped source map names sources that are shipped too.
// Usage: node scripts/check-manifest.mjs <unpacked package dir> <repository root>
// Prints one line per problem; exits 1 if there was any.
/* global console, process */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const [pkgDir, repoDir] = process.argv.slice(2).map((p) => resolve(p));
const REPO = "https://github.com/permit-pool/permit-pool";
const problems = [];
const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));

if (!readdirSync(pkgDir).some((f) => /^(LICEN[CS]E)(\.md|\.txt)?$/i.test(f))) problems.push("no LICENSE file in the package");
const repoUrl = typeof manifest.repository === "string" ? manifest.repository : manifest.repository?.url;
if (typeof repoUrl !== "string" || !repoUrl.includes("github.com/permit-pool/permit-pool")) {
  problems.push(`\`repository\` should name ${REPO}, got ${JSON.stringify(manifest.repository)}`);
}
if (typeof manifest.homepage !== "string") problems.push("no `homepage` in package.json");
if (typeof (manifest.bugs?.url ?? manifest.bugs) !== "string") problems.push("no `bugs` in package.json");
if (manifest.scripts?.prepare !== undefined) problems.push(`a \`prepare\` script is published: ${manifest.scripts.prepare}`);
if (!/\bbuild\b/.test(manifest.scripts?.prepack ?? "")) problems.push("`prepack` does not build");

// README links: [text](target) and ![alt](target), outside code blocks.
const readme = readFileSync(join(pkgDir, "README.md"), "utf8").replace(/```[\s\S]*?```/g, "");
const links = [...readme.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
if (links.length === 0) problems.push("README: no links found (is the pattern broken?)");
for (const target of links) {
  if (target.startsWith("#")) continue;
  const inRepo =
    new RegExp(`^${REPO}/(?:blob|tree)/main/([^#?]+)`).exec(target) ??
    /^https:\/\/raw\.githubusercontent\.com\/permit-pool\/permit-pool\/main\/([^#?]+)/.exec(target);
  if (inRepo) {
    if (!existsSync(join(repoDir, decodeURIComponent(inRepo[1])))) problems.push(`README: ${target} names no file of the repository`);
  } else if (/^[a-z]+:/i.test(target)) {
    continue; // another site: not ours to check offline
  } else if (!existsSync(join(pkgDir, target.split("#")[0]))) {
    problems.push(`README: relative link ${target} is dead on the registry page and in node_modules (not shipped)`);
  }
}

// Source maps: what they point at must be shipped.
function* walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}
let maps = 0;
const missing = new Set();
for (const file of walk(pkgDir)) {
  if (!file.endsWith(".map")) continue;
  maps++;
  const map = JSON.parse(readFileSync(file, "utf8"));
  for (const source of map.sources ?? []) {
    const path = resolve(dirname(file), map.sourceRoot ?? "", source);
    if (!existsSync(path)) missing.add(relative(pkgDir, path));
  }
}
if (missing.size > 0) {
  problems.push(`${maps} source maps point at ${missing.size} files that are not shipped, e.g. ${[...missing].slice(0, 3).join(", ")}`);
}

for (const problem of problems) console.log(`manifest: ${problem}`);
console.log(`manifest: ${problems.length} problems (${links.length} README links, ${maps} source maps checked)`);
process.exit(problems.length > 0 ? 1 : 0);

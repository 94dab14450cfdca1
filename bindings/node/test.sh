#!/usr/bin/env bash
# Stage: the Node binding (bindings/node, npm package `toolhive-embed`) and examples/node.
#
#   bash bindings/node/test.sh        (from anywhere; scripts/test calls it from the repo root)
#
# 1. npm ci in bindings/node and examples/node (skipped when the lockfile is unchanged)
# 2. the crate's Rust unit tests (option mapping); clippy/fmt run workspace-wide in scripts/test
# 3. `npm run build` (napi build, debug, into the shared cargo target dir) and a check that the
#    committed index.d.ts / index.js are what the build generates
# 4. tsc --strict --noEmit on the TypeScript example
# 5. node:test: API, events, logs, SDK end to end against server-everything (streamable HTTP +
#    SSE, progress, 50 concurrent proxies), process exit, workers, the examples, and
#    `npm install <path>` from another project; managing proxies (configure, a JS secret store,
#    restart/remove/restore/stateErrors/followLogs, a bearer-protected upstream) and OAuth
#    (authorization_required, 503 + Retry-After, who opens the browser) against small servers
#    of the tests' own
#
# Env: CARGO_TARGET_DIR (default <repo>/target). Needs node >= 20, npm, cargo.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
EXAMPLES="$ROOT/examples/node"
E2E="$ROOT/tests/e2e"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CARGO_TERM_COLOR=never
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
t0=$SECONDS
step() { echo; echo "--- node: $* ($((SECONDS - t0))s)"; }

for tool in node npm cargo; do
  command -v "$tool" >/dev/null || { echo "test.sh: $tool not found" >&2; exit 2; }
done
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 17) ? 0 : 1)' \
  || { echo "test.sh: Node >= 20.17 needed (have $(node --version))" >&2; exit 2; }

# npm ci unless node_modules already matches the lockfile.
npm_ci() { # dir
  local dir=$1 stamp="$1/node_modules/.toolhive-lock-sha"
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$dir: node_modules up to date"
    return
  fi
  (cd "$dir" && npm ci "${NPM_FLAGS[@]}")
  echo "$want" >"$stamp"
}

step "npm ci"
npm_ci "$HERE"
[[ -d "$E2E/node_modules/@modelcontextprotocol/server-everything" ]] || npm_ci "$E2E"

step "cargo test (toolhive-node unit tests)"
cargo test --locked -p toolhive-node --lib -q

step "napi build (debug) and generated files in sync"
saved="$(mktemp -d)"
trap 'rm -rf "$saved"' EXIT
cp "$HERE/index.d.ts" "$HERE/index.js" "$saved/"
(cd "$HERE" && npm run --silent build)
for f in index.d.ts index.js; do
  if ! diff -u "$saved/$f" "$HERE/$f"; then
    echo "test.sh: bindings/node/$f was stale; the build regenerated it: commit the new file" >&2
    exit 1
  fi
done

# After the build: examples/node links bindings/node (npm install <path>).
npm_ci "$EXAMPLES"

step "tsc --strict --noEmit (examples/node/typed.ts)"
"$EXAMPLES/node_modules/.bin/tsc" -p "$EXAMPLES" --strict --noEmit

step "node:test"
cd "$HERE"
timeout 600 node --test --test-concurrency=1 --test-reporter=spec test/*.test.mjs
echo
echo "node stage: ok in $((SECONDS - t0))s"

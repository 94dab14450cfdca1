#!/usr/bin/env bash
# One entry point for the end-to-end suite: pytest (Python SDK + raw HTTP), node --test
# (TypeScript SDK) and the conformance dns-rebinding scenario. Non-zero exit on any failure.
#
# Usage: tests/e2e/run.sh [VENV]        (VENV defaults to $E2E_VENV, then <repo>/.venv)
# Needs: npm ci in tests/e2e; pip install -r tests/e2e/requirements.txt into VENV.
# Env:   TOOLHIVE_BIN (default <repo>/target/debug/toolhive)
#        TOOLHIVE_E2E_DIRECT=1 to check the harness against server-everything without the proxy
#        E2E_ONLY=pytest|node|conformance (comma-separated) to run a subset
set -uo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/../.." && pwd)"
VENV="${1:-${E2E_VENV:-$REPO_ROOT/.venv}}"
ONLY="${E2E_ONLY:-pytest,node,conformance}"
PY="$VENV/bin/python"

[[ -x "$PY" ]] || { echo "run.sh: no python at $PY (create the venv and pip install -r tests/e2e/requirements.txt)" >&2; exit 2; }
[[ -d "$E2E_DIR/node_modules/@modelcontextprotocol/server-everything" ]] || { echo "run.sh: run 'npm ci' in $E2E_DIR first" >&2; exit 2; }

export TOOLHIVE_BIN="${TOOLHIVE_BIN:-$REPO_ROOT/target/debug/toolhive}"
if [[ "${TOOLHIVE_E2E_DIRECT:-}" != 1 && ! -x "$TOOLHIVE_BIN" ]]; then
  echo "run.sh: toolhive binary not found at $TOOLHIVE_BIN (build it, set TOOLHIVE_BIN, or TOOLHIVE_E2E_DIRECT=1)" >&2
  exit 2
fi

# Every suite runs in its own process group, which is killed afterwards whatever happened; the
# harnesses start each server and proxy in a process group of its own and list its PID in
# TOOLHIVE_E2E_PIDFILE, and those groups are killed too, so nothing outlives this script.
export TOOLHIVE_E2E_PIDFILE
TOOLHIVE_E2E_PIDFILE="$(mktemp "${TMPDIR:-/tmp}/toolhive-e2e-pids.XXXXXX")"
CHILD=""
kill_recorded() {
  local pid cmd
  while read -r pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || continue
    # Only what we started (guards against a recycled PID).
    if [[ "$cmd" == *server-everything* || "$cmd" == *"$TOOLHIVE_BIN"* ]]; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$TOOLHIVE_E2E_PIDFILE"
  : >"$TOOLHIVE_E2E_PIDFILE"
}
on_signal() {
  [[ -n "$CHILD" ]] && kill -TERM -- "-$CHILD" 2>/dev/null
  sleep 1
  [[ -n "$CHILD" ]] && kill -KILL -- "-$CHILD" 2>/dev/null
  kill_recorded
  exit 130
}
trap on_signal INT TERM
trap 'kill_recorded; rm -f "$TOOLHIVE_E2E_PIDFILE"' EXIT

results=()
failed=0
run_suite() { # name, command...
  local name=$1; shift
  echo
  echo "=== e2e: $name ==="
  setsid "$@" &
  CHILD=$!
  wait "$CHILD"
  local rc=$?
  kill -KILL -- "-$CHILD" 2>/dev/null || true
  CHILD=""
  kill_recorded
  if [[ $rc -eq 0 ]]; then results+=("$name=ok"); else results+=("$name=FAILED($rc)"); failed=1; fi
}

cd "$REPO_ROOT"
if [[ ",$ONLY," == *",pytest,"* ]]; then
  run_suite pytest "$PY" -m pytest -c "$E2E_DIR/pytest.ini" --rootdir "$E2E_DIR" "$E2E_DIR"
fi
if [[ ",$ONLY," == *",node,"* ]]; then
  # The machine's Node runs the TypeScript SDK tests; Node 22 is for the conformance suite only.
  run_suite node node --test --test-concurrency=1 --test-reporter=spec "$E2E_DIR"/node/*.test.mjs
fi
if [[ ",$ONLY," == *",conformance,"* ]]; then
  run_suite conformance bash "$E2E_DIR/conformance_dns_rebinding.sh"
fi

echo
echo "e2e summary: ${results[*]}"
exit $failed

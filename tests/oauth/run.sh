#!/usr/bin/env bash
# The OAuth end-to-end suite (issue 7): oidc-provider + a protected MCP server (server.mjs), the
# user played by browser.mjs, `toolhive run` in the middle. Non-zero exit on any failure.
#
# Usage: tests/oauth/run.sh [VENV] [-- PYTEST ARGS...]   (VENV defaults to $OAUTH_VENV, then <repo>/.venv)
# Env:   TOOLHIVE_BIN   the binary under test (default <repo>/target/debug/toolhive); set it to
#                       tests/oauth/reference_proxy.py to check the harness itself
#        OAUTH_ONLY=rig the rig's self-test only (test_rig.py; needs no toolhive)
#        OAUTH_ONLY=proxy the toolhive scenarios only (test_oauth.py, marker proxy_oauth)
#        RIG_VERBOSE=0  quieter rig logs
# Installs what it needs: `npm ci` here when node_modules is missing or stale, and
# requirements.txt into VENV when a module is missing. Takes about a minute and a half.
set -uo pipefail

OAUTH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$OAUTH_DIR/../.." && pwd)"
VENV="${OAUTH_VENV:-$REPO_ROOT/.venv}"
if [[ $# -gt 0 && "$1" != "--" ]]; then VENV="$1"; shift; fi
[[ "${1:-}" == "--" ]] && shift
PY="$VENV/bin/python"

[[ -x "$PY" ]] || { echo "run.sh: no python at $PY (python3 -m venv $VENV)" >&2; exit 2; }
command -v node >/dev/null || { echo "run.sh: node is not installed" >&2; exit 2; }

cd "$OAUTH_DIR"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "run.sh: npm ci in $OAUTH_DIR"
  npm ci --no-audit --no-fund --loglevel=error || { echo "run.sh: npm ci failed" >&2; exit 2; }
fi
if ! "$PY" -c 'import mcp, httpx, jwt, pytest, pytest_timeout, uvicorn, starlette' 2>/dev/null; then
  echo "run.sh: installing requirements.txt into $VENV"
  "$PY" -m pip install -q -r requirements.txt || { echo "run.sh: pip install failed" >&2; exit 2; }
fi

export TOOLHIVE_BIN="${TOOLHIVE_BIN:-$REPO_ROOT/target/debug/toolhive}"
case "${OAUTH_ONLY:-}" in
  "") TARGETS=(test_rig.py test_oauth.py) ;;
  rig) TARGETS=(test_rig.py) ;;
  proxy) TARGETS=(test_oauth.py) ;;
  *) echo "run.sh: OAUTH_ONLY must be rig or proxy" >&2; exit 2 ;;
esac

# Every process the tests start is in a process group of its own and listed here; whatever is
# left when pytest ends (or this script is interrupted) is killed by PID, nothing by name.
export OAUTH_E2E_PIDFILE
OAUTH_E2E_PIDFILE="$(mktemp "${TMPDIR:-/tmp}/toolhive-oauth-pids.XXXXXX")"
CHILD=""
kill_recorded() {
  local pid cmd
  while read -r pid; do
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || continue
    if [[ "$cmd" == *"$OAUTH_DIR"* || "$cmd" == *"$TOOLHIVE_BIN"* ]]; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done <"$OAUTH_E2E_PIDFILE"
}
on_signal() {
  [[ -n "$CHILD" ]] && kill -TERM -- "-$CHILD" 2>/dev/null
  sleep 1
  [[ -n "$CHILD" ]] && kill -KILL -- "-$CHILD" 2>/dev/null
  kill_recorded
  exit 130
}
trap on_signal INT TERM
trap 'kill_recorded; rm -f "$OAUTH_E2E_PIDFILE"' EXIT

setsid "$PY" -m pytest -c "$OAUTH_DIR/pytest.ini" --rootdir "$OAUTH_DIR" "${TARGETS[@]}" "$@" &
CHILD=$!
wait "$CHILD"
rc=$?
kill -KILL -- "-$CHILD" 2>/dev/null || true
CHILD=""
exit $rc

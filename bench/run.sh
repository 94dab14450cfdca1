#!/usr/bin/env bash
# toolhive-embed benchmark: one run, everything on 127.0.0.1, results in bench/results/latest.md.
#
#   bench/run.sh
#
# Environment (all optional):
#   BENCH_DURATION=10       seconds per wrk measurement
#   BENCH_WARMUP=2          seconds of wrk warm-up per target (not recorded)
#   BENCH_CONNECTIONS="1 32 256"
#   BENCH_PIN=0             1: pin wrk + upstream to CPU 0 and the proxy under test to CPU 1
#                           (nginx then runs 1 worker; toolhive's runtime sees 1 CPU)
#   BENCH_SKIP_BUILD=0      1: use the existing target/release binaries
#   BENCH_SSE_EVENTS=200    events per SSE stream (10 ms apart)
#
# Measures: requests/s and p50/p99 latency (wrk, POST of a small JSON-RPC request) against
# (1) the upstream directly, (2) nginx as a keep-alive reverse proxy, (3) `toolhive run`;
# then the in-process numbers of `toolhive-bench` (idle-proxy RSS, start time, SSE latency).
# A benchmark, not a test: nothing here judges the numbers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-2}"
CONNECTIONS="${BENCH_CONNECTIONS:-1 32 256}"
PIN="${BENCH_PIN:-0}"
SSE_EVENTS="${BENCH_SSE_EVENTS:-200}"
RESULTS="$ROOT/bench/results"
OUT="$RESULTS/latest.md"

log() { echo "bench: $*" >&2; }

# --- tools -------------------------------------------------------------------------------------
if ! command -v nginx >/dev/null 2>&1 && [ -x /usr/sbin/nginx ]; then PATH="$PATH:/usr/sbin"; fi
if ! command -v nginx >/dev/null 2>&1 || ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench: nginx and wrk are needed; install them (apt-get install -y nginx wrk) or run as root" >&2
        exit 1
    fi
    log "installing nginx and wrk"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
    PATH="$PATH:/usr/sbin"
fi
NGINX="$(command -v nginx)"
WRK="$(command -v wrk)"

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building release binaries"
    cargo build --release -q -p toolhive-bench -p toolhive-cli
fi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH_BIN="$TARGET_DIR/release/toolhive-bench"
TOOLHIVE_BIN="$TARGET_DIR/release/toolhive"

# --- processes and cleanup ---------------------------------------------------------------------
TMP="$(mktemp -d /tmp/toolhive-bench.XXXXXX)"
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$RESULTS/raw"
rm -f "$RESULTS"/raw/*.txt

if [ "$PIN" = 1 ]; then
    PIN_LOAD=(taskset -c 0)   # wrk and the upstream
    PIN_PROXY=(taskset -c 1)  # the proxy under test
    PROXY_WORKERS=1
else
    PIN_LOAD=()
    PIN_PROXY=()
    PROXY_WORKERS="$(nproc)"
fi

read -r UP_PORT NGINX_PORT < <("$BENCH_BIN" ports 2)

wait_port() { # port: wait until something accepts connections on 127.0.0.1:port
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "bench: nothing listening on 127.0.0.1:$1" >&2
    return 1
}

# nginx_conf DIR WORKERS SERVER_BLOCK: a self-contained nginx instance under DIR.
nginx_conf() {
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $2;
worker_rlimit_nofile 16384;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
$3
}
EOF
}

# Upstream: answers POST /mcp with a fixed small JSON-RPC result. One worker.
nginx_conf "$TMP/upstream" 1 "
    server {
        listen 127.0.0.1:$UP_PORT;
        location = /mcp {
            default_type application/json;
            return 200 '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}';
        }
    }"
# Baseline: nginx reverse proxy with upstream keep-alive (a pool big enough for 256 clients).
nginx_conf "$TMP/proxy" "$PROXY_WORKERS" "
    upstream mcp_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 512;
        keepalive_requests 10000000;
        keepalive_timeout 75s;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /mcp {
            proxy_pass http://mcp_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"

log "starting upstream nginx on $UP_PORT, baseline nginx on $NGINX_PORT"
"${PIN_LOAD[@]}" "$NGINX" -p "$TMP/upstream" -c "$TMP/upstream/nginx.conf" -e "$TMP/upstream/error.log" &
UP_PID=$!
PIDS+=("$UP_PID")
"${PIN_PROXY[@]}" "$NGINX" -p "$TMP/proxy" -c "$TMP/proxy/nginx.conf" -e "$TMP/proxy/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$UP_PORT"
wait_port "$NGINX_PORT"

log "starting toolhive run http://127.0.0.1:$UP_PORT/mcp --stateless"
mkfifo "$TMP/toolhive.stdout"
"${PIN_PROXY[@]}" "$TOOLHIVE_BIN" run "http://127.0.0.1:$UP_PORT/mcp" --stateless \
    >"$TMP/toolhive.stdout" 2>"$TMP/toolhive.stderr" &
TOOLHIVE_PID=$!
PIDS+=("$TOOLHIVE_PID")
exec 4<"$TMP/toolhive.stdout"
if ! read -r -t 10 TOOLHIVE_URL <&4; then
    echo "bench: toolhive printed no URL; its stderr:" >&2
    cat "$TMP/toolhive.stderr" >&2
    exit 1
fi
TOOLHIVE_PORT="$(sed -E 's#^http://127\.0\.0\.1:([0-9]+)/.*#\1#' <<<"$TOOLHIVE_URL")"

declare -A URL=(
    [direct]="http://127.0.0.1:$UP_PORT/mcp"
    [nginx]="http://127.0.0.1:$NGINX_PORT/mcp"
    [toolhive]="$TOOLHIVE_URL"
)
TARGETS=(direct nginx toolhive)

# Sanity: every target answers the request with 200 and the upstream's body.
BODY='{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
probe() { # port
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "${#BODY}" "$BODY" >&3
    timeout 5 cat <&3
    exec 3<&-
}
for port in "$UP_PORT" "$NGINX_PORT" "$TOOLHIVE_PORT"; do
    answer="$(probe "$port")"
    if ! grep -q '^HTTP/1.1 200' <<<"$answer" || ! grep -q '"result":{"tools":\[\]}' <<<"$answer"; then
        echo "bench: 127.0.0.1:$port did not answer as expected:" >&2
        echo "$answer" >&2
        exit 1
    fi
done

cat >"$TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
done = function(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("BENCH_RESULT %d %d %.3f %.1f %.1f %.1f %d %d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(99), latency.mean,
        e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

# CPU ticks (user+system) of a process and its children (nginx workers).
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { # pid
    local total=0 p f
    for p in "$1" $(pgrep -P "$1" || true); do
        f="$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null)" || continue
        total=$((total + ${f% *} + ${f#* }))
    done
    echo "$total"
}
rss_kib() { # pid: VmRSS of a process and its children
    local total=0 p v
    for p in "$1" $(pgrep -P "$1" || true); do
        v="$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)" || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
declare -A PROC=([direct]="" [nginx]="$NGINX_PID" [toolhive]="$TOOLHIVE_PID")

run_wrk() { # target connections duration rawfile -> prints BENCH_RESULT fields
    local threads=2
    [ "$2" -lt 2 ] && threads=1
    "${PIN_LOAD[@]}" "$WRK" -t"$threads" -c"$2" -d"${3}s" --latency -s "$TMP/post.lua" "${URL[$1]}" >"$4" 2>&1
    grep '^BENCH_RESULT' "$4" | tail -1
}

for t in "${TARGETS[@]}"; do
    log "warm-up: $t (${WARMUP}s, 32 connections)"
    run_wrk "$t" 32 "$WARMUP" "$RESULTS/raw/warmup-$t.txt" >/dev/null
done

declare -A RPS P50 P99 MEAN NON2XX SOCKERR CPU_PCT CPU_US UP_CPU_PCT
for c in $CONNECTIONS; do
    for t in "${TARGETS[@]}"; do
        log "wrk: $t, $c connection(s), ${DURATION}s"
        before="" up_before="$(cpu_ticks "$UP_PID")"
        [ -n "${PROC[$t]}" ] && before="$(cpu_ticks "${PROC[$t]}")"
        read -r _ reqs dur rps p50 p99 mean non2xx sockerr < <(run_wrk "$t" "$c" "$DURATION" "$RESULTS/raw/$t-c$c.txt")
        up_after="$(cpu_ticks "$UP_PID")"
        k="$t,$c"
        RPS[$k]="$rps" P50[$k]="$p50" P99[$k]="$p99" MEAN[$k]="$mean" NON2XX[$k]="$non2xx" SOCKERR[$k]="$sockerr"
        UP_CPU_PCT[$k]="$(awk -v d="$((up_after - up_before))" -v hz="$CLK_TCK" -v s="$dur" 'BEGIN {printf "%.0f", d / hz / (s / 1e6) * 100}')"
        if [ -n "$before" ]; then
            after="$(cpu_ticks "${PROC[$t]}")"
            CPU_PCT[$k]="$(awk -v d="$((after - before))" -v hz="$CLK_TCK" -v s="$dur" 'BEGIN {printf "%.0f", d / hz / (s / 1e6) * 100}')"
            CPU_US[$k]="$(awk -v d="$((after - before))" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", d / hz * 1e6 / n}')"
        else
            CPU_PCT[$k]="-" CPU_US[$k]="-"
        fi
    done
done
NGINX_RSS="$(rss_kib "$NGINX_PID")"
TOOLHIVE_RSS="$(rss_kib "$TOOLHIVE_PID")"

# --- in-process measurements -------------------------------------------------------------------
log "toolhive-bench rss"
"$BENCH_BIN" rss >"$TMP/rss.md"
log "toolhive-bench start"
"$BENCH_BIN" start >"$TMP/start.md"
log "toolhive-bench sse"
"$BENCH_BIN" sse --events "$SSE_EVENTS" >"$TMP/sse.md"

# --- report ------------------------------------------------------------------------------------
ms() { awk -v u="$1" 'BEGIN {printf "%.3f", u / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
{
    echo "# toolhive-embed benchmark results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- core cli bench 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
    echo "- tools: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), wrk $("$WRK" -v 2>&1 | head -1 | awk '{print $2}'), $(rustc --version 2>/dev/null | awk '{print $1, $2}')"
    echo "- wrk: ${DURATION}s per cell after a ${WARMUP}s warm-up per target; 1 thread at 1 connection, 2 threads otherwise; POST \`$BODY\` (Content-Type: application/json, Accept: application/json, text/event-stream)"
    echo "- upstream: nginx, 1 worker, \`return 200\` with a 47-byte JSON-RPC result; baseline: nginx, $PROXY_WORKERS worker(s), \`proxy_pass\` with \`keepalive 512\` to the upstream; toolhive: \`toolhive run <upstream> --stateless\` ($( [ "$PIN" = 1 ] && echo "runtime on 1 pinned CPU" || echo "default runtime, $(nproc) workers"))"
    if [ "$PIN" = 1 ]; then
        echo "- pinning: wrk and the upstream on CPU 0, the proxy under test on CPU 1 (taskset)"
    else
        echo "- pinning: none; wrk, the upstream and the proxy under test share all $(nproc) CPUs"
    fi
    echo
    echo "### HTTP request/response through the proxies (wrk)"
    echo
    echo "| target | connections | requests/s | p50 (ms) | p99 (ms) | non-2xx | socket errors | proxy CPU | proxy CPU per request (µs) | upstream CPU |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CONNECTIONS; do
        for t in "${TARGETS[@]}"; do
            k="$t,$c"
            cpu="${CPU_PCT[$k]}"; [ "$cpu" != - ] && cpu="$cpu%"
            echo "| $t | $c | $(printf '%.0f' "${RPS[$k]}") | $(ms "${P50[$k]}") | $(ms "${P99[$k]}") | ${NON2XX[$k]} | ${SOCKERR[$k]} | $cpu | ${CPU_US[$k]} | ${UP_CPU_PCT[$k]}% |"
        done
    done
    echo
    echo "CPU is user+system time of the process (nginx: master and workers) over the run; 100% = one core."
    echo
    echo "| connections | toolhive / nginx requests/s | toolhive / nginx p50 | toolhive / nginx p99 | toolhive / nginx CPU per request | nginx / direct requests/s | toolhive / direct requests/s |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CONNECTIONS; do
        echo "| $c | $(ratio "${RPS[toolhive,$c]}" "${RPS[nginx,$c]}") | $(ratio "${P50[toolhive,$c]}" "${P50[nginx,$c]}") | $(ratio "${P99[toolhive,$c]}" "${P99[nginx,$c]}") | $(ratio "${CPU_US[toolhive,$c]}" "${CPU_US[nginx,$c]}") | $(ratio "${RPS[nginx,$c]}" "${RPS[direct,$c]}") | $(ratio "${RPS[toolhive,$c]}" "${RPS[direct,$c]}") |"
    done
    echo
    echo "RSS after the wrk runs: toolhive process $(awk -v k="$TOOLHIVE_RSS" 'BEGIN {printf "%.1f", k / 1024}') MiB, nginx baseline (master + workers) $(awk -v k="$NGINX_RSS" 'BEGIN {printf "%.1f", k / 1024}') MiB."
    echo
    cat "$TMP/rss.md" "$TMP/start.md" "$TMP/sse.md"
    echo "Raw wrk output: bench/results/raw/."
} >"$OUT"

log "toolhive stderr: $(wc -l <"$TMP/toolhive.stderr") line(s)"
cp "$TMP/toolhive.stderr" "$RESULTS/raw/toolhive-stderr.txt"
cat "$OUT"
log "written $OUT"

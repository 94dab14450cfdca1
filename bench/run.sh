#!/usr/bin/env bash
# toolhive-embed benchmark: one run, everything on 127.0.0.1, results in bench/results/latest.md.
#
#   bench/run.sh
#
# Environment (all optional):
#   BENCH_DURATION=5        seconds per wrk measurement
#   BENCH_REPEAT=3          rounds over all cells; each cell reports its best round (highest
#                           requests/s), which filters out rounds disturbed by other work
#   BENCH_WARMUP=2          seconds of wrk warm-up per target (not recorded)
#   BENCH_CONNECTIONS="1 32 256"
#   BENCH_PIN=0             1: pin wrk + upstream to CPU 0 and the proxy under test to CPU 1
#                           (nginx then runs 1 worker; toolhive's runtime sees 1 CPU)
#   BENCH_SKIP_BUILD=0      1: use the existing target/release binaries
#   BENCH_SSE_EVENTS=200    events per SSE stream (10 ms apart)
#   BENCH_INSTRUCTIONS=0    1: also count user-space instructions per proxied request for nginx,
#                           toolhive and the reference under valgrind (callgrind): immune to
#                           other load on the machine, adds about a minute, installs valgrind
#   BENCH_WAIT_IDLE=0       wait up to this many seconds for the machine to go idle (<15% busy
#                           over 3 s) before measuring; useful on a shared machine
#
# Measures: requests/s and p50/p99 latency (wrk, POST of a small JSON-RPC request) against
# (1) the upstream directly, (2) nginx as a keep-alive reverse proxy, (3) `toolhive run`,
# (4) `toolhive-bench reference-proxy` (same HTTP stack as toolhive, none of its logic);
# then the in-process numbers of `toolhive-bench` (idle-proxy RSS, start time, SSE latency).
# See bench/README.md.
# A benchmark, not a test: nothing here judges the numbers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${BENCH_DURATION:-5}"
REPEAT="${BENCH_REPEAT:-3}"
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

busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
all_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
if [ "${BENCH_WAIT_IDLE:-0}" -gt 0 ]; then
    deadline=$((SECONDS + BENCH_WAIT_IDLE))
    while :; do
        b0="$(busy_ticks)" a0="$(all_ticks)"
        sleep 3
        busy=$(( ($(busy_ticks) - b0) * 100 / ($(all_ticks) - a0 + 1) ))
        if [ "$busy" -lt 15 ]; then break; fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "the machine is still ${busy}% busy; measuring anyway"
            break
        fi
        log "the machine is ${busy}% busy; waiting for it to go idle"
    done
fi
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
read -r UP_PORT NGINX_PORT < <("$BENCH_BIN" ports 2)

wait_port() { # port [tries]: wait until something accepts connections on 127.0.0.1:port
    local _
    for _ in $(seq 1 "${2:-100}"); do
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
# start_printing NAME CMD...: start a server that prints its URL as its first stdout line.
start_printing() {
    local name="$1"
    shift
    mkfifo "$TMP/$name.stdout"
    "$@" >"$TMP/$name.stdout" 2>"$TMP/$name.stderr" &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    exec {fd}<"$TMP/$name.stdout"
    if ! read -r -t 10 LAST_URL <&"$fd"; then
        echo "bench: $name printed no URL; its stderr:" >&2
        cat "$TMP/$name.stderr" >&2
        exit 1
    fi
}
# Keep the CLI's saved state and secrets in the temp dir, never in the user's state directory.
export TOOLHIVE_STATE_DIR="$TMP/state" TOOLHIVE_SECRET_STORE=file
start_printing toolhive "${PIN_PROXY[@]}" "$TOOLHIVE_BIN" run "http://127.0.0.1:$UP_PORT/mcp" --stateless \
    --name bench-toolhive
TOOLHIVE_PID="$LAST_PID" TOOLHIVE_URL="$LAST_URL"
start_printing reference "${PIN_PROXY[@]}" "$BENCH_BIN" reference-proxy "http://127.0.0.1:$UP_PORT/mcp"
REF_PID="$LAST_PID" REF_URL="$LAST_URL"
port_of() { sed -E 's#^http://127\.0\.0\.1:([0-9]+)/.*#\1#' <<<"$1"; }

declare -A URL=(
    [direct]="http://127.0.0.1:$UP_PORT/mcp"
    [nginx]="http://127.0.0.1:$NGINX_PORT/mcp"
    [toolhive]="$TOOLHIVE_URL"
    [reference]="$REF_URL"
)
TARGETS=(direct nginx toolhive reference)

# Sanity: every target answers the request with 200 and the upstream's body.
BODY='{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
probe() { # port
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "$1" "${#BODY}" "$BODY" >&3
    timeout 5 cat <&3
    exec 3<&-
}
for port in "$UP_PORT" "$NGINX_PORT" "$(port_of "$TOOLHIVE_URL")" "$(port_of "$REF_URL")"; do
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
declare -A PROC=([direct]="" [nginx]="$NGINX_PID" [toolhive]="$TOOLHIVE_PID" [reference]="$REF_PID")
pct() { awk -v d="$1" -v hz="$CLK_TCK" -v us="$2" 'BEGIN {printf "%.0f", d / hz / (us / 1e6) * 100}'; }

run_wrk() { # target connections duration rawfile -> BENCH_RESULT fields, then wrk's CPU ticks
    local threads=2
    [ "$2" -lt 2 ] && threads=1
    (
        "${PIN_LOAD[@]}" "$WRK" -t"$threads" -c"$2" -d"${3}s" --latency -s "$TMP/post.lua" "${URL[$1]}" >"$4" 2>&1
        times >"$4.times"
    )
    if ! grep -q '^BENCH_RESULT' "$4"; then
        echo "bench: wrk against $1 ($2 connections) failed:" >&2
        cat "$4" >&2
        if [ -n "${PROC[$1]}" ] && ! kill -0 "${PROC[$1]}" 2>/dev/null; then
            echo "bench: the $1 process is gone; its stderr:" >&2
            tail -20 "$TMP/$1.stderr" >&2 2>/dev/null || true
        fi
        exit 1
    fi
    echo "$(grep '^BENCH_RESULT' "$4" | tail -1) $(
        # `times`, second line: children's user and system time, e.g. "0m1.230s 0m2.340s".
        sed -n 2p "$4.times" | tr 'ms' '  ' |
            awk -v hz="$CLK_TCK" '{printf "%.0f", ($1 * 60 + $2 + $3 * 60 + $4) * hz}'
    )"
    rm -f "$4.times"
}

for t in "${TARGETS[@]}"; do
    log "warm-up: $t (${WARMUP}s, 32 connections)"
    run_wrk "$t" 32 "$WARMUP" "$RESULTS/raw/warmup-$t.txt" >/dev/null
done

declare -A RPS P50 P99 NON2XX SOCKERR CPU_PCT CPU_US UP_CPU WRK_CPU OTHER_CPU ALL_RPS
for round in $(seq 1 "$REPEAT"); do
    for c in $CONNECTIONS; do
        for t in "${TARGETS[@]}"; do
            log "round $round/$REPEAT: wrk: $t, $c connection(s), ${DURATION}s"
            proc_before=0
            [ -n "${PROC[$t]}" ] && proc_before="$(cpu_ticks "${PROC[$t]}")"
            up_before="$(cpu_ticks "$UP_PID")" busy_before="$(busy_ticks)"
            read -r _ reqs dur rps p50 p99 _mean non2xx sockerr wrk_ticks \
                < <(run_wrk "$t" "$c" "$DURATION" "$RESULTS/raw/$t-c$c-r$round.txt")
            [ -n "${wrk_ticks:-}" ] || exit 1
            busy=$(($(busy_ticks) - busy_before)) up=$(($(cpu_ticks "$UP_PID") - up_before)) proc=0
            [ -n "${PROC[$t]}" ] && proc=$(($(cpu_ticks "${PROC[$t]}") - proc_before))
            k="$t,$c"
            ALL_RPS[$k]="${ALL_RPS[$k]:+${ALL_RPS[$k]} / }$(printf '%.0f' "$rps")"
            # Keep this round only if it is the cell's best so far.
            if [ -n "${RPS[$k]:-}" ] && awk -v a="$rps" -v b="${RPS[$k]}" 'BEGIN {exit !(a <= b)}'; then
                continue
            fi
            RPS[$k]="$rps" P50[$k]="$p50" P99[$k]="$p99" NON2XX[$k]="$non2xx" SOCKERR[$k]="$sockerr"
            UP_CPU[$k]="$(pct "$up" "$dur")%" WRK_CPU[$k]="$(pct "$wrk_ticks" "$dur")%"
            OTHER_CPU[$k]="$(pct "$((busy - up - wrk_ticks - proc))" "$dur")%"
            if [ -n "${PROC[$t]}" ]; then
                CPU_PCT[$k]="$(pct "$proc" "$dur")%"
                CPU_US[$k]="$(awk -v d="$proc" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN {printf "%.1f", d / hz * 1e6 / n}')"
            else
                CPU_PCT[$k]="-" CPU_US[$k]="-"
            fi
        done
    done
done
NGINX_RSS="$(rss_kib "$NGINX_PID")"
TOOLHIVE_RSS="$(rss_kib "$TOOLHIVE_PID")"
REF_RSS="$(rss_kib "$REF_PID")"

# --- instructions per request (optional) -------------------------------------------------------
# Wall-clock numbers on a small shared machine are noisy; instruction counts are not. Each proxy
# runs under callgrind (threads serialized, so only the count is meaningful, not the speed).
if [ "${BENCH_INSTRUCTIONS:-0}" = 1 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        log "installing valgrind"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
    fi
    read -r VG_NGINX_PORT VG_TOOLHIVE_PORT VG_REF_PORT < <("$BENCH_BIN" ports 3)
    nginx_conf "$TMP/vg-nginx" 1 "
    upstream mcp_upstream {
        server 127.0.0.1:$UP_PORT;
        keepalive 512;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$VG_NGINX_PORT;
        location /mcp {
            proxy_pass http://mcp_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
    sed -i 's/^master_process on;/master_process off;/' "$TMP/vg-nginx/nginx.conf"
    declare -A VG_CMD=(
        [nginx]="$NGINX -p $TMP/vg-nginx -c $TMP/vg-nginx/nginx.conf -e $TMP/vg-nginx/error.log"
        [toolhive]="$TOOLHIVE_BIN run http://127.0.0.1:$UP_PORT/mcp --stateless --name bench-toolhive-callgrind --proxy-port $VG_TOOLHIVE_PORT"
        [reference]="$BENCH_BIN reference-proxy http://127.0.0.1:$UP_PORT/mcp --port $VG_REF_PORT"
    )
    declare -A VG_PORT=([nginx]="$VG_NGINX_PORT" [toolhive]="$VG_TOOLHIVE_PORT" [reference]="$VG_REF_PORT")
    declare -A INSTR
    for t in nginx toolhive reference; do
        log "instructions per request: $t under callgrind"
        # shellcheck disable=SC2086 # the command lines above are plain words
        valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$t" ${VG_CMD[$t]} \
            >"$TMP/vg-$t.out" 2>"$TMP/vg-$t.err" &
        vg_pid=$!
        PIDS+=("$vg_pid")
        wait_port "${VG_PORT[$t]}" 600
        vg_url="http://127.0.0.1:${VG_PORT[$t]}/mcp"
        "$WRK" -t1 -c8 -d3s -s "$TMP/post.lua" "$vg_url" >/dev/null 2>&1
        callgrind_control -z "$vg_pid" >/dev/null 2>&1
        "$WRK" -t1 -c8 -d8s -s "$TMP/post.lua" "$vg_url" >"$RESULTS/raw/callgrind-$t-wrk.txt" 2>&1
        callgrind_control -d "$vg_pid" >/dev/null 2>&1
        kill -TERM "$vg_pid" 2>/dev/null || true
        wait "$vg_pid" 2>/dev/null || true
        dump="$(ls "$TMP/cg.$t".* | sort | tail -1)"
        reqs="$(grep '^BENCH_RESULT' "$RESULTS/raw/callgrind-$t-wrk.txt" | awk '{print $2}')"
        total="$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")"
        INSTR[$t]="$(awk -v i="$total" -v n="$reqs" 'BEGIN {printf "%.0f", i / n}')"
        if [ "$t" = toolhive ]; then
            # Inclusive instructions per request of toolhive's own functions and of a few hot
            # spots of the stack, deduplicated by function name (inlining repeats them).
            callgrind_annotate --inclusive=yes --auto=no --threshold=100 "$dump" 2>/dev/null |
                awk -v n="$reqs" '
                    /^ *[0-9,]+ +\( *[0-9.]+%\)/ {
                        count = $1; gsub(",", "", count); count += 0
                        line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line); sub(/ \[[^]]*\]$/, "", line)
                        fn = line; sub(/^[^:]*:/, "", fn)
                        if (fn ~ /^toolhive_core::/ || fn ~ /^(malloc|free|realloc|__memcpy_avx_unaligned_erms|url::ParseOptions::parse|<reqwest::async_impl::client::Pending as core::future::future::Future>::poll|reqwest::async_impl::request::RequestBuilder::send)$/) {
                            if (!(fn in best) || count > best[fn]) best[fn] = count
                        }
                    }
                    END { for (fn in best) printf "%d\t%s\n", best[fn] / n, fn }' |
                sort -rn | head -20 >"$TMP/toolhive-hot.tsv"
        fi
    done
fi

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
    echo "- load average before the run: $LOADAVG_START"
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
    echo "- tools: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), wrk $("$WRK" -v 2>&1 | head -1 | awk '{print $2}'), $(rustc --version 2>/dev/null | awk '{print $1, $2}')"
    echo "- wrk: ${DURATION}s per cell, $REPEAT round(s) over all cells, each cell reporting its best round (highest requests/s; every round's requests/s is listed below), after a ${WARMUP}s warm-up per target; 1 thread at 1 connection, 2 threads otherwise; POST \`$BODY\` (Content-Type: application/json, Accept: application/json, text/event-stream)"
    echo "- upstream: nginx, 1 worker, \`return 200\` with a 47-byte JSON-RPC result; baseline: nginx, $PROXY_WORKERS worker(s), \`proxy_pass\` with \`keepalive 512\` to the upstream; toolhive: \`toolhive run <upstream> --stateless\` ($( [ "$PIN" = 1 ] && echo "runtime on 1 pinned CPU" || echo "default runtime, $(nproc) workers"))"
    if [ "$PIN" = 1 ]; then
        echo "- pinning: wrk and the upstream on CPU 0, the proxy under test on CPU 1 (taskset)"
    else
        echo "- pinning: none; wrk, the upstream and the proxy under test share all $(nproc) CPUs"
    fi
    echo
    echo "### HTTP request/response through the proxies (wrk)"
    echo
    echo "| target | connections | requests/s | p50 (ms) | p99 (ms) | non-2xx | socket errors | proxy CPU | proxy CPU per request (µs) | upstream CPU | wrk CPU | other CPU |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CONNECTIONS; do
        for t in "${TARGETS[@]}"; do
            k="$t,$c"
            echo "| $t | $c | $(printf '%.0f' "${RPS[$k]}") | $(ms "${P50[$k]}") | $(ms "${P99[$k]}") | ${NON2XX[$k]} | ${SOCKERR[$k]} | ${CPU_PCT[$k]} | ${CPU_US[$k]} | ${UP_CPU[$k]} | ${WRK_CPU[$k]} | ${OTHER_CPU[$k]} |"
        done
    done
    echo
    echo "CPU columns: user+system time over the measurement, 100% = one core (the machine has $(nproc)). Proxy CPU counts nginx's master and workers. Other CPU = machine-wide busy time (/proc/stat, tick-sampled) minus proxy, upstream and wrk (per-process times): kernel work not charged to a process plus anything else running; it is approximate (it can even come out slightly negative), but a large value means another workload shared the machine during that cell."
    echo "\`reference\` is \`toolhive-bench reference-proxy\`: the same stack as toolhive (hyper 1 server, one reqwest client, multi-thread tokio) with none of toolhive's logic; it is there only to separate the cost of the stack from the cost of toolhive's own work."
    echo
    echo "| connections | toolhive / nginx requests/s | toolhive / nginx p50 | toolhive / nginx p99 | toolhive / nginx CPU per request | toolhive / reference CPU per request | nginx / direct requests/s | toolhive / direct requests/s |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in $CONNECTIONS; do
        echo "| $c | $(ratio "${RPS[toolhive,$c]}" "${RPS[nginx,$c]}") | $(ratio "${P50[toolhive,$c]}" "${P50[nginx,$c]}") | $(ratio "${P99[toolhive,$c]}" "${P99[nginx,$c]}") | $(ratio "${CPU_US[toolhive,$c]}" "${CPU_US[nginx,$c]}") | $(ratio "${CPU_US[toolhive,$c]}" "${CPU_US[reference,$c]}") | $(ratio "${RPS[nginx,$c]}" "${RPS[direct,$c]}") | $(ratio "${RPS[toolhive,$c]}" "${RPS[direct,$c]}") |"
    done
    echo
    if [ "$REPEAT" -gt 1 ]; then
        echo "Requests/s of every round (round 1 / 2 / ...), to judge the noise:"
        echo
        echo "| target | $(for c in $CONNECTIONS; do printf '%s connection(s) | ' "$c"; done | sed 's/ | $//') |"
        echo "|---|$(for c in $CONNECTIONS; do printf -- '---:|'; done)"
        for t in "${TARGETS[@]}"; do
            echo "| $t | $(for c in $CONNECTIONS; do printf '%s | ' "${ALL_RPS[$t,$c]}"; done | sed 's/ | $//') |"
        done
        echo
    fi
    echo "RSS after the wrk runs: toolhive process $(awk -v k="$TOOLHIVE_RSS" 'BEGIN {printf "%.1f", k / 1024}') MiB, nginx baseline (master + workers) $(awk -v k="$NGINX_RSS" 'BEGIN {printf "%.1f", k / 1024}') MiB, reference $(awk -v k="$REF_RSS" 'BEGIN {printf "%.1f", k / 1024}') MiB."
    echo
    if [ "${BENCH_INSTRUCTIONS:-0}" = 1 ]; then
        echo "### User-space instructions per proxied request (callgrind)"
        echo
        echo "Each proxy under valgrind --tool=callgrind, counters zeroed after a warm-up, then wrk -t1 -c8 for 8 s; instructions divided by requests. Counts user space only (not the kernel), and do not depend on other load."
        echo
        echo "| proxy | instructions per request | relative to nginx |"
        echo "|---|---:|---:|"
        for t in nginx toolhive reference; do
            echo "| $t | ${INSTR[$t]} | $(ratio "${INSTR[$t]}" "${INSTR[nginx]}") |"
        done
        echo
        echo "Where toolhive's instructions go (inclusive, per request; nested entries overlap):"
        echo
        echo "| instructions per request | function |"
        echo "|---:|---|"
        awk -F'\t' '{printf "| %d | `%s` |\n", $1, $2}' "$TMP/toolhive-hot.tsv"
        echo
    fi
    cat "$TMP/rss.md" "$TMP/start.md" "$TMP/sse.md"
    echo "Raw wrk output: bench/results/raw/."
} >"$OUT"

log "toolhive stderr: $(wc -l <"$TMP/toolhive.stderr") line(s)"
cp "$TMP/toolhive.stderr" "$RESULTS/raw/toolhive-stderr.txt"
cat "$OUT"
log "written $OUT"

//! `toolhive-bench`: in-process measurements of toolhive-core (memory of idle proxies, start
//! time, SSE event latency). Each subcommand prints a markdown section on stdout; progress goes
//! to stderr. `bench/run.sh` runs them all (plus the wrk HTTP benchmark) and writes
//! `bench/results/latest.md`.
//!
//! This is a benchmark, not a test: it asserts nothing about timings.

mod refproxy;
mod upstream;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use toolhive_core::{ProxyConfig, ProxyManager};

#[derive(Parser)]
#[command(
    name = "toolhive-bench",
    about = "toolhive-embed benchmarks (in-process)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// RSS of this process with 0, 1, 100, 1000 idle proxies.
    Rss {
        /// Proxy counts to measure at, in increasing order.
        #[arg(long, value_delimiter = ',', default_value = "0,1,100,1000")]
        counts: Vec<usize>,
        /// Build (and keep) a reqwest client with rustls before the baseline, to see how much
        /// of the first proxy's cost is the one-time HTTP/TLS client setup.
        #[arg(long)]
        prewarm_client: bool,
    },
    /// Time from `ProxyManager::start` to the returned `Proxy`, and stop times.
    Start {
        /// Proxies started per series (default config, then `probe_on_start: false`); all are
        /// kept running until the stop measurement at the end.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Extra proxies timed from `start` to their first proxied response (each stopped after).
        #[arg(long, default_value_t = 100)]
        first_response: usize,
    },
    /// SSE event latency, direct to an in-process upstream and through a proxy.
    Sse {
        /// Events per stream.
        #[arg(long, default_value_t = 200)]
        events: u64,
        /// Milliseconds between events.
        #[arg(long, default_value_t = 10)]
        interval_ms: u64,
        /// Concurrent stream counts to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,64")]
        streams: Vec<usize>,
    },
    /// A minimal hyper + reqwest forwarder (same stack as toolhive, none of its logic), for
    /// comparison only; prints its local URL and serves until killed.
    ReferenceProxy {
        /// The upstream URL every request is sent to.
        remote: String,
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Print N free loopback ports (for run.sh).
    Ports {
        #[arg(default_value_t = 1)]
        n: usize,
    },
}

fn main() {
    let cli = Cli::parse();
    raise_fd_limit();
    if let Command::Ports { n } = cli.command {
        // Bind them all first so the ports are distinct, then release them.
        let listeners: Vec<_> = (0..n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let ports: Vec<String> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port().to_string())
            .collect();
        println!("{}", ports.join(" "));
        return;
    }
    // The same runtime shape as the CLI: multi-thread, one worker per core.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    now_ns(); // fix the epoch
    rt.block_on(async move {
        match cli.command {
            Command::Rss {
                counts,
                prewarm_client,
            } => rss(counts, prewarm_client).await,
            Command::Start {
                count,
                first_response,
            } => start(count, first_response).await,
            Command::Sse {
                events,
                interval_ms,
                streams,
            } => sse(events, interval_ms, streams).await,
            Command::ReferenceProxy { remote, port } => refproxy::run(remote, port).await,
            Command::Ports { .. } => unreachable!(),
        }
    });
}

/// Nanoseconds since a process-wide monotonic epoch (shared by the in-process upstream and
/// the client, so one clock measures event latency).
pub(crate) fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn raise_fd_limit() {
    // SAFETY: plain libc calls with a valid, initialized struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `VmRSS` of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Nearest-rank percentile of sorted `v` (q in 0..=1).
fn pct<T: Copy>(sorted: &[T], q: f64) -> T {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The config every bench proxy uses: defaults, plus a distinct name, a free port, stateless.
fn config(remote: &str, name: String) -> ProxyConfig {
    let mut c = ProxyConfig::new(remote);
    c.name = Some(name);
    c.port = 0;
    c.stateless = true;
    c
}

// ---------------------------------------------------------------------------------------------
// (a) RSS with N idle proxies
// ---------------------------------------------------------------------------------------------

async fn rss(counts: Vec<usize>, prewarm_client: bool) {
    // A live upstream, so the default start-up probe succeeds (as it would in real use); it
    // runs before the baseline, so its memory is not counted per proxy.
    let remote = format!("http://{}/json", upstream::spawn());
    let remote = remote.as_str();
    let _client = prewarm_client.then(|| reqwest::Client::builder().build().expect("client"));
    let manager = ProxyManager::new(tokio::runtime::Handle::current());
    // Let the runtime's workers start and settle before the baseline.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut started = 0usize;
    let mut rows = Vec::new();
    let base = rss_kib();
    for &n in &counts {
        while started < n {
            manager
                .start(config(remote, format!("idle-{started}")))
                .await
                .expect("start idle proxy");
            started += 1;
        }
        // Let spawned serving tasks reach their first poll (accept) before measuring.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let kib = rss_kib();
        eprintln!("rss: {n} idle proxies: {kib} KiB");
        rows.push((n, kib));
    }
    println!(
        "### Memory: idle proxies in one process (VmRSS{})\n",
        if prewarm_client {
            ", reqwest client built before the baseline"
        } else {
            ""
        }
    );
    println!("| idle proxies | VmRSS (MiB) | above 0 proxies (MiB) | per proxy (KiB) |");
    println!("|---:|---:|---:|---:|");
    for (n, kib) in &rows {
        let above = kib.saturating_sub(base);
        let per = if *n > 0 {
            format!("{:.1}", above as f64 / *n as f64)
        } else {
            "-".into()
        };
        println!("| {n} | {} | {} | {per} |", mib(*kib), mib(above));
    }
    if let (Some(a), Some(b)) = (
        rows.iter().find(|r| r.0 == 100),
        rows.iter().find(|r| r.0 == 1000),
    ) {
        println!(
            "\nMarginal cost from 100 to 1000 proxies: {:.1} KiB per proxy.",
            b.1.saturating_sub(a.1) as f64 / 900.0
        );
    }
    println!();
    manager.stop_all().await;
}

// ---------------------------------------------------------------------------------------------
// (b) start time
// ---------------------------------------------------------------------------------------------

async fn start(count: usize, first_response: usize) {
    let up = upstream::spawn();
    let remote = format!("http://{up}/json");
    let manager = ProxyManager::new(tokio::runtime::Handle::current());
    // Warm-up: the first start builds the shared upstream client (TLS config etc.).
    let warm = manager
        .start(config(&remote, "warmup".into()))
        .await
        .expect("start");
    let first_start_note =
        "(first start in the process, which builds the shared HTTP client, excluded)";
    // With the default config (one `ping` probe to the upstream before serving), then with
    // `probe_on_start: false` (bind and spawn only).
    let mut proxies = Vec::with_capacity(2 * count);
    let mut series = Vec::new();
    for probe in [true, false] {
        let mut starts = Vec::with_capacity(count);
        for i in 0..count {
            let mut cfg = config(&remote, format!("p-{probe}-{i}"));
            cfg.probe_on_start = probe;
            let t0 = Instant::now();
            let proxy = manager.start(cfg).await.expect("start");
            starts.push(t0.elapsed());
            // Check (untimed) that the local URL accepts connections once start returned.
            tokio::net::TcpStream::connect(proxy.local_addr())
                .await
                .expect("proxy accepts connections once start returned");
            proxies.push(proxy);
        }
        starts.sort();
        series.push((probe, starts));
    }
    let _ = warm;

    // Start -> first proxied response, on fresh proxies (new client connection each time; the
    // upstream connection pool is shared by all proxies of the manager).
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut firsts = Vec::with_capacity(first_response);
    for i in 0..first_response {
        let cfg = config(&remote, format!("f-{i}"));
        let t0 = Instant::now();
        let proxy = manager.start(cfg).await.expect("start");
        let resp = client
            .post(proxy.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
            .await
            .expect("first request");
        let status = resp.status();
        let body = resp.bytes().await.expect("first body");
        firsts.push(t0.elapsed());
        assert!(
            status.is_success() && body.as_ref() == upstream::JSON_RESULT.as_bytes(),
            "proxy answered {status}"
        );
        manager.stop(proxy.name()).await.expect("stop");
    }

    // Stop times, one proxy at a time.
    let mut stops = Vec::with_capacity(proxies.len());
    for proxy in &proxies {
        let t0 = Instant::now();
        manager.stop(proxy.name()).await.expect("stop");
        stops.push(t0.elapsed());
    }
    manager.stop_all().await;

    firsts.sort();
    stops.sort();
    println!("### Start and stop time {first_start_note}\n");
    println!("| operation | samples | median (µs) | p99 (µs) | max (µs) |");
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, v: &[Duration]| {
        if v.is_empty() {
            return;
        }
        println!(
            "| {what} | {} | {} | {} | {} |",
            v.len(),
            us(pct(v, 0.5)),
            us(pct(v, 0.99)),
            us(*v.last().unwrap())
        );
    };
    for (probe, starts) in &series {
        let (what, running) = if *probe {
            ("default config: probe the upstream, then serve", 0)
        } else {
            ("`probe_on_start: false`", count)
        };
        row(
            &format!(
                "`start` → `Proxy`, {what} (with {running}..{} proxies running)",
                running + count
            ),
            starts,
        );
    }
    row(
        "`start` → first proxied response (new client connection)",
        &firsts,
    );
    row(
        &format!("`stop` (from {} running down to 0)", proxies.len()),
        &stops,
    );
    println!();
}

// ---------------------------------------------------------------------------------------------
// (c) SSE event latency
// ---------------------------------------------------------------------------------------------

async fn sse(events: u64, interval_ms: u64, streams: Vec<usize>) {
    let up = upstream::spawn();
    let direct = format!("http://{up}/sse");
    // The proxy runs on this (multi-thread) runtime, like in a host; the client runs on its own
    // current-thread runtime and thread, like a separate MCP client process would, so the
    // client's work does not queue behind the proxy's tasks (and vice versa).
    let manager = ProxyManager::new(tokio::runtime::Handle::current());
    let proxy = manager
        .start(config(&direct, "sse".into()))
        .await
        .expect("start");
    let targets = vec![
        ("direct", direct.clone()),
        ("toolhive proxy", proxy.url().to_owned()),
    ];
    let client_streams = streams.clone();
    let results = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        rt.block_on(async move {
            let client = reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(1024)
                .build()
                .expect("client");
            let mut rows = Vec::new();
            for &n in &client_streams {
                for (label, base) in &targets {
                    // A short warm-up opens connections.
                    run_streams(&client, base, n.min(8), 3, 1).await;
                    let mut lat = run_streams(&client, base, n, events, interval_ms).await;
                    lat.sort_unstable();
                    eprintln!(
                        "sse: {label} x{n}: {} events of {}",
                        lat.len(),
                        n as u64 * events
                    );
                    rows.push((*label, n, lat));
                }
            }
            rows
        })
    })
    .await
    .expect("client thread");
    println!("### SSE event latency ({events} events per stream, {interval_ms} ms apart)\n");
    println!(
        "Latency = time the client read the event minus the time the in-process upstream handed it to hyper \
         (one process clock). Upstream, proxy and client each run on their own tokio runtime; \
         starts of concurrent streams are staggered across one interval.\n"
    );
    println!("| path | concurrent streams | events | p50 (µs) | p90 (µs) | p99 (µs) | max (µs) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, n, lat) in results {
        let f = |ns: u64| format!("{:.0}", ns as f64 / 1e3);
        println!(
            "| {label} | {n} | {} | {} | {} | {} | {} |",
            lat.len(),
            f(pct(&lat, 0.5)),
            f(pct(&lat, 0.9)),
            f(pct(&lat, 0.99)),
            f(*lat.last().unwrap())
        );
    }
    println!();
    manager.stop_all().await;
}

/// Open `n` event streams concurrently (starts staggered across one interval) and return the
/// latency of every event, in nanoseconds.
async fn run_streams(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    events: u64,
    interval_ms: u64,
) -> Vec<u64> {
    let url = format!("{base}?n={events}&ms={interval_ms}");
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let client = client.clone();
        let url = url.clone();
        let delay = Duration::from_micros(interval_ms * 1000 * i as u64 / n as u64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            one_stream(&client, &url).await
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("stream task"));
    }
    all
}

async fn one_stream(client: &reqwest::Client, url: &str) -> Vec<u64> {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"slow"}}"#)
        .send()
        .await
        .expect("sse request");
    assert!(
        resp.status().is_success(),
        "sse request answered {}",
        resp.status()
    );
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let received = now_ns();
        buf.extend_from_slice(&chunk.expect("sse chunk"));
        // Every complete event in the buffer.
        while let Some(end) = find(&buf, b"\n\n") {
            if let Some(sent) = sent_ns(&buf[..end]) {
                out.push(received.saturating_sub(sent));
            }
            buf.drain(..end + 2);
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn sent_ns(event: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"sent_ns\":";
    let at = find(event, KEY)? + KEY.len();
    let digits: &[u8] = &event[at..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

//! `toolhive`: the command line over toolhive-core. Flags become a `ProxyConfig`; everything
//! else happens in the core.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use toolhive_core::{Error, ErrorKind, ProxyConfig, ProxyManager, Transport};

#[derive(Parser)]
#[command(
    name = "toolhive",
    version,
    about = "Remote MCP servers behind local proxies"
)]
struct Cli {
    /// Log filter for stderr (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, global = true, env = "TOOLHIVE_LOG", default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a proxy in front of a remote MCP server until Ctrl-C; prints the local URL.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// The remote MCP server's URL (optional when --config gives `remote_url`).
    url: Option<String>,
    /// Name of the proxy (default: derived from the remote host).
    #[arg(long)]
    name: Option<String>,
    /// The remote server's transport.
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// Local address to listen on.
    #[arg(long)]
    host: Option<String>,
    /// Local port (0 or absent: a free port).
    #[arg(long)]
    proxy_port: Option<u16>,
    /// The remote keeps no sessions (GET/HEAD/DELETE answered 405 locally).
    #[arg(long)]
    stateless: bool,
    /// A JSON ProxyConfig file; flags given on the command line override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Allow plain http to a remote that is not on loopback.
    #[arg(long)]
    allow_http: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    StreamableHttp,
    Sse,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Self {
        match t {
            TransportArg::StreamableHttp => Transport::StreamableHttp,
            TransportArg::Sse => Transport::Sse,
        }
    }
}

impl RunArgs {
    fn into_config(self) -> Result<ProxyConfig, Error> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot read --config {}: {e}", path.display()),
                    )
                })?;
                ProxyConfig::from_json(&text)?
            }
            None => {
                let url = self.url.clone().ok_or_else(|| {
                    Error::invalid(
                        "remote_url",
                        "missing; give the remote MCP URL as an argument or in --config",
                    )
                })?;
                ProxyConfig::new(url)
            }
        };
        if let Some(url) = self.url {
            config.remote_url = url;
        }
        if let Some(name) = self.name {
            config.name = Some(name);
        }
        if let Some(transport) = self.transport {
            config.transport = transport.into();
        }
        if let Some(host) = self.host {
            config.host = host;
        }
        if let Some(port) = self.proxy_port {
            config.port = port;
        }
        config.stateless |= self.stateless;
        config.allow_http |= self.allow_http;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("toolhive: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("toolhive: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> Result<(), Error> {
    let config = args.into_config()?;
    // Listen for signals before announcing the URL: a supervisor may signal right after.
    let stop = shutdown_signal()?;
    let manager = ProxyManager::new(tokio::runtime::Handle::current());
    let proxy = manager.start(config).await?;
    {
        let mut stdout = std::io::stdout().lock();
        // The one line scripts wait for; a closed stdout is not a reason to stop serving.
        let _ = writeln!(stdout, "{}", proxy.url());
        let _ = stdout.flush();
    }
    stop.await;
    tracing::info!(proxy = proxy.name(), "stopping");
    manager.stop_all().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; registered at once, awaited later.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Error> {
    let io =
        |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot listen for signals: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        let _ = io;
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

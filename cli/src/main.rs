//! `toolhive`: the command line over toolhive-core. Flags become a `ProxyConfig` or a manager
//! call; everything else happens in the core.

mod manage;
mod run;
mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use toolhive_core::{Error, ErrorKind, ManagerOptions, ProxyManager};

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
    /// Where proxies are saved (default: $XDG_STATE_HOME/toolhive-embed).
    #[arg(long, global = true, env = "TOOLHIVE_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a proxy in front of a remote MCP server; prints the local URL.
    Run(Box<run::RunArgs>),
    /// List proxies (running ones; --all for every saved one).
    List(manage::ListArgs),
    /// Show a proxy's recent log lines.
    Logs(manage::LogsArgs),
    /// Stop a proxy (its config is kept).
    Stop(manage::NameArg),
    /// Restart a proxy on the same port.
    Restart(manage::NameArg),
    /// Stop a proxy and delete its config, logs and secrets.
    Rm(manage::NameArg),
    /// Manage secrets in the secret store.
    #[command(subcommand)]
    Secret(secret::SecretCommand),
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
    let state_dir = cli.state_dir.clone();
    let result = runtime.block_on(async move {
        let manager = || manager(state_dir.clone());
        match cli.command {
            Command::Run(args) => run::run(*args, manager()?, state_dir).await,
            Command::List(args) => manage::list(&manager()?, args),
            Command::Logs(args) => manage::logs(&manager()?, args).await,
            Command::Stop(args) => manage::stop(&manager()?, args).await,
            Command::Restart(args) => manage::restart(&manager()?, args, state_dir).await,
            Command::Rm(args) => manage::remove(&manager()?, args).await,
            Command::Secret(cmd) => secret::run(&manager()?, cmd).await,
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

fn manager(state_dir: Option<PathBuf>) -> Result<ProxyManager, Error> {
    let state_dir = state_dir
        .or_else(ManagerOptions::default_state_dir)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::State,
                "no state directory: set --state-dir or TOOLHIVE_STATE_DIR (HOME is not set)",
            )
        })?;
    ProxyManager::with_options(
        tokio::runtime::Handle::current(),
        ManagerOptions {
            state_dir: Some(state_dir),
            secret_store: None,
            ..Default::default()
        },
    )
}

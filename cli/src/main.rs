//! `toolhive`: the command line over toolhive-core. Flags become a `ProxyConfig` or a manager
//! call; everything else happens in the core.

mod manage;
mod run;
mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use toolhive_core::secrets::{self, StoreChoice};
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
    /// Where secrets live: the OS keyring, a file in the state directory, or auto (the keyring
    /// when one is reachable and unlocked, else the file).
    #[arg(
        long,
        global = true,
        env = SECRET_STORE_ENV,
        value_name = "STORE",
        default_value = "auto",
        value_parser = PossibleValuesParser::new(StoreChoice::NAMES)
            .try_map(|s| s.parse::<StoreChoice>()),
    )]
    secret_store: StoreChoice,
    #[command(subcommand)]
    command: Command,
}

const SECRET_STORE_ENV: &str = "TOOLHIVE_SECRET_STORE";

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
    // Background proxies (`run --detach`, `restart`) are this program run again: hand them the
    // same store through the environment they inherit.
    // SAFETY: no other thread exists yet (the runtime is built below).
    unsafe { std::env::set_var(SECRET_STORE_ENV, cli.secret_store.as_str()) };
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
    let store = cli.secret_store;
    let result = runtime.block_on(async move {
        let manager = |store| manager(state_dir.clone(), store);
        // list, logs and stop read no secret: they never wait for (or fail on) a keyring.
        let no_secrets = StoreChoice::File;
        match cli.command {
            Command::Run(args) => run::run(*args, manager(store).await?, state_dir).await,
            Command::List(args) => manage::list(&manager(no_secrets).await?, args),
            Command::Logs(args) => manage::logs(&manager(no_secrets).await?, args).await,
            Command::Stop(args) => manage::stop(&manager(no_secrets).await?, args).await,
            Command::Restart(args) => {
                manage::restart(&manager(store).await?, args, state_dir).await
            }
            Command::Rm(args) => manage::remove(&manager(store).await?, args).await,
            Command::Secret(cmd) => secret::run(&manager(store).await?, cmd).await,
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

async fn manager(state_dir: Option<PathBuf>, store: StoreChoice) -> Result<ProxyManager, Error> {
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
            secret_store: secrets::select_store(store).await?,
            ..Default::default()
        },
    )
}

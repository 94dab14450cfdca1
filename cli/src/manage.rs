//! `toolhive list | logs | stop | restart | rm`: manager calls, printed.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use toolhive_core::{Error, ProxyInfo, ProxyManager};

#[derive(Args)]
pub struct NameArg {
    /// The proxy's name (see `toolhive list`).
    name: String,
}

#[derive(Args)]
pub struct ListArgs {
    /// Include stopped and failed proxies.
    #[arg(long, short = 'a')]
    all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args)]
pub struct LogsArgs {
    /// The proxy's name.
    name: String,
    /// Keep printing new lines as they are written.
    #[arg(long, short = 'f')]
    follow: bool,
}

pub fn list(manager: &ProxyManager, args: ListArgs) -> Result<(), Error> {
    for problem in manager.state_errors() {
        eprintln!("toolhive: skipped {problem}");
    }
    let infos: Vec<ProxyInfo> = manager
        .list()
        .into_iter()
        .filter(|i| args.all || i.state.is_active())
        .collect();
    match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = infos
                .iter()
                .map(|i| serde_json::from_str(&i.to_json()).expect("infos are JSON"))
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
        Format::Text => {
            println!(
                "{:<24} {:<10} {:<16} {:<34} {:<24} REMOTE",
                "NAME", "STATE", "TRANSPORT", "LOCAL URL", "STARTED"
            );
            for i in &infos {
                let state = if i.stale {
                    format!("stale (process {} is gone)", i.pid.unwrap_or_default())
                } else {
                    i.state.to_string()
                };
                println!(
                    "{:<24} {:<10} {:<16} {:<34} {:<24} {}",
                    i.name,
                    state,
                    i.transport,
                    i.local_url,
                    humantime::format_rfc3339_seconds(i.started_at),
                    shown_remote(&i.remote_url)
                );
            }
        }
    }
    Ok(())
}

/// The remote URL without its query (it may carry an API key).
fn shown_remote(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

pub async fn logs(manager: &ProxyManager, args: LogsArgs) -> Result<(), Error> {
    let mut follower = if args.follow {
        Some(manager.follow_logs(&args.name)?)
    } else {
        None
    };
    for line in manager.logs(&args.name)? {
        println!("{line}");
    }
    if let Some(follower) = follower.as_mut() {
        while let Some(line) = follower.next().await {
            println!("{line}");
        }
    }
    Ok(())
}

pub async fn stop(manager: &ProxyManager, args: NameArg) -> Result<(), Error> {
    manager.stop(&args.name).await?;
    eprintln!("stopped {}", args.name);
    Ok(())
}

pub async fn restart(
    manager: &ProxyManager,
    args: NameArg,
    state_dir: Option<PathBuf>,
) -> Result<(), Error> {
    let info = manager.info(&args.name)?;
    if info.state.is_active() && !info.stale {
        // Served by a live process: it restarts the proxy itself.
        let info = manager.restart(&args.name).await?;
        crate::run::announce(&info.local_url);
        return Ok(());
    }
    // Nobody serves it: a background process takes it over, on its saved port.
    crate::run::spawn_background(vec!["run".into(), "--saved".into(), args.name], state_dir)
}

pub async fn remove(manager: &ProxyManager, args: NameArg) -> Result<(), Error> {
    manager.remove(&args.name).await?;
    eprintln!("removed {}", args.name);
    Ok(())
}

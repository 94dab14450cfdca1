//! Start a proxy in front of the MCP server given on the command line, print its local URL and
//! the manager's listing, and stop gracefully on Ctrl-C.
//!
//!     cargo run -p toolhive-core --example proxy -- https://mcp.example.com/mcp

use toolhive_core::{ProxyConfig, ProxyManager};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let remote = std::env::args()
        .nth(1)
        .ok_or("usage: proxy <remote MCP URL>")?;
    let manager = ProxyManager::new(tokio::runtime::Handle::current());
    let proxy = manager.start(ProxyConfig::new(remote)).await?;
    println!("{}", proxy.url());
    for info in manager.list() {
        eprintln!(
            "{} {} -> {} ({}, {})",
            info.name, info.remote_url, info.local_url, info.transport, info.state
        );
    }
    tokio::signal::ctrl_c().await?;
    manager.stop(proxy.name()).await?;
    eprintln!("stopped {}", proxy.name());
    Ok(())
}

//! `toolhive run`: flags -> ProxyConfig -> a proxy in this process (or a detached one).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::{Args, ValueEnum};
use toolhive_core::secrets::SecretRef;
use toolhive_core::{
    Error, ErrorKind, EventKind, HeaderSource, OAuthConfig, ProxyConfig, ProxyManager, Transport,
};

/// Environment variable read for the bearer token when no flag gives one (as ToolHive).
const BEARER_ENV: &str = "TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN";

#[derive(Args)]
pub struct RunArgs {
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
    /// Bearer token for the remote (visible to other local users in the process list: prefer
    /// the -file flag or TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN).
    #[arg(
        long,
        value_name = "TOKEN",
        conflicts_with = "remote_auth_bearer_token_file"
    )]
    remote_auth_bearer_token: Option<String>,
    /// File holding the bearer token for the remote.
    #[arg(long, value_name = "FILE")]
    remote_auth_bearer_token_file: Option<PathBuf>,
    /// Header added to every remote request, `Name=Value` (repeatable).
    #[arg(long = "remote-forward-headers", value_name = "NAME=VALUE")]
    forward_headers: Vec<String>,
    /// Header whose value is a secret from the store, `Name=secret-name` (repeatable).
    #[arg(long = "remote-forward-headers-secret", value_name = "NAME=SECRET")]
    forward_headers_secret: Vec<String>,
    /// Pre-registered OAuth client id.
    #[arg(long, value_name = "ID")]
    remote_auth_client_id: Option<String>,
    /// OAuth client secret (prefer the -file flag: argv is visible to local users).
    #[arg(
        long,
        value_name = "SECRET",
        conflicts_with = "remote_auth_client_secret_file"
    )]
    remote_auth_client_secret: Option<String>,
    /// File holding the OAuth client secret.
    #[arg(long, value_name = "FILE")]
    remote_auth_client_secret_file: Option<PathBuf>,
    /// OIDC mode: the issuer to discover the authorization server from.
    #[arg(long, value_name = "URL", conflicts_with_all = ["remote_auth_authorize_url", "remote_auth_token_url"])]
    remote_auth_issuer: Option<String>,
    /// OAuth2 mode: the authorization endpoint (with --remote-auth-token-url).
    #[arg(long, value_name = "URL", requires = "remote_auth_token_url")]
    remote_auth_authorize_url: Option<String>,
    /// OAuth2 mode: the token endpoint (with --remote-auth-authorize-url).
    #[arg(long, value_name = "URL", requires = "remote_auth_authorize_url")]
    remote_auth_token_url: Option<String>,
    /// Scopes to request, comma-separated.
    #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
    remote_auth_scopes: Vec<String>,
    /// Send scopes under this parameter name instead of `scope` (Slack: user_scope).
    #[arg(long, value_name = "NAME")]
    remote_auth_scope_param_name: Option<String>,
    /// RFC 8707 resource to request tokens for (default: the remote URL).
    #[arg(long, value_name = "URI", conflicts_with = "remote_auth_no_resource")]
    remote_auth_resource: Option<String>,
    /// Do not send the RFC 8707 resource parameter (for servers that reject it).
    #[arg(long)]
    remote_auth_no_resource: bool,
    /// Client ID Metadata Document URL, used as client_id where the server supports it.
    #[arg(long, value_name = "URL")]
    remote_auth_client_metadata_url: Option<String>,
    /// Fixed local port for the OAuth callback.
    #[arg(long, value_name = "PORT")]
    remote_auth_callback_port: Option<u16>,
    /// How long a login may take (e.g. 5m, 90s).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    remote_auth_timeout: Option<std::time::Duration>,
    /// Do not open a browser; print the login URL on stderr instead.
    #[arg(long)]
    remote_auth_skip_browser: bool,
    /// Keep running in the background; print the URL and return.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Start the saved proxy NAME (used by `toolhive restart`).
    #[arg(long, hide = true, value_name = "NAME", conflicts_with_all = ["url", "config"])]
    saved: Option<String>,
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

fn split_pair<'a>(flag: &str, pair: &'a str) -> Result<(&'a str, &'a str), Error> {
    pair.split_once('=').ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{flag} takes NAME=VALUE; `{}` has no `=`",
                pair.split(['=']).next().unwrap_or("")
            ),
        )
    })
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
        self.apply_oauth(&mut config);
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
        if let Some(token) = self.remote_auth_bearer_token {
            config.bearer_token = Some(SecretRef::Value(token));
        } else if let Some(file) = self.remote_auth_bearer_token_file {
            config.bearer_token = Some(SecretRef::File(file));
        } else if config.bearer_token.is_none() && std::env::var_os(BEARER_ENV).is_some() {
            config.bearer_token = Some(SecretRef::Env(BEARER_ENV.to_owned()));
        }
        for pair in &self.forward_headers {
            let (name, value) = split_pair("--remote-forward-headers", pair)?;
            config
                .headers
                .insert(name.to_owned(), HeaderSource::Plain(value.to_owned()));
        }
        for pair in &self.forward_headers_secret {
            let (name, secret) = split_pair("--remote-forward-headers-secret", pair)?;
            config.headers.insert(
                name.to_owned(),
                HeaderSource::Secret(SecretRef::Secret(secret.to_owned())),
            );
        }
        Ok(config)
    }
}

impl RunArgs {
    fn apply_oauth(&self, config: &mut ProxyConfig) {
        let given = self.remote_auth_client_id.is_some()
            || self.remote_auth_client_secret.is_some()
            || self.remote_auth_client_secret_file.is_some()
            || self.remote_auth_issuer.is_some()
            || self.remote_auth_authorize_url.is_some()
            || !self.remote_auth_scopes.is_empty()
            || self.remote_auth_scope_param_name.is_some()
            || self.remote_auth_resource.is_some()
            || self.remote_auth_no_resource
            || self.remote_auth_client_metadata_url.is_some()
            || self.remote_auth_callback_port.is_some()
            || self.remote_auth_timeout.is_some()
            || self.remote_auth_skip_browser;
        if !given {
            return;
        }
        let oauth = config.oauth.get_or_insert_with(OAuthConfig::default);
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                field.clone_from(value);
            }
        };
        set(&mut oauth.client_id, &self.remote_auth_client_id);
        set(&mut oauth.issuer, &self.remote_auth_issuer);
        set(&mut oauth.authorize_url, &self.remote_auth_authorize_url);
        set(&mut oauth.token_url, &self.remote_auth_token_url);
        set(
            &mut oauth.scope_param_name,
            &self.remote_auth_scope_param_name,
        );
        set(&mut oauth.resource, &self.remote_auth_resource);
        set(
            &mut oauth.client_metadata_url,
            &self.remote_auth_client_metadata_url,
        );
        if let Some(secret) = &self.remote_auth_client_secret {
            oauth.client_secret = Some(SecretRef::Value(secret.clone()));
        } else if let Some(file) = &self.remote_auth_client_secret_file {
            oauth.client_secret = Some(SecretRef::File(file.clone()));
        }
        if !self.remote_auth_scopes.is_empty() {
            oauth.scopes.clone_from(&self.remote_auth_scopes);
        }
        if self.remote_auth_no_resource {
            oauth.send_resource = false;
        }
        if let Some(port) = self.remote_auth_callback_port {
            oauth.callback_port = Some(port);
        }
        if let Some(timeout) = self.remote_auth_timeout {
            oauth.timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        }
        oauth.skip_browser |= self.remote_auth_skip_browser;
    }
}

pub async fn run(
    args: RunArgs,
    manager: ProxyManager,
    state_dir: Option<PathBuf>,
) -> Result<(), Error> {
    if args.detach {
        return detach(state_dir);
    }
    // Listen for signals before announcing the URL: a supervisor may signal right after.
    let stop = shutdown_signal()?;
    let proxy = match args.saved.clone() {
        Some(name) => {
            manager.restart(&name).await?;
            manager
                .get(&name)
                .ok_or_else(|| Error::new(ErrorKind::Internal, "restarted proxy vanished"))?
        }
        None => {
            let config = args.into_config()?;
            if config.oauth.as_ref().is_some_and(|o| o.skip_browser) {
                // Subscribed before starting: the start-up probe may already need a login.
                tokio::spawn(print_login_urls(manager.subscribe()));
            }
            manager.start(config).await?
        }
    };
    announce(proxy.url());
    if std::env::var_os(DETACHED_ENV).is_some() {
        // The parent that relayed the URL is gone; writing to its pipes would fail.
        silence_stdio();
    }
    let name = proxy.name().to_owned();
    tokio::select! {
        _ = stop => {
            tracing::info!(proxy = name, "stopping");
            manager.stop_all().await;
        }
        // `toolhive stop` / `rm` from another process: nothing left to serve, so exit.
        _ = stopped_elsewhere(&manager, &name) => {}
    }
    Ok(())
}

/// Resolves once proxy `name` stopped (or failed) and stayed so for a moment; the moment
/// covers a `restart` from another process, which stops and starts it again here.
async fn stopped_elsewhere(manager: &ProxyManager, name: &str) {
    use tokio::sync::broadcast::error::RecvError;
    let mut events = manager.subscribe();
    loop {
        match events.recv().await {
            Ok(event) if event.proxy == name => {
                if !matches!(event.kind, EventKind::StateChanged { .. }) {
                    continue;
                }
            }
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if manager.get(name).is_none_or(|p| !p.state().is_active()) {
            return;
        }
    }
}

/// Set for a process started by `--detach` (or `restart`) in the background.
const DETACHED_ENV: &str = "TOOLHIVE_DETACHED";

/// Point stdout and stderr at /dev/null (the proxy's own log goes to its log file).
fn silence_stdio() {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            // SAFETY: dup2 onto the standard descriptors; `null` stays valid during the calls.
            unsafe {
                libc::dup2(null.as_raw_fd(), 1);
                libc::dup2(null.as_raw_fd(), 2);
            }
        }
    }
}

/// With `--remote-auth-skip-browser` the core opens no browser; the user gets the URL here,
/// exactly one line per login.
async fn print_login_urls(mut events: tokio::sync::broadcast::Receiver<toolhive_core::ProxyEvent>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(event) => {
                if let EventKind::AuthorizationRequired { url } = event.kind {
                    eprintln!("Please open this URL in your browser: {url}");
                }
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}

/// The one line scripts wait for; a closed stdout is not a reason to stop serving.
pub fn announce(url: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{url}");
    let _ = stdout.flush();
}

/// Run this same command without `--detach` in a new process group, wait for its URL line,
/// print it and return, leaving it serving.
pub fn detach(state_dir: Option<PathBuf>) -> Result<(), Error> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach" && a != "-d")
        .collect();
    spawn_background(args, state_dir)
}

/// Start `toolhive <args>` in the background and relay its one stdout line.
pub fn spawn_background(args: Vec<String>, state_dir: Option<PathBuf>) -> Result<(), Error> {
    let io = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("cannot start the background process: {e}"),
        )
    };
    let exe = std::env::current_exe().map_err(io)?;
    let mut command = Command::new(exe);
    command
        .args(args)
        .env(DETACHED_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = state_dir {
        command.env("TOOLHIVE_STATE_DIR", dir);
    }
    #[cfg(unix)]
    {
        // Its own process group: Ctrl-C in this terminal must not reach it.
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(io)?;
    let mut line = String::new();
    let got = BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .map_err(io)?;
    if got == 0 {
        let mut stderr = String::new();
        let _ = child
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut stderr);
        let _ = child.wait();
        let why = stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("toolhive: "))
            .map(|l| l.trim_start_matches("toolhive: ").to_owned())
            .unwrap_or_else(|| stderr.trim().to_owned());
        return Err(Error::new(
            ErrorKind::Io,
            format!("the background proxy did not start: {why}"),
        ));
    }
    announce(line.trim_end());
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

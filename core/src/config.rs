//! [`ProxyConfig`]: the one serde schema every surface (Rust, C JSON, Python kwargs, Node
//! objects, CLI flags) accepts, and its one validation step.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::auth::OAuthConfig;
use crate::auth::settings::OAuthSettings;
use crate::error::{Error, Result};
use crate::headers::{self, HeaderSource};
use crate::name;
use crate::secrets::SecretRef;

/// Default request body limit: ToolHive's 8 MiB.
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// How the remote server speaks MCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Streamable HTTP (MCP 2025-03-26 and later): one endpoint for POST, GET and DELETE.
    #[default]
    StreamableHttp,
    /// Legacy HTTP+SSE (MCP 2024-11-05): a GET event stream plus a separate messages URL.
    Sse,
}

impl Transport {
    /// The name used in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::StreamableHttp => "streamable-http",
            Transport::Sse => "sse",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Periodic upstream probing that moves a proxy between `running` and `unhealthy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Time between probes.
    #[serde(default = "default_health_interval_ms")]
    pub interval_ms: u64,
    /// Consecutive failed probes before the proxy is marked unhealthy.
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// How long one probe may take.
    #[serde(default = "default_health_timeout_ms")]
    pub timeout_ms: u64,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        HealthCheckConfig {
            interval_ms: default_health_interval_ms(),
            failure_threshold: default_failure_threshold(),
            timeout_ms: default_health_timeout_ms(),
        }
    }
}

/// Everything needed to run one proxy in front of one remote MCP server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The remote MCP endpoint, e.g. `https://mcp.example.com/mcp`.
    pub remote_url: String,
    /// Unique name within the manager; derived from the remote host when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The remote server's transport.
    #[serde(default)]
    pub transport: Transport,
    /// Local address to listen on: an IP address or `localhost`.
    #[serde(default = "default_host")]
    pub host: String,
    /// Local port; 0 picks a free one.
    #[serde(default)]
    pub port: u16,
    /// The remote keeps no sessions: answer GET/HEAD/DELETE 405 locally, probe with POST `ping`.
    #[serde(default)]
    pub stateless: bool,
    /// Allow plain `http://` to a remote that is not on loopback.
    #[serde(default)]
    pub allow_http: bool,
    /// Largest request body accepted from local clients (413 above it).
    #[serde(default = "default_max_request_body_bytes")]
    pub max_request_body_bytes: u64,
    /// Time allowed to open a connection to the remote.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for the remote to start answering (status and headers); open streams have
    /// no time limit.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// Time a local client has to send its request headers (and its body).
    #[serde(default = "default_client_timeout_ms")]
    pub client_timeout_ms: u64,
    /// How long `stop` lets in-flight requests finish before closing them.
    #[serde(default = "default_stop_grace_ms")]
    pub stop_grace_ms: u64,
    /// Optional upstream health monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckConfig>,
    /// A static token sent as `Authorization: Bearer …` on every upstream request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<SecretRef>,
    /// Headers added to every upstream request, overriding what the client sent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderSource>,
    /// How to log in when the remote wants OAuth (everything is discovered when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthConfig>,
    /// Before serving, send one request to the remote so a remote that demands a token fails
    /// `start` with an explanation instead of failing every client request later.
    #[serde(default = "default_true")]
    pub probe_on_start: bool,
}

fn default_true() -> bool {
    true
}

fn default_host() -> String {
    "127.0.0.1".to_owned()
}
fn default_max_request_body_bytes() -> u64 {
    DEFAULT_MAX_REQUEST_BODY_BYTES
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_response_timeout_ms() -> u64 {
    120_000
}
fn default_client_timeout_ms() -> u64 {
    30_000
}
fn default_stop_grace_ms() -> u64 {
    5_000
}
fn default_health_interval_ms() -> u64 {
    10_000
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_health_timeout_ms() -> u64 {
    5_000
}

impl ProxyConfig {
    /// A config with defaults for everything but the remote URL.
    pub fn new(remote_url: impl Into<String>) -> Self {
        ProxyConfig {
            remote_url: remote_url.into(),
            name: None,
            transport: Transport::default(),
            host: default_host(),
            port: 0,
            stateless: false,
            allow_http: false,
            max_request_body_bytes: default_max_request_body_bytes(),
            connect_timeout_ms: default_connect_timeout_ms(),
            response_timeout_ms: default_response_timeout_ms(),
            client_timeout_ms: default_client_timeout_ms(),
            stop_grace_ms: default_stop_grace_ms(),
            health_check: None,
            bearer_token: None,
            headers: BTreeMap::new(),
            oauth: None,
            probe_on_start: true,
        }
    }

    /// Parse a JSON config; errors name the offending field (`health_check.interval_ms`).
    pub fn from_json(json: &str) -> Result<Self> {
        Self::from_json_slice(json.as_bytes())
    }

    /// [`ProxyConfig::from_json`] for bytes that may not be UTF-8 (C callers): a bad byte in a
    /// string is reported with the field it is in.
    pub fn from_json_slice(json: &[u8]) -> Result<Self> {
        let object = json
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_none_or(|b| *b == b'{');
        if !object && serde_json::from_slice::<serde_json::Value>(json).is_ok() {
            return Err(Error::new(
                crate::ErrorKind::InvalidConfig,
                "config must be a JSON object, e.g. {\"remote_url\": \"https://mcp.example.com/mcp\"}",
            ));
        }
        let de = &mut serde_json::Deserializer::from_slice(json);
        serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let message = if inner.is_syntax() || inner.is_eof() {
                format!("config is not valid JSON: {inner}")
            } else {
                // The field already says where; "at line 1 column 13" means nothing to a
                // Python or Node caller who never wrote JSON.
                let text = inner.to_string();
                match text.rfind(" at line ") {
                    Some(i) => text[..i].to_owned(),
                    None => text,
                }
            };
            // `.` is the document root; `?` is where a syntax error left the path unknown.
            if path == "." || path == "?" {
                Error::new(crate::ErrorKind::InvalidConfig, message)
            } else {
                Error::invalid(path, message)
            }
        })
    }

    /// This config as JSON (the same schema [`ProxyConfig::from_json`] reads).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("ProxyConfig always serializes")
    }

    /// Check every field and resolve derived values (name, bind address).
    pub fn validate(&self) -> Result<ValidConfig> {
        let remote = parse_remote_url(&self.remote_url, self.allow_http)?;
        let name = match &self.name {
            Some(name) => {
                name::check(name)?;
                name.clone()
            }
            None => name::derive(&remote),
        };
        let bind_ip = parse_host(&self.host)?;
        if self.stateless && self.transport == Transport::Sse {
            return Err(Error::invalid(
                "stateless",
                "stateless mode applies to the streamable-http transport only; \
                 remove `stateless` or use transport `streamable-http`",
            ));
        }
        if self.max_request_body_bytes == 0 {
            return Err(Error::invalid(
                "max_request_body_bytes",
                "must be greater than 0",
            ));
        }
        let health_check = match &self.health_check {
            None => None,
            Some(h) => {
                positive("health_check.interval_ms", h.interval_ms)?;
                positive("health_check.timeout_ms", h.timeout_ms)?;
                if h.failure_threshold == 0 {
                    return Err(Error::invalid(
                        "health_check.failure_threshold",
                        "must be at least 1",
                    ));
                }
                Some(HealthCheck {
                    interval: Duration::from_millis(h.interval_ms),
                    timeout: Duration::from_millis(h.timeout_ms),
                    failure_threshold: h.failure_threshold,
                })
            }
        };
        if let Some(token) = &self.bearer_token {
            token.check("bearer_token")?;
        }
        let mut injected = Vec::with_capacity(self.headers.len());
        for (header, source) in &self.headers {
            let parsed = headers::check_name(header)?;
            if parsed == http::header::AUTHORIZATION && self.bearer_token.is_some() {
                return Err(Error::invalid(
                    headers::field(header),
                    "both an injected Authorization header and bearer_token are set; keep one",
                ));
            }
            match source {
                HeaderSource::Plain(value) => {
                    headers::check_value(header, value)?;
                }
                HeaderSource::Secret(reference) => reference.check(&headers::field(header))?,
            }
            injected.push((header.clone(), parsed, source.clone()));
        }
        // Static credentials (a token or an injected Authorization) are the user's choice:
        // with them the proxy never starts OAuth of its own.
        let static_auth = self.bearer_token.is_some()
            || injected
                .iter()
                .any(|(_, name, _)| name == http::header::AUTHORIZATION);
        let oauth = match (&self.oauth, static_auth) {
            (Some(_), true) => {
                return Err(Error::invalid(
                    "oauth",
                    "cannot be combined with bearer_token or an injected Authorization header; keep one",
                ));
            }
            (_, true) => None,
            (Some(o), false) => Some(o.validate()?),
            (None, false) => Some(OAuthConfig::default().validate()?),
        };
        Ok(ValidConfig {
            name,
            oauth,
            headers: injected,
            bearer_token: self.bearer_token.clone(),
            local_path: remote.path().to_owned(),
            remote,
            transport: self.transport,
            bind: SocketAddr::new(bind_ip, self.port),
            stateless: self.stateless,
            max_request_body_bytes: self.max_request_body_bytes,
            connect_timeout: positive("connect_timeout_ms", self.connect_timeout_ms)?,
            response_timeout: positive("response_timeout_ms", self.response_timeout_ms)?,
            client_timeout: positive("client_timeout_ms", self.client_timeout_ms)?,
            stop_grace: Duration::from_millis(self.stop_grace_ms),
            health_check,
            source: self.clone(),
        })
    }
}

fn positive(field: &str, ms: u64) -> Result<Duration> {
    if ms == 0 {
        return Err(Error::invalid(field, "must be greater than 0 milliseconds"));
    }
    Ok(Duration::from_millis(ms))
}

fn parse_remote_url(raw: &str, allow_http: bool) -> Result<Url> {
    const FIELD: &str = "remote_url";
    if raw.trim().is_empty() {
        return Err(Error::invalid(
            FIELD,
            "is empty; give the remote MCP server's URL, e.g. https://mcp.example.com/mcp",
        ));
    }
    let no_host = || {
        Error::invalid(
            FIELD,
            "has no host; give the full URL, e.g. https://mcp.example.com/mcp",
        )
    };
    // WHATWG parsing turns `https:///mcp` into host `mcp`; a typo like that must not
    // silently proxy to a host called "mcp".
    if raw.trim().split_once("://").is_some_and(|(scheme, rest)| {
        rest.starts_with('/')
            && (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
    }) {
        return Err(no_host());
    }
    let url = Url::parse(raw.trim()).map_err(|e| {
        if e == url::ParseError::EmptyHost {
            return no_host();
        }
        Error::invalid(
            FIELD,
            format!("`{}` is not a valid URL ({e})", crate::redact::url_str(raw)),
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !allow_http && !is_loopback_host(&url) {
                return Err(Error::invalid(
                    FIELD,
                    format!(
                        "plain http to the non-loopback host `{}` is refused; use https, or set \
                         allow_http (CLI: --allow-http) if you really mean it",
                        url.host_str().unwrap_or_default()
                    ),
                ));
            }
        }
        other => {
            return Err(Error::invalid(
                FIELD,
                format!("scheme `{other}` is not supported; use http or https"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(no_host());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(
            FIELD,
            "must not carry user:password credentials; use a bearer token or headers instead",
        ));
    }
    if url.fragment().is_some() {
        return Err(Error::invalid(FIELD, "must not have a #fragment"));
    }
    Ok(url)
}

/// True for `localhost`, `*.localhost`, 127.0.0.0/8 and ::1.
pub(crate) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => is_loopback_name(d),
        None => false,
    }
}

pub(crate) fn is_loopback_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn parse_host(host: &str) -> Result<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| {
            Error::invalid(
                "host",
                format!("`{host}` is not an IP address or `localhost`; e.g. 127.0.0.1"),
            )
        })
}

/// The health monitor settings after validation.
#[derive(Debug, Clone)]
pub(crate) struct HealthCheck {
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

/// A [`ProxyConfig`] that passed validation, with derived values resolved.
#[derive(Debug, Clone)]
pub struct ValidConfig {
    pub(crate) name: String,
    pub(crate) remote: Url,
    pub(crate) local_path: String,
    pub(crate) transport: Transport,
    pub(crate) bind: SocketAddr,
    pub(crate) stateless: bool,
    pub(crate) max_request_body_bytes: u64,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) client_timeout: Duration,
    pub(crate) stop_grace: Duration,
    pub(crate) health_check: Option<HealthCheck>,
    pub(crate) bearer_token: Option<SecretRef>,
    /// OAuth settings; `None` when static credentials are configured.
    pub(crate) oauth: Option<OAuthSettings>,
    /// (name as written, parsed name, value source) of each injected header.
    pub(crate) headers: Vec<(String, http::HeaderName, HeaderSource)>,
    pub(crate) source: ProxyConfig,
}

impl ValidConfig {
    /// The proxy name (given or derived).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config as given.
    pub fn config(&self) -> &ProxyConfig {
        &self.source
    }
}

//! What a local request must satisfy before anything is forwarded: a loopback `Host` and
//! `Origin` (DNS rebinding protection, which the MCP spec asks of every local server), and a
//! bounded body read in bounded time.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::body::ErrorAnswer;
use crate::config::{ValidConfig, is_loopback_name};

/// Refuse requests whose `Host` or `Origin` is not this machine (403 with a JSON-RPC error).
pub(crate) fn check_host_and_origin(
    config: &ValidConfig,
    headers: &HeaderMap,
) -> Result<(), ErrorAnswer> {
    let forbidden = |what: String| Err(ErrorAnswer::refused(StatusCode::FORBIDDEN, what));
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return forbidden("request has no valid Host header".to_owned());
    };
    if !allowed_host(config, strip_port(host)) {
        return forbidden(format!(
            "Host `{}` is not allowed: this local MCP endpoint only answers requests addressed to \
             localhost or 127.0.0.1",
            truncate(host)
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| url::Url::parse(o).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .and_then(|u| u.host_str().map(str::to_owned));
        let ok = origin_host
            .is_some_and(|h| allowed_host(config, h.trim_start_matches('[').trim_end_matches(']')));
        if !ok {
            let shown = origin.to_str().unwrap_or("<not text>");
            return forbidden(format!(
                "Origin `{}` is not allowed: only pages served from localhost may call this \
                 local MCP endpoint",
                truncate(shown)
            ));
        }
    }
    Ok(())
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(100) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `host:port` / `[v6]:port` -> host (brackets removed).
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn allowed_host(config: &ValidConfig, host: &str) -> bool {
    if is_loopback_name(host) {
        return true;
    }
    let Ok(ip) = host.parse::<IpAddr>() else {
        return false;
    };
    if ip.is_loopback() || ip == config.bind.ip() {
        return true;
    }
    // Bound to every interface on purpose: names can't be checked, but IP literals are
    // not rebinding targets.
    config.bind.ip().is_unspecified()
}

/// Read a request body of at most `limit` bytes within `timeout` (413 / 408 otherwise).
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: u64,
    timeout: Duration,
) -> Result<Bytes, ErrorAnswer> {
    let too_large = || {
        ErrorAnswer::refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body is larger than the proxy's limit of {limit} bytes (max_request_body_bytes)"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match tokio::time::timeout(timeout, Limited::new(body, limit_usize).collect()).await {
        Err(_) => Err(ErrorAnswer::refused(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {timeout:?} (client_timeout_ms)"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(ErrorAnswer::refused(
            StatusCode::BAD_REQUEST,
            "request body could not be read",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProxyConfig;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn loopback_hosts_and_origins_pass() {
        let cfg = ProxyConfig::new("https://a.example/mcp")
            .validate()
            .unwrap();
        for host in [
            "localhost:1234",
            "127.0.0.1:80",
            "[::1]:9",
            "LOCALHOST",
            "a.localhost:1",
        ] {
            assert!(
                check_host_and_origin(&cfg, &headers(host, None)).is_ok(),
                "{host}"
            );
        }
        for origin in [
            "http://localhost:3000",
            "https://127.0.0.1",
            "http://[::1]:8080",
        ] {
            let h = headers("localhost", Some(origin));
            assert!(check_host_and_origin(&cfg, &h).is_ok(), "{origin}");
        }
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused() {
        let cfg = ProxyConfig::new("https://a.example/mcp")
            .validate()
            .unwrap();
        for host in [
            "evil.example.com",
            "evil.example.com:80",
            "10.0.0.1",
            "localhost.evil.com",
        ] {
            let refused = check_host_and_origin(&cfg, &headers(host, None)).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{host}");
        }
        for origin in [
            "http://evil.example.com",
            "null",
            "file:///x",
            "http://localhost.evil",
        ] {
            let h = headers("localhost", Some(origin));
            let refused = check_host_and_origin(&cfg, &h).unwrap_err();
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{origin}");
        }
        assert!(check_host_and_origin(&cfg, &HeaderMap::new()).is_err());
    }
}

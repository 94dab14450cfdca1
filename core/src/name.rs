//! Proxy names: the allowed alphabet and the name derived from a remote URL when none is given.
//!
//! ToolHive takes the second-to-last host label (`api.notion.com` -> `notion`), which breaks on
//! public suffixes (`foo.co.uk` -> `co`) and collides for local servers. We take the label in
//! front of the public suffix (from the compiled-in public suffix list), and for IP literals and
//! `localhost` keep the port so two local servers get two names.

use url::{Host, Url};

use crate::error::{Error, Result};

/// Longest allowed name.
pub const MAX_NAME_LEN: usize = 100;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Check a user-given name against `[A-Za-z0-9._-]{1,100}`.
pub fn check(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(
            "name",
            "is empty; use 1 to 100 of A-Z a-z 0-9 . _ -",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "name",
            format!(
                "is {} characters long; at most {MAX_NAME_LEN} are allowed",
                name.len()
            ),
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(Error::invalid(
            "name",
            format!("`{name}` contains {bad:?}; only A-Z a-z 0-9 . _ - are allowed"),
        ));
    }
    if name == "." || name == ".." {
        return Err(Error::invalid("name", "`.` and `..` are not names"));
    }
    Ok(())
}

/// The name for a proxy in front of `url` when the user gave none.
pub fn derive(url: &Url) -> String {
    let port = url.port_or_known_default().unwrap_or(0);
    let raw = match url.host() {
        Some(Host::Ipv4(ip)) => format!("{ip}-{port}"),
        Some(Host::Ipv6(ip)) => {
            let segments: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("ip6-{}-{port}", segments.join("-"))
        }
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if crate::config::is_loopback_name(&domain) {
                format!("{domain}-{port}")
            } else {
                registrable_label(&domain)
            }
        }
        None => String::new(),
    };
    sanitize(&raw)
}

/// The label in front of the public suffix: `api.notion.com` -> `notion`, `foo.co.uk` -> `foo`.
fn registrable_label(domain: &str) -> String {
    if let Some(registrable) = psl::domain(domain.as_bytes()) {
        let suffix_len = registrable.suffix().as_bytes().len();
        let full = registrable.as_bytes();
        if full.len() > suffix_len + 1 {
            return String::from_utf8_lossy(&full[..full.len() - suffix_len - 1]).into_owned();
        }
    }
    // A bare public suffix or a single-label intranet host: use its first label.
    domain.split('.').next().unwrap_or(domain).to_owned()
}

fn sanitize(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if allowed(c) { c } else { '-' })
        .take(MAX_NAME_LEN)
        .collect();
    if name.is_empty() || name == "." || name == ".." {
        name = "remote".to_owned();
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(url: &str) -> String {
        derive(&Url::parse(url).unwrap())
    }

    #[test]
    fn toolhive_rule_for_ordinary_hosts() {
        assert_eq!(d("https://api.notion.com/mcp"), "notion");
        assert_eq!(d("https://mcp.linear.app/sse"), "linear");
        assert_eq!(d("https://example.com/mcp"), "example");
    }

    #[test]
    fn public_suffixes_and_trailing_dots() {
        assert_eq!(d("https://foo.co.uk/mcp"), "foo");
        assert_eq!(d("https://mcp.foo.co.uk/mcp"), "foo");
        assert_eq!(d("https://api.notion.com./mcp"), "notion");
        assert_eq!(d("https://octo.github.io/mcp"), "octo");
    }

    #[test]
    fn local_hosts_keep_the_port() {
        assert_eq!(d("http://localhost:3101/mcp"), "localhost-3101");
        assert_eq!(d("http://127.0.0.1:3102/sse"), "127.0.0.1-3102");
        assert_eq!(d("http://[::1]:8080/mcp"), "ip6-0-0-0-0-0-0-0-1-8080");
        assert_eq!(d("https://10.1.2.3/mcp"), "10.1.2.3-443");
        assert_ne!(d("http://localhost:1/mcp"), d("http://localhost:2/mcp"));
    }

    #[test]
    fn single_label_and_odd_hosts() {
        assert_eq!(d("http://intranet:8080/mcp"), "intranet");
        assert_eq!(d("https://co.uk/mcp"), "co");
        assert_eq!(d("https://xn--bcher-kva.example/mcp"), "xn--bcher-kva");
    }

    #[test]
    fn check_accepts_and_rejects() {
        assert!(check("my_server-1.2").is_ok());
        for bad in ["", "a b", "a/b", "ünï", "..", &"x".repeat(101)] {
            let err = check(bad).unwrap_err();
            assert_eq!(err.field(), Some("name"), "{bad:?}");
        }
        assert!(check(&"x".repeat(100)).is_ok());
    }
}

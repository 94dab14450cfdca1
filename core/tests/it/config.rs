//! One schema, one validation: every bad input names its field and says what to do.

use toolhive_core::{ErrorKind, ProxyConfig, Transport};

fn invalid_json(json: &str) -> toolhive_core::Error {
    ProxyConfig::from_json(json).expect_err(json)
}

#[test]
fn json_round_trips_with_defaults() {
    let config = ProxyConfig::from_json(r#"{"remote_url":"https://mcp.example.com/mcp"}"#).unwrap();
    assert_eq!(config, ProxyConfig::new("https://mcp.example.com/mcp"));
    assert_eq!(ProxyConfig::from_json(&config.to_json()).unwrap(), config);
    let sse =
        ProxyConfig::from_json(r#"{"remote_url":"https://h/sse","transport":"sse"}"#).unwrap();
    assert_eq!(sse.transport, Transport::Sse);
}

#[test]
fn unknown_and_mistyped_fields_are_named() {
    let err = invalid_json(r#"{"remote_url":"https://h/mcp","prot":1}"#);
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("unknown field `prot`"), "{err}");
    let err = invalid_json(r#"{"remote_url":"https://h/mcp","port":"80"}"#);
    assert_eq!(err.field(), Some("port"), "{err}");
    let err = invalid_json(r#"{"remote_url":"https://h/mcp","health_check":{"interval_ms":-1}}"#);
    assert_eq!(err.field(), Some("health_check.interval_ms"), "{err}");
    let err = invalid_json(r#"{"remote_url":"https://h/mcp","transport":"websocket"}"#);
    assert_eq!(err.field(), Some("transport"), "{err}");
    let err = invalid_json(r#"{"port":1}"#);
    assert!(err.to_string().contains("remote_url"), "{err}");
    let err = invalid_json("{not json");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    let err = invalid_json("{");
    assert_eq!(err.field(), None, "{err}");
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    let err = invalid_json("[]");
    assert!(err.to_string().contains("must be a JSON object"), "{err}");
    let err = ProxyConfig::from_json_slice(b"{\"remote_url\":\"https://h/\xff\"}").unwrap_err();
    assert_eq!(err.field(), Some("remote_url"), "{err}");
}

fn invalid(config: ProxyConfig) -> toolhive_core::Error {
    config.validate().expect_err("must be refused")
}

#[test]
fn remote_url_problems_are_explained() {
    for (url, says) in [
        ("", "empty"),
        ("not a url", "not a valid URL"),
        ("ftp://h/mcp", "scheme `ftp`"),
        ("http://mcp.example.com/mcp", "--allow-http"),
        ("https://user:pw@h/mcp", "credentials"),
        ("https://h/mcp#frag", "fragment"),
        ("file:///etc/passwd", "scheme `file`"),
    ] {
        let err = invalid(ProxyConfig::new(url));
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert_eq!(err.field(), Some("remote_url"), "{url}");
        assert!(err.to_string().contains(says), "{url}: {err}");
    }
    for no_host in ["https://", "https:///mcp", "http://:80/mcp"] {
        let err = invalid(ProxyConfig::new(no_host));
        assert_eq!(err.field(), Some("remote_url"), "{no_host}");
        assert!(err.to_string().contains("has no host"), "{no_host}: {err}");
    }
}

#[test]
fn plain_http_needs_loopback_or_allow_http() {
    assert!(
        ProxyConfig::new("http://localhost:3000/mcp")
            .validate()
            .is_ok()
    );
    assert!(
        ProxyConfig::new("http://127.0.0.1:3000/mcp")
            .validate()
            .is_ok()
    );
    assert!(ProxyConfig::new("http://[::1]:3000/mcp").validate().is_ok());
    let mut config = ProxyConfig::new("http://mcp.example.com/mcp");
    config.allow_http = true;
    assert!(config.validate().is_ok());
}

#[test]
fn names_hosts_and_limits_are_checked() {
    let mut c = ProxyConfig::new("https://h.example/mcp");
    c.name = Some("bad name!".into());
    assert_eq!(invalid(c).field(), Some("name"));

    let mut c = ProxyConfig::new("https://h.example/mcp");
    c.host = "example.com".into();
    assert_eq!(invalid(c).field(), Some("host"));

    let mut c = ProxyConfig::new("https://h.example/sse");
    c.transport = Transport::Sse;
    c.stateless = true;
    assert_eq!(invalid(c).field(), Some("stateless"));

    let mut c = ProxyConfig::new("https://h.example/mcp");
    c.connect_timeout_ms = 0;
    assert_eq!(invalid(c).field(), Some("connect_timeout_ms"));

    let mut c = ProxyConfig::new("https://h.example/mcp");
    c.max_request_body_bytes = 0;
    assert_eq!(invalid(c).field(), Some("max_request_body_bytes"));

    let mut c = ProxyConfig::new("https://h.example/mcp");
    c.health_check = Some(toolhive_core::HealthCheckConfig {
        failure_threshold: 0,
        ..Default::default()
    });
    assert_eq!(invalid(c).field(), Some("health_check.failure_threshold"));
}

#[test]
fn derived_names() {
    let name = |url: &str| ProxyConfig::new(url).validate().unwrap().name().to_owned();
    assert_eq!(name("https://api.notion.com/mcp"), "notion");
    assert_eq!(name("https://mcp.linear.app/sse"), "linear");
    assert_eq!(name("https://foo.co.uk/mcp"), "foo");
    assert_eq!(name("http://localhost:3101/mcp"), "localhost-3101");
}

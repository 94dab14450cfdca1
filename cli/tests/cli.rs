//! The `toolhive` binary as a user runs it.

mod common;

use std::io::Read;

use common::*;

#[test]
fn run_prints_one_line_and_stops_on_sigterm_and_ctrl_c() {
    for sig in ["-TERM", "-INT"] {
        let (mut child, url) = run(&["run", "https://mcp.example.com/v1/mcp"]);
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert!(url.ends_with("/v1/mcp"), "{url}");
        signal(&child, sig);
        let status = wait(&mut child);
        assert!(status.success(), "{sig}: {status}");
        let mut rest = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut rest)
            .unwrap();
        assert_eq!(rest, "", "exactly one line on stdout");
        let mut logs = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut logs)
            .unwrap();
        assert!(
            logs.contains("proxying https://mcp.example.com/v1/mcp"),
            "{logs}"
        );
    }
}

fn fails_with(args: &[&str], says: &[&str]) {
    let out = toolhive(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout when it fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for s in says {
        assert!(stderr.contains(s), "{args:?}: expected {s:?} in {stderr}");
    }
}

#[test]
fn bad_input_is_explained() {
    fails_with(&["run", "not a url"], &["remote_url", "not a valid URL"]);
    fails_with(&["run", "ftp://h/mcp"], &["remote_url", "scheme `ftp`"]);
    fails_with(&["run", "http://mcp.example.com/mcp"], &["--allow-http"]);
    fails_with(
        &["run", "https://h.example/mcp", "--name", "a b"],
        &["name", "' '"],
    );
    fails_with(&["run"], &["remote_url", "missing"]);
    fails_with(
        &["run", "https://h.example/mcp", "--transport", "ws"],
        &["invalid value 'ws'"],
    );
    fails_with(
        &["run", "https://h.example/mcp", "--host", "example.com"],
        &["host"],
    );
}

#[test]
fn busy_port_is_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    fails_with(
        &["run", "https://h.example/mcp", "--proxy-port", &port],
        &[&format!("port {port} on 127.0.0.1 is already in use")],
    );
}

#[test]
fn allow_http_and_config_file_with_flag_overrides() {
    let dir = std::env::temp_dir().join(format!("toolhive-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proxy.json");
    std::fs::write(
        &file,
        r#"{"remote_url":"http://mcp.example.com/mcp","name":"from-file","allow_http":true,"stateless":true}"#,
    )
    .unwrap();
    let (mut child, url) = run(&[
        "run",
        "--config",
        file.to_str().unwrap(),
        "--name",
        "from-flag",
    ]);
    let health = raw_request(
        &url,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(health.contains(r#""name":"from-flag""#), "{health}");
    let get = raw_request(
        &url,
        "GET /mcp HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(
        get.starts_with("HTTP/1.1 405"),
        "stateless from the file: {get}"
    );
    assert!(get.to_lowercase().contains("allow: post, options"), "{get}");
    signal(&child, "-TERM");
    assert!(wait(&mut child).success());

    std::fs::write(&file, r#"{"remote_url":"https://h.example/mcp","bogus":1}"#).unwrap();
    fails_with(
        &["run", "--config", file.to_str().unwrap()],
        &["unknown field `bogus`"],
    );
    fails_with(
        &[
            "run",
            "--config",
            dir.join("missing.json").to_str().unwrap(),
        ],
        &["cannot read --config"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

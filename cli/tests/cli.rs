//! The `toolhive` binary as a user runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh state directory for one test (tests never share or touch the user's).
fn state_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolhive-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn toolhive_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_toolhive"));
    cmd.args(args)
        .env("TOOLHIVE_LOG", "info")
        .env("TOOLHIVE_STATE_DIR", dir)
        .env_remove("TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN");
    cmd
}

fn toolhive(args: &[&str]) -> Command {
    toolhive_in(&state_dir(&format!("t{}", unique())), args)
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Spawn `toolhive run ...` and return it with the one line it printed.
fn run(args: &[&str]) -> (Child, String) {
    spawn_run(toolhive(args))
}

fn spawn_run(mut cmd: Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        !line.is_empty(),
        "toolhive printed nothing: {}",
        stderr_of(&mut child)
    );
    (child, line.trim_end().to_owned())
}

fn stderr_of(child: &mut Child) -> String {
    let _ = child.kill();
    let mut s = String::new();
    child
        .stderr
        .as_mut()
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Wait for exit; a deadline (not a performance threshold) so a hang fails the test.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "toolhive did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn raw_request(url: &str, request: &str) -> String {
    let addr = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    resp
}

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

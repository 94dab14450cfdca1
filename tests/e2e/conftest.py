"""Fixtures for the end-to-end suite: real server-everything, real `toolhive run`, real SDK clients.

Environment:
  TOOLHIVE_BIN          path of the toolhive binary (default <repo>/target/debug/toolhive)
  TOOLHIVE_E2E_DIRECT=1 skip the proxy: tests talk straight to server-everything (harness check);
                        tests marked `proxy_only` are skipped in that mode
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from e2e_support import (
    DIRECT,
    DirectProxy,
    EverythingServer,
    ToolhiveProxy,
    free_port,
    install_signal_cleanup,
    tail,
    toolhive_bin,
)


def pytest_configure(config):
    install_signal_cleanup()
    config.addinivalue_line("markers", "proxy_only: needs the real toolhive proxy (skipped with TOOLHIVE_E2E_DIRECT=1)")


def pytest_report_header(config):
    if DIRECT:
        return "toolhive e2e: DIRECT mode (TOOLHIVE_E2E_DIRECT=1), clients talk to server-everything directly"
    return f"toolhive e2e: proxy mode, TOOLHIVE_BIN={toolhive_bin()}"


def pytest_collection_modifyitems(config, items):
    if not DIRECT:
        return
    skip = pytest.mark.skip(reason="proxy-only behaviour; TOOLHIVE_E2E_DIRECT=1")
    for item in items:
        if "proxy_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def port_picker():
    """Callable returning a free 127.0.0.1 port."""
    return free_port


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture
def everything(log_dir):
    """Factory: everything("streamableHttp"|"sse", port=None) -> started EverythingServer.

    The returned object has .kill() (crash), .start() (same port again) and .restart().
    Every server started through the factory is killed (process group) at teardown.
    """
    started: list[EverythingServer] = []

    def factory(mode: str = "streamableHttp", port: int | None = None) -> EverythingServer:
        srv = EverythingServer(mode, port or free_port(), log_dir)
        started.append(srv)
        return srv.start()

    yield factory
    for srv in started:
        srv.stop()


@pytest.fixture
def toolhive(log_dir, request):
    """Factory: toolhive(upstream_url, *extra_args, proxy_port=<free port>|None) -> proxy.

    Starts `toolhive run <upstream_url> --name .. --host 127.0.0.1 [--proxy-port P] extra_args`,
    waits for its single stdout line (the local URL). At teardown sends SIGTERM and checks that it
    exits 0 within a few seconds and printed nothing else on stdout.
    With TOOLHIVE_E2E_DIRECT=1 it returns a DirectProxy whose url is the upstream URL.
    Pass proxy_port=None to let the CLI pick its own port.
    """
    proxies: list[ToolhiveProxy] = []

    def factory(upstream_url: str, *args: str, proxy_port: int | None | str = "auto"):
        if DIRECT:
            return DirectProxy(upstream_url)
        port = free_port() if proxy_port == "auto" else proxy_port
        proxy = ToolhiveProxy(upstream_url, list(args), log_dir, proxy_port=port)  # type: ignore[arg-type]
        proxies.append(proxy)
        try:
            return proxy.start()
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)

    yield factory

    problems = []
    for proxy in proxies:
        if proxy.proc is None:
            continue
        if proxy.proc.poll() is not None:
            rc = proxy.proc.returncode
            proxy.stop()
            problems.append(f"{proxy.name}: exited by itself during the test with {rc}\n{tail(proxy.stderr_path)}")
            continue
        res = proxy.stop(signal.SIGTERM)
        if res.returncode is None:
            problems.append(f"{proxy.name}: did not exit within the stop timeout after SIGTERM\n{res.stderr_tail}")
        elif res.returncode != 0:
            problems.append(f"{proxy.name}: exit code {res.returncode} after SIGTERM\n{res.stderr_tail}")
        if res.extra_stdout.strip():
            problems.append(f"{proxy.name}: printed more than one line on stdout: {res.extra_stdout[:500]!r}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def streamable(everything, toolhive):
    """(server, proxy) for a streamable-HTTP server-everything behind `toolhive run`."""
    srv = everything("streamableHttp")
    return srv, toolhive(srv.url)


@pytest.fixture
def legacy_sse(everything, toolhive):
    """(server, proxy) for a legacy HTTP+SSE server-everything behind `toolhive run --transport sse`."""
    srv = everything("sse")
    return srv, toolhive(srv.url, "--transport", "sse")

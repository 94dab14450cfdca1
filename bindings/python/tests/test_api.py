"""The Python API over a real upstream (server-everything): sync and asyncio pairs."""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

import toolhive
from conftest import Ticker, wait_until

URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)(/\S*)$")


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def check_running(proxy: toolhive.Proxy, remote: str, name: str, transport: str = "streamable-http") -> None:
    m = URL_RE.match(proxy.url)
    assert m, proxy.url
    assert m.group(2) == urlsplit(remote).path
    assert proxy.name == name
    assert proxy.remote_url == remote
    assert proxy.transport == transport
    assert proxy.state == "running"
    assert accepts(port_of(proxy.url))
    got = toolhive.get(name)
    assert got is not None and got.url == proxy.url
    infos = {i.name: i for i in toolhive.list()}
    info = infos[name]
    assert (info.local_url, info.remote_url, info.transport, info.state) == (proxy.url, remote, transport, "running")
    assert info.reason is None
    assert isinstance(info.started_at, datetime.datetime) and info.started_at.tzinfo is not None
    assert abs((datetime.datetime.now(datetime.timezone.utc) - info.started_at).total_seconds()) < 60
    assert info.to_dict()["name"] == name
    assert info == proxy.info()
    assert name in repr(proxy) and name in repr(info)


def check_stopped(proxy: toolhive.Proxy, port: int) -> None:
    assert proxy.state == "stopped"
    assert not accepts(port), "the port should be released after stop"
    assert {i.name: i.state for i in toolhive.list()}[proxy.name] == "stopped"


# ---------------------------------------------------------------------------------------------
# start / stop / context managers
# ---------------------------------------------------------------------------------------------


def test_start_stop_sync(everything_http: Any, name: str) -> None:
    proxy = toolhive.start(everything_http.url, name=name)
    check_running(proxy, everything_http.url, name)
    port = port_of(proxy.url)
    proxy.stop()
    check_stopped(proxy, port)


@pytest.mark.anyio
async def test_start_stop_async(everything_http: Any, name: str) -> None:
    proxy = await toolhive.start_async(everything_http.url, name=name)
    check_running(proxy, everything_http.url, name)
    port = port_of(proxy.url)
    await proxy.stop_async()
    check_stopped(proxy, port)


def test_context_manager_sync(everything_http: Any, name: str) -> None:
    with toolhive.start(everything_http.url, name=name) as proxy:
        check_running(proxy, everything_http.url, name)
        port = port_of(proxy.url)
    check_stopped(proxy, port)
    with pytest.raises(RuntimeError, match="boom"):
        with toolhive.start(everything_http.url, name=name) as proxy:
            port = port_of(proxy.url)
            raise RuntimeError("boom")
    check_stopped(proxy, port)


@pytest.mark.anyio
async def test_context_manager_async(everything_http: Any, name: str) -> None:
    async with await toolhive.start_async(everything_http.url, name=name) as proxy:
        check_running(proxy, everything_http.url, name)
        port = port_of(proxy.url)
    check_stopped(proxy, port)
    with pytest.raises(RuntimeError, match="boom"):
        async with await toolhive.start_async(everything_http.url, name=name) as proxy:
            port = port_of(proxy.url)
            raise RuntimeError("boom")
    check_stopped(proxy, port)


def test_sse_transport_and_derived_name(everything_sse: Any) -> None:
    with toolhive.start(everything_sse.url, transport="sse") as proxy:
        # The core derives the name from the host: 127.0.0.1:<port> -> 127-0-0-1-<port> or so;
        # whatever it is, the binding reports the core's choice.
        assert proxy.name and toolhive.get(proxy.name) is not None
        assert proxy.transport == "sse"
        assert proxy.url.endswith("/sse")


def test_options_as_dict_kwargs_override_and_nested(everything_http: Any, name: str) -> None:
    options = {"name": "from-dict", "stateless": True, "health_check": {"interval_ms": 60000, "failure_threshold": 2}}
    with toolhive.start(everything_http.url, options, name=name, stop_grace_ms=100) as proxy:
        assert proxy.name == name  # keyword arguments override the dict
        assert proxy.state == "running"
    assert toolhive.get("from-dict") is None
    # A dict alone, and a Mapping that is not a dict.
    from types import MappingProxyType

    with toolhive.start(everything_http.url, MappingProxyType({"name": name + "-m"})) as proxy:
        assert proxy.name == name + "-m"


@pytest.mark.anyio
async def test_options_async(everything_http: Any, name: str) -> None:
    async with await toolhive.start_async(everything_http.url, {"name": "x"}, name=name, port=0) as proxy:
        assert proxy.name == name


# ---------------------------------------------------------------------------------------------
# bad options and errors
# ---------------------------------------------------------------------------------------------

BAD_OPTIONS = [
    # (args after the url, kwargs, expected field, text in the message)
    ((), {"bogus": 1}, "bogus", "unknown field"),
    ((), {"port": "8080"}, "port", "invalid type"),
    ((), {"port": 70000}, "port", ""),
    ((), {"port": -1}, "port", ""),
    ((), {"stateless": "yes"}, "stateless", ""),
    ((), {"transport": "carrier-pigeon"}, "transport", ""),
    ((), {"health_check": {"interval_ms": 0}}, "health_check.interval_ms", ""),
    ((), {"health_check": {"nope": 1}}, "health_check.nope", "unknown field"),
    ((), {"connect_timeout_ms": 0}, "connect_timeout_ms", ""),
    ((), {"name": "bad name!"}, "name", ""),
    ((), {"remote_url": "https://other.example/mcp"}, "remote_url", "twice"),
    (({"bogus": True},), {}, "bogus", "unknown field"),
    ((), {"port": object()}, "port", "type `object`"),
    ((), {"stop_grace_ms": float("nan")}, "stop_grace_ms", "finite"),
    ((), {"port": 2**70}, "port", "out of range"),
]


@pytest.mark.parametrize("args,kwargs,field,text", BAD_OPTIONS)
def test_bad_options_sync(everything_http: Any, args: tuple[Any, ...], kwargs: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(toolhive.InvalidConfigError) as info:
        toolhive.start(everything_http.url, *args, **kwargs)
    err = info.value
    assert isinstance(err, toolhive.ToolhiveError) and isinstance(err, ValueError)
    assert err.kind == "invalid_config"
    assert err.field == field, (err.field, str(err))
    assert str(err).startswith(f"{field}: "), str(err)
    assert text in err.message, err.message
    assert toolhive.list() == [] or all(p.state == "stopped" for p in toolhive.list())


@pytest.mark.anyio
@pytest.mark.parametrize("args,kwargs,field,text", BAD_OPTIONS)
async def test_bad_options_async(everything_http: Any, args: tuple[Any, ...], kwargs: dict[str, Any], field: str, text: str) -> None:
    fut = toolhive.start_async(everything_http.url, *args, **kwargs)  # fails on await, not on call
    with pytest.raises(toolhive.InvalidConfigError) as info:
        await fut
    assert info.value.field == field
    assert text in info.value.message


def test_bad_url_and_bad_options_object() -> None:
    for url, field in [("", "remote_url"), ("ftp://x/y", "remote_url"), ("http://10.1.2.3/mcp", "remote_url"), (42, "remote_url")]:
        with pytest.raises(toolhive.InvalidConfigError) as info:
            toolhive.start(url)  # type: ignore[arg-type]
        assert info.value.field == field, (url, str(info.value))
    with pytest.raises(toolhive.InvalidConfigError, match="mapping"):
        toolhive.start("https://mcp.example.com/mcp", ["name", "x"])  # type: ignore[arg-type]
    with pytest.raises(toolhive.InvalidConfigError, match="strings") as info:
        toolhive.start("https://mcp.example.com/mcp", {1: "x"})  # type: ignore[dict-item]
    assert info.value.field is None


def test_every_core_error_kind_has_a_class() -> None:
    kinds = toolhive._native.ERROR_KINDS  # the core's ErrorKind::ALL
    assert len(kinds) == len(set(kinds)) >= 10 and "invalid_config" in kinds
    assert list(toolhive._errors.ERRORS_BY_KIND) == list(kinds)
    # Each kind has its documented class (and stub): a kind the core added since gets a generated
    # class at run time, and this fails until it is written down in _errors.py.
    assert toolhive._errors.GENERATED == {}, "document the new error kinds in _errors.py"
    for kind, cls in toolhive._errors.ERRORS_BY_KIND.items():
        assert issubclass(cls, toolhive.ToolhiveError) and cls.kind == kind
        assert getattr(toolhive, cls.__name__) is cls and cls.__name__ in toolhive.__all__
    # An unknown kind (added to the core later) still raises the base class with its kind.
    err = toolhive.ToolhiveError("x", kind="something_new", field="f")
    assert (err.kind, err.field, err.message, str(err)) == ("something_new", "f", "x", "f: x")


def test_an_undocumented_error_kind_gets_a_generated_class() -> None:
    by_kind, generated = toolhive._errors.classes_for((*toolhive._native.ERROR_KINDS, "rate_limited"))
    cls = by_kind["rate_limited"]
    assert cls.__name__ == "RateLimitedError" and generated == {"RateLimitedError": cls}
    assert issubclass(cls, toolhive.ToolhiveError) and cls.kind == "rate_limited"
    assert by_kind["not_found"] is toolhive.NotFoundError


def test_name_in_use_and_address_in_use(everything_http: Any, name: str) -> None:
    with toolhive.start(everything_http.url, name=name) as proxy:
        with pytest.raises(toolhive.NameInUseError) as info:
            toolhive.start(everything_http.url, name=name)
        assert info.value.kind == "name_in_use" and info.value.field == "name"
        with pytest.raises(toolhive.AddressInUseError) as info2:
            toolhive.start(everything_http.url, name=name + "-2", port=port_of(proxy.url))
        assert info2.value.kind == "address_in_use" and info2.value.field == "port"
    # A stopped proxy's name can be used again.
    with toolhive.start(everything_http.url, name=name) as again:
        assert again.state == "running"


@pytest.mark.anyio
async def test_name_in_use_async(everything_http: Any, name: str) -> None:
    async with await toolhive.start_async(everything_http.url, name=name):
        with pytest.raises(toolhive.NameInUseError):
            await toolhive.start_async(everything_http.url, name=name)


def test_not_found_sync() -> None:
    with pytest.raises(toolhive.NotFoundError) as info:
        toolhive.stop("no-such-proxy")
    assert isinstance(info.value, LookupError) and info.value.kind == "not_found"
    assert toolhive.get("no-such-proxy") is None


@pytest.mark.anyio
async def test_not_found_async() -> None:
    with pytest.raises(toolhive.NotFoundError):
        await toolhive.stop_async("no-such-proxy")


def test_double_stop_sync(everything_http: Any, name: str) -> None:
    proxy = toolhive.start(everything_http.url, name=name)
    proxy.stop()
    proxy.stop()
    toolhive.stop(name)
    toolhive.stop_all()
    toolhive.stop_all()
    assert proxy.state == "stopped"
    with proxy:  # entering a stopped proxy's block and leaving it is harmless
        pass


@pytest.mark.anyio
async def test_double_stop_async(everything_http: Any, name: str) -> None:
    proxy = await toolhive.start_async(everything_http.url, name=name)
    await asyncio.gather(proxy.stop_async(), proxy.stop_async(), toolhive.stop_async(name))
    await proxy.stop_async()
    await toolhive.stop_all_async()
    assert proxy.state == "stopped"


# ---------------------------------------------------------------------------------------------
# logs, logging bridge
# ---------------------------------------------------------------------------------------------


def test_proxy_logs(everything_http: Any, name: str) -> None:
    with toolhive.start(everything_http.url, name=name) as proxy:
        lines = proxy.logs()
        assert lines, "a started proxy has logged something"
        first = lines[0]
        assert first.level == "info" and "proxying" in first.message
        assert isinstance(first.at, datetime.datetime) and first.at.tzinfo is not None
        assert "INFO" in str(first) and first.message in str(first)
        assert "LogLine(" in repr(first)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, proxy: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "proxy", None) == proxy]


@pytest.fixture
def toolhive_logger() -> Any:
    logger = logging.getLogger("toolhive")
    handler = Records()
    logger.addHandler(handler)
    before = logger.level
    yield logger, handler
    logger.removeHandler(handler)
    logger.setLevel(before)


def test_rust_logs_reach_logging_and_honour_its_level(everything_http: Any, name: str, toolhive_logger: Any) -> None:
    logger, handler = toolhive_logger
    logger.setLevel(logging.INFO)
    with toolhive.start(everything_http.url, name=name):
        pass
    # The records a call caused are in `logging` by the time it returns.
    assert any(r.getMessage() == f"{name}: stopped" for r in handler.of(name)), [r.getMessage() for r in handler.records]
    recs = handler.of(name)
    assert any(r.levelno == logging.INFO and "proxying" in r.getMessage() for r in recs), [r.getMessage() for r in recs]
    assert all(r.name == "toolhive" for r in handler.records)
    assert all(r.getMessage().startswith(f"{name}: ") for r in recs)
    assert all(isinstance(getattr(r, "rust_target", None), str) for r in recs)
    assert not any(r.levelno < logging.INFO for r in handler.records)

    # WARNING: the info lines of a new proxy are not delivered.
    logger.setLevel(logging.WARNING)
    handler.records.clear()
    with toolhive.start(everything_http.url, name=name + "-w"):
        pass
    assert not [r for r in handler.records if r.levelno < logging.WARNING], [r.getMessage() for r in handler.records]

    # DEBUG, set with no toolhive call after it: debug records arrive (the level is re-read).
    with toolhive.start(everything_http.url, name=name + "-d") as proxy:
        logger.setLevel(logging.DEBUG)
        time.sleep(1.5)  # the bridge re-reads the level at least every second
        import httpx

        httpx.get(proxy.url.rsplit("/", 1)[0] + "/health", timeout=5)
        wait_until(lambda: any(r.levelno == logging.DEBUG for r in handler.records), what="a debug record")


@pytest.mark.anyio
async def test_rust_logs_reach_logging_async(everything_http: Any, name: str, toolhive_logger: Any) -> None:
    logger, handler = toolhive_logger
    logger.setLevel(logging.INFO)
    async with await toolhive.start_async(everything_http.url, name=name):
        assert any("proxying" in r.getMessage() for r in handler.of(name))
    assert any(r.getMessage() == f"{name}: stopped" for r in handler.of(name))


# ---------------------------------------------------------------------------------------------
# events
# ---------------------------------------------------------------------------------------------

LIFECYCLE = [("stopped", "starting"), ("starting", "running"), ("running", "stopping"), ("stopping", "stopped")]


def test_events_to_a_callable(everything_http: Any, name: str) -> None:
    got: list[toolhive.Event] = []
    threads: set[str] = set()

    def on_event(event: toolhive.Event) -> None:
        threads.add(threading.current_thread().name)
        got.append(event)

    with toolhive.subscribe(on_event, proxy=name) as sub:
        with toolhive.start(everything_http.url, name=name + "-other"):
            pass
        with toolhive.start(everything_http.url, name=name):
            pass
        wait_until(lambda: len(got) >= 4, what="four events")
        assert not sub.closed
    assert sub.closed
    assert [(e.from_state, e.to_state) for e in got] == LIFECYCLE
    assert all(e.proxy == name and e.type == "state_changed" for e in got)
    assert got[1].data == {"proxy": name, "type": "state_changed", "from": {"state": "starting"}, "to": {"state": "running"}}
    assert threading.current_thread().name not in threads  # called on toolhive's own thread
    n = len(got)
    with toolhive.start(everything_http.url, name=name):
        pass
    time.sleep(0.3)
    assert len(got) == n, "a closed subscription gets no more events"


def test_failing_callback_is_reported_and_does_not_stop_delivery(everything_http: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    calls: list[str] = []

    def bad(event: toolhive.Event) -> None:
        calls.append(event.to_state or "")
        raise ValueError("callback failed")

    sub = toolhive.subscribe(bad, proxy=name)
    try:
        with toolhive.start(everything_http.url, name=name):
            pass
        wait_until(lambda: len(calls) == 4, what="four calls")
        wait_until(lambda: len(unraisable) == 4, what="four unraisable reports")
        assert isinstance(unraisable[0].exc_value, ValueError)
    finally:
        sub.close()


def test_subscribe_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="callable"):
        toolhive.subscribe(42)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_events_async_iterator(everything_http: Any, name: str) -> None:
    seen: list[tuple[str | None, str | None]] = []
    async with toolhive.events(proxy=name) as stream:
        async with await toolhive.start_async(everything_http.url, name=name):
            pass
        async for event in stream:
            assert event.proxy == name
            seen.append((event.from_state, event.to_state))
            if event.to_state == "stopped":
                break
    assert seen == LIFECYCLE
    assert stream.closed


@pytest.mark.anyio
async def test_closing_a_stream_ends_a_waiting_iteration() -> None:
    stream = toolhive.events()

    async def consume() -> list[toolhive.Event]:
        return [e async for e in stream]

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.1)
    assert not task.done()
    stream.close()
    assert await asyncio.wait_for(task, 5) == []


def test_events_blocking_iterator_in_a_thread(everything_http: Any, name: str) -> None:
    seen: list[str | None] = []
    stream = toolhive.events(proxy=name)

    def consume() -> None:
        for event in stream:  # blocks with the GIL released
            seen.append(event.to_state)
            if event.to_state == "stopped":
                return

    t = threading.Thread(target=consume)
    t.start()
    # The main thread keeps running Python code while the other one waits in next().
    with Ticker() as ticker:
        time.sleep(0.3)
    assert ticker.ticks > 10
    with toolhive.start(everything_http.url, name=name):
        pass
    t.join(10)
    assert not t.is_alive()
    assert seen == ["starting", "running", "stopping", "stopped"]
    stream.close()
    assert list(stream) == []


# ---------------------------------------------------------------------------------------------
# cancellation
# ---------------------------------------------------------------------------------------------


class BlackHole:
    """A TCP server that accepts and never answers; tells when a client hangs up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.closed_by_client = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.accepted.set()
            threading.Thread(target=self._watch, args=(conn,), daemon=True).start()

    def _watch(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        self.closed_by_client.set()

    def close(self) -> None:
        self.sock.close()
        for c in self._conns:
            c.close()


@pytest.fixture
def black_hole() -> Any:
    bh = BlackHole()
    yield bh
    bh.close()


@pytest.mark.anyio
async def test_cancelling_start_async_cancels_the_rust_work(black_hole: BlackHole, name: str) -> None:
    # The start probes the remote, which never answers: the start waits (response timeout 60 s).
    fut = toolhive.start_async(black_hole.url, name=name, response_timeout_ms=60000)
    await asyncio.get_running_loop().run_in_executor(None, black_hole.accepted.wait, 10)
    assert black_hole.accepted.is_set(), "the start never contacted the remote"
    t0 = time.monotonic()
    fut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fut
    assert time.monotonic() - t0 < 1
    # The Rust future was dropped: its request to the remote is gone.
    closed = await asyncio.get_running_loop().run_in_executor(None, black_hole.closed_by_client.wait, 10)
    assert closed, "the upstream request was not dropped"


@pytest.mark.anyio
async def test_wait_for_timeout_cancels_start(black_hole: BlackHole, name: str) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(toolhive.start_async(black_hole.url, name=name), 0.5)
    assert await asyncio.get_running_loop().run_in_executor(None, black_hole.closed_by_client.wait, 10)


def test_ctrl_c_interrupts_a_blocking_start(black_hole: BlackHole, name: str) -> None:
    import os
    import signal

    class Interrupted(Exception):
        pass

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted()

    old = signal.signal(signal.SIGINT, handler)
    try:
        timer = threading.Timer(0.5, lambda: (black_hole.accepted.wait(10), os.kill(os.getpid(), signal.SIGINT)))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            toolhive.start(black_hole.url, name=name, response_timeout_ms=60000)
        assert time.monotonic() - t0 < 5
        timer.join()
    finally:
        signal.signal(signal.SIGINT, old)
    assert black_hole.closed_by_client.wait(10), "the upstream request was not dropped"


@pytest.mark.anyio
async def test_a_cancelled_start_leaves_no_proxy(black_hole: BlackHole, name: str) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(toolhive.start_async(black_hole.url, name=name), 0.5)
    # The abandoned proxy is stopped and forgotten in the background, promptly.
    for _ in range(500):
        if toolhive.get(name) is None:
            break
        await asyncio.sleep(0.02)
    assert toolhive.get(name) is None


@pytest.mark.anyio
async def test_cancelled_anext_drops_the_rust_future(everything_http: Any, name: str) -> None:
    stream = toolhive.events(proxy=name)
    pending = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.1)
    pending.cancel()
    await asyncio.sleep(0.1)
    # Had the Rust future survived, it would take the next event (and hold the receiver).
    proxy = await toolhive.start_async(everything_http.url, name=name)
    first = await asyncio.wait_for(stream.__anext__(), 5)
    assert (first.from_state, first.to_state) == ("stopped", "starting")
    await proxy.stop_async()
    stream.close()


# ---------------------------------------------------------------------------------------------
# the GIL and the event loop
# ---------------------------------------------------------------------------------------------


def slow_call_in_flight(proxy_url: str, seconds: float) -> threading.Thread:
    """A tools/call of the long-running tool through the proxy, in a thread (raw MCP over httpx)."""
    import httpx
    from e2e_support import RawSession

    started = threading.Event()

    def run() -> None:
        with httpx.Client(timeout=30) as client:
            s = RawSession(client, proxy_url)
            s.initialize()
            started.set()
            s.call("tools/call", {"name": "trigger-long-running-operation", "arguments": {"duration": seconds, "steps": 2}})

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(10)
    time.sleep(0.2)  # the call is on its way
    return t


def test_blocking_stop_releases_the_gil(everything_http: Any, name: str) -> None:
    proxy = toolhive.start(everything_http.url, name=name, stop_grace_ms=10000)
    call = slow_call_in_flight(proxy.url, 1.5)
    with Ticker() as ticker:
        t0 = time.monotonic()
        proxy.stop()  # waits for the in-flight call
        took = time.monotonic() - t0
    call.join(10)
    assert took > 0.5, f"stop should have waited for the in-flight call ({took:.2f}s)"
    assert ticker.ticks > 100 * took, f"only {ticker.ticks} ticks in {took:.2f}s: the GIL was held"


@pytest.mark.anyio
async def test_async_stop_never_blocks_the_loop_and_cancelling_it_does_not_undo_it(everything_http: Any, name: str) -> None:
    proxy = await toolhive.start_async(everything_http.url, name=name, stop_grace_ms=10000)
    call = await asyncio.get_running_loop().run_in_executor(None, slow_call_in_flight, proxy.url, 1.5)
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - t - 0.01)

    tick = asyncio.ensure_future(ticker())
    stopping = proxy.stop_async()
    await asyncio.sleep(0.3)
    assert proxy.state == "stopping"
    stopping.cancel()  # gives up waiting; the stop goes on
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await asyncio.get_running_loop().run_in_executor(None, call.join, 10)
    await asyncio.sleep(0.2)
    tick.cancel()
    assert proxy.state == "stopped"
    assert len(lags) > 20 and max(lags) < 0.25, f"event loop stalled: max lag {max(lags):.3f}s"

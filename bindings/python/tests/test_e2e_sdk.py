"""End to end: the official `mcp` Python SDK client, through a proxy started from Python, to the
real server-everything (streamable HTTP and legacy SSE); proxies started both ways (sync/async)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

import toolhive

READ_TIMEOUT = timedelta(seconds=20)
LONG_TOOL = "trigger-long-running-operation"


def text_of(result: Any) -> str:
    assert not result.isError, result
    return "\n".join(c.text for c in result.content if c.type == "text")


async def exercise(session: ClientSession) -> None:
    init = await session.initialize()
    assert init.serverInfo.name == "mcp-servers/everything"
    tools = {t.name for t in (await session.list_tools()).tools}
    assert {"echo", LONG_TOOL} <= tools, tools
    assert text_of(await session.call_tool("echo", {"message": "hi from python ✓"})) == "Echo: hi from python ✓"

    # Progress notifications arrive one by one while the tool runs (streamed, not buffered).
    duration, steps = 2.0, 4
    stamps: list[tuple[float, float]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        stamps.append((time.monotonic(), progress))

    t0 = time.monotonic()
    result = await session.call_tool(
        LONG_TOOL, {"duration": duration, "steps": steps}, read_timeout_seconds=READ_TIMEOUT, progress_callback=on_progress
    )
    t_end = time.monotonic()
    assert "Long running operation completed" in text_of(result)
    assert [p for _, p in stamps] == [1, 2, 3, 4], stamps
    first = stamps[0][0]
    assert first - t0 < duration / steps + 1.5, "first progress notification came too late"
    assert t_end - first >= 0.5 * (duration - duration / steps), "progress was delivered in one burst at the end"


async def run_streamable(url: str) -> None:
    async with streamable_http_client(url) as (read, write, _):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await exercise(session)


async def run_sse(url: str) -> None:
    async with sse_client(url, timeout=10, sse_read_timeout=20) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=READ_TIMEOUT) as session:
            await exercise(session)


@pytest.mark.anyio
async def test_sdk_streamable_http_proxy_started_sync(everything_http: Any, name: str) -> None:
    with toolhive.start(everything_http.url, name=name) as proxy:
        await run_streamable(proxy.url)
        assert proxy.state == "running"


@pytest.mark.anyio
async def test_sdk_streamable_http_proxy_started_async(everything_http: Any, name: str) -> None:
    async with await toolhive.start_async(everything_http.url, name=name) as proxy:
        await run_streamable(proxy.url)


@pytest.mark.anyio
async def test_sdk_sse_proxy_started_sync(everything_sse: Any, name: str) -> None:
    with toolhive.start(everything_sse.url, name=name, transport="sse") as proxy:
        await run_sse(proxy.url)


@pytest.mark.anyio
async def test_sdk_sse_proxy_started_async(everything_sse: Any, name: str) -> None:
    async with await toolhive.start_async(everything_sse.url, {"transport": "sse"}, name=name) as proxy:
        await run_sse(proxy.url)


@pytest.mark.anyio
async def test_sdk_stateless_proxy(everything_http: Any, name: str) -> None:
    # Stateless mode: the proxy answers GET itself (405), the SDK still works over POST.
    async with await toolhive.start_async(everything_http.url, name=name, stateless=True) as proxy:
        await run_streamable(proxy.url)

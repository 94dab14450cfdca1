"""Type-checked with mypy --strict against the shipped stubs (never run): the API as users
write it must type-check, and the stubs must say what the module returns."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import toolhive


def sync_usage() -> None:
    options: dict[str, Any] = {"stateless": True, "health_check": {"interval_ms": 10000}}
    with toolhive.start("https://mcp.example.com/mcp", options, name="example", port=0) as proxy:
        url: str = proxy.url
        state: str = proxy.state
        info: toolhive.ProxyInfo = proxy.info()
        started: datetime.datetime = info.started_at
        reason: str | None = info.reason
        lines: list[toolhive.LogLine] = proxy.logs()
        print(url, state, started, reason, [str(line) for line in lines], info.to_dict())
    infos: list[toolhive.ProxyInfo] = toolhive.list()
    maybe: toolhive.Proxy | None = toolhive.get("example")
    toolhive.stop_all()
    try:
        toolhive.stop("example")
    except toolhive.NotFoundError as err:
        kind: str = err.kind
        field: str | None = err.field
        print(kind, field, err.message, infos, maybe)

    def on_event(event: toolhive.Event) -> None:
        print(event.proxy, event.type, event.from_state, event.to_state, event.reason, event.data)

    with toolhive.subscribe(on_event, proxy="example") as subscription:
        closed: bool = subscription.closed
        print(closed)
    with toolhive.events() as stream:
        for event in stream:
            on_event(event)
            break


async def async_usage() -> None:
    async with await toolhive.start_async("https://mcp.example.com/mcp", transport="sse") as proxy:
        await proxy.stop_async()
    started: asyncio.Future[toolhive.Proxy] = toolhive.start_async("https://mcp.example.com/mcp")
    proxies: list[toolhive.Proxy] = list(await asyncio.gather(started))
    await asyncio.wait_for(toolhive.stop_async(proxies[0].name), 5)
    await toolhive.stop_all_async()
    async with toolhive.events(proxy="example") as stream:
        async for event in stream:
            print(event.to_state)
    version: str = toolhive.__version__
    print(version)

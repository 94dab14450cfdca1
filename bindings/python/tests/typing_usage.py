"""Type-checked with mypy --strict against the shipped stubs (never run): the API as users
write it must type-check, and the stubs must say what the module returns."""

from __future__ import annotations

import asyncio
import datetime
import pathlib
from collections.abc import Iterable
from typing import Any, Optional

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


class HostStore:
    """A secret store over the host's own storage (sync methods)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> Optional[str]:
        return self.data.get(key)

    def set(self, key: str, value: str) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def list(self) -> Iterable[str]:
        return list(self.data)


class AsyncHostStore:
    async def get(self, key: str) -> Optional[str]:
        return None

    async def set(self, key: str, value: str) -> None:
        pass

    async def delete(self, key: str) -> None:
        pass

    async def list(self) -> list[str]:
        return []


def managing() -> None:
    state_dir: pathlib.Path | None = toolhive.default_state_dir()
    toolhive.configure(state_dir=state_dir, secret_store=HostStore(), open_browser=None)
    toolhive.configure(state_dir="/tmp/x", secret_store=toolhive.FileSecretStore("/tmp/x/s.json"))
    toolhive.configure(secret_store=toolhive.MemorySecretStore(), open_browser=False)
    store: toolhive.SecretStore | toolhive.BuiltinSecretStore = toolhive.secret_store()
    print(store.get("k"), toolhive.EnvSecretStore.variable("k"), toolhive.EnvSecretStore().kind)
    for result in toolhive.restore():
        name: str = result.name
        proxy: toolhive.Proxy | None = result.proxy
        error: toolhive.ToolhiveError | None = result.error
        print(name, proxy, error)
    for bad in toolhive.state_errors():
        path: pathlib.Path = bad.path
        print(path, bad.message)
    info: toolhive.ProxyInfo = toolhive.restart("example")
    pid: int | None = info.pid
    stale: bool = info.stale
    auth: toolhive.AuthState | None = info.auth
    if auth is not None:
        expires: datetime.datetime | None = auth.expires_at
        print(auth.state, expires, auth.next_attempt_at, auth.reason, auth.to_dict())
    print(pid, stale, toolhive.info("example").auth_state, toolhive.logs("example"))
    with toolhive.follow_logs("example") as follower:
        for line in follower:
            print(line.level, line.message)
            break
    toolhive.remove("example")

    def show_login(event: toolhive.Event) -> None:
        print(f"{event.proxy}: log in at {event.url}")

    with toolhive.on_authorization_required(show_login, proxy="example"):
        pass
    try:
        toolhive.configure()
    except toolhive.StateError as err:
        print(err.kind)


async def managing_async() -> None:
    toolhive.configure(secret_store=AsyncHostStore())
    results: list[toolhive.RestoreResult] = await toolhive.restore_async()
    info: toolhive.ProxyInfo = await toolhive.restart_async("example")
    await toolhive.remove_async("example")
    async with toolhive.follow_logs("example") as follower:
        async for line in follower:
            print(line, results, info)


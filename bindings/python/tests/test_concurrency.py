"""Many proxies at once: 50 started and stopped concurrently from threads and from asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import toolhive

N = 50


def check_all(proxies: list[toolhive.Proxy], prefix: str) -> None:
    assert len({p.name for p in proxies}) == N
    assert len({urlsplit(p.url).port for p in proxies}) == N, "every proxy has its own port"
    assert all(p.state == "stopped" for p in proxies)
    listed = [i for i in toolhive.list() if i.name.startswith(prefix)]
    assert len(listed) == N and all(i.state == "stopped" for i in listed)


def test_fifty_proxies_from_threads(everything_http: Any, name: str) -> None:
    barrier = threading.Barrier(N)

    def one(i: int) -> toolhive.Proxy:
        barrier.wait(10)  # all start at once
        proxy = toolhive.start(everything_http.url, name=f"{name}-{i}")
        assert proxy.state == "running"
        health = httpx.get(f"http://127.0.0.1:{urlsplit(proxy.url).port}/health", timeout=10)
        assert health.status_code == 200, health.text
        barrier.wait(30)  # all are running together
        proxy.stop()
        return proxy

    with ThreadPoolExecutor(N) as pool:
        proxies = list(pool.map(one, range(N)))
    check_all(proxies, name)


@pytest.mark.anyio
async def test_fifty_proxies_from_asyncio_tasks(everything_http: Any, name: str) -> None:
    all_running = asyncio.Event()
    running = 0

    async def one(i: int, http: httpx.AsyncClient) -> toolhive.Proxy:
        nonlocal running
        proxy = await toolhive.start_async(everything_http.url, name=f"{name}-{i}")
        health = await http.get(f"http://127.0.0.1:{urlsplit(proxy.url).port}/health")
        assert health.status_code == 200, health.text
        running += 1
        if running == N:
            all_running.set()
        await asyncio.wait_for(all_running.wait(), 30)
        await proxy.stop_async()
        return proxy

    async with httpx.AsyncClient(timeout=10) as http:
        tasks = [asyncio.create_task(one(i, http)) for i in range(N)]
        proxies = await asyncio.gather(*tasks)
    check_all(list(proxies), name)


@pytest.mark.anyio
async def test_stop_all_async_stops_fifty(everything_http: Any, name: str) -> None:
    proxies = await asyncio.gather(*(toolhive.start_async(everything_http.url, name=f"{name}-{i}") for i in range(N)))
    assert all(p.state == "running" for p in proxies)
    await toolhive.stop_all_async()
    check_all(list(proxies), name)

#!/usr/bin/env python3
"""From asyncio: put a proxy in front of a remote MCP server, use it with the official MCP
Python SDK (list the tools, call `echo`), and print the proxy's events as they happen.

    python examples/python/mcp_client.py https://mcp.example.com/mcp
    python examples/python/mcp_client.py http://127.0.0.1:3001/sse --transport sse

Needs the `mcp` package (pip install mcp).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

import toolhive


@asynccontextmanager
async def mcp_session(url: str, transport: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP client session on `url` (the proxy's local URL)."""
    if transport == "sse":
        async with sse_client(url) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session
    else:
        async with streamable_http_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def print_events(events: toolhive.EventStream) -> None:
    async for event in events:
        if event.type == "state_changed":
            print(f"event: {event.proxy} {event.from_state} -> {event.to_state}")
        else:  # kinds added later (e.g. authorization required) come with their JSON form
            print(f"event: {event.proxy} {event.type} {event.data}")
        if event.to_state == "stopped":
            return


async def main(url: str, transport: str) -> int:
    async with toolhive.events(proxy="example") as events:  # every event from now on
        watcher = asyncio.create_task(print_events(events))
        try:
            async with await toolhive.start_async(url, name="example", transport=transport) as proxy:
                print(f"proxy {proxy.name} ({proxy.transport}) at {proxy.url}")
                async with mcp_session(proxy.url, transport) as session:
                    tools = await session.list_tools()
                    print("tools:", ", ".join(sorted(tool.name for tool in tools.tools)))
                    result = await session.call_tool("echo", {"message": "hello through toolhive"})
                    for content in result.content:
                        if isinstance(content, TextContent):
                            print(content.text)
            # stopped when the `async with` block ends
        except toolhive.ToolhiveError as err:
            print(f"toolhive: {err}", file=sys.stderr)
            return 2
        await asyncio.wait_for(watcher, 10)
    print("state:", {info.name: info.state for info in toolhive.list()}["example"])
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the remote MCP server's URL")
    parser.add_argument("--transport", choices=["streamable-http", "sse"], default="streamable-http")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.url, args.transport)))

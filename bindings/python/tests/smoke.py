"""A quick check of the installed wheel on any CPython >= 3.9 (test.sh runs it on the oldest
one available, the abi3 floor). No server needed: the remote is a closed local port."""

import asyncio
import logging
import sys

import toolhive

REMOTE = "http://127.0.0.1:9/mcp"  # nothing listens: the start-up check only warns


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with toolhive.start(REMOTE, name="smoke", stop_grace_ms=100) as proxy:
        assert proxy.state == "running", proxy
        assert [i.name for i in toolhive.list()] == ["smoke"]
        assert toolhive.get("smoke") is not None
    assert proxy.state == "stopped"
    try:
        toolhive.start(REMOTE, port="x")
    except toolhive.InvalidConfigError as err:
        assert err.field == "port", err
    else:
        raise AssertionError("bad option accepted")

    async def run() -> None:
        async with toolhive.events(proxy="smoke-async") as events:
            async with await toolhive.start_async(REMOTE, name="smoke-async") as p:
                assert p.state == "running"
            states = []
            async for event in events:
                states.append(event.to_state)
                if event.to_state == "stopped":
                    break
        assert states == ["starting", "running", "stopping", "stopped"], states

    asyncio.run(run())
    toolhive.start(REMOTE, name="left-running")  # stopped at exit
    print(f"smoke ok on Python {sys.version.split()[0]} (toolhive {toolhive.__version__})")


if __name__ == "__main__":
    main()

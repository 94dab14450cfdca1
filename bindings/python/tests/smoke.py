"""A quick check of the installed wheel on any CPython >= 3.9 (test.sh runs it on the oldest
one available, the abi3 floor). No server needed: the remote is a closed local port."""

import asyncio
import logging
import sys
import tempfile

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

    class Store:  # a secret store in Python
        def __init__(self):
            self.data = {}

        def get(self, key):
            return self.data.get(key)

        def set(self, key, value):
            self.data[key] = value

        def delete(self, key):
            self.data.pop(key, None)

        def list(self):
            return list(self.data)

    store = Store()
    with tempfile.TemporaryDirectory() as state_dir:
        toolhive.configure(state_dir=state_dir, secret_store=store)
        proxy = toolhive.start(REMOTE, name="smoke-saved", bearer_token={"value": "t0ken"}, stop_grace_ms=100)
        assert store.data == {"proxy/smoke-saved/bearer_token": "t0ken"}, store.data
        assert toolhive.restart("smoke-saved").local_url == proxy.url
        toolhive.remove("smoke-saved")
        assert store.data == {} and toolhive.list() == [], (store.data, toolhive.list())
        toolhive.configure()
    assert toolhive._native.ERROR_KINDS and not toolhive._errors.GENERATED
    toolhive.start(REMOTE, name="left-running")  # stopped at exit
    print(f"smoke ok on Python {sys.version.split()[0]} (toolhive {toolhive.__version__})")


if __name__ == "__main__":
    main()

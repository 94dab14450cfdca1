#!/usr/bin/env python3
"""A host application that keeps its proxies across restarts: a state directory, secrets in a
store of its own (a Python object), restore() at startup, login URLs shown its own way, and the
proxy's log followed until Ctrl-C (or SIGTERM). Run it again: the proxy comes back on the same
local URL, with its secrets, without starting anything new.

    python examples/python/manage.py https://mcp.example.com/mcp --state-dir ./state
    python examples/python/manage.py https://api.example.com/mcp --token-env API_TOKEN

``--remove`` deletes the proxy, its saved config and its secrets instead.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Optional

import toolhive


class JsonFileStore:
    """The application's own secret storage (here a JSON file; an IDE would use its secret
    API). toolhive calls these methods on a background thread of its own, one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def _save(self, data: dict[str, str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.chmod(0o600)
        tmp.replace(self.path)

    def get(self, key: str) -> Optional[str]:
        return self._load().get(key)

    def set(self, key: str, value: str) -> None:
        self._save({**self._load(), key: value})

    def delete(self, key: str) -> None:
        data = self._load()
        data.pop(key, None)
        self._save(data)

    def list(self) -> list[str]:
        return list(self._load())


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the remote MCP server's URL")
    parser.add_argument("--name", default="example", help="the proxy's name (default: example)")
    parser.add_argument("--state-dir", type=Path, help="where proxies are saved (default: the per-user state dir)")
    parser.add_argument("--token-env", help="environment variable holding a bearer token for the remote")
    parser.add_argument("--remove", action="store_true", help="remove the proxy and its secrets, then exit")
    args = parser.parse_args(argv)

    state_dir: Optional[Path] = args.state_dir or toolhive.default_state_dir()
    if state_dir is None:
        parser.error("no home directory to keep state in: give --state-dir")
    state_dir.mkdir(parents=True, exist_ok=True)
    # Before any proxy starts. open_browser=None (the default) opens the system browser for an
    # OAuth login unless a handler takes it, as the one below does.
    toolhive.configure(state_dir=state_dir, secret_store=JsonFileStore(state_dir / "app-secrets.json"))
    toolhive.on_authorization_required(lambda event: print(f"{event.proxy}: log in at {event.url}", file=sys.stderr))

    try:
        if args.remove:
            toolhive.remove(args.name)  # stops it wherever it runs; deletes config and secrets
            print(f"removed {args.name}", file=sys.stderr)
            return 0

        # Startup: bring back what was running when the application last ended (or crashed).
        for result in toolhive.restore():
            print(f"restored {result.name}: {result.proxy.url if result.proxy else result.error}", file=sys.stderr)
        for bad in toolhive.state_errors():
            print(f"skipped {bad.path}: {bad.message}", file=sys.stderr)

        proxy = toolhive.get(args.name)
        if proxy is None or proxy.state != "running":
            options: dict[str, object] = {"name": args.name}
            if args.token_env:
                # Saved as a reference: the value goes to the secret store, never to the state dir.
                options["bearer_token"] = {"env": args.token_env}
            proxy = toolhive.start(args.url, options)
        print(proxy.url, flush=True)
        for info in toolhive.list():
            print(f"{info.name} {info.state} pid={info.pid} {info.local_url}", file=sys.stderr)
    except toolhive.ToolhiveError as err:
        print(f"toolhive: {err} (kind {err.kind})", file=sys.stderr)
        return 2

    # Follow the proxy's log until Ctrl-C or SIGTERM. At exit the proxy is stopped but stays
    # saved as running, so the next start's restore() brings it back.
    follower = toolhive.follow_logs(proxy.name)
    signal.signal(signal.SIGTERM, lambda signum, frame: follower.close())
    try:
        for line in follower:  # blocks with the GIL released; signals still get through
            print(f"log: {line}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    print(f"exiting; {proxy.name} stays saved for the next run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

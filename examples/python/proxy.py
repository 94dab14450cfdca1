#!/usr/bin/env python3
"""Start a proxy in front of the MCP server given on the command line, print its local URL and
the listing, and stop gracefully on Ctrl-C (or SIGTERM).

    python examples/python/proxy.py https://mcp.example.com/mcp
    python examples/python/proxy.py https://mcp.example.com/sse --transport sse --name example
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, Optional

import toolhive


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the remote MCP server's URL")
    parser.add_argument("--name", help="the proxy's name (default: from the remote host)")
    parser.add_argument("--transport", choices=["streamable-http", "sse"], help="the remote's transport")
    args = parser.parse_args(argv)

    # toolhive's Rust logs go to the `logging` logger "toolhive".
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    # Options are ProxyConfig fields, as keyword arguments or a dict.
    options: dict[str, Any] = {"name": args.name, "transport": args.transport}
    options = {key: value for key, value in options.items() if value is not None}

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    try:
        with toolhive.start(args.url, options) as proxy:
            print(proxy.url, flush=True)
            for info in toolhive.list():
                print(f"{info.name} {info.remote_url} -> {info.local_url} ({info.transport}, {info.state})", file=sys.stderr)
            try:
                while not done.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
        # Leaving the `with` block stopped the proxy (in-flight requests got their grace period).
    except toolhive.ToolhiveError as err:
        # err.kind is the core's error kind; err.field names the option at fault, if any.
        print(f"toolhive: {err} (kind {err.kind})", file=sys.stderr)
        return 2
    print(f"stopped {proxy.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

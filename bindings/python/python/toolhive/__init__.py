"""toolhive-embed: remote MCP servers behind local proxies inside this Python process.

    import toolhive

    with toolhive.start("https://mcp.example.com/mcp", name="example") as proxy:
        print(proxy.url)      # give this local URL to any MCP client

    async with await toolhive.start_async("https://mcp.example.com/mcp") as proxy:
        ...

Options are the fields of the one ProxyConfig schema (see the README), as keyword arguments
or a dict. Blocking calls release the GIL; ``*_async`` calls return asyncio futures and never
block the event loop. Rust log records go to the ``logging`` logger ``"toolhive"`` (only
those its level lets through; the records a call causes are handled before it returns).
Events (state changes, "authorization required: open this URL", ...) come to a callable
(``toolhive.subscribe``) or an async iterator (``toolhive.events()``).
"""

import atexit as _atexit

from . import _native
from ._errors import (
    AddressInUseError,
    AuthRequiredError,
    InternalError,
    InvalidConfigError,
    IoError,
    NameInUseError,
    NotFoundError,
    SecretError,
    StateError,
    ToolhiveError,
    UpstreamError,
)
from ._native import (
    Event,
    EventStream,
    LogLine,
    Proxy,
    ProxyInfo,
    Subscription,
    __version__,
    events,
    get,
    list,
    start,
    start_async,
    stop,
    stop_all,
    stop_all_async,
    stop_async,
    subscribe,
)

# Interpreter exit with proxies still running: stop them (each within its grace period), end
# event streams and hand the last log records to `logging` while the interpreter still works.
_atexit.register(_native._shutdown)

__all__ = [
    "AddressInUseError",
    "AuthRequiredError",
    "Event",
    "EventStream",
    "InternalError",
    "InvalidConfigError",
    "IoError",
    "LogLine",
    "NameInUseError",
    "NotFoundError",
    "Proxy",
    "ProxyInfo",
    "SecretError",
    "StateError",
    "Subscription",
    "ToolhiveError",
    "UpstreamError",
    "__version__",
    "events",
    "get",
    "list",
    "start",
    "start_async",
    "stop",
    "stop_all",
    "stop_all_async",
    "stop_async",
    "subscribe",
]

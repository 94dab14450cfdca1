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

By default everything is in memory. ``toolhive.configure(state_dir=..., secret_store=...,
open_browser=...)`` (before starting proxies) saves proxies in a state directory, so they can be
listed, stopped, restarted and removed by name across processes (``restart``, ``remove``,
``info``, ``logs``, ``follow_logs``) and brought back after a crash (``restore()``), and keeps
secrets in a store of your choice, e.g. your application's own (any object with ``get``,
``set``, ``delete`` and ``list``: see ``toolhive.SecretStore``).
"""

import atexit as _atexit

from . import _native
from ._errors import GENERATED as _GENERATED
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
    AuthState,
    BadStateFile,
    BuiltinSecretStore,
    EnvSecretStore,
    Event,
    EventStream,
    FileSecretStore,
    LogFollower,
    LogLine,
    MemorySecretStore,
    Proxy,
    ProxyInfo,
    RestoreResult,
    Subscription,
    __version__,
    configure,
    default_state_dir,
    events,
    follow_logs,
    get,
    info,
    list,
    logs,
    on_authorization_required,
    remove,
    remove_async,
    restart,
    restart_async,
    restore,
    restore_async,
    secret_store,
    start,
    start_async,
    state_errors,
    stop,
    stop_all,
    stop_all_async,
    stop_async,
    subscribe,
)
from ._secrets import SecretStore

# Interpreter exit with proxies still running: stop them (each within its grace period; with a
# state directory they stay saved as running, for `restore()` next time), end event streams and
# hand the last log records to `logging` while the interpreter still works.
_atexit.register(_native._shutdown)

__all__ = [
    "AddressInUseError",
    "AuthRequiredError",
    "AuthState",
    "BadStateFile",
    "BuiltinSecretStore",
    "EnvSecretStore",
    "Event",
    "EventStream",
    "FileSecretStore",
    "InternalError",
    "InvalidConfigError",
    "IoError",
    "LogFollower",
    "LogLine",
    "MemorySecretStore",
    "NameInUseError",
    "NotFoundError",
    "Proxy",
    "ProxyInfo",
    "RestoreResult",
    "SecretError",
    "SecretStore",
    "StateError",
    "Subscription",
    "ToolhiveError",
    "UpstreamError",
    "__version__",
    "configure",
    "default_state_dir",
    "events",
    "follow_logs",
    "get",
    "info",
    "list",
    "logs",
    "on_authorization_required",
    "remove",
    "remove_async",
    "restart",
    "restart_async",
    "restore",
    "restore_async",
    "secret_store",
    "start",
    "start_async",
    "state_errors",
    "stop",
    "stop_all",
    "stop_all_async",
    "stop_async",
    "subscribe",
]

# Error kinds the core added after this package was written get generated classes (see
# _errors.py); export them too.
globals().update(_GENERATED)
__all__ += sorted(_GENERATED)

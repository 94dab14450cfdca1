"""Type stubs of the extension module `toolhive._native` (re-exported by `toolhive`)."""

import asyncio
import builtins
import datetime
import os
import pathlib
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, final

from typing_extensions import Self, disjoint_base

from ._errors import ToolhiveError
from ._secrets import SecretStore

__all__ = [
    "__version__",
    "ERROR_KINDS",
    "start",
    "start_async",
    "list",
    "get",
    "stop",
    "stop_async",
    "stop_all",
    "stop_all_async",
    "events",
    "subscribe",
    "on_authorization_required",
    "configure",
    "default_state_dir",
    "secret_store",
    "restart",
    "restart_async",
    "remove",
    "remove_async",
    "restore",
    "restore_async",
    "state_errors",
    "info",
    "logs",
    "follow_logs",
    "_shutdown",
    "Proxy",
    "ProxyInfo",
    "AuthState",
    "LogLine",
    "LogFollower",
    "Event",
    "EventStream",
    "Subscription",
    "RestoreResult",
    "BadStateFile",
    "BuiltinSecretStore",
    "FileSecretStore",
    "EnvSecretStore",
    "MemorySecretStore",
]
__version__: str
#: Every error kind of the core (``ErrorKind::ALL``), in the core's order.
ERROR_KINDS: tuple[str, ...]

@final
class Proxy:
    """A proxy in front of one remote MCP server, serving a local URL."""

    @property
    def url(self) -> str:
        """The local MCP URL to give to MCP clients, e.g. ``http://127.0.0.1:41873/mcp``."""
    @property
    def name(self) -> str: ...
    @property
    def remote_url(self) -> str: ...
    @property
    def transport(self) -> str:
        """``"streamable-http"`` or ``"sse"``."""
    @property
    def state(self) -> str:
        """``"starting"``, ``"running"``, ``"unhealthy"``, ``"stopping"``, ``"stopped"`` or ``"failed"``."""
    @property
    def auth_state(self) -> str | None:
        """``"unauthenticated"``, ``"authorizing"``, ``"authenticated"``, ``"refreshing"``, ``"auth_retrying"``, ``"needs_login"``; None with static credentials."""
    @property
    def auth(self) -> AuthState | None:
        """The authorization state with its details; None with static credentials."""
    def info(self) -> ProxyInfo: ...
    def logs(self) -> builtins.list[LogLine]: ...
    def stop(self) -> None:
        """Stop gracefully (releases the GIL); stopping twice is fine."""
    def stop_async(self) -> asyncio.Future[None]:
        """Stop without blocking the event loop; cancelling the await does not undo the stop."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    def __aenter__(self) -> asyncio.Future[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> asyncio.Future[None]: ...

@final
class ProxyInfo:
    """A snapshot of one proxy."""

    @property
    def name(self) -> str: ...
    @property
    def remote_url(self) -> str: ...
    @property
    def local_url(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str | None:
        """Why it failed (state ``"failed"`` only)."""
    @property
    def auth_state(self) -> str | None:
        """The authorization state's name (``auth.state``); None with static credentials."""
    @property
    def auth(self) -> AuthState | None:
        """The authorization state with its details; None with static credentials."""
    @property
    def pid(self) -> int | None:
        """The process serving it while it runs (this one, or another sharing the state directory)."""
    @property
    def stale(self) -> bool:
        """Its state file says it runs, but its process is gone (a crash): ``restore()`` starts it again."""
    @property
    def started_at(self) -> datetime.datetime: ...
    def to_dict(self) -> dict[str, Any]:
        """The core's JSON form of the snapshot, as a dict."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class AuthState:
    """Where a proxy stands with the remote's authorization server (OAuth)."""

    @property
    def state(self) -> str:
        """``"unauthenticated"``, ``"authorizing"``, ``"authenticated"``, ``"refreshing"``, ``"auth_retrying"`` or ``"needs_login"``."""
    @property
    def expires_at(self) -> datetime.datetime | None:
        """When the access token expires (``"authenticated"``, if known)."""
    @property
    def next_attempt_at(self) -> datetime.datetime | None:
        """When the proxy tries again (``"auth_retrying"``)."""
    @property
    def reason(self) -> str | None:
        """What failed (``"auth_retrying"``, ``"needs_login"``)."""
    def to_dict(self) -> dict[str, Any]:
        """The core's JSON form, e.g. ``{"state": "authenticated", "expires_at": "..."}``."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class LogLine:
    """One recent log line of a proxy; ``str(line)`` is the formatted line."""

    @property
    def at(self) -> datetime.datetime: ...
    @property
    def level(self) -> str:
        """``"debug"``, ``"info"``, ``"warn"`` or ``"error"``."""
    @property
    def message(self) -> str: ...

@final
class Event:
    """A notification about a proxy (state changes; more kinds later)."""

    @property
    def proxy(self) -> str: ...
    @property
    def type(self) -> str:
        """``"state_changed"``, ``"authorization_required"``, ``"auth_state_changed"``; more kinds may come."""
    @property
    def data(self) -> dict[str, Any]:
        """The event's JSON form as a dict (``{"proxy": ..., "type": ..., ...}``)."""
    @property
    def from_state(self) -> str | None:
        """The state left (``"state_changed"`` only)."""
    @property
    def to_state(self) -> str | None:
        """The state entered (``"state_changed"`` only)."""
    @property
    def url(self) -> str | None:
        """The URL the user must open to log in (``"authorization_required"`` only)."""
    @property
    def auth_state(self) -> str | None:
        """The new authorization state (``"auth_state_changed"`` only)."""
    @property
    def auth(self) -> AuthState | None:
        """The new authorization state with its details (``"auth_state_changed"`` only)."""
    @property
    def reason(self) -> str | None:
        """Why, for a move to ``"failed"`` or a failed authorization state."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class EventStream:
    """Events from the moment it was created: ``async for`` (or a blocking ``for``)."""

    def __aiter__(self) -> Self: ...
    def __anext__(self) -> asyncio.Future[Event]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Event: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    def __aenter__(self) -> asyncio.Future[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> asyncio.Future[None]: ...

@final
class Subscription:
    """The handle of a ``subscribe()`` callback; ``close()`` ends it."""

    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

@final
class LogFollower:
    """New log lines of one proxy as they are written: ``async for`` (or a blocking ``for``)."""

    def __aiter__(self) -> Self: ...
    def __anext__(self) -> asyncio.Future[LogLine]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> LogLine: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
    def __aenter__(self) -> asyncio.Future[Self]: ...
    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> asyncio.Future[None]: ...

@final
class RestoreResult:
    """One proxy ``restore()`` tried: ``proxy`` when it runs again, else ``error``."""

    @property
    def name(self) -> str: ...
    @property
    def proxy(self) -> Proxy | None: ...
    @property
    def error(self) -> ToolhiveError | None: ...

@final
class BadStateFile:
    """A state file ``list()`` and ``restore()`` had to skip (corrupt, unreadable, newer version). A record, not an exception."""

    @property
    def path(self) -> pathlib.Path: ...
    @property
    def message(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@disjoint_base
class BuiltinSecretStore:
    """The common base of the built-in secret stores."""

    @property
    def kind(self) -> str:
        """``"file"``, ``"env"`` or ``"memory"``."""
    def get(self, key: str) -> str | None:
        """The secret under ``key``, or None."""
    def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
    def delete(self, key: str) -> None:
        """Remove ``key`` (a missing key is fine)."""
    def list(self) -> builtins.list[str]:
        """Every key (never the values)."""

@final
class FileSecretStore(BuiltinSecretStore):
    """Secrets in one JSON file (mode 0600), shared safely between processes."""

    def __new__(cls, path: str | os.PathLike[str]) -> Self: ...
    @property
    def path(self) -> pathlib.Path: ...

@final
class EnvSecretStore(BuiltinSecretStore):
    """Read-only secrets from ``TOOLHIVE_SECRET_*`` environment variables."""

    def __new__(cls) -> Self: ...
    @staticmethod
    def variable(key: str) -> str:
        """The environment variable that holds ``key``."""

@final
class MemorySecretStore(BuiltinSecretStore):
    """Secrets in process memory."""

    def __new__(cls) -> Self: ...

def start(url: str, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Proxy:
    """Start a proxy in front of ``url``; options are ProxyConfig fields. Releases the GIL."""

def start_async(
    url: str, options: Mapping[str, Any] | None = None, /, **kwargs: Any
) -> asyncio.Future[Proxy]:
    """``await toolhive.start_async(url, **options)``: `start` without blocking the event loop."""

def list() -> builtins.list[ProxyInfo]:
    """Every proxy of this process (running or stopped), plus with a state directory those saved or served by other processes, sorted by name."""

def get(name: str) -> Proxy | None:
    """The proxy called ``name``, or None."""

def stop(name: str) -> None:
    """Stop the proxy called ``name`` (NotFoundError if none)."""

def stop_async(name: str) -> asyncio.Future[None]: ...
def stop_all() -> None:
    """Stop every proxy, concurrently."""

def stop_all_async() -> asyncio.Future[None]: ...
def events(proxy: str | None = None) -> EventStream:
    """Iterate over events from now on (of one proxy, if named)."""

def subscribe(callback: Callable[[Event], object], proxy: str | None = None) -> Subscription:
    """Call ``callback(event)`` for every event from now on, on a background thread."""

def on_authorization_required(handler: Callable[[Event], object], proxy: str | None = None) -> Subscription:
    """Call ``handler(event)`` with every "authorization required" event (``event.url``); while registered, the default ``open_browser=None`` opens no browser for those proxies."""

def configure(
    *,
    state_dir: str | os.PathLike[str] | None = None,
    secret_store: SecretStore | BuiltinSecretStore | None = None,
    open_browser: bool | None = None,
) -> None:
    """Where proxies are saved, where secrets live, who opens the browser; before starting proxies."""

def default_state_dir() -> pathlib.Path | None:
    """The per-user default state directory (``$XDG_STATE_HOME/toolhive-embed``)."""

def secret_store() -> SecretStore | BuiltinSecretStore:
    """The secret store proxies use (the configured one, or the default)."""

def restart(name: str) -> ProxyInfo:
    """Stop the proxy and start it again with the same config on the same port."""

def restart_async(name: str) -> asyncio.Future[ProxyInfo]: ...
def remove(name: str) -> None:
    """Stop the proxy and delete its saved config, log file and secrets."""

def remove_async(name: str) -> asyncio.Future[None]: ...
def restore() -> builtins.list[RestoreResult]:
    """Start every saved proxy that was running when its process ended."""

def restore_async() -> asyncio.Future[builtins.list[RestoreResult]]: ...
def state_errors() -> builtins.list[BadStateFile]:
    """The state files ``list()`` and ``restore()`` had to skip."""

def info(name: str) -> ProxyInfo:
    """The proxy called ``name``, wherever it runs (NotFoundError if none)."""

def logs(name: str) -> builtins.list[LogLine]:
    """Recent log lines of the proxy called ``name``."""

def follow_logs(name: str) -> LogFollower:
    """The log lines of ``name`` from now on."""

def _shutdown() -> None: ...

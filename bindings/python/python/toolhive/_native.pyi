"""Type stubs of the extension module `toolhive._native` (re-exported by `toolhive`)."""

import asyncio
import builtins
import datetime
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, final

from typing_extensions import Self

__all__ = [
    "__version__",
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
    "_shutdown",
    "Proxy",
    "ProxyInfo",
    "LogLine",
    "Event",
    "EventStream",
    "Subscription",
]
__version__: str

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
    def auth_state(self) -> str | None: ...
    @property
    def started_at(self) -> datetime.datetime: ...
    def to_dict(self) -> dict[str, Any]:
        """The core's JSON form of the snapshot, as a dict."""
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

def start(url: str, options: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Proxy:
    """Start a proxy in front of ``url``; options are ProxyConfig fields. Releases the GIL."""

def start_async(
    url: str, options: Mapping[str, Any] | None = None, /, **kwargs: Any
) -> asyncio.Future[Proxy]:
    """``await toolhive.start_async(url, **options)``: `start` without blocking the event loop."""

def list() -> builtins.list[ProxyInfo]:
    """Every proxy of this process (running or stopped), sorted by name."""

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

def _shutdown() -> None: ...

"""The shape of a secret store implemented in Python (``toolhive.configure(secret_store=...)``)."""

from __future__ import annotations

from typing import Awaitable, Iterable, Optional, Protocol, TypeVar, Union, runtime_checkable

_T = TypeVar("_T")


@runtime_checkable
class SecretStore(Protocol):
    """A secret store: toolhive keeps bearer tokens, secret headers, OAuth tokens and client
    registrations in it, under keys such as ``proxy/<name>/bearer_token``; options may refer to
    any key (``bearer_token={"secret": "github"}``).

    Implement it over your application's own secret storage, or use the built-in
    ``toolhive.FileSecretStore(path)``, ``EnvSecretStore()`` or ``MemorySecretStore()``.

    - ``get(key)`` returns the value, or None when there is none;
    - ``set(key, value)`` stores it, replacing what was there;
    - ``delete(key)`` removes it (a missing key is fine);
    - ``list()`` returns every key (never values).

    Methods are called on a background thread of toolhive's, one call at a time. They may be
    ``async def``: then call ``toolhive.configure()`` from a coroutine on the event loop they
    should run on (and use the ``*_async`` functions on that loop). An exception becomes a
    ``toolhive.SecretError`` naming the class, the method and the key.
    """

    def get(self, key: str, /) -> Union[Optional[str], Awaitable[Optional[str]]]: ...

    def set(self, key: str, value: str, /) -> Union[None, Awaitable[None]]: ...

    def delete(self, key: str, /) -> Union[None, Awaitable[None]]: ...

    def list(self, /) -> Union[Iterable[str], Awaitable[Iterable[str]]]: ...


async def _await(awaitable: Awaitable[_T]) -> _T:
    """A coroutine for any awaitable (``asyncio.run_coroutine_threadsafe`` needs one)."""
    return await awaitable


__all__ = ["SecretStore"]

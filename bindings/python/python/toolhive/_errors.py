"""The exceptions of toolhive: one subclass of ToolhiveError per error kind of the core.

The kinds come from the core (``_native.ERROR_KINDS``, its ``ErrorKind::ALL``). Each kind known
when this file was written has a documented class below; a kind the core added since gets a
generated class (``FooBarError`` for ``"foo_bar"``, in ``GENERATED``), so every kind still raises
its own subclass. The test suite fails until such a kind gets its class here and in the stubs.
"""

from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple, Type

from ._native import ERROR_KINDS


class ToolhiveError(Exception):
    """Any failure reported by toolhive.

    ``kind`` is the core's stable error kind (``"invalid_config"``, ``"name_in_use"``, ...),
    ``field`` the config field it concerns (``"port"``, ``"health_check.interval_ms"``) or None,
    and ``message`` the text without the field; ``str(err)`` is ``"field: message"``.
    """

    kind: str = "internal"
    field: Optional[str]
    message: str

    def __init__(self, message: str, *, kind: Optional[str] = None, field: Optional[str] = None) -> None:
        self.message = message
        self.field = field
        if kind is not None:
            self.kind = kind
        super().__init__(f"{field}: {message}" if field else message)


class InvalidConfigError(ToolhiveError, ValueError):
    """An option (or the config it makes) is invalid or unknown; ``field`` names it."""

    kind = "invalid_config"


class NameInUseError(ToolhiveError):
    """Another running proxy already uses the name."""

    kind = "name_in_use"


class AddressInUseError(ToolhiveError):
    """The local address/port cannot be bound (usually: already in use)."""

    kind = "address_in_use"


class NotFoundError(ToolhiveError, LookupError):
    """No proxy has that name."""

    kind = "not_found"


class UpstreamError(ToolhiveError):
    """The remote server could not be reached or answered in a way the proxy cannot use."""

    kind = "upstream"


class IoError(ToolhiveError):
    """A local I/O failure (sockets, files)."""

    kind = "io"


class InternalError(ToolhiveError):
    """A bug or an unexpected internal condition."""

    kind = "internal"


class SecretError(ToolhiveError):
    """The secret store failed, or a referenced secret does not exist."""

    kind = "secret"


class AuthRequiredError(ToolhiveError):
    """The remote requires authorization the proxy does not have (e.g. no bearer token)."""

    kind = "auth_required"


class StateError(ToolhiveError):
    """A saved state file is unreadable, corrupt or from a newer version."""

    kind = "state"


_DOCUMENTED: Tuple[Type[ToolhiveError], ...] = (
    InvalidConfigError,
    NameInUseError,
    AddressInUseError,
    NotFoundError,
    UpstreamError,
    IoError,
    InternalError,
    SecretError,
    AuthRequiredError,
    StateError,
)


def _class_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_")) + "Error"


def classes_for(
    kinds: Iterable[str],
) -> Tuple[Dict[str, Type[ToolhiveError]], Dict[str, Type[ToolhiveError]]]:
    """The class for each kind (documented, or generated), and the generated ones by name."""
    documented = {cls.kind: cls for cls in _DOCUMENTED}
    by_kind: Dict[str, Type[ToolhiveError]] = {}
    generated: Dict[str, Type[ToolhiveError]] = {}
    for kind in kinds:
        cls = documented.get(kind)
        if cls is None:
            cls = type(
                _class_name(kind),
                (ToolhiveError,),
                {
                    "kind": kind,
                    "__module__": "toolhive",
                    "__doc__": f"Errors of the core's kind ``{kind!r}`` (newer than this package's documentation).",
                },
            )
            generated[cls.__name__] = cls
        by_kind[kind] = cls
    return by_kind, generated


#: The class raised for each core error kind (``ERROR_KINDS``, in the core's order), and the
#: classes made for kinds this file has no documented class for (normally none), by name.
ERRORS_BY_KIND, GENERATED = classes_for(ERROR_KINDS)

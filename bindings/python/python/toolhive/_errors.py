"""The exceptions of toolhive: one subclass of ToolhiveError per error kind of the core."""

from __future__ import annotations

from typing import Dict, Optional, Type


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


#: The class raised for each core error kind; a kind missing here raises ToolhiveError itself.
ERRORS_BY_KIND: Dict[str, Type[ToolhiveError]] = {
    cls.kind: cls
    for cls in (
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
}

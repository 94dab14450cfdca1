//! The one error type every surface maps from: a stable [`ErrorKind`] plus a message that says
//! what was wrong and, where it applies, which config field.

use std::fmt;

/// What went wrong, as a stable category that bindings map to their own error types.
///
/// Append-only: bindings and the C ABI expose these as numbers/classes, so a kind is never
/// renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A config value (or the JSON carrying it) is invalid; the error names the field.
    InvalidConfig,
    /// Another running proxy of this manager already uses the name.
    NameInUse,
    /// The requested local address/port cannot be bound (usually: already in use).
    AddressInUse,
    /// No proxy with that name exists.
    NotFound,
    /// The remote server could not be reached or answered in a way the proxy cannot use.
    Upstream,
    /// A local I/O failure (sockets, files).
    Io,
    /// A bug or an unexpected internal condition.
    Internal,
    /// The secret store failed, or a referenced secret does not exist.
    Secret,
    /// The remote requires authorization the proxy does not have (e.g. no bearer token).
    AuthRequired,
    /// A saved state file is unreadable, corrupt or from a newer version.
    State,
}

impl ErrorKind {
    /// Every kind, in the order they were added (bindings build one exception class each).
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::InvalidConfig,
        ErrorKind::NameInUse,
        ErrorKind::AddressInUse,
        ErrorKind::NotFound,
        ErrorKind::Upstream,
        ErrorKind::Io,
        ErrorKind::Internal,
        ErrorKind::Secret,
        ErrorKind::AuthRequired,
        ErrorKind::State,
    ];

    /// A stable snake_case name, used as error code in bindings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::NameInUse => "name_in_use",
            ErrorKind::AddressInUse => "address_in_use",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
            ErrorKind::Secret => "secret",
            ErrorKind::AuthRequired => "auth_required",
            ErrorKind::State => "state",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_kinds_have_distinct_names() {
        let mut names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from toolhive: a kind, the config field it concerns (if any) and a message.
///
/// The message never contains secrets (tokens, injected header values).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    field: Option<String>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with toolhive's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with a human-readable message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            field: None,
            message: message.into(),
            source: None,
        }
    }

    /// An [`ErrorKind::InvalidConfig`] error about `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            field: Some(field.into()),
            ..Error::new(ErrorKind::InvalidConfig, message)
        }
    }

    /// Attach the config field this error concerns.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Attach the underlying cause (kept for `source()`, not shown in the message).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The config field this error concerns, e.g. `remote_url` or `health_check.interval_ms`.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The message without the field prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

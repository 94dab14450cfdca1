//! Headers injected into every upstream request: plain values or secret-backed ones, checked
//! so they cannot break the HTTP framing or impersonate the proxy hop.

use http::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secrets::SecretRef;

/// Largest injected header value.
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;

/// Header names that may not be injected: they describe the connection or the proxy hop, and
/// setting them would break framing or let a config spoof what the remote trusts.
pub const RESTRICTED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "transfer-encoding",
    "content-length",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// The value of an injected header: `"plain text"` or a [`SecretRef`] object such as
/// `{"secret": "my-api-key"}`. `Debug` never shows values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderSource {
    /// A plain value, kept in the config as is.
    Plain(String),
    /// A secret value, kept out of the config.
    Secret(SecretRef),
}

impl std::fmt::Debug for HeaderSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderSource::Plain(_) => f.write_str("Plain(<redacted>)"),
            HeaderSource::Secret(r) => f.debug_tuple("Secret").field(r).finish(),
        }
    }
}

/// The config field of header `name`, for error messages.
pub(crate) fn field(name: &str) -> String {
    format!("headers.{name}")
}

/// A valid, injectable header name.
pub(crate) fn check_name(name: &str) -> Result<HeaderName> {
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Error::invalid(
            field(name),
            "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
        )
    })?;
    if RESTRICTED_HEADERS.contains(&parsed.as_str()) {
        return Err(Error::invalid(
            field(name),
            format!("`{name}` cannot be injected: the proxy manages it for the connection"),
        ));
    }
    Ok(parsed)
}

/// A valid header value for header `name` (also applied to values read from secrets). The
/// error never contains the value.
pub(crate) fn check_value(name: &str, value: &str) -> Result<HeaderValue> {
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return Err(Error::invalid(
            field(name),
            format!(
                "value is {} bytes; at most {MAX_HEADER_VALUE_BYTES} are allowed",
                value.len()
            ),
        ));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::invalid(
            field(name),
            "value contains CR, LF or NUL, which would split the request",
        ));
    }
    let mut parsed = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid(
            field(name),
            "value contains characters not allowed in a header (control characters)",
        )
    })?;
    parsed.set_sensitive(true);
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_restricted_header_is_refused() {
        for name in RESTRICTED_HEADERS {
            let err = check_name(&name.to_uppercase()).unwrap_err();
            assert_eq!(
                err.field(),
                Some(format!("headers.{}", name.to_uppercase()).as_str())
            );
            assert!(err.to_string().contains("cannot be injected"), "{err}");
        }
        assert!(check_name("X-Api-Key").is_ok());
        assert!(check_name("Authorization").is_ok());
        assert!(check_name("bad name").is_err());
        assert!(check_name("").is_err());
    }

    #[test]
    fn values_cannot_split_requests_and_are_never_echoed() {
        for bad in ["a\r\nX-Evil: 1", "a\nb", "nul\0", "bell\u{7}"] {
            let err = check_value("X-Key", &format!("SECRET{bad}")).unwrap_err();
            assert!(!err.to_string().contains("SECRET"), "{err}");
        }
        assert!(check_value("X-Key", &"v".repeat(MAX_HEADER_VALUE_BYTES)).is_ok());
        assert!(check_value("X-Key", &"v".repeat(MAX_HEADER_VALUE_BYTES + 1)).is_err());
        assert!(check_value("X-Key", "ok value").unwrap().is_sensitive());
    }

    #[test]
    fn debug_hides_values() {
        let plain = HeaderSource::Plain("SECRET".into());
        let inline = HeaderSource::Secret(SecretRef::Value("SECRET".into()));
        assert!(!format!("{plain:?}{inline:?}").contains("SECRET"));
    }
}

//! [`OAuthConfig`]: the OAuth part of the one config schema, and its validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::secrets::SecretRef;

/// How the proxy logs in to a remote that wants OAuth. Every field is optional: with none,
/// everything is discovered from the remote's 401 (PRM, AS metadata, CIMD or DCR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// A pre-registered client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The pre-registered client's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretRef>,
    /// OIDC mode: discover the authorization server from this issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// OAuth2 mode (with `token_url`): no discovery at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// OAuth2 mode (with `authorize_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Scopes to ask for (default: the challenge's, then the server's advertised ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Send the scopes under this parameter name instead of `scope` (Slack: `user_scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_param_name: Option<String>,
    /// The RFC 8707 resource to ask tokens for (default: the remote MCP URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Send the `resource` parameter at all (some servers reject it).
    #[serde(default = "default_true")]
    pub send_resource: bool,
    /// Client ID Metadata Document URL, used as client_id where the server supports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata_url: Option<String>,
    /// Fixed port for the login callback (default: any free port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_port: Option<u16>,
    /// How long a login may take, and how long a request waits for one.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Do not open a browser: only publish the "authorization required" event.
    #[serde(default)]
    pub skip_browser: bool,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            client_id: None,
            client_secret: None,
            issuer: None,
            authorize_url: None,
            token_url: None,
            scopes: Vec::new(),
            scope_param_name: None,
            resource: None,
            send_resource: true,
            client_metadata_url: None,
            callback_port: None,
            timeout_ms: default_timeout_ms(),
            skip_browser: false,
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_timeout_ms() -> u64 {
    5 * 60 * 1000
}

/// Validated OAuth settings.
#[derive(Debug, Clone)]
pub(crate) struct OAuthSettings {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
    pub issuer: Option<Url>,
    pub endpoints: Option<(Url, Url)>,
    pub scopes: Vec<String>,
    pub scope_param: String,
    pub resource: Option<Url>,
    pub send_resource: bool,
    pub client_metadata_url: Option<Url>,
    pub callback_port: Option<u16>,
    pub timeout: Duration,
    pub skip_browser: bool,
}

/// HTTPS, or http to loopback (local development and tests).
pub(crate) fn check_endpoint(field: &str, raw: &str) -> Result<Url> {
    let url = Url::parse(raw)
        .map_err(|e| Error::invalid(field, format!("`{raw}` is not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if crate::config::is_loopback_host(&url) => {}
        _ => {
            return Err(Error::invalid(
                field,
                format!("`{raw}` must use https (plain http only for localhost)"),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid(field, "has no host"));
    }
    Ok(url)
}

/// An RFC 8707 resource: absolute, with scheme and host, without fragment.
pub(crate) fn check_resource(field: &str, raw: &str) -> Result<Url> {
    let url = Url::parse(raw).map_err(|e| {
        Error::invalid(
            field,
            format!("`{raw}` is not an absolute URI with scheme and host ({e})"),
        )
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::invalid(field, "must have a host"));
    }
    if url.fragment().is_some() {
        return Err(Error::invalid(
            field,
            "must not have a #fragment (RFC 8707)",
        ));
    }
    Ok(url)
}

impl OAuthConfig {
    pub(crate) fn validate(&self) -> Result<OAuthSettings> {
        let issuer = self
            .issuer
            .as_deref()
            .map(|i| check_endpoint("oauth.issuer", i))
            .transpose()?;
        let endpoints = match (&self.authorize_url, &self.token_url) {
            (Some(a), Some(t)) => Some((
                check_endpoint("oauth.authorize_url", a)?,
                check_endpoint("oauth.token_url", t)?,
            )),
            (None, None) => None,
            (Some(_), None) => {
                return Err(Error::invalid(
                    "oauth.token_url",
                    "is required with oauth.authorize_url",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "oauth.authorize_url",
                    "is required with oauth.token_url",
                ));
            }
        };
        if issuer.is_some() && endpoints.is_some() {
            return Err(Error::invalid(
                "oauth.issuer",
                "OIDC mode (issuer) and OAuth2 mode (authorize_url + token_url) exclude each other",
            ));
        }
        if endpoints.is_some() && self.client_id.is_none() {
            return Err(Error::invalid(
                "oauth.client_id",
                "is required in OAuth2 mode (authorize_url + token_url): there is no registration endpoint",
            ));
        }
        if let Some(secret) = &self.client_secret {
            if self.client_id.is_none() {
                return Err(Error::invalid(
                    "oauth.client_secret",
                    "needs oauth.client_id",
                ));
            }
            secret.check("oauth.client_secret")?;
        }
        if let Some(id) = &self.client_id
            && id.trim().is_empty()
        {
            return Err(Error::invalid("oauth.client_id", "is empty"));
        }
        let scope_param = self
            .scope_param_name
            .clone()
            .unwrap_or_else(|| "scope".to_owned());
        if scope_param.is_empty()
            || !scope_param
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(Error::invalid(
                "oauth.scope_param_name",
                "must be a parameter name of letters, digits, _ or -",
            ));
        }
        for scope in &self.scopes {
            if scope.is_empty() || scope.contains([' ', '"', '\\']) {
                return Err(Error::invalid(
                    "oauth.scopes",
                    format!("`{scope}` is not a scope (no spaces, quotes or backslashes)"),
                ));
            }
        }
        let resource = self
            .resource
            .as_deref()
            .map(|r| check_resource("oauth.resource", r))
            .transpose()?;
        let client_metadata_url = match &self.client_metadata_url {
            None => None,
            Some(raw) => {
                let url = check_endpoint("oauth.client_metadata_url", raw)?;
                if url.scheme() != "https" || url.path() == "/" {
                    return Err(Error::invalid(
                        "oauth.client_metadata_url",
                        "must be an https URL with a path (it is the client_id)",
                    ));
                }
                Some(url)
            }
        };
        if self.timeout_ms == 0 {
            return Err(Error::invalid("oauth.timeout_ms", "must be greater than 0"));
        }
        Ok(OAuthSettings {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            issuer,
            endpoints,
            scopes: self.scopes.clone(),
            scope_param,
            resource,
            send_resource: self.send_resource,
            client_metadata_url,
            callback_port: self.callback_port,
            timeout: Duration::from_millis(self.timeout_ms),
            skip_browser: self.skip_browser,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_must_have_scheme_and_host_and_no_fragment() {
        assert!(check_resource("r", "https://mcp.example.com/mcp").is_ok());
        assert!(check_resource("r", "urn:example:x").is_err());
        assert!(check_resource("r", "/relative").is_err());
        assert!(check_resource("r", "https://h/mcp#frag").is_err());
    }

    #[test]
    fn endpoints_need_https_except_loopback() {
        assert!(check_endpoint("f", "https://as.example.com").is_ok());
        assert!(check_endpoint("f", "http://127.0.0.1:9000").is_ok());
        assert!(check_endpoint("f", "http://localhost:9000/x").is_ok());
        let err = check_endpoint("oauth.issuer", "http://as.example.com").unwrap_err();
        assert_eq!(err.field(), Some("oauth.issuer"));
    }

    #[test]
    fn defaults_match_the_json_defaults() {
        let from_json: OAuthConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(from_json, OAuthConfig::default());
        assert!(from_json.send_resource);
    }

    #[test]
    fn modes_and_fields_are_checked() {
        let c = OAuthConfig {
            authorize_url: Some("https://a/authorize".into()),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("oauth.token_url"));
        let c = OAuthConfig {
            authorize_url: Some("https://a/authorize".into()),
            token_url: Some("https://a/token".into()),
            ..Default::default()
        };
        assert_eq!(c.validate().unwrap_err().field(), Some("oauth.client_id"));
        let c = OAuthConfig {
            scope_param_name: Some("user scope".into()),
            ..Default::default()
        };
        assert_eq!(
            c.validate().unwrap_err().field(),
            Some("oauth.scope_param_name")
        );
        let c = OAuthConfig {
            client_metadata_url: Some("https://conformance-test.local/client-metadata.json".into()),
            ..Default::default()
        };
        assert!(c.validate().is_ok());
    }
}

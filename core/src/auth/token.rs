//! Tokens and client registrations as stored, and the token endpoint exchanges (authorization
//! code, refresh) with their error classification.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::{Deserialize, Serialize};
use url::Url;

use super::http::{form, send};

/// Refresh this long before expiry at most ("about 60 s"); short-lived tokens use a fifth of
/// their lifetime so a 5-second token is not refreshed the moment it arrives.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A token set as stored in the secret store (JSON). `Debug` shows no token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokenSet {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Unix milliseconds.
    pub issued_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The token endpoint that issued it: tokens are only used with what they were issued for.
    pub token_endpoint: String,
    pub client_id: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("scope", &self.scope)
            .finish()
    }
}

impl TokenSet {
    pub(crate) fn expires_at_time(&self) -> Option<SystemTime> {
        self.expires_at_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// Expired, or close enough to expiry that it should be refreshed before use.
    pub(crate) fn needs_refresh(&self) -> bool {
        let Some(expires) = self.expires_at_ms else {
            return false;
        };
        let lifetime = expires.saturating_sub(self.issued_at_ms);
        let margin = (REFRESH_MARGIN.as_millis() as u64).min(lifetime / 5);
        now_ms() + margin >= expires
    }

    pub(crate) fn expired(&self) -> bool {
        self.expires_at_ms.is_some_and(|e| now_ms() >= e)
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthMethod {
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

/// Where the client id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClientKind {
    /// Configured by the user.
    Static,
    /// A Client ID Metadata Document URL.
    Cimd,
    /// Dynamically registered (RFC 7591).
    Dcr,
}

/// A client identity at one authorization server, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClientRecord {
    pub kind: ClientKind,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub auth_method: AuthMethod,
    pub redirect_uri: String,
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// The RFC 8707 resource tokens are asked for (none when switched off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

impl std::fmt::Debug for ClientRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRecord")
            .field("kind", &self.kind)
            .field("client_id", &self.client_id)
            .field("auth_method", &self.auth_method)
            .field("redirect_uri", &self.redirect_uri)
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Why a token request failed.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The server refused (`invalid_grant`, `invalid_client`, …): retrying will not help.
    Rejected { code: Option<String>, said: String },
    /// Network trouble or a 5xx: worth retrying later.
    Transient(String),
}

impl TokenError {
    pub(crate) fn is_invalid_client(&self) -> bool {
        matches!(self, TokenError::Rejected { code: Some(c), .. }
            if c == "invalid_client" || c == "unauthorized_client")
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            TokenError::Rejected { said, .. } | TokenError::Transient(said) => said,
        }
    }
}

/// POST to the token endpoint with the client's authentication; the answer as a [`TokenSet`].
pub(crate) async fn request(
    http: &reqwest::Client,
    client: &ClientRecord,
    secret: Option<&str>,
    mut params: Vec<(&str, String)>,
    previous_refresh: Option<&str>,
) -> Result<TokenSet, TokenError> {
    let url = Url::parse(&client.token_endpoint)
        .map_err(|e| TokenError::Transient(format!("bad token endpoint: {e}")))?;
    let mut req = http.post(url).header("accept", "application/json");
    match client.auth_method {
        AuthMethod::None => params.push(("client_id", client.client_id.clone())),
        AuthMethod::ClientSecretPost => {
            params.push(("client_id", client.client_id.clone()));
            params.push(("client_secret", secret.unwrap_or_default().to_owned()));
        }
        AuthMethod::ClientSecretBasic => {
            // RFC 6749 2.3.1: form-encode both parts before base64.
            let enc = |s: &str| form(&[("x", s)])[2..].to_owned();
            let pair = format!(
                "{}:{}",
                enc(&client.client_id),
                enc(secret.unwrap_or_default())
            );
            let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
            req = req.header("authorization", format!("Basic {b64}"));
        }
    }
    if let Some(resource) = &client.resource {
        params.push(("resource", resource.clone()));
    }
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = send(
        req.header("content-type", "application/x-www-form-urlencoded")
            .body(form(&borrowed)),
    )
    .await
    .map_err(TokenError::Transient)?;
    if answer.status.is_server_error() || answer.status == http::StatusCode::TOO_MANY_REQUESTS {
        return Err(TokenError::Transient(answer.oauth_error().1));
    }
    if !answer.status.is_success() {
        let (code, said) = answer.oauth_error();
        return Err(TokenError::Rejected { code, said });
    }
    #[derive(Deserialize)]
    struct Raw {
        access_token: String,
        token_type: Option<String>,
        expires_in: Option<u64>,
        refresh_token: Option<String>,
        scope: Option<String>,
    }
    let raw: Raw = serde_json::from_slice(&answer.body).map_err(|e| TokenError::Rejected {
        code: None,
        said: format!("the token answer is not a token response ({e})"),
    })?;
    if raw
        .token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(TokenError::Rejected {
            code: None,
            said: "the token is not a bearer token".to_owned(),
        });
    }
    let issued_at_ms = now_ms();
    Ok(TokenSet {
        access_token: raw.access_token,
        // Keep the old refresh token when the server does not rotate it.
        refresh_token: raw
            .refresh_token
            .or_else(|| previous_refresh.map(str::to_owned)),
        expires_at_ms: raw
            .expires_in
            .map(|s| issued_at_ms + s.saturating_mul(1000)),
        issued_at_ms,
        scope: raw.scope,
        token_endpoint: client.token_endpoint.clone(),
        client_id: client.client_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(lifetime: u64, age: u64) -> TokenSet {
        let now = now_ms();
        TokenSet {
            access_token: "SECRET".into(),
            refresh_token: Some("SECRET2".into()),
            expires_at_ms: Some(now - age * 1000 + lifetime * 1000),
            issued_at_ms: now - age * 1000,
            scope: None,
            token_endpoint: "https://as/token".into(),
            client_id: "c".into(),
        }
    }

    #[test]
    fn refresh_margin_scales_with_short_lifetimes() {
        assert!(!token(3600, 0).needs_refresh());
        assert!(token(3600, 3541).needs_refresh(), "within 60 s of expiry");
        assert!(
            !token(5, 0).needs_refresh(),
            "a fresh 5-second token is used"
        );
        assert!(token(5, 5).needs_refresh());
        assert!(token(5, 6).expired());
    }

    #[test]
    fn debug_shows_no_tokens() {
        assert!(!format!("{:?}", token(5, 0)).contains("SECRET"));
    }

    #[test]
    fn refusals_and_transients_are_told_apart() {
        let e = TokenError::Rejected {
            code: Some("invalid_client".into()),
            said: "x".into(),
        };
        assert!(e.is_invalid_client());
        assert!(!TokenError::Transient("down".into()).is_invalid_client());
    }
}

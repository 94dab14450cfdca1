//! What every upstream request of a proxy carries: its bearer token and injected headers,
//! resolved from their sources once, when the proxy starts.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::config::ValidConfig;
use crate::error::Result;
use crate::headers::{self, HeaderSource};
use crate::secrets::SecretStore;

/// Resolved credentials. Values are marked sensitive and never shown by `Debug`.
#[derive(Default)]
pub(crate) struct Credentials {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Credentials")
            .field("headers", &names)
            .finish()
    }
}

impl Credentials {
    /// Read every secret the config refers to; values from secrets pass the same checks as
    /// values written in the config.
    pub(crate) async fn resolve(config: &ValidConfig, store: &dyn SecretStore) -> Result<Self> {
        let mut resolved = Vec::with_capacity(config.headers.len() + 1);
        for (written, name, source) in &config.headers {
            let value = match source {
                HeaderSource::Plain(value) => headers::check_value(written, value)?,
                HeaderSource::Secret(reference) => {
                    let secret = reference.resolve(store, &headers::field(written)).await?;
                    headers::check_value(written, secret.expose())?
                }
            };
            resolved.push((name.clone(), value));
        }
        if let Some(token) = &config.bearer_token {
            let secret = token.resolve(store, "bearer_token").await?;
            let value =
                headers::check_value("Authorization", &format!("Bearer {}", secret.expose()))
                    .map_err(|e| e.with_field("bearer_token"))?;
            resolved.push((header::AUTHORIZATION, value));
        }
        Ok(Credentials { headers: resolved })
    }

    /// Set the credentials on an upstream request, replacing what the client sent.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
    }
}

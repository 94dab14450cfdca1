//! Finding the authorization server: Protected Resource Metadata (RFC 9728), authorization
//! server metadata (RFC 8414 / OIDC discovery) in the spec's order, and the 2025-03-26
//! fallback to `/authorize`, `/token`, `/register` at the server's origin.

use serde_json::Value;
use url::Url;

use super::challenge::Challenge;
use super::http::{auth_error, get_json, send};
use super::settings::{OAuthSettings, check_endpoint};
use crate::error::{Error, ErrorKind, Result};
use crate::redact;

/// What discovery found about the authorization server.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub registration_endpoint: Option<Url>,
    pub token_auth_methods: Option<Vec<String>>,
    pub cimd_supported: bool,
    /// Scopes the protected resource advertises.
    pub scopes_supported: Vec<String>,
    /// The RFC 8707 resource of the MCP server.
    pub resource: Url,
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    Some(
        v?.as_array()?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
    )
}

/// The canonical resource URI of the MCP server: its URL without query and fragment.
pub(crate) fn canonical_resource(remote: &Url) -> Url {
    let mut r = remote.clone();
    r.set_query(None);
    r.set_fragment(None);
    r
}

fn well_known(base: &Url, name: &str, path: &str) -> Url {
    let mut u = base.clone();
    let path = path.trim_end_matches('/');
    u.set_path(&format!("/.well-known/{name}{path}"));
    u.set_query(None);
    u.set_fragment(None);
    u
}

/// PRM `resource` must name this server: same origin, and the same path or a parent of it.
fn resource_matches(prm: &Url, server: &Url) -> bool {
    if prm.origin() != server.origin() {
        return false;
    }
    let p = prm.path().trim_end_matches('/');
    let s = server.path().trim_end_matches('/');
    p.is_empty() || s == p || s.starts_with(&format!("{p}/"))
}

/// Run discovery for `remote` after a challenge (or none, in OIDC/OAuth2 modes).
pub(crate) async fn discover(
    client: &reqwest::Client,
    remote: &Url,
    challenge: Option<&Challenge>,
    settings: &OAuthSettings,
) -> Result<ServerInfo> {
    let mut resource = settings
        .resource
        .clone()
        .unwrap_or_else(|| canonical_resource(remote));
    if let Some((authorize, token)) = &settings.endpoints {
        return Ok(ServerInfo {
            issuer: authorize.origin().ascii_serialization(),
            authorization_endpoint: authorize.clone(),
            token_endpoint: token.clone(),
            registration_endpoint: None,
            token_auth_methods: None,
            cimd_supported: false,
            scopes_supported: Vec::new(),
            resource,
        });
    }
    let mut scopes_supported = Vec::new();
    let issuer = match &settings.issuer {
        Some(issuer) => Some(issuer.clone()),
        None => {
            let prm = fetch_prm(client, remote, challenge).await?;
            match prm {
                Some(prm) => {
                    let prm_resource = prm
                        .get("resource")
                        .and_then(Value::as_str)
                        .and_then(|r| Url::parse(r).ok());
                    match prm_resource {
                        Some(r) if resource_matches(&r, remote) => {
                            if settings.resource.is_none() {
                                resource = r;
                            }
                        }
                        other => {
                            return Err(Error::new(
                                ErrorKind::AuthRequired,
                                format!(
                                    "the protected resource metadata of {} names the resource {}, \
                                     which is not this server; refusing to authorize",
                                    redact::url(remote),
                                    other.map_or("(none)".to_owned(), |r| redact::url(&r))
                                ),
                            ));
                        }
                    }
                    scopes_supported = strings(prm.get("scopes_supported")).unwrap_or_default();
                    let first = strings(prm.get("authorization_servers"))
                        .and_then(|s| s.into_iter().next());
                    match first {
                        Some(issuer) => Some(
                            check_endpoint("authorization_servers", &issuer)
                                .map_err(|e| auth_error("discovery", remote, e.message()))?,
                        ),
                        None => None,
                    }
                }
                None => None,
            }
        }
    };
    // 2025-03-26 servers: the MCP server's origin is the authorization server.
    let (issuer, legacy) = match issuer {
        Some(issuer) => (issuer, false),
        None => {
            let mut origin = remote.clone();
            origin.set_path("/");
            origin.set_query(None);
            (origin, true)
        }
    };
    let metadata = fetch_as_metadata(client, &issuer).await?;
    let info = match metadata {
        Some(m) => from_metadata(&issuer, &m, scopes_supported, resource)?,
        None if legacy => fallback(client, &issuer, scopes_supported, resource).await?,
        None => {
            return Err(auth_error(
                "discovery",
                &issuer,
                "the authorization server publishes no metadata \
                 (.well-known/oauth-authorization-server or openid-configuration)",
            ));
        }
    };
    Ok(info)
}

async fn fetch_prm(
    client: &reqwest::Client,
    remote: &Url,
    challenge: Option<&Challenge>,
) -> Result<Option<Value>> {
    let mut candidates = Vec::new();
    if let Some(url) = challenge.and_then(|c| c.param("resource_metadata")) {
        let url = check_endpoint("resource_metadata", url)
            .map_err(|e| auth_error("discovery", remote, e.message()))?;
        candidates.push(url);
    }
    let path = remote.path();
    if path != "/" && !path.is_empty() {
        candidates.push(well_known(remote, "oauth-protected-resource", path));
    }
    candidates.push(well_known(remote, "oauth-protected-resource", ""));
    for url in candidates {
        if let Some(doc) = get_json(client, &url, "protected resource metadata").await? {
            return Ok(Some(doc));
        }
    }
    Ok(None)
}

/// RFC 8414 and OIDC discovery URLs, in the order the MCP spec gives.
pub(crate) fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    if path.is_empty() {
        vec![
            well_known(issuer, "oauth-authorization-server", ""),
            well_known(issuer, "openid-configuration", ""),
        ]
    } else {
        let mut appended = issuer.clone();
        appended.set_path(&format!("{path}/.well-known/openid-configuration"));
        vec![
            well_known(issuer, "oauth-authorization-server", path),
            well_known(issuer, "openid-configuration", path),
            appended,
        ]
    }
}

async fn fetch_as_metadata(client: &reqwest::Client, issuer: &Url) -> Result<Option<Value>> {
    for url in metadata_urls(issuer) {
        if let Some(doc) = get_json(client, &url, "authorization server metadata").await? {
            return Ok(Some(doc));
        }
    }
    Ok(None)
}

fn from_metadata(
    issuer: &Url,
    m: &Value,
    scopes_supported: Vec<String>,
    resource: Url,
) -> Result<ServerInfo> {
    let endpoint = |field: &str| -> Result<Option<Url>> {
        m.get(field)
            .and_then(Value::as_str)
            .map(|u| {
                check_endpoint(field, u).map_err(|e| auth_error("discovery", issuer, e.message()))
            })
            .transpose()
    };
    let authorization_endpoint = endpoint("authorization_endpoint")?.ok_or_else(|| {
        auth_error(
            "discovery",
            issuer,
            "the metadata has no authorization_endpoint",
        )
    })?;
    let token_endpoint = endpoint("token_endpoint")?
        .ok_or_else(|| auth_error("discovery", issuer, "the metadata has no token_endpoint"))?;
    let pkce = strings(m.get("code_challenge_methods_supported")).unwrap_or_default();
    if !pkce.iter().any(|p| p == "S256") {
        return Err(auth_error(
            "discovery",
            issuer,
            "the authorization server does not advertise PKCE S256 \
             (code_challenge_methods_supported); refusing to authorize without it",
        ));
    }
    Ok(ServerInfo {
        issuer: m
            .get("issuer")
            .and_then(Value::as_str)
            .map_or_else(|| issuer.to_string(), str::to_owned),
        authorization_endpoint,
        token_endpoint,
        registration_endpoint: endpoint("registration_endpoint")?,
        token_auth_methods: strings(m.get("token_endpoint_auth_methods_supported")),
        cimd_supported: m
            .get("client_id_metadata_document_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        scopes_supported,
        resource,
    })
}

/// No metadata anywhere: the 2025-03-26 default endpoints, if the origin answers them.
async fn fallback(
    client: &reqwest::Client,
    origin: &Url,
    scopes_supported: Vec<String>,
    resource: Url,
) -> Result<ServerInfo> {
    let at = |path: &str| {
        let mut u = origin.clone();
        u.set_path(path);
        u
    };
    let (authorize, token, register) = (at("/authorize"), at("/token"), at("/register"));
    // An OAuth server answers these (400, 302, 405...) where a plain server says 404; an
    // authorization endpoint never demands a token itself, a protected API does (401).
    let status = |url: &Url, post: bool| {
        let req = if post {
            client.post(url.clone())
        } else {
            client.get(url.clone())
        };
        async move { send(req).await.ok().map(|a| a.status) }
    };
    use http::StatusCode as S;
    let authorize_ok = status(&authorize, false)
        .await
        .is_some_and(|s| !matches!(s, S::NOT_FOUND | S::UNAUTHORIZED | S::FORBIDDEN));
    let token_ok = authorize_ok
        && status(&token, true)
            .await
            .is_some_and(|s| s != S::NOT_FOUND);
    if !token_ok {
        return Err(Error::new(
            ErrorKind::AuthRequired,
            format!(
                "the remote MCP server at {} requires authorization but offers no OAuth \
                 (no protected resource metadata, no authorization server metadata, no \
                 /authorize and /token); {}",
                redact::url(origin),
                crate::proxy::TOKEN_HINT
            ),
        )
        .with_field("bearer_token"));
    }
    let registration_endpoint = status(&register, true)
        .await
        .is_some_and(|s| s != S::NOT_FOUND)
        .then_some(register);
    Ok(ServerInfo {
        issuer: origin.to_string(),
        authorization_endpoint: authorize,
        token_endpoint: token,
        registration_endpoint,
        token_auth_methods: None,
        cimd_supported: false,
        scopes_supported,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_order_follows_the_spec() {
        let urls = |i: &str| -> Vec<String> {
            metadata_urls(&Url::parse(i).unwrap())
                .iter()
                .map(Url::to_string)
                .collect()
        };
        assert_eq!(
            urls("https://a.example/tenant1"),
            [
                "https://a.example/.well-known/oauth-authorization-server/tenant1",
                "https://a.example/.well-known/openid-configuration/tenant1",
                "https://a.example/tenant1/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://a.example/"),
            [
                "https://a.example/.well-known/oauth-authorization-server",
                "https://a.example/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn prm_resource_must_name_this_server() {
        let server = Url::parse("https://mcp.example.com/v1/mcp").unwrap();
        let ok = |r: &str| resource_matches(&Url::parse(r).unwrap(), &server);
        assert!(ok("https://mcp.example.com/v1/mcp"));
        assert!(ok("https://mcp.example.com/v1/mcp/"));
        assert!(ok("https://mcp.example.com/"));
        assert!(ok("https://mcp.example.com/v1"));
        assert!(!ok("https://mcp.example.com/v1/mc"));
        assert!(!ok("https://evil.example.com/v1/mcp"));
        assert!(!ok("http://mcp.example.com/v1/mcp"));
        assert!(!ok("https://mcp.example.com/other"));
    }
}

//! Who the proxy is to the authorization server, in the spec's order: a pre-registered client,
//! a Client ID Metadata Document URL, a dynamically registered client (RFC 7591), or an error
//! that says what to configure.

use serde_json::{Value, json};

use super::discovery::ServerInfo;
use super::http::{auth_error, send};
use super::settings::OAuthSettings;
use super::token::{AuthMethod, ClientKind, ClientRecord};
use crate::error::{Error, ErrorKind, Result};

/// Choose (and if needed register) the client for a login redirecting to `redirect_uri`.
/// `skip_cimd` is set after the server rejected the metadata-document client.
pub(crate) async fn identify(
    http: &reqwest::Client,
    info: &ServerInfo,
    settings: &OAuthSettings,
    has_secret: bool,
    redirect_uri: &str,
    skip_cimd: bool,
) -> Result<ClientRecord> {
    let record = |kind, client_id: String, client_secret, auth_method| ClientRecord {
        kind,
        client_id,
        client_secret,
        auth_method,
        redirect_uri: redirect_uri.to_owned(),
        issuer: info.issuer.clone(),
        authorization_endpoint: info.authorization_endpoint.to_string(),
        token_endpoint: info.token_endpoint.to_string(),
        resource: settings.send_resource.then(|| info.resource.to_string()),
    };
    if let Some(id) = &settings.client_id {
        let method = if !has_secret {
            AuthMethod::None
        } else {
            secret_method(info.token_auth_methods.as_deref())
        };
        return Ok(record(ClientKind::Static, id.clone(), None, method));
    }
    if let (Some(url), true, false) = (
        &settings.client_metadata_url,
        info.cimd_supported,
        skip_cimd,
    ) {
        return Ok(record(
            ClientKind::Cimd,
            url.to_string(),
            None,
            AuthMethod::None,
        ));
    }
    let Some(endpoint) = &info.registration_endpoint else {
        return Err(Error::new(
            ErrorKind::AuthRequired,
            format!(
                "the authorization server {} offers no dynamic client registration{}; configure a \
                 client id (oauth.client_id, CLI: --remote-auth-client-id, with its secret if it has one){}",
                info.issuer,
                if info.cimd_supported { "" } else { " and no client metadata documents" },
                if info.cimd_supported {
                    " or a client metadata URL (oauth.client_metadata_url, CLI: --remote-auth-client-metadata-url)"
                } else {
                    ""
                }
            ),
        )
        .with_field("oauth.client_id"));
    };
    // A public client when the server allows it: nothing secret to keep.
    let wanted = match info.token_auth_methods.as_deref() {
        None => "none",
        Some(methods) if methods.iter().any(|m| m == "none") => "none",
        Some(methods) if methods.iter().any(|m| m == "client_secret_basic") => {
            "client_secret_basic"
        }
        Some(_) => "client_secret_post",
    };
    let body = json!({
        "client_name": "toolhive-embed",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": wanted,
    });
    let answer = send(
        http.post(endpoint.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(body.to_string()),
    )
    .await
    .map_err(|e| auth_error("client registration", endpoint, e))?;
    if !answer.status.is_success() {
        return Err(auth_error(
            "client registration",
            endpoint,
            answer.oauth_error().1,
        ));
    }
    let reg: Value = answer
        .json()
        .ok_or_else(|| auth_error("client registration", endpoint, "the answer is not JSON"))?;
    let client_id = reg
        .get("client_id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            auth_error(
                "client registration",
                endpoint,
                "the answer has no client_id",
            )
        })?
        .to_owned();
    let client_secret = reg
        .get("client_secret")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let method = match reg
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
        Some("client_secret_post") => AuthMethod::ClientSecretPost,
        Some("none") => AuthMethod::None,
        _ if client_secret.is_some() => AuthMethod::ClientSecretBasic,
        _ => AuthMethod::None,
    };
    Ok(record(ClientKind::Dcr, client_id, client_secret, method))
}

/// RFC 8414: without a list, `client_secret_basic` is the default.
fn secret_method(advertised: Option<&[String]>) -> AuthMethod {
    match advertised {
        Some(m)
            if !m.iter().any(|x| x == "client_secret_basic")
                && m.iter().any(|x| x == "client_secret_post") =>
        {
            AuthMethod::ClientSecretPost
        }
        _ => AuthMethod::ClientSecretBasic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_method_follows_the_advertised_list() {
        assert_eq!(secret_method(None), AuthMethod::ClientSecretBasic);
        assert_eq!(
            secret_method(Some(&["client_secret_post".to_owned()])),
            AuthMethod::ClientSecretPost
        );
        assert_eq!(
            secret_method(Some(&[
                "client_secret_post".to_owned(),
                "client_secret_basic".to_owned()
            ])),
            AuthMethod::ClientSecretBasic
        );
    }
}

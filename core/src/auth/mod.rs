//! OAuth for remote servers: the proxy is the OAuth client. [`Authorizer`] holds one proxy's
//! tokens and runs logins and refreshes, one at a time, for every request of that proxy.

mod browser;
pub(crate) mod callback;
pub mod challenge;
mod discovery;
mod http;
mod registration;
pub(crate) mod settings;
mod state;
mod token;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use ::http::StatusCode;
use tokio::sync::broadcast;
use url::Url;

pub use browser::open as open_browser;
pub use settings::OAuthConfig;
pub use state::AuthState;

use self::challenge::Challenge;
use self::discovery::ServerInfo;
pub(crate) use self::token::TokenSet;
use self::token::{ClientKind, ClientRecord, TokenError};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventKind, ProxyEvent};
use crate::logs::ProxyLog;
use crate::secrets::{self, Secret, SecretStore};

/// Logins for broader scopes after the first one: three authorization requests in all.
const MAX_STEP_UPS: u32 = 2;
/// What clients are told to wait while a user logs in.
const LOGIN_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Transient refresh failures back off up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// No usable token right now: the proxy answers 503 with `Retry-After`.
#[derive(Debug)]
pub(crate) struct Unavailable {
    pub retry_after: Duration,
    pub reason: String,
}

/// What only one task at a time may touch: discovery results, the client, step-up scopes.
#[derive(Default)]
struct Flight {
    info: Option<ServerInfo>,
    client: Option<ClientRecord>,
    challenge: Option<Challenge>,
    step_up_scopes: BTreeSet<String>,
    step_ups: u32,
    failures: u32,
    next_attempt: Option<Instant>,
}

type Observer = Box<dyn Fn(&AuthState) + Send + Sync>;

/// One proxy's OAuth client.
pub(crate) struct Authorizer {
    proxy: String,
    settings: settings::OAuthSettings,
    remote: Url,
    http: reqwest::Client,
    store: Arc<dyn SecretStore>,
    events: broadcast::Sender<ProxyEvent>,
    open_browser: bool,
    log: Arc<ProxyLog>,
    token: RwLock<Option<Arc<TokenSet>>>,
    state: Mutex<AuthState>,
    flight: tokio::sync::Mutex<Flight>,
    login_running: AtomicBool,
    /// Told every state change (the state file records it for other processes).
    observer: Mutex<Option<Observer>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("proxy", &self.proxy)
            .field("state", &self.state())
            .finish()
    }
}

/// Listen again on the port of `redirect_uri` (a second attempt within one login).
async fn rebind(redirect_uri: &str) -> Result<callback::Callback> {
    let port = Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.port())
        .unwrap_or(0);
    callback::Callback::bind(port, false).await
}

/// Everything [`Authorizer::new`] needs.
pub(crate) struct AuthorizerParts {
    pub proxy: String,
    pub settings: settings::OAuthSettings,
    pub remote: Url,
    pub http: reqwest::Client,
    pub store: Arc<dyn SecretStore>,
    pub events: broadcast::Sender<ProxyEvent>,
    pub open_browser: bool,
    pub log: Arc<ProxyLog>,
}

impl Authorizer {
    /// A new authorizer with the tokens and client stored for this proxy, if any.
    pub(crate) async fn new(parts: AuthorizerParts) -> Arc<Self> {
        let auth = Arc::new(Authorizer {
            proxy: parts.proxy,
            settings: parts.settings,
            remote: parts.remote,
            http: parts.http,
            store: parts.store,
            events: parts.events,
            open_browser: parts.open_browser,
            log: parts.log,
            token: RwLock::new(None),
            state: Mutex::new(AuthState::Unauthenticated),
            flight: tokio::sync::Mutex::new(Flight::default()),
            login_running: AtomicBool::new(false),
            observer: Mutex::new(None),
        });
        auth.load().await;
        auth
    }

    fn token_key(&self) -> String {
        secrets::proxy_key(&self.proxy, "oauth_token")
    }

    fn client_key(&self) -> String {
        secrets::proxy_key(&self.proxy, "oauth_client")
    }

    async fn load(&self) {
        let client: Option<ClientRecord> = self.read_json(&self.client_key()).await;
        let token: Option<TokenSet> = self.read_json(&self.token_key()).await;
        // Tokens are only used with the client (and so the server) they were issued for.
        let token = token.filter(|t| {
            client
                .as_ref()
                .is_some_and(|c| c.client_id == t.client_id && c.token_endpoint == t.token_endpoint)
        });
        if let Some(t) = token {
            self.log.info("using the stored OAuth tokens");
            self.set_state(AuthState::Authenticated {
                expires_at: t.expires_at_time(),
            });
            *self.token.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(t));
        }
        self.flight.lock().await.client = client;
    }

    async fn read_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.store.get(key).await {
            Ok(Some(secret)) => match serde_json::from_str(secret.expose()) {
                Ok(value) => Some(value),
                Err(_) => {
                    self.log
                        .warn(format!("ignoring the unreadable stored `{key}`"));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.log.warn(format!("cannot read stored OAuth data: {e}"));
                None
            }
        }
    }

    async fn write_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let json = serde_json::to_string(value).expect("auth records serialize");
        self.store.set(key, Secret::new(json)).await
    }

    /// Call `observe` with the current state and every later change.
    pub(crate) fn observe(&self, observe: impl Fn(&AuthState) + Send + Sync + 'static) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        observe(&state);
        *self.observer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(observe));
    }

    /// The current authorization state.
    pub(crate) fn state(&self) -> AuthState {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_state(&self, to: AuthState) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if *state == to {
            return;
        }
        *state = to.clone();
        if let Some(observe) = self
            .observer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            observe(&to);
        }
        let _ = self.events.send(ProxyEvent {
            proxy: self.proxy.clone(),
            kind: EventKind::AuthStateChanged { state: to },
        });
    }

    fn current(&self) -> Option<Arc<TokenSet>> {
        self.token.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn unavailable(&self) -> Unavailable {
        let state = self.state();
        let retry_after = match &state {
            AuthState::AuthRetrying {
                next_attempt_at, ..
            } => next_attempt_at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .max(Duration::from_secs(1)),
            _ => LOGIN_RETRY_AFTER,
        };
        let reason = match &state {
            AuthState::Authorizing => {
                "waiting for the user to log in to the remote MCP server".to_owned()
            }
            AuthState::NeedsLogin { reason } => {
                format!("the remote MCP server needs a new login: {reason}")
            }
            AuthState::AuthRetrying { reason, .. } => {
                format!("refreshing the remote's token failed, retrying: {reason}")
            }
            other => format!("no valid token for the remote MCP server ({other})"),
        };
        Unavailable {
            retry_after,
            reason,
        }
    }

    /// The token to send now: `Ok(None)` while the remote never asked for one.
    pub(crate) async fn bearer(
        self: &Arc<Self>,
    ) -> std::result::Result<Option<Arc<TokenSet>>, Unavailable> {
        let Some(token) = self.current() else {
            return match self.state() {
                AuthState::Unauthenticated => Ok(None),
                _ => {
                    self.login_in_background(None);
                    Err(self.unavailable())
                }
            };
        };
        if !token.needs_refresh() {
            return Ok(Some(token));
        }
        if token.refresh_token.is_none() || self.login_running.load(Ordering::SeqCst) {
            return if token.expired() {
                self.login_in_background(None);
                Err(self.unavailable())
            } else {
                Ok(Some(token))
            };
        }
        let mut flight = self.flight.lock().await;
        if flight.next_attempt.is_some_and(|t| Instant::now() < t) {
            return if token.expired() {
                Err(self.unavailable())
            } else {
                Ok(Some(token))
            };
        }
        match self.refresh_locked(&mut flight, &token).await {
            Ok(fresh) => Ok(Some(fresh)),
            Err(TokenError::Transient(_)) if !token.expired() => Ok(Some(token)),
            Err(TokenError::Transient(_)) => Err(self.unavailable()),
            Err(TokenError::Rejected { .. }) => {
                drop(flight);
                self.login_in_background(None);
                Err(self.unavailable())
            }
        }
    }

    /// The remote answered 401, or 403 `insufficient_scope`, to a request sent with `used`:
    /// refresh, log in or step up (one at a time, bounded by the auth timeout) and return the
    /// token to retry with.
    pub(crate) async fn rejected(
        self: &Arc<Self>,
        used: Option<&TokenSet>,
        challenges: Vec<Challenge>,
        status: StatusCode,
    ) -> std::result::Result<Arc<TokenSet>, Unavailable> {
        let bearer = challenge::bearer(&challenges).cloned();
        let step_up = status == StatusCode::FORBIDDEN
            || bearer.as_ref().and_then(|b| b.param("error")) == Some("insufficient_scope");
        let work = async {
            let mut flight = self.flight.lock().await;
            let current = self.current();
            if let Some(current) = &current
                && used.is_none_or(|u| u.access_token != current.access_token)
                && !current.expired()
                && !step_up
            {
                // Someone else already logged in or refreshed while we waited.
                return Ok(current.clone());
            }
            if step_up {
                flight.step_ups += 1;
                if flight.step_ups > MAX_STEP_UPS {
                    return Err(Error::new(
                        ErrorKind::AuthRequired,
                        format!(
                            "the remote still answers insufficient_scope after {} logins; \
                             check the scopes you are allowed",
                            MAX_STEP_UPS + 1
                        ),
                    ));
                }
                if let Some(scope) = bearer.as_ref().and_then(|b| b.param("scope")) {
                    flight
                        .step_up_scopes
                        .extend(scope.split_whitespace().map(str::to_owned));
                }
                if let Some(scope) = current.as_ref().and_then(|t| t.scope.clone()) {
                    flight
                        .step_up_scopes
                        .extend(scope.split_whitespace().map(str::to_owned));
                }
                self.log
                    .info("the remote needs more scopes; logging in again (step-up)");
            } else if let Some(current) = current.filter(|c| c.refresh_token.is_some()) {
                match self.refresh_locked(&mut flight, &current).await {
                    Ok(fresh) => return Ok(fresh),
                    Err(TokenError::Transient(e)) => {
                        return Err(Error::new(ErrorKind::AuthRequired, e));
                    }
                    Err(TokenError::Rejected { .. }) => {}
                }
            }
            if bearer.is_some() {
                flight.challenge = bearer.clone();
            }
            self.login_locked(&mut flight).await
        };
        match tokio::time::timeout(self.settings.timeout, work).await {
            Ok(Ok(token)) => Ok(token),
            Ok(Err(e)) => {
                self.log.error(format!("authorization failed: {e}"));
                Err(Unavailable {
                    retry_after: LOGIN_RETRY_AFTER,
                    reason: e.to_string(),
                })
            }
            Err(_) => Err(self.unavailable()),
        }
    }

    /// The remote answered the start-up probe with 401: discover its authorization server now
    /// (so `start` fails when it offers no OAuth) and log in in the background.
    pub(crate) async fn begin(self: &Arc<Self>, challenges: Vec<Challenge>) -> Result<()> {
        let bearer = challenge::bearer(&challenges).cloned();
        {
            let mut flight = self.flight.lock().await;
            let info =
                discovery::discover(&self.http, &self.remote, bearer.as_ref(), &self.settings)
                    .await?;
            flight.info = Some(info);
            flight.challenge = bearer.clone();
        }
        self.login_in_background(bearer);
        Ok(())
    }

    /// Start a login unless one is running.
    fn login_in_background(self: &Arc<Self>, challenge: Option<Challenge>) {
        if self.login_running.swap(true, Ordering::SeqCst) {
            return;
        }
        if matches!(
            self.state(),
            AuthState::Unauthenticated | AuthState::Authenticated { .. }
        ) {
            self.set_state(AuthState::Authorizing);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut flight = this.flight.lock().await;
            if challenge.is_some() {
                flight.challenge = challenge;
            }
            let result = this.login_locked(&mut flight).await;
            drop(flight);
            this.login_running.store(false, Ordering::SeqCst);
            if let Err(e) = result {
                this.log.error(format!("login failed: {e}"));
                this.set_state(AuthState::NeedsLogin {
                    reason: e.to_string(),
                });
            }
        });
    }

    /// Scopes to ask for: configured, else the challenge's, else the resource's advertised
    /// ones; plus whatever step-ups added.
    fn scopes(&self, flight: &Flight, info: &ServerInfo) -> Vec<String> {
        let base: Vec<String> = if !self.settings.scopes.is_empty() {
            self.settings.scopes.clone()
        } else if let Some(scope) = flight.challenge.as_ref().and_then(|c| c.param("scope")) {
            scope.split_whitespace().map(str::to_owned).collect()
        } else {
            info.scopes_supported.clone()
        };
        let mut all: BTreeSet<String> = base.into_iter().collect();
        all.extend(flight.step_up_scopes.iter().cloned());
        all.into_iter().collect()
    }

    async fn client_secret(&self) -> Result<Option<String>> {
        match &self.settings.client_secret {
            Some(reference) => Ok(Some(
                reference
                    .resolve(&*self.store, "oauth.client_secret")
                    .await?
                    .expose()
                    .to_owned(),
            )),
            None => Ok(None),
        }
    }

    /// The whole interactive login. Called with the flight lock held.
    async fn login_locked(&self, flight: &mut Flight) -> Result<Arc<TokenSet>> {
        if !matches!(self.state(), AuthState::NeedsLogin { .. }) {
            self.set_state(AuthState::Authorizing);
        }
        let info = match &flight.info {
            Some(info) => info.clone(),
            None => {
                let info = discovery::discover(
                    &self.http,
                    &self.remote,
                    flight.challenge.as_ref(),
                    &self.settings,
                )
                .await?;
                flight.info = Some(info.clone());
                info
            }
        };
        let secret = self.client_secret().await?;
        // A stored registration is reused when its redirect port can be had again.
        let stored = flight.client.clone().filter(|c| {
            c.issuer == info.issuer && c.token_endpoint == info.token_endpoint.as_str()
        });
        let stored_port = stored
            .as_ref()
            .and_then(|c| Url::parse(&c.redirect_uri).ok())
            .and_then(|u| u.port());
        let cb = match (self.settings.callback_port, stored_port) {
            (Some(port), _) => callback::Callback::bind(port, true).await?,
            (None, Some(port)) => match callback::Callback::bind(port, false).await {
                Ok(cb) => cb,
                Err(_) => callback::Callback::bind(0, false).await?,
            },
            (None, None) => callback::Callback::bind(0, false).await?,
        };
        let redirect_uri = cb.redirect_uri();
        let mut skip_cimd = false;
        let mut cb = Some(cb);
        loop {
            let client = match stored.clone().filter(|c| {
                c.redirect_uri == redirect_uri && !(skip_cimd && c.kind == ClientKind::Cimd)
            }) {
                Some(c)
                    if self
                        .settings
                        .client_id
                        .as_deref()
                        .is_none_or(|id| id == c.client_id) =>
                {
                    c
                }
                _ => {
                    let c = registration::identify(
                        &self.http,
                        &info,
                        &self.settings,
                        secret.is_some(),
                        &redirect_uri,
                        skip_cimd,
                    )
                    .await?;
                    self.write_json(&self.client_key(), &c).await?;
                    c
                }
            };
            flight.client = Some(client.clone());
            let pkce = browser::Pkce::new();
            let state = browser::random(24);
            let scopes = self.scopes(flight, &info);
            let url = self.authorize_url(&client, &pkce, &state, &scopes)?;
            self.log.info(format!(
                "authorization required; login at {}",
                crate::redact::url(&url)
            ));
            let _ = self.events.send(ProxyEvent {
                proxy: self.proxy.clone(),
                kind: EventKind::AuthorizationRequired {
                    url: url.to_string(),
                },
            });
            if self.open_browser
                && !self.settings.skip_browser
                && let Err(e) = browser::open(url.as_str())
            {
                self.log.warn(format!(
                    "could not open a browser ({e}); open the login URL yourself"
                ));
            }
            let listener = cb.take().expect("one callback listener per attempt");
            let outcome = listener.wait(state, self.settings.timeout).await?;
            let code = match outcome {
                callback::Outcome::Code(code) => code,
                callback::Outcome::Refused { code, said }
                    if client.kind == ClientKind::Cimd
                        && matches!(code.as_str(), "invalid_client" | "unauthorized_client") =>
                {
                    self.log.warn(format!("the server refused the client metadata document ({code} {said}); registering instead"));
                    skip_cimd = true;
                    cb = Some(rebind(&redirect_uri).await?);
                    continue;
                }
                callback::Outcome::Refused { code, said } => {
                    return Err(Error::new(
                        ErrorKind::AuthRequired,
                        format!("the authorization server refused the login: {code} {said}"),
                    ));
                }
            };
            let params = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", redirect_uri.clone()),
                ("code_verifier", pkce.verifier),
            ];
            let secret = client.client_secret.clone().or_else(|| secret.clone());
            match token::request(&self.http, &client, secret.as_deref(), params, None).await {
                Ok(tokens) => {
                    flight.step_ups = flight.step_ups.min(MAX_STEP_UPS);
                    self.log.info("logged in to the remote MCP server");
                    return self.adopt(flight, tokens).await;
                }
                Err(e)
                    if e.is_invalid_client() && client.kind == ClientKind::Cimd && !skip_cimd =>
                {
                    self.log.warn("the server refused the client metadata document at the token endpoint; registering instead");
                    skip_cimd = true;
                    cb = Some(rebind(&redirect_uri).await?);
                }
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::AuthRequired,
                        format!(
                            "exchanging the login code at {} failed: {}",
                            client.token_endpoint,
                            e.message()
                        ),
                    ));
                }
            }
        }
    }

    fn authorize_url(
        &self,
        client: &ClientRecord,
        pkce: &browser::Pkce,
        state: &str,
        scopes: &[String],
    ) -> Result<Url> {
        // Records come from the secret store, which a user may have edited by hand.
        let mut url = Url::parse(&client.authorization_endpoint).map_err(|e| {
            Error::new(
                ErrorKind::AuthRequired,
                format!("the stored OAuth client has an unusable authorization endpoint ({e})"),
            )
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &client.redirect_uri)
                .append_pair("state", state)
                .append_pair("code_challenge", &pkce.challenge)
                .append_pair("code_challenge_method", "S256");
            if !scopes.is_empty() {
                q.append_pair(&self.settings.scope_param, &scopes.join(" "));
            }
            if let Some(resource) = &client.resource {
                q.append_pair("resource", resource);
            }
        }
        Ok(url)
    }

    /// Save new tokens first, then use them: a crash in between never loses a login.
    async fn adopt(&self, flight: &mut Flight, tokens: TokenSet) -> Result<Arc<TokenSet>> {
        self.write_json(&self.token_key(), &tokens).await?;
        let tokens = Arc::new(tokens);
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = Some(tokens.clone());
        flight.failures = 0;
        flight.next_attempt = None;
        self.set_state(AuthState::Authenticated {
            expires_at: tokens.expires_at_time(),
        });
        Ok(tokens)
    }

    /// Refresh `stale`, unless another task already did. Called with the flight lock held.
    async fn refresh_locked(
        &self,
        flight: &mut Flight,
        stale: &TokenSet,
    ) -> std::result::Result<Arc<TokenSet>, TokenError> {
        if let Some(current) = self.current()
            && current.access_token != stale.access_token
        {
            return Ok(current);
        }
        let Some(client) = flight.client.clone() else {
            return Err(TokenError::Rejected {
                code: None,
                said: "no stored client registration to refresh with".to_owned(),
            });
        };
        let refresh = stale.refresh_token.clone().unwrap_or_default();
        self.set_state(AuthState::Refreshing);
        let secret = match client.client_secret.clone() {
            Some(s) => Some(s),
            None => self.client_secret().await.ok().flatten(),
        };
        let params = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.clone()),
        ];
        match token::request(
            &self.http,
            &client,
            secret.as_deref(),
            params,
            Some(&refresh),
        )
        .await
        {
            Ok(tokens) => {
                self.log.debug("refreshed the access token");
                self.adopt(flight, tokens)
                    .await
                    .map_err(|e| TokenError::Transient(e.to_string()))
            }
            Err(TokenError::Transient(why)) => {
                flight.failures += 1;
                let backoff = Duration::from_secs(1 << flight.failures.min(6)).min(MAX_BACKOFF);
                flight.next_attempt = Some(Instant::now() + backoff);
                self.log.warn(format!(
                    "refreshing the token failed ({why}); retrying in {}s",
                    backoff.as_secs()
                ));
                self.set_state(AuthState::AuthRetrying {
                    next_attempt_at: SystemTime::now() + backoff,
                    reason: why.clone(),
                });
                Err(TokenError::Transient(why))
            }
            Err(rejected) => {
                if rejected.is_invalid_client() {
                    // A stale registration: forget it (this proxy's only) and register again.
                    flight.client = None;
                    let _ = self.store.delete(&self.client_key()).await;
                }
                self.log.warn(format!(
                    "the authorization server rejected the refresh ({}); a new login is needed",
                    rejected.message()
                ));
                self.set_state(AuthState::NeedsLogin {
                    reason: rejected.message().to_owned(),
                });
                Err(rejected)
            }
        }
    }
}

//! The human flows of MONGODB-OIDC, built in: the authorization code flow with PKCE (RFC 6749,
//! RFC 7636, OpenID Connect Core) and the device authorization grant (RFC 8628), as a machine
//! that asks for every HTTP exchange, the browser and the person, and is told the time.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use mongodb_auth::ask::Ask;
//! use mongodb_auth::oidc::{FlowStep, HumanFlow, HumanFlows, HumanLogin, IdpInfo};
//!
//! let flows = HumanFlows::new([HumanFlow::DeviceAuthorization]);
//! let idp = IdpInfo::new("https://idp.example.com").with_client_id("my-tool");
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let (mut login, step) = HumanLogin::start(&flows, &idp, None, [7; 64], Duration::from_secs(300))?;
//! // First the issuer's discovery document.
//! let FlowStep::Ask(Ask::Http(request)) = step else { unreachable!() };
//! let document = br#"{"issuer": "https://idp.example.com",
//!     "token_endpoint": "https://idp.example.com/token",
//!     "device_authorization_endpoint": "https://idp.example.com/device"}"#;
//! let step = login.answer(request.answer(200, document.to_vec().into()), now)?;
//! // Then a device code, for the person.
//! let FlowStep::Ask(Ask::Http(request)) = step else { unreachable!() };
//! assert_eq!(request.url(), "https://idp.example.com/device");
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::callback::{IdpInfo, Token};
use super::discovery::{ProviderMetadata, fetched_body, is_loopback_host, shorten, unavailable};
use crate::ask::{Answer, Ask, BrowserLogin, DeviceCode, HttpRequest, Reply};
use crate::environment::deadline;
use crate::error::{OidcError, Result};
use crate::secret::{Secret, SecretJson, constant_time_eq};
use crate::uri::percent;

/// The redirect URI when the caller sets none: mongosh's, so a client registered for mongosh
/// at an identity provider works as it is.
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:27097/redirect";

/// The largest token or device authorization reply read.
pub const MAX_TOKEN_REPLY_SIZE: usize = 64 * 1024;

/// The longest redirect request target read.
pub const MAX_REDIRECT_SIZE: usize = 8 * 1024;

/// How often the device flow polls when the provider does not say (RFC 8628 section 3.2).
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// What `slow_down` adds to the polling interval (RFC 8628 section 3.5).
const SLOW_DOWN: Duration = Duration::from_secs(5);

/// The longest polling interval taken from a provider: a larger one would outlast the login.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);

/// The randomness one login draws: the PKCE verifier, `state` and `nonce`.
pub const FLOW_RANDOM_BYTES: usize = 64;

/// A human flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HumanFlow {
    /// The person logs in in a browser, which comes back to a loopback redirect URI
    /// (authorization code with PKCE).
    AuthorizationCode,
    /// The person enters a code on another device (RFC 8628).
    DeviceAuthorization,
}

impl HumanFlow {
    /// Its name as mongosh's `--oidcFlows` spells it: `auth-code`, `device-auth`.
    pub fn as_str(self) -> &'static str {
        match self {
            HumanFlow::AuthorizationCode => "auth-code",
            HumanFlow::DeviceAuthorization => "device-auth",
        }
    }
}

impl std::str::FromStr for HumanFlow {
    type Err = crate::Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "auth-code" => Ok(HumanFlow::AuthorizationCode),
            "device-auth" => Ok(HumanFlow::DeviceAuthorization),
            _ => Err(crate::Error::InvalidInput {
                rule: "a human flow is auth-code or device-auth",
            }),
        }
    }
}

/// The built-in human callback: which flows a person may log in with, in the order they are
/// tried, and where the browser comes back. Give it to the authenticator with
/// [`AuthOptions::oidc_human_flows`](crate::AuthOptions::oidc_human_flows) in place of a
/// human callback of one's own.
///
/// ```
/// use mongodb_auth::oidc::{HumanFlow, HumanFlows};
///
/// let flows = HumanFlows::new([HumanFlow::AuthorizationCode, HumanFlow::DeviceAuthorization])
///     .redirect_uri("http://127.0.0.1:8765/callback")?;
/// assert_eq!(flows.flows().len(), 2);
/// assert!(HumanFlows::default().redirect_uri("http://example.com/cb").is_err());
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HumanFlows {
    flows: Vec<HumanFlow>,
    redirect: Redirect,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Redirect {
    uri: String,
    host: String,
    port: u16,
    path: String,
}

impl Default for HumanFlows {
    /// The authorization code flow, at [`DEFAULT_REDIRECT_URI`] (mongosh's default).
    fn default() -> Self {
        HumanFlows::new([HumanFlow::AuthorizationCode])
    }
}

impl HumanFlows {
    /// These flows, tried in order: the first the provider offers is used.
    pub fn new(flows: impl IntoIterator<Item = HumanFlow>) -> Self {
        let mut unique = Vec::new();
        for flow in flows {
            if !unique.contains(&flow) {
                unique.push(flow);
            }
        }
        HumanFlows {
            flows: unique,
            redirect: match parse_redirect_uri(DEFAULT_REDIRECT_URI) {
                Ok(redirect) => redirect,
                Err(_) => unreachable!("the default redirect URI is valid"),
            },
        }
    }

    /// Where the browser comes back: `http` to a loopback host, with a port (RFC 8252
    /// section 7.3).
    pub fn redirect_uri(mut self, uri: &str) -> Result<Self> {
        self.redirect = parse_redirect_uri(uri)?;
        Ok(self)
    }

    /// The flows, in order.
    pub fn flows(&self) -> &[HumanFlow] {
        &self.flows
    }
}

fn parse_redirect_uri(uri: &str) -> Result<Redirect> {
    let invalid = |rule| OidcError::InvalidRedirectUri {
        uri: shorten(uri),
        rule,
    };
    let rest = uri.strip_prefix("http://").ok_or(invalid(
        "is not http: the browser comes back to this machine",
    ))?;
    if uri
        .bytes()
        .any(|b| b <= b' ' || b == 0x7f || b == b'\\' || b == b'#')
    {
        return Err(invalid("has blanks, controls, a backslash or a fragment").into());
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(invalid("has user information").into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or(invalid("has no port"))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .ok_or(invalid("has no port"))?;
    if !is_loopback_host(host) {
        return Err(invalid("is not a loopback host").into());
    }
    if path.starts_with('?') || path.contains('?') {
        return Err(invalid("has a query").into());
    }
    Ok(Redirect {
        uri: uri.to_owned(),
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// What a [`HumanLogin`] needs next.
#[derive(Debug)]
#[non_exhaustive]
pub enum FlowStep {
    /// Answer this and pass the answer to [`HumanLogin::answer`].
    Ask(Ask),
    /// Wait this long (the device flow's polling interval), then call [`HumanLogin::waited`].
    Wait(Duration),
    /// The login is done: the tokens.
    Done(Token),
}

/// One run of the built-in human callback: discovery, a refresh if a refresh token is at hand,
/// then the first flow the provider offers. It asks for every exchange and is told the time, so
/// it never blocks; the adapters of `mongodb-auth-io` drive it inside a token request.
pub struct HumanLogin {
    flows: Vec<HumanFlow>,
    next_flow: usize,
    redirect: Redirect,
    idp: IdpInfo,
    refresh_token: Option<Secret>,
    metadata: Option<ProviderMetadata>,
    secrets: Zeroizing<[u8; FLOW_RANDOM_BYTES]>,
    timeout: Duration,
    stage: Stage,
}

enum Stage {
    Discovery,
    Refreshing,
    Browser,
    ExchangingCode,
    DeviceRequested,
    DeviceShown(Device),
    Polling(Device),
    Done,
}

struct Device {
    code: Secret,
    interval: Duration,
    /// The provider's `expires_in` after the code was read.
    expires_at: SystemTime,
    /// The login's own timeout after the code was read: the person's part ends at the earlier of
    /// the two. Every adapter's wait is bounded by it, even one whose sleeps block the thread
    /// that would otherwise time the login out.
    gives_up_at: SystemTime,
}

impl Device {
    /// Whether the login stops at `at`: the device code expired, or the person took longer than
    /// the login's timeout, whichever ends first.
    fn ended(&self, at: SystemTime, timeout: Duration) -> Option<crate::Error> {
        if self.expires_at <= self.gives_up_at {
            (at >= self.expires_at).then(|| OidcError::DeviceCodeExpired.into())
        } else {
            (at >= self.gives_up_at).then_some(crate::Error::Timeout {
                operation: "waiting for the person to enter the device code",
                after: timeout,
                host: None,
                cause: None,
            })
        }
    }
}

impl fmt::Debug for HumanLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HumanLogin")
            .field("issuer", &self.idp.issuer)
            .field("flows", &self.flows)
            .finish_non_exhaustive()
    }
}

impl HumanLogin {
    /// Starts a login with the provider `idp` names: the first step asks for its discovery
    /// document. `refresh_token` is tried first; `random` is fresh randomness (from a CSPRNG)
    /// for the PKCE verifier, `state` and `nonce`; `timeout` bounds the person's part.
    pub fn start(
        flows: &HumanFlows,
        idp: &IdpInfo,
        refresh_token: Option<Secret>,
        random: [u8; FLOW_RANDOM_BYTES],
        timeout: Duration,
    ) -> Result<(HumanLogin, FlowStep)> {
        let discovery = ProviderMetadata::document_request(&idp.issuer)?;
        let login = HumanLogin {
            flows: flows.flows.clone(),
            next_flow: 0,
            redirect: flows.redirect.clone(),
            idp: idp.clone(),
            refresh_token,
            metadata: None,
            secrets: Zeroizing::new(random),
            timeout,
            stage: Stage::Discovery,
        };
        Ok((login, FlowStep::Ask(discovery)))
    }

    /// Takes the answer to the last ask.
    pub fn answer(&mut self, answer: Answer, now: SystemTime) -> Result<FlowStep> {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Discovery => {
                let body = fetched_body(&answer)?;
                let metadata = ProviderMetadata::parse(body, &self.idp.issuer)?;
                if metadata.token_endpoint().is_none() {
                    return Err(OidcError::MalformedDiscovery {
                        rule: "names no token endpoint",
                    }
                    .into());
                }
                self.metadata = Some(metadata);
                match &self.refresh_token {
                    Some(refresh_token) => {
                        let mut form = Form::new();
                        form.pair("grant_type", "refresh_token");
                        form.pair("refresh_token", refresh_token.expose());
                        self.add_client_id(&mut form);
                        self.stage = Stage::Refreshing;
                        Ok(FlowStep::Ask(self.token_request(form)?))
                    }
                    None => self.next_flow(),
                }
            }
            Stage::Refreshing => {
                let used = self.refresh_token.take();
                match token_reply(&answer)? {
                    // A provider that issues no new refresh token leaves the one used valid
                    // (RFC 6749 section 6): kept, or the next expiry would need the person.
                    Ok(Tokens { mut token, .. }) => {
                        if token.refresh_token.is_none() {
                            token.refresh_token = used;
                        }
                        Ok(FlowStep::Done(token))
                    }
                    // An expired or revoked refresh token: the person logs in again.
                    Err(_) => self.next_flow(),
                }
            }
            Stage::Browser => {
                let target = match answer.reply() {
                    Reply::Redirect(target) => target,
                    // No browser could be opened or no listener bound (a machine without a
                    // desktop, a port in use): the next flow, as mongosh falls back.
                    Reply::Failed(_) if self.next_flow < self.flows.len() => {
                        return self.next_flow();
                    }
                    _ => return Err(unavailable(&answer).into()),
                };
                let code = read_redirect(target, &self.redirect.path, &self.state())?;
                self.stage = Stage::ExchangingCode;
                let mut form = Form::new();
                form.pair("grant_type", "authorization_code");
                form.pair("code", code.expose());
                form.pair("redirect_uri", &self.redirect.uri);
                self.add_client_id(&mut form);
                form.pair("code_verifier", &self.verifier());
                Ok(FlowStep::Ask(self.token_request(form)?))
            }
            Stage::ExchangingCode => {
                let tokens = token_reply(&answer)?.map_err(OidcError::from)?;
                check_nonce(tokens.id_token.as_ref(), &self.nonce())?;
                Ok(FlowStep::Done(tokens.token))
            }
            Stage::DeviceRequested => {
                let body = match answer.reply() {
                    Reply::Http { status: 200, body } => body,
                    Reply::Http { body, .. } => {
                        return Err(match read_refusal(body) {
                            Some(refusal) => refusal.into(),
                            None => unavailable(&answer),
                        }
                        .into());
                    }
                    _ => return Err(unavailable(&answer).into()),
                };
                let (notice, device) = read_device_authorization(body, now, self.timeout)?;
                self.stage = Stage::DeviceShown(device);
                Ok(FlowStep::Ask(Ask::ShowDeviceCode(notice)))
            }
            Stage::DeviceShown(device) => match answer.reply() {
                Reply::Shown => {
                    let interval = device.interval;
                    self.stage = Stage::Polling(device);
                    Ok(FlowStep::Wait(interval))
                }
                _ => Err(unavailable(&answer).into()),
            },
            Stage::Polling(mut device) => match token_reply(&answer)? {
                Ok(token) => Ok(FlowStep::Done(token.token)),
                Err(Refusal { error, description }) => match error.as_str() {
                    "authorization_pending" => self.wait(device, now),
                    "slow_down" => {
                        device.interval = (device.interval + SLOW_DOWN).min(MAX_POLL_INTERVAL);
                        self.wait(device, now)
                    }
                    "expired_token" => Err(OidcError::DeviceCodeExpired.into()),
                    _ => Err(OidcError::AuthorizationRefused { error, description }.into()),
                },
            },
            Stage::Done => Err(crate::Error::OutOfOrder {
                call: "HumanLogin::answer",
                state: "the login asked for nothing",
            }),
        }
    }

    /// The wait asked for is over: poll the token endpoint again.
    pub fn waited(&mut self, now: SystemTime) -> Result<FlowStep> {
        let Stage::Polling(device) = std::mem::replace(&mut self.stage, Stage::Done) else {
            return Err(crate::Error::OutOfOrder {
                call: "HumanLogin::waited",
                state: "the login asked for no wait",
            });
        };
        if let Some(ended) = device.ended(now, self.timeout) {
            return Err(ended);
        }
        let mut form = Form::new();
        form.pair("grant_type", "urn:ietf:params:oauth:grant-type:device_code");
        form.pair("device_code", device.code.expose());
        self.add_client_id(&mut form);
        let ask = self.token_request(form)?;
        self.stage = Stage::Polling(device);
        Ok(FlowStep::Ask(ask))
    }

    fn wait(&mut self, device: Device, now: SystemTime) -> Result<FlowStep> {
        if let Some(ended) = device.ended(deadline(now, device.interval), self.timeout) {
            return Err(ended);
        }
        let interval = device.interval;
        self.stage = Stage::Polling(device);
        Ok(FlowStep::Wait(interval))
    }

    /// The first flow left that the provider offers.
    fn next_flow(&mut self) -> Result<FlowStep> {
        let metadata = self.metadata.as_ref().ok_or(crate::Error::OutOfOrder {
            call: "HumanLogin::answer",
            state: "no discovery document",
        })?;
        while let Some(flow) = self.flows.get(self.next_flow).copied() {
            self.next_flow += 1;
            match flow {
                HumanFlow::AuthorizationCode => {
                    if let Some(endpoint) = metadata.authorization_endpoint() {
                        let url = self.authorization_url(endpoint);
                        self.stage = Stage::Browser;
                        return Ok(FlowStep::Ask(Ask::Browser(BrowserLogin {
                            url,
                            redirect_uri: self.redirect.uri.clone(),
                            host: self.redirect.host.clone(),
                            port: self.redirect.port,
                            path: self.redirect.path.clone(),
                            timeout: self.timeout,
                        })));
                    }
                }
                HumanFlow::DeviceAuthorization => {
                    if let Some(endpoint) = metadata.device_authorization_endpoint() {
                        let mut form = Form::new();
                        self.add_client_id(&mut form);
                        form.pair("scope", &self.scope());
                        self.stage = Stage::DeviceRequested;
                        return Ok(FlowStep::Ask(post(endpoint, form)));
                    }
                }
            }
        }
        Err(OidcError::NoHumanFlow {
            issuer: shorten(&self.idp.issuer),
            flows: self.flows.iter().map(|f| f.as_str()).collect(),
        }
        .into())
    }

    fn authorization_url(&self, endpoint: &str) -> String {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier().as_bytes()));
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("response_type", "code");
        if let Some(client_id) = &self.idp.client_id {
            query.append_pair("client_id", client_id);
        }
        query.append_pair("redirect_uri", &self.redirect.uri);
        query.append_pair("scope", &self.scope());
        query.append_pair("state", &self.state());
        query.append_pair("nonce", &self.nonce());
        query.append_pair("code_challenge", &challenge);
        query.append_pair("code_challenge_method", "S256");
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        format!("{endpoint}{separator}{}", query.finish())
    }

    /// `openid`, the server's `requestScopes`, and `offline_access` for a refresh token, once
    /// each.
    fn scope(&self) -> String {
        // A set, not a search of the list for each scope: a token cache's `requestScopes` is
        // not capped as the server's IdpInfo is.
        let mut seen = std::collections::HashSet::new();
        let scopes: Vec<&str> = std::iter::once("openid")
            .chain(self.idp.request_scopes.iter().map(String::as_str))
            .chain(std::iter::once("offline_access"))
            .filter(|scope| seen.insert(*scope))
            .collect();
        scopes.join(" ")
    }

    fn add_client_id(&self, form: &mut Form) {
        if let Some(client_id) = &self.idp.client_id {
            form.pair("client_id", client_id);
        }
    }

    fn token_request(&self, form: Form) -> Result<Ask> {
        let endpoint = self
            .metadata
            .as_ref()
            .and_then(ProviderMetadata::token_endpoint)
            .ok_or(OidcError::MalformedDiscovery {
                rule: "names no token endpoint",
            })?;
        Ok(post(endpoint, form))
    }

    /// The PKCE verifier: 32 random bytes, base64url (43 characters, RFC 7636 section 4.1).
    fn verifier(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(self.secrets.get(..32).unwrap_or_default()))
    }

    fn state(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secrets.get(32..48).unwrap_or_default())
    }

    fn nonce(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secrets.get(48..).unwrap_or_default())
    }
}

/// An `application/x-www-form-urlencoded` body that may hold secrets (a refresh token, a code
/// verifier), built without reallocating.
struct Form(form_urlencoded::Serializer<'static, String>);

impl Form {
    fn new() -> Self {
        // Room for the longest form (a refresh token, up to a few KiB): encoding triples a
        // byte at worst, and a reallocation would leave a copy behind.
        Form(form_urlencoded::Serializer::new(String::with_capacity(
            16 * 1024,
        )))
    }

    fn pair(&mut self, name: &str, value: &str) {
        self.0.append_pair(name, value);
    }

    /// The body, moved (never copied) into the request, which wipes it when dropped.
    fn finish(mut self) -> Vec<u8> {
        self.0.finish().into_bytes()
    }
}

fn post(url: &str, form: Form) -> Ask {
    let headers = vec![
        (
            "Content-Type".to_owned(),
            Secret::new("application/x-www-form-urlencoded"),
        ),
        ("Accept".to_owned(), Secret::new("application/json")),
    ];
    Ask::Http(HttpRequest::new("POST", url, headers, form.finish()))
}

/// A token endpoint's error (RFC 6749 section 5.2).
#[derive(Debug)]
struct Refusal {
    error: String,
    description: Option<String>,
}

impl Refusal {
    /// The provider's code and description, as much of them as an error shows.
    fn new(error: &str, description: Option<&str>) -> Self {
        Refusal {
            error: shorten(error),
            description: description.map(|d| d.chars().take(256).collect()),
        }
    }
}

impl From<Refusal> for OidcError {
    fn from(refusal: Refusal) -> Self {
        OidcError::AuthorizationRefused {
            error: refusal.error,
            description: refusal.description,
        }
    }
}

fn read_refusal(body: &[u8]) -> Option<Refusal> {
    let fields = reply_object(body, "token reply").ok()?;
    let error = fields.get("error")?.as_str()?;
    let description = fields
        .get("error_description")
        .and_then(serde_json::Value::as_str);
    Some(Refusal::new(error, description))
}

/// The tokens of a token endpoint's 200 reply, with the ID token kept for its nonce.
struct Tokens {
    token: Token,
    id_token: Option<Secret>,
}

/// The token endpoint's answer: its tokens, or its refusal (a 400 or 401 with an OAuth error,
/// RFC 6749 section 5.2); anything else is an error.
fn token_reply(answer: &Answer) -> Result<std::result::Result<Tokens, Refusal>> {
    match answer.reply() {
        Reply::Http { status: 200, body } => Ok(Ok(read_tokens(body)?)),
        Reply::Http {
            status: 400 | 401,
            body,
        } => read_refusal(body).map(Err).ok_or_else(|| {
            OidcError::MalformedProviderReply {
                what: "token reply",
                rule: "is a refusal without an OAuth error",
            }
            .into()
        }),
        _ => Err(unavailable(answer).into()),
    }
}

/// Reads a token endpoint's reply (RFC 6749 section 5.1), for the fuzz target.
pub fn read_token_reply(body: &[u8]) -> Result<Token> {
    read_tokens(body).map(|tokens| tokens.token)
}

/// A provider's JSON reply, which must be an object of at most [`MAX_TOKEN_REPLY_SIZE`]; it
/// holds tokens or a device code, and is wiped when dropped.
fn reply_object(body: &[u8], what: &'static str) -> Result<Zeroizing<SecretJson>> {
    let malformed = |rule| OidcError::MalformedProviderReply { what, rule };
    if body.len() > MAX_TOKEN_REPLY_SIZE {
        return Err(malformed("is larger than 64 KiB").into());
    }
    let reply = SecretJson::parse(body).ok_or(malformed("is not JSON"))?;
    if !reply.is_object() {
        return Err(malformed("is not a JSON object").into());
    }
    Ok(reply)
}

fn read_tokens(body: &[u8]) -> Result<Tokens> {
    let malformed = |rule| OidcError::MalformedProviderReply {
        what: "token reply",
        rule,
    };
    let fields = reply_object(body, "token reply")?;
    let text = |name: &str| match fields.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(Secret::new(s.as_str()))),
        Some(_) => Err(malformed("has a token that is not a non-empty string")),
    };
    let access_token = text("access_token")?.ok_or(malformed("has no access_token"))?;
    let mut token = Token::new(access_token);
    if let Some(refresh_token) = text("refresh_token")? {
        token = token.with_refresh_token(refresh_token);
    }
    match fields.get("expires_in") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Number(n)) => {
            let seconds = n.as_u64().ok_or(malformed("has a negative expires_in"))?;
            token = token.with_expires_in(Duration::from_secs(seconds));
        }
        Some(_) => return Err(malformed("has an expires_in that is not a number").into()),
    }
    Ok(Tokens {
        token,
        id_token: text("id_token")?,
    })
}

/// An ID token that came back carries the login's nonce (OpenID Connect Core 3.1.3.7 step 11).
/// Its signature is not checked: the client uses no claim of it, and it came straight from the
/// token endpoint over the connection the client opened.
fn check_nonce(id_token: Option<&Secret>, nonce: &str) -> Result<()> {
    let Some(id_token) = id_token else {
        return Ok(());
    };
    let malformed = |rule| OidcError::MalformedProviderReply {
        what: "ID token",
        rule,
    };
    let payload = id_token
        .expose()
        .split('.')
        .nth(1)
        .ok_or(malformed("is not a JWT"))?;
    let claims = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| malformed("is not base64url"))?,
    );
    let claims = SecretJson::parse(&claims).ok_or(malformed("has claims that are not JSON"))?;
    match claims.get("nonce").and_then(serde_json::Value::as_str) {
        Some(found) if constant_time_eq(found.as_bytes(), nonce.as_bytes()) => Ok(()),
        _ => Err(OidcError::NonceMismatch.into()),
    }
}

/// Reads the redirect request's target (`/path?code=...&state=...`): it must come to `path`,
/// carry this login's `state`, and then a code or the provider's error (RFC 6749 section
/// 4.1.2).
pub fn read_redirect(target: &str, path: &str, state: &str) -> Result<Secret> {
    let malformed = |rule| OidcError::MalformedProviderReply {
        what: "redirect",
        rule,
    };
    if target.len() > MAX_REDIRECT_SIZE {
        return Err(malformed("is longer than 8 KiB").into());
    }
    let (target_path, parameters) = path_and_parameters(target);
    if target_path != path {
        return Err(malformed("came to another path").into());
    }
    let (mut code, mut found_state, mut error, mut description) = (None, None, None, None);
    // Said only after the state is checked: a forged redirect is refused as forged.
    let mut code_not_utf8 = false;
    for (name, value) in parameters {
        let (slot, value) = match name.as_str() {
            // A code that is not UTF-8 still takes its place: a second code is a repeat.
            "code" => match percent::decode_form(value) {
                Ok(value) => (&mut code, Zeroizing::new(value)),
                Err(_) => {
                    code_not_utf8 = true;
                    (&mut code, Zeroizing::new(String::new()))
                }
            },
            // Only the code is a secret; the rest is read as form_urlencoded reads it.
            "state" => (&mut found_state, percent::decode_form_lossy(value)),
            "error" => (&mut error, percent::decode_form_lossy(value)),
            "error_description" => (&mut description, percent::decode_form_lossy(value)),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(malformed("repeats a parameter").into());
        }
    }
    // The state first: a forged redirect is refused whatever else it says.
    match found_state {
        Some(found) if constant_time_eq(found.as_bytes(), state.as_bytes()) => {}
        _ => return Err(OidcError::ForgedRedirect.into()),
    }
    if let Some(error) = error {
        return Err(OidcError::from(Refusal::new(
            &error,
            description.as_deref().map(String::as_str),
        ))
        .into());
    }
    if code_not_utf8 {
        return Err(malformed("has a code that is not UTF-8").into());
    }
    match code {
        Some(mut code) if !code.is_empty() => Ok(Secret::new(std::mem::take(&mut *code))),
        _ => Err(malformed("has neither a code nor an error").into()),
    }
}

/// A request target's or URL's path, and its query's parameters split as
/// `application/x-www-form-urlencoded` splits them: each name decoded (lossily, as
/// `form_urlencoded` does; the decoder wipes whatever it decodes), each value as written, for
/// the caller to decode as what it is (the code as a secret).
fn path_and_parameters(target: &str) -> (&str, impl Iterator<Item = (Zeroizing<String>, &str)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parameters = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent::decode_form_lossy(name), value)
        });
    (path, parameters)
}

/// Whether `target` comes to `path` and brings back the `state` of `authorization_url`
/// (its last: the endpoint may have a query of its own, which the login's parameters follow).
/// Any of the target's `state` parameters counts: a malformed redirect of this login is still
/// its own, for [`read_redirect`] to refuse.
pub(crate) fn is_redirect(target: &str, path: &str, authorization_url: &str) -> bool {
    let states = |target| {
        path_and_parameters(target)
            .1
            .filter(|(name, _)| name.as_str() == "state")
            .map(|(_, value)| percent::decode_form_lossy(value))
    };
    let Some(state) = states(authorization_url).last() else {
        return false;
    };
    path_and_parameters(target).0 == path
        && states(target).any(|found| constant_time_eq(found.as_bytes(), state.as_bytes()))
}

/// Reads a device authorization reply (RFC 8628 section 3.2), at `now`.
fn read_device_authorization(
    body: &[u8],
    now: SystemTime,
    timeout: Duration,
) -> Result<(DeviceCode, Device)> {
    let malformed = |rule| OidcError::MalformedProviderReply {
        what: "device authorization reply",
        rule,
    };
    let fields = reply_object(body, "device authorization reply")?;
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 2048)
    };
    let seconds = |name: &str| fields.get(name).and_then(serde_json::Value::as_u64);
    let device_code = text("device_code").ok_or(malformed("has no device_code"))?;
    let user_code = text("user_code").ok_or(malformed("has no user_code"))?;
    // `verification_url` is what some providers (Google's) call it.
    let verification_uri = text("verification_uri")
        .or_else(|| text("verification_url"))
        .ok_or(malformed("has no verification_uri"))?;
    let expires_in = Duration::from_secs(
        seconds("expires_in")
            .filter(|s| *s > 0)
            .ok_or(malformed("has no positive expires_in"))?
            .min(24 * 3600),
    );
    let interval = seconds("interval")
        .map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs)
        .clamp(Duration::from_secs(1), MAX_POLL_INTERVAL);
    let notice = DeviceCode {
        verification_uri: verification_uri.to_owned(),
        verification_uri_complete: text("verification_uri_complete").map(str::to_owned),
        user_code: user_code.to_owned(),
        expires_in,
    };
    let device = Device {
        code: Secret::new(device_code),
        interval,
        expires_at: deadline(now, expires_in),
        gives_up_at: deadline(now, timeout),
    };
    Ok((notice, device))
}

/// Reads a device authorization reply, for the fuzz target.
pub fn read_device_authorization_reply(body: &[u8]) -> Result<DeviceCode> {
    read_device_authorization(body, SystemTime::UNIX_EPOCH, Duration::ZERO)
        .map(|(notice, _)| notice)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ISSUER: &str = "https://idp.example";
    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(seconds)
    }

    fn discovery() -> Vec<u8> {
        format!(
            r#"{{"issuer": "{ISSUER}", "token_endpoint": "{ISSUER}/token",
                "authorization_endpoint": "{ISSUER}/auth",
                "device_authorization_endpoint": "{ISSUER}/device"}}"#
        )
        .into_bytes()
    }

    fn idp() -> IdpInfo {
        IdpInfo::new(ISSUER)
            .with_client_id("tool")
            .with_request_scopes(["db", "openid"])
    }

    fn start(flows: &[HumanFlow], refresh: Option<&str>) -> (HumanLogin, FlowStep) {
        let random: [u8; FLOW_RANDOM_BYTES] = std::array::from_fn(|i| i as u8);
        HumanLogin::start(
            &HumanFlows::new(flows.iter().copied()),
            &idp(),
            refresh.map(Secret::new),
            random,
            Duration::from_secs(300),
        )
        .unwrap()
    }

    fn http(step: FlowStep) -> HttpRequest {
        match step {
            FlowStep::Ask(Ask::Http(request)) => request,
            other => panic!("not an HTTP ask: {other:?}"),
        }
    }

    fn form(request: &HttpRequest) -> HashMap<String, String> {
        form_urlencoded::parse(request.body())
            .into_owned()
            .collect()
    }

    fn query(url: &str) -> HashMap<String, String> {
        let (_, query) = url.split_once('?').unwrap();
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    fn reply(request: &HttpRequest, status: u16, body: &str) -> Answer {
        request.answer(status, Zeroizing::new(body.as_bytes().to_vec()))
    }

    /// Starts a login and answers the discovery request.
    fn discovered(flows: &[HumanFlow], refresh: Option<&str>) -> (HumanLogin, FlowStep) {
        let (mut login, step) = start(flows, refresh);
        let request = http(step);
        assert_eq!(
            request.url(),
            "https://idp.example/.well-known/openid-configuration"
        );
        let answer = request.answer(200, Zeroizing::new(discovery()));
        let step = login.answer(answer, at(0)).unwrap();
        (login, step)
    }

    fn id_token(nonce: &str) -> String {
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"nonce": "{nonce}", "sub": "ada"}}"#));
        format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl")
    }

    fn browser_ask(step: FlowStep) -> BrowserLogin {
        match step {
            FlowStep::Ask(Ask::Browser(login)) => login,
            other => panic!("not a browser ask: {other:?}"),
        }
    }

    #[test]
    fn only_a_request_to_the_path_with_this_logins_state_is_the_redirect() {
        let (_, step) = discovered(&[HumanFlow::AuthorizationCode], None);
        let browser = browser_ask(step);
        let state = query(browser.url())["state"].clone();
        // The redirect, whatever else it says: the login reads (and may refuse) it.
        for target in [
            format!("/redirect?code=c0de&state={state}"),
            format!("/redirect?state={state}&error=access_denied"),
            format!("/redirect?state=guess&state={state}"),
            // Its first character percent-encoded, as a provider may: still the same state.
            format!(
                "/redirect?code=c&state=%{:02X}{}",
                state.as_bytes()[0],
                &state[1..]
            ),
            // So is the parameter's name.
            format!("/redirect?code=c&st%61te={state}"),
        ] {
            assert!(browser.is_redirect(&target), "{target}");
        }
        // Strays: what a page or another program may send to the port.
        for target in [
            "/favicon.ico".to_owned(),
            "/redirect".to_owned(),
            "/redirect?code=c0de".to_owned(),
            "/redirect?code=c0de&state=guess".to_owned(),
            format!("/redirect?code=c0de&state={state}x"),
            format!("/redirect?code=c0de&state={}", &state[1..]),
            format!("/other?code=c0de&state={state}"),
            format!("/redirect/?code=c0de&state={state}"),
            format!("/redirect?code=c0de&xstate={state}"),
        ] {
            assert!(!browser.is_redirect(&target), "{target}");
        }
        // An authorization endpoint with a `state` of its own in its query: the login's is the
        // one its parameters add after it.
        let url = "https://idp.example/auth?state=theirs&response_type=code&state=ours&nonce=n";
        assert!(is_redirect("/redirect?code=c&state=ours", "/redirect", url));
        assert!(!is_redirect(
            "/redirect?code=c&state=theirs",
            "/redirect",
            url
        ));
        assert!(!is_redirect(
            "/redirect?code=c&state=ours",
            "/redirect",
            "https://idp/a"
        ));
    }

    #[test]
    fn the_code_flow_sends_pkce_state_and_nonce_and_checks_them_on_the_way_back() {
        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], None);
        let browser = browser_ask(step);
        assert_eq!(
            (browser.host(), browser.port(), browser.path()),
            ("localhost", 27097, "/redirect")
        );
        assert!(
            browser
                .url()
                .starts_with("https://idp.example/auth?response_type=code&")
        );
        let params = query(browser.url());
        assert_eq!(params["client_id"], "tool");
        assert_eq!(params["redirect_uri"], DEFAULT_REDIRECT_URI);
        assert_eq!(params["scope"], "openid db offline_access");
        assert_eq!(params["code_challenge_method"], "S256");
        let (state, nonce, challenge) = (
            &params["state"],
            &params["nonce"],
            &params["code_challenge"],
        );
        assert!(state.len() >= 21 && nonce.len() >= 21, "128 bits each");
        // The verifier never leaves in the URL: only its hash.
        let target = format!("/redirect?code=c0de&state={state}");
        let token_request = http(login.answer(browser.answer(target), at(30)).unwrap());
        assert_eq!(token_request.url(), "https://idp.example/token");
        assert_eq!(token_request.method(), "POST");
        let sent = form(&token_request);
        assert_eq!(sent["grant_type"], "authorization_code");
        assert_eq!(sent["code"], "c0de");
        assert_eq!(sent["redirect_uri"], DEFAULT_REDIRECT_URI);
        let verifier = &sent["code_verifier"];
        assert_eq!(verifier.len(), 43);
        assert_eq!(
            &URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            challenge
        );
        assert!(!browser.url().contains(verifier.as_str()));
        let body = format!(
            r#"{{"access_token": "at", "refresh_token": "rt", "expires_in": 3600,
                "token_type": "Bearer", "id_token": "{}"}}"#,
            id_token(nonce)
        );
        let FlowStep::Done(token) = login
            .answer(reply(&token_request, 200, &body), at(31))
            .unwrap()
        else {
            panic!("the login is done");
        };
        assert_eq!(token.access_token.expose(), "at");
        assert_eq!(token.refresh_token.as_ref().map(Secret::expose), Some("rt"));
        assert_eq!(token.expires_in, Some(Duration::from_secs(3600)));
        assert!(!format!("{login:?}").contains(verifier.as_str()));
    }

    #[test]
    fn a_forged_redirect_or_a_foreign_id_token_ends_the_login_with_nothing_sent() {
        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], None);
        let browser = browser_ask(step);
        let forged = browser.answer("/redirect?code=stolen&state=guessed");
        assert!(matches!(
            login.answer(forged, at(1)),
            Err(crate::Error::Oidc(OidcError::ForgedRedirect))
        ));
        // The login is over: it asks for nothing more.
        assert!(login.answer(browser.answer("/redirect"), at(2)).is_err());

        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], None);
        let browser = browser_ask(step);
        let state = query(browser.url())["state"].clone();
        let token_request = http(
            login
                .answer(
                    browser.answer(format!("/redirect?code=c&state={state}")),
                    at(1),
                )
                .unwrap(),
        );
        let body = format!(
            r#"{{"access_token": "at", "id_token": "{}"}}"#,
            id_token("other")
        );
        assert!(matches!(
            login.answer(reply(&token_request, 200, &body), at(2)),
            Err(crate::Error::Oidc(OidcError::NonceMismatch))
        ));
    }

    #[test]
    fn redirects_are_read_strictly() {
        let read = |target: &str| read_redirect(target, "/cb", "s1");
        assert_eq!(read("/cb?state=s1&code=a%2Bb").unwrap().expose(), "a+b");
        assert_eq!(
            read("/cb?c%6Fde=a+b%20c&state=s%31").unwrap().expose(),
            "a b c"
        );
        assert!(read("/cb?state=s1&code=%ff").is_err());
        let repeated = read("/cb?state=s1&code=a&code=%ff").unwrap_err();
        assert!(repeated.to_string().contains("repeats"), "{repeated}");
        // The state first, whatever else is wrong; a provider's error read as it came.
        assert!(matches!(
            read("/cb?state=s2&code=%ff").unwrap_err(),
            crate::Error::Oidc(OidcError::ForgedRedirect)
        ));
        assert!(matches!(
            read("/cb?state=s1&error=denied&error_description=%ff").unwrap_err(),
            crate::Error::Oidc(OidcError::AuthorizationRefused { ref description, .. })
                if description.as_deref() == Some("\u{FFFD}")
        ));
        for (target, forged) in [
            ("/cb?code=a", true),
            ("/cb?code=a&state=s2", true),
            ("/cb?code=a&state=s1&state=s1", false),
            ("/other?code=a&state=s1", false),
            ("/cb?state=s1", false),
            ("/cb?state=s1&code=", false),
        ] {
            let error = read(target).unwrap_err();
            assert_eq!(
                matches!(error, crate::Error::Oidc(OidcError::ForgedRedirect)),
                forged,
                "{target}: {error}"
            );
        }
        let refused = read("/cb?state=s1&error=access_denied&error_description=no").unwrap_err();
        assert!(matches!(
            refused,
            crate::Error::Oidc(OidcError::AuthorizationRefused { ref error, .. }) if error == "access_denied"
        ));
        assert!(
            read(&format!(
                "/cb?state=s1&code={}",
                "a".repeat(MAX_REDIRECT_SIZE)
            ))
            .is_err()
        );
    }

    #[test]
    fn the_device_flow_shows_the_code_and_polls_as_rfc_8628_says() {
        let (mut login, step) = discovered(&[HumanFlow::DeviceAuthorization], None);
        let request = http(step);
        assert_eq!(request.url(), "https://idp.example/device");
        assert_eq!(form(&request)["scope"], "openid db offline_access");
        let body = r#"{"device_code": "dc", "user_code": "ABCD-EFGH",
            "verification_uri": "https://idp.example/activate", "expires_in": 60, "interval": 2}"#;
        let FlowStep::Ask(Ask::ShowDeviceCode(notice)) =
            login.answer(reply(&request, 200, body), at(0)).unwrap()
        else {
            panic!("the code is shown");
        };
        assert_eq!(
            (notice.user_code(), notice.verification_uri()),
            ("ABCD-EFGH", "https://idp.example/activate")
        );
        let FlowStep::Wait(first) = login.answer(notice.answer(), at(0)).unwrap() else {
            panic!("then it waits");
        };
        assert_eq!(first, Duration::from_secs(2));
        let poll = http(login.waited(at(2)).unwrap());
        let sent = form(&poll);
        assert_eq!(
            sent["grant_type"],
            "urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(sent["device_code"], "dc");
        let pending = reply(&poll, 400, r#"{"error": "authorization_pending"}"#);
        assert!(matches!(login.answer(pending, at(3)).unwrap(), FlowStep::Wait(d) if d == first));
        let poll = http(login.waited(at(5)).unwrap());
        let slow = reply(&poll, 400, r#"{"error": "slow_down"}"#);
        assert!(
            matches!(login.answer(slow, at(6)).unwrap(), FlowStep::Wait(d) if d == first + SLOW_DOWN),
            "slow_down adds five seconds"
        );
        let poll = http(login.waited(at(11)).unwrap());
        let FlowStep::Done(token) = login
            .answer(reply(&poll, 200, r#"{"access_token": "at"}"#), at(12))
            .unwrap()
        else {
            panic!("done");
        };
        assert_eq!(token.access_token.expose(), "at");
    }

    #[test]
    fn a_browser_that_cannot_be_opened_falls_back_to_the_next_flow() {
        let both = [HumanFlow::AuthorizationCode, HumanFlow::DeviceAuthorization];
        let (mut login, step) = discovered(&both, None);
        let browser = browser_ask(step);
        let failed = Ask::Browser(browser).fail("cannot open a browser: xdg-open not found");
        let device = http(login.answer(failed, at(1)).unwrap());
        assert_eq!(device.url(), "https://idp.example/device");
        // With no flow left, the failure is the error.
        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], None);
        let failed = Ask::Browser(browser_ask(step)).fail("no browser");
        assert!(matches!(
            login.answer(failed, at(1)),
            Err(crate::Error::Oidc(OidcError::ProviderUnavailable { ref reason, .. })) if reason == "no browser"
        ));
    }

    /// A device flow whose code (`expires_in` and `interval` as given) was shown at 0 s, and
    /// the step that follows: the wait before the first poll.
    fn device_code_shown(expires_in: u64, interval: u64) -> (HumanLogin, Result<FlowStep>) {
        let (mut login, step) = discovered(&[HumanFlow::DeviceAuthorization], None);
        let body = format!(
            r#"{{"device_code": "dc", "user_code": "U", "verification_uri": "https://v", "expires_in": {expires_in}, "interval": {interval}}}"#
        );
        let FlowStep::Ask(Ask::ShowDeviceCode(notice)) =
            login.answer(reply(&http(step), 200, &body), at(0)).unwrap()
        else {
            panic!("the code is shown");
        };
        let step = login.answer(notice.answer(), at(0));
        (login, step)
    }

    #[test]
    fn a_device_code_that_expires_is_a_clear_error() {
        let shown = || device_code_shown(10, 5).0;
        let expired = |result: Result<FlowStep>| {
            matches!(
                result,
                Err(crate::Error::Oidc(OidcError::DeviceCodeExpired))
            )
        };
        // The provider says so...
        let mut login = shown();
        let poll = http(login.waited(at(5)).unwrap());
        assert!(expired(login.answer(
            reply(&poll, 400, r#"{"error": "expired_token"}"#),
            at(6)
        )));
        // ...or its expires_in passes first.
        let mut login = shown();
        assert!(expired(login.waited(at(10))));
        let mut login = shown();
        let poll = http(login.waited(at(5)).unwrap());
        assert!(expired(login.answer(
            reply(&poll, 400, r#"{"error": "authorization_pending"}"#),
            at(6)
        )));
    }

    #[test]
    fn the_person_gets_the_logins_timeout_not_the_device_codes_lifetime() {
        // A code valid for a day, and a person who never enters it: the login (timeout 300 s)
        // ends after five minutes of polling, as the tokio adapter's timer would end it; the
        // blocking adapter's sleeps leave only this check to do so.
        let (mut login, mut step) = device_code_shown(86400, 5);
        let mut now = 0;
        let mut polls = 0;
        let error = loop {
            match step {
                Ok(FlowStep::Wait(interval)) => {
                    now += interval.as_secs();
                    let poll = match login.waited(at(now)) {
                        Ok(poll) => http(poll),
                        Err(error) => break error,
                    };
                    polls += 1;
                    step = login.answer(
                        reply(&poll, 400, r#"{"error": "authorization_pending"}"#),
                        at(now),
                    );
                }
                Err(error) => break error,
                Ok(other) => panic!("the person never finishes: {other:?}"),
            }
        };
        assert!(
            matches!(
                error,
                crate::Error::Timeout { after, .. } if after == Duration::from_secs(300)
            ),
            "{error} after {polls} polls, at {now} s"
        );
        assert_eq!(
            (polls, now),
            (59, 295),
            "the last poll is the last within 300 s"
        );

        // A code that expires before the timeout still ends as expired.
        let (mut login, _) = device_code_shown(60, 5);
        assert!(matches!(
            login.waited(at(60)),
            Err(crate::Error::Oidc(OidcError::DeviceCodeExpired))
        ));
    }

    #[test]
    fn a_clock_at_its_end_expires_the_device_code_instead_of_panicking() {
        let end = crate::environment::end_of_time();
        let (mut login, step) = discovered(&[HumanFlow::DeviceAuthorization], None);
        let body = r#"{"device_code": "dc", "user_code": "U", "verification_uri": "https://v", "expires_in": 10}"#;
        let FlowStep::Ask(Ask::ShowDeviceCode(notice)) =
            login.answer(reply(&http(step), 200, body), end).unwrap()
        else {
            panic!("the code is shown");
        };
        assert!(matches!(
            login.answer(notice.answer(), end),
            Ok(FlowStep::Wait(_))
        ));
        // The code expires when the clock can go no further, which it cannot.
        assert!(matches!(
            login.waited(end),
            Err(crate::Error::Oidc(OidcError::DeviceCodeExpired))
        ));
    }

    #[test]
    fn a_refresh_token_is_tried_first_and_a_refused_one_leads_to_a_login() {
        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], Some("rt"));
        let request = http(step);
        let sent = form(&request);
        assert_eq!(
            (sent["grant_type"].as_str(), sent["refresh_token"].as_str()),
            ("refresh_token", "rt")
        );
        assert!(
            !format!("{request:?}").contains("rt\""),
            "the body is not shown"
        );
        let FlowStep::Done(token) = login
            .answer(reply(&request, 200, r#"{"access_token": "new"}"#), at(1))
            .unwrap()
        else {
            panic!("refreshed");
        };
        assert_eq!(token.access_token.expose(), "new");
        // No new refresh token in the reply: the one used stays valid, and is kept.
        assert_eq!(token.refresh_token.as_ref().map(Secret::expose), Some("rt"));
        // A new one replaces it.
        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], Some("rt"));
        let rotated = reply(
            &http(step),
            200,
            r#"{"access_token": "new", "refresh_token": "rt2"}"#,
        );
        let FlowStep::Done(token) = login.answer(rotated, at(1)).unwrap() else {
            panic!("refreshed");
        };
        assert_eq!(
            token.refresh_token.as_ref().map(Secret::expose),
            Some("rt2")
        );

        let (mut login, step) = discovered(&[HumanFlow::AuthorizationCode], Some("rt"));
        let refused = reply(&http(step), 400, r#"{"error": "invalid_grant"}"#);
        browser_ask(login.answer(refused, at(1)).unwrap());
    }

    #[test]
    fn a_provider_that_is_down_or_not_itself_is_a_clear_error() {
        let (mut login, step) = start(&[HumanFlow::AuthorizationCode], None);
        let Ok(FlowStep::Ask(ask)) = Ok::<_, ()>(step) else {
            unreachable!()
        };
        assert!(matches!(
            login.answer(ask.fail("connection refused"), at(0)),
            Err(crate::Error::Oidc(OidcError::ProviderUnavailable { .. }))
        ));
        let (mut login, step) = start(&[HumanFlow::AuthorizationCode], None);
        let other =
            br#"{"issuer": "https://evil.example", "token_endpoint": "https://evil.example/t"}"#;
        assert!(matches!(
            login.answer(
                http(step).answer(200, Zeroizing::new(other.to_vec())),
                at(0)
            ),
            Err(crate::Error::Oidc(OidcError::IssuerMismatch { .. }))
        ));
        let plain = HumanLogin::start(
            &HumanFlows::default(),
            &IdpInfo::new("http://idp.example"),
            None,
            [0; FLOW_RANDOM_BYTES],
            Duration::from_secs(1),
        );
        assert!(matches!(
            plain,
            Err(crate::Error::Oidc(OidcError::InsecureEndpoint { .. }))
        ));
        // A provider with no endpoint for the flows allowed.
        let (mut login, step) = start(&[HumanFlow::DeviceAuthorization], None);
        let document =
            br#"{"issuer": "https://idp.example", "token_endpoint": "https://idp.example/t"}"#;
        assert!(matches!(
            login.answer(
                http(step).answer(200, Zeroizing::new(document.to_vec())),
                at(0)
            ),
            Err(crate::Error::Oidc(OidcError::NoHumanFlow { .. }))
        ));
    }

    #[test]
    fn redirect_uris_are_loopback_http_with_a_port() {
        for good in [
            "http://localhost:27097/redirect",
            "http://127.0.0.1:9/",
            "http://[::1]:8080/cb",
        ] {
            assert!(HumanFlows::default().redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "https://localhost:1/cb",
            "http://example.com:80/cb",
            "http://localhost/cb",
            "http://localhost:0/cb",
            "http://user@localhost:1/cb",
            "http://localhost:1/cb?x=1",
            "http://localhost:1/cb#f",
            "http://localhost.evil:1/",
        ] {
            assert!(
                matches!(
                    HumanFlows::default().redirect_uri(bad),
                    Err(crate::Error::Oidc(OidcError::InvalidRedirectUri { .. }))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_replies_are_read_strictly() {
        assert!(read_token_reply(br#"{"access_token": "a", "expires_in": -1}"#).is_err());
        assert!(read_token_reply(br#"{"access_token": ""}"#).is_err());
        assert!(read_token_reply(br#"{"access_token": 5}"#).is_err());
        assert!(read_token_reply(b"[]").is_err());
        assert!(read_token_reply(&vec![b' '; MAX_TOKEN_REPLY_SIZE + 1]).is_err());
        assert!(
            read_device_authorization_reply(br#"{"device_code": "d", "user_code": "u"}"#).is_err()
        );
    }
}

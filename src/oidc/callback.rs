//! What a MONGODB-OIDC callback is given and returns (rules L11, L13). The credential says which
//! flow its callback serves (the spec's `OIDC_CALLBACK` and `OIDC_HUMAN_CALLBACK` properties,
//! [`CredentialOptions::oidc_callback`](crate::CredentialOptions::oidc_callback)); the callback
//! itself goes in the options the caller passes
//! ([`AuthOptions::oidc_callback`](crate::AuthOptions::oidc_callback)).

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::callback::{CallbackError, Code};
use crate::secret::Secret;

/// The callback API version this crate speaks (rule L11).
pub const CALLBACK_VERSION: u32 = 1;

/// What the server says about its identity provider, in the first reply of the human flow's
/// two-step conversation (rule L15).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdpInfo {
    /// The issuer URI of the identity provider.
    pub issuer: String,
    /// The client id to use with it; absent for a machine identity provider (human prose test
    /// 1.8).
    pub client_id: Option<String>,
    /// The scopes to request.
    pub request_scopes: Vec<String>,
}

impl IdpInfo {
    /// An `IdpInfo` with only an issuer, for callers (and tests) that build one themselves.
    pub fn new(issuer: impl Into<String>) -> Self {
        IdpInfo {
            issuer: issuer.into(),
            client_id: None,
            request_scopes: Vec::new(),
        }
    }

    /// Sets the client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the scopes.
    pub fn with_request_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.request_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// What a callback is called with. Fields may be added, so outside this crate it is built with
/// [`new`](Self::new) and the fields set after (to test a callback of one's own), and a callback
/// reads only what it needs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CallbackContext {
    /// How long the callback may take: one minute for the machine flow, five for the human flow
    /// (rule L12). The adapters give up waiting after it.
    pub timeout: Duration,
    /// When that time is up, by the authenticator's clock.
    pub deadline: SystemTime,
    /// The callback API version, [`CALLBACK_VERSION`].
    pub version: u32,
    /// The credential's username, if it has one.
    pub username: Option<String>,
    /// Human flow: the identity provider the server named.
    pub idp_info: Option<IdpInfo>,
    /// Human flow: the refresh token the last call returned, when the cached access token was
    /// refused or invalidated (rule L20, step 2).
    pub refresh_token: Option<Secret>,
}

impl CallbackContext {
    /// A context of `timeout` from `now` (the deadline), with no username, no provider and no
    /// refresh token: set those that apply.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use mongodb_auth::oidc::{CallbackContext, IdpInfo};
    ///
    /// let mut context = CallbackContext::new(Duration::from_secs(60), SystemTime::UNIX_EPOCH);
    /// context.idp_info = Some(IdpInfo::new("https://issuer.example"));
    /// assert_eq!(context.deadline, SystemTime::UNIX_EPOCH + Duration::from_secs(60));
    /// ```
    pub fn new(timeout: Duration, now: SystemTime) -> Self {
        CallbackContext {
            timeout,
            deadline: crate::environment::deadline(now, timeout),
            version: CALLBACK_VERSION,
            username: None,
            idp_info: None,
            refresh_token: None,
        }
    }
}

/// What a callback returns: an access token (never checked by the client, rule L11), and, from a
/// human callback, perhaps a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Token {
    /// The access token, sent to the server as `jwt`.
    pub access_token: Secret,
    /// How long the token lives, if the provider said (kept, not used for caching, as the spec
    /// says). A negative lifetime cannot be expressed.
    pub expires_in: Option<Duration>,
    /// A refresh token for the next human callback call.
    pub refresh_token: Option<Secret>,
}

impl Token {
    /// A token with no lifetime and no refresh token.
    pub fn new(access_token: impl Into<Secret>) -> Self {
        Token {
            access_token: access_token.into(),
            expires_in: None,
            refresh_token: None,
        }
    }

    /// Sets the lifetime.
    pub fn with_expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = Some(expires_in);
        self
    }

    /// Sets the refresh token.
    pub fn with_refresh_token(mut self, refresh_token: impl Into<Secret>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }
}

/// A source of access tokens written by the embedder: async code (awaited where the login runs,
/// with no thread of its own), or blocking code (run on the runtime's blocking pool).
///
/// It is called with no lock held but the turn that serialises the calls of one client (rule
/// L17), at least 100 ms after the previous call ended, and only when the client cache has no
/// token. Dropping the login while an async callback runs cancels the call and gives the turn to
/// the next connection; a blocking callback cannot be stopped and keeps the turn until it
/// returns.
///
/// ```
/// use mongodb_auth::oidc::{Callback, CallbackContext, Token};
///
/// let callback = Callback::new(|context: CallbackContext| async move {
///     // Ask the identity provider, within context.timeout...
///     Ok(Token::new("eyJ..."))
/// });
/// let blocking = Callback::blocking(|_: &CallbackContext| Ok(Token::new("eyJ...")));
/// # let _ = (callback, blocking);
/// ```
#[derive(Clone)]
pub struct Callback(pub(crate) Code<CallbackContext, Result<Token, CallbackError>>);

impl Callback {
    /// An async callback.
    pub fn new<F, Fut>(callback: F) -> Self
    where
        F: Fn(CallbackContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Token, CallbackError>> + Send + 'static,
    {
        Callback(Code::from_async(callback))
    }

    /// A blocking callback: the adapters run it on their blocking pool, and the blocking
    /// adapter on a thread of its own, so it can time out (rule L12).
    pub fn blocking<F>(callback: F) -> Self
    where
        F: Fn(&CallbackContext) -> Result<Token, CallbackError> + Send + Sync + 'static,
    {
        Callback(Code::from_blocking(move |context: CallbackContext| {
            callback(&context)
        }))
    }

    /// Whether the callback is blocking code.
    pub fn is_blocking(&self) -> bool {
        self.0.is_blocking()
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("blocking", &self.is_blocking())
            .finish()
    }
}

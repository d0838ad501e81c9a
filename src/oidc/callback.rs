//! What a MONGODB-OIDC callback is given and returns (rules L11, L13). These are part of a
//! credential (the spec's `OIDC_CALLBACK` and `OIDC_HUMAN_CALLBACK` properties), so they depend on
//! nothing but the foundations.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

/// What a callback is called with. Fields may be added, so it cannot be built outside this crate,
/// and a callback reads only what it needs.
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

/// Why a callback could not give a token.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

/// A source of access tokens written by the embedder: the machine callback (`OIDC_CALLBACK`) or
/// the human one (`OIDC_HUMAN_CALLBACK`), set with
/// [`CredentialOptions::oidc_callback`](crate::CredentialOptions::oidc_callback) or
/// [`oidc_human_callback`](crate::CredentialOptions::oidc_human_callback). A closure taking a
/// [`CallbackContext`] is one.
///
/// It is called with no lock held but the one that serialises callback calls (rule L17), at least
/// 100 ms after the previous call ended, and only when the client cache has no token.
pub trait OidcCallback: Send + Sync {
    /// Gets a token.
    fn fetch(&self, context: &CallbackContext) -> Result<Token, CallbackError>;
}

impl<F> OidcCallback for F
where
    F: Fn(&CallbackContext) -> Result<Token, CallbackError> + Send + Sync,
{
    fn fetch(&self, context: &CallbackContext) -> Result<Token, CallbackError> {
        self(context)
    }
}

/// Which flow a callback serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// Workload identity: the callback gets a token with no person involved (rule L19).
    Machine,
    /// Workforce identity: the callback may ask a person to log in, gets `IdpInfo` and refresh
    /// tokens (rule L20).
    Human,
}

/// A callback as a credential holds it: comparable by identity, never printed.
#[derive(Clone)]
pub(crate) struct CallbackSetting {
    pub(crate) flow: Flow,
    pub(crate) callback: Arc<dyn OidcCallback>,
}

impl PartialEq for CallbackSetting {
    fn eq(&self, other: &Self) -> bool {
        self.flow == other.flow && Arc::ptr_eq(&self.callback, &other.callback)
    }
}

impl Eq for CallbackSetting {}

impl fmt::Debug for CallbackSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} callback", self.flow)
    }
}

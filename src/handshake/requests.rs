//! The caller's own code, as a login asks for it: an OIDC token (from the callback or a built-in
//! environment), a custom AWS credential provider.

use std::fmt;
use std::time::Duration;

use crate::callback::Runtime;

/// A call of the caller's code: [`run`](Self::run) it on a [`Runtime`] (bounded by
/// [`timeout`](Self::timeout), when it has one) and pass the output to
/// [`Authenticator::handle_callback`](super::Authenticator::handle_callback).
pub struct CallbackRequest(pub(crate) Request);

pub(crate) enum Request {
    #[cfg(feature = "oidc")]
    Token(Box<crate::oidc::TokenRequest>),
    #[cfg(feature = "aws")]
    Provider(crate::aws::ProviderRequest),
    /// Without a mechanism that calls the caller's code, no request exists.
    #[cfg(not(any(feature = "oidc", feature = "aws")))]
    #[allow(dead_code)]
    None(std::convert::Infallible),
}

impl CallbackRequest {
    /// Runs the request: waits its turn (OIDC), calls the caller's code (awaited, or on the
    /// runtime's blocking pool), caches what it gives (OIDC).
    pub async fn run<R: Runtime + 'static>(self, runtime: &R) -> CallbackOutput {
        #[cfg(not(any(feature = "oidc", feature = "aws")))]
        let _ = runtime;
        match self.0 {
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Request::None(never) => match never {},
            #[cfg(feature = "oidc")]
            Request::Token(request) => CallbackOutput(Output::Token(request.run(runtime).await)),
            #[cfg(feature = "aws")]
            Request::Provider(request) => {
                CallbackOutput(Output::Provider(request.run(runtime).await))
            }
        }
    }

    /// How long the caller's code may take: the caller stops waiting after it (an OIDC
    /// callback's timeout, rule L12). `None`: no limit of the crate's own.
    pub fn timeout(&self) -> Option<Duration> {
        match &self.0 {
            #[cfg(feature = "oidc")]
            Request::Token(request) => Some(request.timeout()),
            #[cfg(feature = "aws")]
            Request::Provider(_) => None,
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Request::None(never) => match *never {},
        }
    }

    /// Whether a person answers it: MONGODB-OIDC's human flow (a human callback, or the
    /// built-in human flows), whose five minutes the auth specification keeps out of the
    /// client-side operations timeout (`timeoutMS`): the caller gives it all of them, and does
    /// not count them against what is left of the operation.
    pub fn is_human(&self) -> bool {
        match &self.0 {
            #[cfg(feature = "oidc")]
            Request::Token(request) => request.is_human(),
            #[cfg(feature = "aws")]
            Request::Provider(_) => false,
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Request::None(never) => match *never {},
        }
    }

    /// For an OIDC token, the built-in environment that gives it (`test`, `azure`, `gcp`,
    /// `k8s`); `None` for a callback or another request.
    pub fn oidc_environment(&self) -> Option<&'static str> {
        match &self.0 {
            #[cfg(feature = "oidc")]
            Request::Token(request) => request.environment(),
            #[cfg(feature = "aws")]
            Request::Provider(_) => None,
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Request::None(never) => match *never {},
        }
    }
}

impl fmt::Debug for CallbackRequest {
    #[cfg_attr(not(any(feature = "oidc", feature = "aws")), allow(unused_variables))]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            #[cfg(feature = "oidc")]
            Request::Token(request) => f.debug_tuple("CallbackRequest").field(request).finish(),
            #[cfg(feature = "aws")]
            Request::Provider(request) => f.debug_tuple("CallbackRequest").field(request).finish(),
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Request::None(never) => match *never {},
        }
    }
}

/// What a [`CallbackRequest`] produced.
pub struct CallbackOutput(pub(crate) Output);

pub(crate) enum Output {
    #[cfg(feature = "oidc")]
    Token(crate::oidc::TokenOutput),
    #[cfg(feature = "aws")]
    Provider(crate::aws::ProviderOutput),
    #[cfg(not(any(feature = "oidc", feature = "aws")))]
    #[allow(dead_code)]
    None(std::convert::Infallible),
}

impl CallbackOutput {
    /// For an OIDC token: whether another connection of the client had already fetched it.
    pub fn from_cache(&self) -> bool {
        match &self.0 {
            #[cfg(feature = "oidc")]
            Output::Token(output) => output.from_cache(),
            #[cfg(feature = "aws")]
            Output::Provider(_) => false,
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Output::None(never) => match *never {},
        }
    }
}

impl fmt::Debug for CallbackOutput {
    #[cfg_attr(not(any(feature = "oidc", feature = "aws")), allow(unused_variables))]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            #[cfg(feature = "oidc")]
            Output::Token(output) => f.debug_tuple("CallbackOutput").field(output).finish(),
            #[cfg(feature = "aws")]
            Output::Provider(output) => f.debug_tuple("CallbackOutput").field(output).finish(),
            #[cfg(not(any(feature = "oidc", feature = "aws")))]
            Output::None(never) => match *never {},
        }
    }
}

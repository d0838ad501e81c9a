//! A custom source of MONGODB-AWS credentials, written by the embedder: it wins over every other
//! source. It may be async (awaited where the login runs) or blocking (run on the runtime's
//! blocking pool).
//!
//! ```
//! use mongodb_auth::aws::{CredentialProvider, Credentials};
//!
//! // An async function: a vault client, an SDK's own provider chain...
//! let provider = CredentialProvider::new(|| async {
//!     Ok(Credentials::new("AKIDEXAMPLE", "secret", None))
//! });
//! // Or blocking code.
//! let blocking = CredentialProvider::blocking(|| Ok(Credentials::new("AKID", "s", None)));
//! # let _ = (provider, blocking);
//! ```

use std::fmt;
use std::future::Future;

use super::Credentials;
use crate::callback::{CallbackError, Code, Runtime};
use crate::error::{AwsError, Error, Result};
use crate::secret::Secret;

/// The embedder's source of credentials (see the module).
#[derive(Clone)]
pub struct CredentialProvider(Code<(), Result<Credentials, CallbackError>>);

impl CredentialProvider {
    /// An async provider.
    pub fn new<F, Fut>(provider: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, CallbackError>> + Send + 'static,
    {
        CredentialProvider(Code::from_async(move |()| provider()))
    }

    /// A blocking provider: the adapters run it on their blocking pool.
    pub fn blocking<F>(provider: F) -> Self
    where
        F: Fn() -> Result<Credentials, CallbackError> + Send + Sync + 'static,
    {
        CredentialProvider(Code::from_blocking(move |()| provider()))
    }

    /// A credentials provider of the AWS SDK for Rust (`aws-config`'s default chain, an
    /// assume-role provider, a `SharedCredentialsProvider`, or `aws_credential_types`'
    /// `Credentials` themselves): the auth specification's custom provider
    /// (`AWS_CREDENTIAL_PROVIDER`) is the driver language's SDK provider. It is awaited where
    /// the login runs, at each login, as every custom provider is: the crate caches no custom
    /// provider's credentials (a cache shared by clients could not tell one provider's from
    /// another's), so a provider that fetches over the network (instance metadata, STS, SSO)
    /// is asked each time unless it caches for itself. Such providers of `aws-config` need a
    /// tokio runtime: use them with the tokio adapter, or poll the request inside one. Why it
    /// failed, with the errors under it, is the login's error.
    ///
    /// ```
    /// use mongodb_auth::aws::CredentialProvider;
    ///
    /// let from_the_sdk = aws_credential_types::Credentials::new(
    ///     "AKIDEXAMPLE", "secret", Some("token".into()), None, "example",
    /// );
    /// let provider = CredentialProvider::from_sdk(from_the_sdk);
    /// assert!(!provider.is_blocking());
    /// ```
    pub fn from_sdk<P>(provider: P) -> Self
    where
        P: aws_credential_types::provider::ProvideCredentials + 'static,
    {
        let provider = std::sync::Arc::new(provider);
        CredentialProvider::new(move || {
            let provider = provider.clone();
            async move {
                let given = provider.provide_credentials().await?;
                let credentials = Credentials::new(
                    given.access_key_id(),
                    given.secret_access_key(),
                    given.session_token().map(Secret::new),
                );
                Ok(match given.expiry() {
                    Some(expiry) => credentials.with_expiration(expiry),
                    None => credentials,
                })
            }
        })
    }

    /// Whether the provider is blocking code.
    pub fn is_blocking(&self) -> bool {
        self.0.is_blocking()
    }
}

impl fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialProvider")
            .field("blocking", &self.is_blocking())
            .finish()
    }
}

/// A call of the custom provider, for the caller to run: [`run`](Self::run) it on a
/// [`Runtime`] and pass the output back.
#[derive(Debug)]
pub struct ProviderRequest {
    pub(crate) provider: CredentialProvider,
}

/// What the custom provider gave.
pub struct ProviderOutput(pub(crate) Result<Credentials>);

impl fmt::Debug for ProviderOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProviderOutput")
            .field(&self.0.as_ref().map(Credentials::access_key_id))
            .finish()
    }
}

impl ProviderRequest {
    /// Calls the provider.
    pub async fn run<R: Runtime + 'static>(self, runtime: &R) -> ProviderOutput {
        let credentials = self.provider.0.call((), runtime, |output| output).await;
        ProviderOutput(credentials.map_err(|e| {
            Error::Aws(AwsError::Unavailable {
                what: "the custom credential provider".into(),
                reason: with_causes(e.as_ref()),
            })
        }))
    }
}

/// `error` and the errors under it, as one line: the AWS SDK's errors keep their reason
/// (`no profile`) under a general one (`the credential provider was not enabled`). A cause
/// already said is not said again; at most eight are.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut said = error.to_string();
    for cause in std::iter::successors(error.source(), |cause| cause.source()).take(8) {
        let cause = cause.to_string();
        if !said.contains(&cause) {
            said.push_str(": ");
            said.push_str(&cause);
        }
    }
    said
}

//! The settings of an [`Authenticator`](super::Authenticator): what the caller passes, shared by
//! every connection of a client. Cloning is cheap (the caches, the generator and the callbacks
//! are shared), and the options may cross threads.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
#[cfg(feature = "oidc")]
use std::time::Duration;

use crate::environment::{Clock, Environment, SystemClock, SystemEnvironment};
use crate::random::{SecureRandom, SystemRandom};
use crate::scram::{DEFAULT_MAX_ITERATIONS, ScramKeyCache};

/// A caller's generator, shared by the clones of the options that hold it.
type SharedRandom = Arc<Mutex<dyn SecureRandom + Send>>;

/// A source of SCRAM client nonces chosen by a test (see [`AuthOptions::dangerous`]).
type NonceGenerator = Arc<Mutex<dyn FnMut() -> String + Send>>;

/// Settings of an [`Authenticator`](super::Authenticator).
///
/// ```
/// use std::sync::Arc;
/// use mongodb_auth::{AuthOptions, ScramKeyCache};
///
/// // One per client: every connection gets a clone, sharing the key cache.
/// let options = AuthOptions::default()
///     .key_cache(Some(Arc::new(ScramKeyCache::new(16, &mut mongodb_auth::random::SystemRandom))))
///     .speculative(true);
/// let for_a_connection = options.clone();
/// # let _ = for_a_connection;
/// ```
#[derive(Clone)]
pub struct AuthOptions {
    pub(crate) speculative: bool,
    pub(crate) max_iterations: u32,
    pub(crate) key_cache: Option<Arc<ScramKeyCache>>,
    random: Option<SharedRandom>,
    pub(crate) environment: Arc<dyn Environment>,
    pub(crate) clock: Arc<dyn Clock>,
    #[cfg(feature = "aws")]
    pub(crate) aws_provider: Option<crate::aws::CredentialProvider>,
    #[cfg(feature = "aws")]
    pub(crate) aws_cache: Option<Arc<crate::aws::CredentialCache>>,
    #[cfg(feature = "oidc")]
    pub(crate) oidc_client: Arc<crate::oidc::OidcClient>,
    #[cfg(feature = "oidc")]
    pub(crate) oidc_callback: Option<crate::oidc::Callback>,
    #[cfg(feature = "oidc")]
    pub(crate) oidc_human_flows: Option<crate::oidc::HumanFlows>,
    #[cfg(feature = "oidc")]
    pub(crate) oidc_machine_timeout: Option<Duration>,
    pub(crate) host: Option<String>,
    pub(crate) gssapi_provider: Option<Arc<dyn crate::gssapi::GssProvider>>,
    pub(crate) danger: Danger,
}

/// What tests may change (see [`AuthOptions::dangerous`]).
#[derive(Clone, Default)]
pub(crate) struct Danger {
    pub(crate) forced_nonces: Option<NonceGenerator>,
    /// Replaces the Azure and GCP metadata hosts.
    pub(crate) oidc_metadata_endpoint: Option<String>,
}

impl AuthOptions {
    /// Turns speculative authentication on or off (default on; servers before 4.4 ignore it).
    pub fn speculative(mut self, enabled: bool) -> Self {
        self.speculative = enabled;
        self
    }

    /// The SCRAM iteration-count ceiling (default [`DEFAULT_MAX_ITERATIONS`]): a hostile server
    /// cannot make the client burn minutes of CPU.
    pub fn max_iterations(mut self, max: u32) -> Self {
        self.max_iterations = max;
        self
    }

    /// Where SCRAM keys are cached (default: the process-wide [`ScramKeyCache::global`]), or
    /// nowhere: the keys are then derived on every conversation.
    pub fn key_cache(mut self, cache: Option<Arc<ScramKeyCache>>) -> Self {
        self.key_cache = cache;
        self
    }

    /// Draws nonces from `random` instead of [`SystemRandom`] (rule G6: it must be a CSPRNG; a
    /// seeded one makes tests deterministic). Any generator fits behind [`SecureRandom`],
    /// whatever version of `rand` the caller uses; the clones of these options share it.
    pub fn with_random(mut self, random: impl SecureRandom + Send + 'static) -> Self {
        self.random = Some(Arc::new(Mutex::new(random)));
        self
    }

    /// Reads environment variables (MONGODB-AWS credentials, the OIDC environments' files, and
    /// for the adapters `hello`'s [`ClientEnv`](super::ClientEnv)) from `environment` instead
    /// of the process's.
    pub fn with_environment(mut self, environment: impl Environment + 'static) -> Self {
        self.environment = Arc::new(environment);
        self
    }

    /// Where environment variables are read: the process's, or what
    /// [`with_environment`](Self::with_environment) gave.
    pub fn environment(&self) -> &dyn Environment {
        self.environment.as_ref()
    }

    /// Takes the time (the MONGODB-AWS signature date, callback deadlines) from `clock` instead
    /// of the system's.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// MONGODB-AWS credentials from `provider`, which wins over every other source.
    #[cfg(feature = "aws")]
    pub fn aws_credential_provider(mut self, provider: crate::aws::CredentialProvider) -> Self {
        self.aws_provider = Some(provider);
        self
    }

    /// Where fetched MONGODB-AWS credentials are cached (default: the process-wide
    /// [`CredentialCache::global`](crate::aws::CredentialCache::global)), or nowhere.
    #[cfg(feature = "aws")]
    pub fn aws_credential_cache(mut self, cache: Option<Arc<crate::aws::CredentialCache>>) -> Self {
        self.aws_cache = cache;
        self
    }

    /// The MONGODB-OIDC client cache to use. By default the options make one, and their clones
    /// share it: clone one `AuthOptions` into every connection of a client, and the callback
    /// runs once for all of them (rule L16). Give another to share one across clients, or a
    /// fresh one to share none.
    #[cfg(feature = "oidc")]
    pub fn oidc_client(mut self, client: Arc<crate::oidc::OidcClient>) -> Self {
        self.oidc_client = client;
        self
    }

    /// The MONGODB-OIDC callback, for a credential whose tokens come from one
    /// ([`CredentialOptions::oidc_callback`](crate::CredentialOptions::oidc_callback) says which
    /// flow it serves).
    #[cfg(feature = "oidc")]
    pub fn oidc_callback(mut self, callback: crate::oidc::Callback) -> Self {
        self.oidc_callback = Some(callback);
        self
    }

    /// The built-in MONGODB-OIDC human callback: a person logs in with the first of these
    /// flows the identity provider offers, through asks the adapters answer (a browser, a
    /// loopback redirect listener, a notice with the device code). It serves a credential of the
    /// human flow
    /// ([`CredentialOptions::oidc_callback`](crate::CredentialOptions::oidc_callback) with
    /// [`Flow::Human`](crate::credential::Flow::Human)) in place of a callback of one's own.
    ///
    /// ```
    /// use mongodb_auth::AuthOptions;
    /// use mongodb_auth::oidc::{HumanFlow, HumanFlows};
    ///
    /// let options = AuthOptions::default()
    ///     .oidc_human_flows(HumanFlows::new([HumanFlow::AuthorizationCode, HumanFlow::DeviceAuthorization]));
    /// # let _ = options;
    /// ```
    #[cfg(feature = "oidc")]
    pub fn oidc_human_flows(mut self, flows: crate::oidc::HumanFlows) -> Self {
        self.oidc_human_flows = Some(flows);
        self
    }

    /// How long a MONGODB-OIDC machine callback (or built-in environment) may take: the
    /// operation's remaining time, when the caller has a deadline (rule L12). Default
    /// [`MACHINE_CALLBACK_TIMEOUT`](crate::oidc::MACHINE_CALLBACK_TIMEOUT), one minute. The human
    /// flow's five minutes are not shortened (rule L12). A timeout longer than
    /// [`LONGEST_WAIT`](crate::environment::LONGEST_WAIT) (`Duration::MAX` for none) is that.
    #[cfg(feature = "oidc")]
    pub fn oidc_machine_timeout(mut self, timeout: Duration) -> Self {
        self.oidc_machine_timeout = Some(timeout.min(crate::environment::LONGEST_WAIT));
        self
    }

    /// Shortens the machine callback's timeout (the one set, or the default) to `limit` if it
    /// is longer: with a client-side operation timeout (`timeoutMS`), rule L12 gives the
    /// callback the least of what remains of it and of the connect timeout.
    #[cfg(feature = "oidc")]
    pub fn oidc_machine_timeout_at_most(self, limit: Duration) -> Self {
        let current = self
            .oidc_machine_timeout
            .unwrap_or(crate::oidc::MACHINE_CALLBACK_TIMEOUT);
        self.oidc_machine_timeout(current.min(limit))
    }

    /// Where GSSAPI contexts come from. The core has none of its own: the adapters of
    /// `mongodb-auth-io` (feature `gssapi`) give the system's Kerberos when this is not set.
    pub fn gssapi_provider(mut self, provider: Arc<dyn crate::gssapi::GssProvider>) -> Self {
        self.gssapi_provider = Some(provider);
        self
    }

    /// Whether a GSSAPI context provider was given.
    pub fn has_gssapi_provider(&self) -> bool {
        self.gssapi_provider.is_some()
    }

    /// The host of the server being authenticated to, as connected to (after `mongodb+srv`
    /// resolution, without port). The MONGODB-OIDC human flow refuses to run unless it is in
    /// `ALLOWED_HOSTS` (rule L6), and GSSAPI names the service after it; the adapters set it.
    pub fn server_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The knobs that weaken a guarantee, for tests only: fenced off here as rustls fences
    /// `ClientConfig::dangerous()`.
    ///
    /// ```
    /// use mongodb_auth::AuthOptions;
    ///
    /// // Replays the auth spec's example conversation, whose client nonce is fixed.
    /// let mut options = AuthOptions::default();
    /// options.dangerous().set_nonces(|| "rOprNGfwEbeRWgbNEkqO".to_owned());
    /// ```
    pub fn dangerous(&mut self) -> DangerousAuthOptions<'_> {
        DangerousAuthOptions { options: self }
    }

    /// Fills `bytes` from the caller's generator, or the system's.
    pub(crate) fn fill_random(&self, bytes: &mut [u8]) {
        match &self.random {
            // A panic while drawing cannot leave a generator in a state worse than any other.
            Some(random) => random
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .fill(bytes),
            None => SystemRandom.fill(bytes),
        }
    }

    /// A nonce a test forced, if any.
    pub(crate) fn forced_nonce(&self) -> Option<String> {
        let generator = self.danger.forced_nonces.as_ref()?;
        let mut generate = generator.lock().unwrap_or_else(PoisonError::into_inner);
        Some(generate())
    }
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            speculative: true,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            key_cache: Some(ScramKeyCache::global()),
            random: None,
            environment: Arc::new(SystemEnvironment),
            clock: Arc::new(SystemClock),
            #[cfg(feature = "aws")]
            aws_provider: None,
            #[cfg(feature = "aws")]
            aws_cache: Some(crate::aws::CredentialCache::global()),
            #[cfg(feature = "oidc")]
            oidc_client: crate::oidc::OidcClient::new(),
            #[cfg(feature = "oidc")]
            oidc_callback: None,
            #[cfg(feature = "oidc")]
            oidc_human_flows: None,
            #[cfg(feature = "oidc")]
            oidc_machine_timeout: None,
            host: None,
            gssapi_provider: None,
            danger: Danger::default(),
        }
    }
}

impl fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthOptions")
            .field("speculative", &self.speculative)
            .field("max_iterations", &self.max_iterations)
            .field("key_cache", &self.key_cache)
            .field("custom_random", &self.random.is_some())
            .field("host", &self.host)
            .field("forced_nonces", &self.danger.forced_nonces.is_some())
            .finish_non_exhaustive()
    }
}

/// The test knobs of [`AuthOptions`]: each one weakens a guarantee the crate otherwise keeps.
/// Nothing outside a test should call them.
pub struct DangerousAuthOptions<'a> {
    options: &'a mut AuthOptions,
}

impl std::fmt::Debug for DangerousAuthOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DangerousAuthOptions")
            .finish_non_exhaustive()
    }
}

impl DangerousAuthOptions<'_> {
    /// Takes SCRAM client nonces from `generator` instead of drawing them at random, e.g. to
    /// replay the auth spec's examples. A predictable nonce lets a recorded conversation be
    /// replayed, which is why this is for tests only. A nonce must be printable ASCII without
    /// `,`; anything else fails the conversation.
    pub fn set_nonces(&mut self, generator: impl FnMut() -> String + Send + 'static) {
        self.options.danger.forced_nonces = Some(Arc::new(Mutex::new(generator)));
    }

    /// Sends the MONGODB-OIDC `azure` and `gcp` environments' metadata requests to `base` (say
    /// `http://127.0.0.1:8080`) instead of `http://169.254.169.254` or `http://metadata`, with
    /// the same paths and headers: a test plays the metadata endpoint. Pointed elsewhere, it
    /// would hand a workload's identity to whoever listens there.
    pub fn set_oidc_metadata_endpoint(&mut self, base: impl Into<String>) {
        self.options.danger.oidc_metadata_endpoint = Some(base.into());
    }
}

//! The client cache (rules L16 to L18) and the token requests that fill it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, SystemTime};

use super::builtin::BuiltIn;
use super::callback::{CallbackContext, IdpInfo, OidcCallback, Token};
use crate::ask::{Answer, Ask};
use crate::environment::Clock;
use crate::error::{Error, OidcError, Result};
use crate::secret::Secret;

/// The least time between the end of one callback call and the start of the next (rule L17).
pub const MIN_CALLBACK_INTERVAL: Duration = Duration::from_millis(100);

/// How often a request waiting for its turn looks again.
const TURN_POLL: Duration = Duration::from_millis(10);

/// The client cache of MONGODB-OIDC: the one most recent access token of a client, and for the
/// human flow its refresh token and the server's `IdpInfo` (rule L16).
///
/// Share one (in an `Arc`) across every connection of a client, as a driver's pool does, through
/// [`AuthOptions::oidc_client`](crate::AuthOptions::oidc_client): the callback is then called once
/// for them all, one call at a time. Without one, each authenticator has a cache of its own.
///
/// ```
/// use mongodb_auth::oidc::{OidcClient, Token};
///
/// let client = OidcClient::new();
/// assert!(!client.has_access_token());
/// // A token kept from an earlier run is offered first, as if a callback had returned it.
/// client.seed(Token::new("eyJ..."));
/// assert!(client.has_access_token());
/// ```
#[derive(Default)]
pub struct OidcClient {
    cached: Mutex<Cached>,
    /// Held while a callback runs, so calls never overlap (rule L17). No lock is held while a
    /// command is on the wire.
    turn: Mutex<()>,
}

#[derive(Default)]
struct Cached {
    access: Option<(Secret, u64)>,
    refresh: Option<Secret>,
    idp_info: Option<IdpInfo>,
    generation: u64,
    last_call_ended: Option<SystemTime>,
    calls: u64,
}

impl OidcClient {
    /// An empty cache.
    pub fn new() -> Arc<Self> {
        Arc::new(OidcClient::default())
    }

    fn cached(&self) -> MutexGuard<'_, Cached> {
        // A panicking callback runs under `turn`, never under this lock: its state is whole.
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an access token is cached (the next login tries it, inside `hello`).
    pub fn has_access_token(&self) -> bool {
        self.cached().access.is_some()
    }

    /// How many times a callback (or a built-in environment) was asked for a token.
    pub fn callback_calls(&self) -> u64 {
        self.cached().calls
    }

    /// Puts `token` in the cache as if a callback had returned it: a token kept from an earlier
    /// run, for instance. It replaces whatever was cached.
    pub fn seed(&self, token: Token) {
        self.store(token, None);
    }

    /// The cached access token and its generation.
    pub(crate) fn access_token(&self) -> Option<(Secret, u64)> {
        self.cached().access.clone()
    }

    /// The refresh token and the `IdpInfo` it goes with, when both are cached.
    pub(crate) fn refresh_token(&self) -> Option<(Secret, IdpInfo)> {
        let cached = self.cached();
        Some((cached.refresh.clone()?, cached.idp_info.clone()?))
    }

    /// Drops the refresh token (the server refused what it gave, rule L20 step 2).
    pub(crate) fn forget_refresh_token(&self) {
        self.cached().refresh = None;
    }

    /// Clears the access token if it is still the one of `generation` (rule L18: a token another
    /// connection already replaced stays).
    pub(crate) fn invalidate(&self, generation: u64) {
        let mut cached = self.cached();
        if cached
            .access
            .as_ref()
            .is_some_and(|(_, g)| *g == generation)
        {
            cached.access = None;
        }
    }

    fn store(&self, token: Token, idp_info: Option<IdpInfo>) -> IssuedToken {
        let mut cached = self.cached();
        cached.generation += 1;
        let generation = cached.generation;
        cached.access = Some((token.access_token.clone(), generation));
        if idp_info.is_some() {
            // A human-flow answer replaces the refresh token, with none if it gave none: an old
            // one must not outlive the identity provider it came from.
            cached.refresh = token.refresh_token;
            cached.idp_info = idp_info;
        } else if token.refresh_token.is_some() {
            cached.refresh = token.refresh_token;
        }
        IssuedToken {
            access_token: token.access_token,
            generation,
            from_cache: false,
        }
    }
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cached();
        f.debug_struct("OidcClient")
            .field("access_token", &cached.access.is_some())
            .field("refresh_token", &cached.refresh.is_some())
            .field("idp_info", &cached.idp_info)
            .field("callback_calls", &cached.calls)
            .finish()
    }
}

/// A token from the cache, ready for [`Authenticator::handle_token`](crate::Authenticator::handle_token).
pub struct IssuedToken {
    pub(crate) access_token: Secret,
    pub(crate) generation: u64,
    from_cache: bool,
}

impl IssuedToken {
    /// Whether another connection's call had already cached it (no call was made).
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("generation", &self.generation)
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

/// Where a token request gets its token.
#[derive(Clone)]
pub(crate) enum Provider {
    Callback(Arc<dyn OidcCallback>),
    BuiltIn(BuiltIn, Ask),
}

/// The authenticator needs an access token: run [`fetch`](Self::fetch) (it may block: in async
/// code, on a blocking pool) and pass the result to
/// [`Authenticator::handle_token`](crate::Authenticator::handle_token).
pub struct TokenRequest {
    pub(crate) client: Arc<OidcClient>,
    pub(crate) provider: Provider,
    pub(crate) context: CallbackContext,
    pub(crate) clock: Arc<dyn Clock>,
}

impl TokenRequest {
    /// What the callback will be called with.
    pub fn context(&self) -> &CallbackContext {
        &self.context
    }

    /// How long the callback may take (rule L12).
    pub fn timeout(&self) -> Duration {
        self.context.timeout
    }

    /// The built-in environment (`test`, `azure`, `gcp`, `k8s`) that supplies the token, or
    /// `None` for a callback.
    pub fn environment(&self) -> Option<&'static str> {
        match &self.provider {
            Provider::BuiltIn(builtin, _) => Some(builtin.name()),
            Provider::Callback(_) => None,
        }
    }

    /// What a built-in environment needs done to get its token (a file read, an HTTP request);
    /// `fetch` passes it to its `answer` argument.
    pub fn ask(&self) -> Option<&Ask> {
        match &self.provider {
            Provider::BuiltIn(_, ask) => Some(ask),
            Provider::Callback(_) => None,
        }
    }

    /// Gets the token: waits its turn behind other calls of the same client, takes a token
    /// another connection cached meanwhile, or else calls the callback (or has `answer` do what
    /// the built-in environment asks) no sooner than 100 ms after the last call, and caches it.
    /// `sleep` is how to wait those 100 ms.
    ///
    /// A turn that does not come before the callback's deadline (another connection's callback
    /// hangs) is a timeout: the wait never outlives the request.
    pub fn fetch(
        self,
        answer: impl FnOnce(&Ask) -> Answer,
        sleep: impl Fn(Duration),
    ) -> Result<IssuedToken> {
        let client = self.client.clone();
        let _turn = loop {
            match client.turn.try_lock() {
                Ok(turn) => break turn,
                Err(TryLockError::Poisoned(poisoned)) => break poisoned.into_inner(),
                Err(TryLockError::WouldBlock) if self.clock.now() < self.context.deadline => {
                    sleep(TURN_POLL);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::Timeout {
                        operation: "waiting for another connection's OIDC callback",
                        after: self.context.timeout,
                    });
                }
            }
        };
        if let Some((access_token, generation)) = client.access_token() {
            return Ok(IssuedToken {
                access_token,
                generation,
                from_cache: true,
            });
        }
        let last_call_ended = client.cached().last_call_ended;
        if let Some(ended) = last_call_ended {
            let since = self
                .clock
                .now()
                .duration_since(ended)
                .unwrap_or(Duration::ZERO);
            if since < MIN_CALLBACK_INTERVAL {
                sleep(MIN_CALLBACK_INTERVAL - since);
            }
        }
        let token = match &self.provider {
            Provider::Callback(callback) => callback.fetch(&self.context).map_err(|e| {
                OidcError::CallbackFailed {
                    reason: e.to_string(),
                }
                .into()
            }),
            Provider::BuiltIn(builtin, ask) => builtin.token(answer(ask)),
        };
        {
            let mut cached = client.cached();
            cached.calls += 1;
            cached.last_call_ended = Some(self.clock.now());
        }
        let token = token?;
        if token.access_token.expose().is_empty() {
            return Err(OidcError::EmptyAccessToken.into());
        }
        Ok(client.store(token, self.context.idp_info.clone()))
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("environment", &self.environment())
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::environment::FixedClock;
    use crate::oidc::CALLBACK_VERSION;

    fn request(client: &Arc<OidcClient>, calls: &Arc<AtomicUsize>) -> TokenRequest {
        let calls = calls.clone();
        let callback = move |_: &CallbackContext| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(Token::new(format!("token-{n}")))
        };
        TokenRequest {
            client: client.clone(),
            provider: Provider::Callback(Arc::new(callback)),
            context: CallbackContext {
                timeout: Duration::from_secs(60),
                deadline: SystemTime::UNIX_EPOCH,
                version: CALLBACK_VERSION,
                username: None,
                idp_info: None,
                refresh_token: None,
            },
            // The clock stands still: the second call comes "at once" after the first.
            clock: Arc::new(FixedClock(SystemTime::UNIX_EPOCH + Duration::from_secs(1))),
        }
    }

    fn no_ask(_: &Ask) -> Answer {
        unreachable!("a callback asks nothing")
    }

    #[test]
    fn calls_are_spaced_and_a_cached_token_is_taken_without_a_call() {
        let client = OidcClient::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let slept = Mutex::new(Vec::new());
        let sleep = |d| slept.lock().unwrap().push(d);
        let first = request(&client, &calls).fetch(no_ask, sleep).unwrap();
        assert_eq!(first.access_token.expose(), "token-0");
        assert!(
            slept.lock().unwrap().is_empty(),
            "the first call waits for nothing"
        );
        // Cached: no call.
        let cached = request(&client, &calls).fetch(no_ask, sleep).unwrap();
        assert!(cached.from_cache() && cached.generation == first.generation);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Invalidated: a new call, 100 ms after the last one ended (rule L17).
        client.invalidate(first.generation);
        let second = request(&client, &calls).fetch(no_ask, sleep).unwrap();
        assert_eq!(second.access_token.expose(), "token-1");
        assert_eq!(*slept.lock().unwrap(), [MIN_CALLBACK_INTERVAL]);
        assert_eq!(client.callback_calls(), 2);
    }

    #[test]
    fn a_turn_that_never_comes_is_a_timeout_at_the_deadline() {
        let client = OidcClient::new();
        let calls = Arc::new(AtomicUsize::new(0));
        // Another connection's callback hangs with the turn.
        let _hung = client.turn.lock().unwrap();
        // The deadline (the epoch) is behind the clock (one second after it).
        let error = request(&client, &calls).fetch(no_ask, |_| {}).unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{error}");
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn invalidation_is_compare_and_swap() {
        let client = OidcClient::new();
        client.seed(Token::new("a"));
        let (_, old) = client.access_token().unwrap();
        client.seed(Token::new("b"));
        // A connection that used "a" cannot clear "b" (rule L18).
        client.invalidate(old);
        assert_eq!(client.access_token().unwrap().0.expose(), "b");
        let (_, current) = client.access_token().unwrap();
        client.invalidate(current);
        assert!(!client.has_access_token());
    }
}

//! The client cache (rules L16 to L18) and the token requests that fill it.
//!
//! One call at a time for all the connections of a client (rule L17), with no lock held across
//! the caller's await: the turn is an async lock that a request waits for, holds while the
//! callback runs, and gives back when it finishes or is dropped.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use super::builtin::BuiltIn;
use super::callback::{Callback, CallbackContext, IdpInfo, Token};
use super::human::{FLOW_RANDOM_BYTES, FlowStep, HumanFlows, HumanLogin};
use crate::ask::Ask;
use crate::callback::Runtime;
use crate::environment::Clock;
use crate::error::{OidcError, Result};
use crate::secret::Secret;

/// The least time between the end of one callback call and the start of the next (rule L17).
pub const MIN_CALLBACK_INTERVAL: Duration = Duration::from_millis(100);

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
    /// command is on the wire, and waiting for it blocks no thread.
    turn: Arc<async_lock::Mutex<()>>,
}

#[derive(Default)]
struct Cached {
    access: Option<(Secret, u64)>,
    /// When the access token expires, when its source said (kept for [`SavedTokens`]; the
    /// spec has the cache ignore it).
    access_expires_at: Option<SystemTime>,
    refresh: Option<Secret>,
    idp_info: Option<IdpInfo>,
    generation: u64,
    last_call_ended: Option<SystemTime>,
    calls: u64,
}

impl Cached {
    /// Caches `token` as a new generation, which it returns.
    fn set_access(&mut self, token: Secret, expires_at: Option<SystemTime>) -> u64 {
        self.generation += 1;
        self.access = Some((token, self.generation));
        self.access_expires_at = expires_at;
        self.generation
    }
}

impl OidcClient {
    /// An empty cache.
    pub fn new() -> Arc<Self> {
        Arc::new(OidcClient::default())
    }

    fn cached(&self) -> MutexGuard<'_, Cached> {
        // Every update is a few field writes under this lock, none of them can panic halfway.
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
        self.store(token, None, None);
    }

    /// What the cache holds, to keep until the next run (a tool's token cache file): the
    /// access token with its expiry, and for the human flow the refresh token and the
    /// `IdpInfo` it goes with.
    pub fn saved_tokens(&self) -> SavedTokens {
        let cached = self.cached();
        SavedTokens {
            access_token: cached.access.as_ref().map(|(token, _)| token.clone()),
            expires_at: cached.access_expires_at,
            refresh_token: cached.refresh.clone(),
            idp_info: cached.idp_info.clone(),
        }
    }

    /// Puts back what [`saved_tokens`](Self::saved_tokens) kept: the access token only while it
    /// is valid at `now`, and the refresh token with its `IdpInfo`, so the next login uses the
    /// access token, else the refresh token, and needs a person only when both are gone.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use mongodb_auth::oidc::{IdpInfo, OidcClient, SavedTokens};
    ///
    /// let now = SystemTime::now();
    /// let mut saved = SavedTokens::default();
    /// saved.access_token = Some("eyJ...".into());
    /// saved.expires_at = Some(now - Duration::from_secs(1));
    /// saved.refresh_token = Some("r1".into());
    /// saved.idp_info = Some(IdpInfo::new("https://idp.example"));
    /// let client = OidcClient::new();
    /// client.restore(saved, now);
    /// assert!(!client.has_access_token(), "expired");
    /// assert!(client.saved_tokens().refresh_token.is_some());
    /// ```
    pub fn restore(&self, saved: SavedTokens, now: SystemTime) {
        let mut cached = self.cached();
        let valid = saved.expires_at.is_none_or(|at| at > now);
        if let Some(token) = saved.access_token.filter(|_| valid) {
            cached.set_access(token, saved.expires_at);
        }
        if let (Some(refresh), Some(idp_info)) = (saved.refresh_token, saved.idp_info) {
            cached.refresh = Some(refresh);
            cached.idp_info = Some(idp_info);
        }
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
            cached.access_expires_at = None;
        }
    }

    fn store(
        &self,
        token: Token,
        idp_info: Option<IdpInfo>,
        now: Option<SystemTime>,
    ) -> IssuedToken {
        let mut cached = self.cached();
        // A lifetime past the clock's range (a provider's `expires_in` is its own to choose)
        // is no expiry at all.
        let expires_at = now
            .zip(token.expires_in)
            .and_then(|(now, life)| now.checked_add(life));
        let generation = cached.set_access(token.access_token.clone(), expires_at);
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

/// What an [`OidcClient`] holds, taken out to keep between runs and put back with
/// [`OidcClient::restore`]. The tokens are secrets: store them where only their owner reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedTokens {
    /// The access token.
    pub access_token: Option<Secret>,
    /// When it expires, when its source said.
    pub expires_at: Option<SystemTime>,
    /// The human flow's refresh token.
    pub refresh_token: Option<Secret>,
    /// The identity provider the refresh token is for.
    pub idp_info: Option<IdpInfo>,
}

/// A token from the cache, ready for the authenticator.
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
    Callback(Callback),
    BuiltIn(BuiltIn, Ask),
    /// The built-in human callback, with the randomness its login draws.
    Human(HumanFlows, Zeroizing<[u8; FLOW_RANDOM_BYTES]>),
}

/// The authenticator needs an access token: [`run`](Self::run) the request (it waits its turn,
/// calls the callback or has the runtime answer the built-in environment's ask) and pass the
/// output back.
pub struct TokenRequest {
    pub(crate) client: Arc<OidcClient>,
    pub(crate) provider: Provider,
    pub(crate) context: CallbackContext,
    pub(crate) clock: Arc<dyn Clock>,
    /// The human flow's: a person's callback, or the built-in human flows.
    pub(crate) human: bool,
}

/// What a token request got.
pub struct TokenOutput(pub(crate) Result<IssuedToken>);

impl fmt::Debug for TokenOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenOutput").field(&self.0).finish()
    }
}

impl TokenOutput {
    /// Whether another connection's call had already cached the token (no call was made).
    pub fn from_cache(&self) -> bool {
        self.0.as_ref().is_ok_and(IssuedToken::from_cache)
    }
}

/// Records a call when it ends, however it ends: returned, failed, or dropped with the login.
struct CallRecord {
    client: Arc<OidcClient>,
    clock: Arc<dyn Clock>,
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        let now = self.clock.now();
        let mut cached = self.client.cached();
        cached.calls += 1;
        cached.last_call_ended = Some(now);
    }
}

impl TokenRequest {
    /// What the callback will be called with.
    pub fn context(&self) -> &CallbackContext {
        &self.context
    }

    /// How long the callback may take (rule L12): the caller stops waiting after it.
    pub fn timeout(&self) -> Duration {
        self.context.timeout
    }

    /// Whether it is the human flow's (a person's callback, or the built-in human flows): the
    /// auth specification gives a person its five minutes outside the client-side operations
    /// timeout.
    pub fn is_human(&self) -> bool {
        self.human
    }

    /// The built-in environment (`test`, `azure`, `gcp`, `k8s`) that supplies the token, or
    /// `None` for a callback.
    pub fn environment(&self) -> Option<&'static str> {
        match &self.provider {
            Provider::BuiltIn(builtin, _) => Some(builtin.name()),
            Provider::Callback(_) | Provider::Human(..) => None,
        }
    }

    /// Whether the token comes from blocking code (a blocking callback).
    pub fn is_blocking(&self) -> bool {
        matches!(&self.provider, Provider::Callback(callback) if callback.is_blocking())
    }

    /// Gets the token: waits its turn behind other calls of the same client, takes a token
    /// another connection cached meanwhile, or else calls the callback (or has `runtime` answer
    /// what the built-in environment asks) no sooner than 100 ms after the last call, and caches
    /// it.
    ///
    /// Bound it with [`timeout`](Self::timeout): dropping the future stops the wait, cancels an
    /// async callback and frees the turn for the next connection (a blocking callback keeps
    /// the turn until it returns, so calls still never overlap).
    pub async fn run<R: Runtime + 'static>(self, runtime: &R) -> TokenOutput {
        TokenOutput(self.fetch(runtime).await)
    }

    async fn fetch<R: Runtime + 'static>(self, runtime: &R) -> Result<IssuedToken> {
        let client = self.client.clone();
        let turn = client.turn.lock_arc().await;
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
                runtime.sleep(MIN_CALLBACK_INTERVAL - since).await;
            }
        }
        let record = CallRecord {
            client: client.clone(),
            clock: self.clock.clone(),
        };
        let idp_info = self.context.idp_info.clone();
        let clock = self.clock.clone();
        // The token is cached before the turn is given back: the next connection in line finds
        // it there and makes no call of its own.
        let cache = move |token: Result<Token>| {
            let issued = token.and_then(|token| {
                if token.access_token.expose().is_empty() {
                    return Err(OidcError::EmptyAccessToken.into());
                }
                Ok(record.client.store(token, idp_info, Some(clock.now())))
            });
            drop(record);
            drop(turn);
            issued
        };
        match &self.provider {
            Provider::Callback(callback) => {
                let then =
                    move |token: std::result::Result<Token, crate::callback::CallbackError>| {
                        cache(token.map_err(|e| {
                            OidcError::CallbackFailed {
                                reason: e.to_string(),
                            }
                            .into()
                        }))
                    };
                callback.0.call(self.context.clone(), runtime, then).await
            }
            Provider::BuiltIn(builtin, ask) => {
                let answer = runtime.answer(ask.clone()).await;
                cache(builtin.token(answer))
            }
            Provider::Human(flows, random) => {
                let token = self.log_in(flows, random, runtime).await;
                cache(token)
            }
        }
    }

    /// Runs the built-in human callback: every ask answered by `runtime`, every wait slept on
    /// it.
    async fn log_in<R: Runtime + 'static>(
        &self,
        flows: &HumanFlows,
        random: &[u8; FLOW_RANDOM_BYTES],
        runtime: &R,
    ) -> Result<Token> {
        let idp_info = self
            .context
            .idp_info
            .as_ref()
            .ok_or(OidcError::MalformedIdpInfo {
                rule: "is missing: the human flow needs the server's IdpInfo",
            })?;
        let (mut login, mut step) = HumanLogin::start(
            flows,
            idp_info,
            self.context.refresh_token.clone(),
            *random,
            self.context.timeout,
        )?;
        loop {
            step = match step {
                FlowStep::Ask(ask) => login.answer(runtime.answer(ask).await, self.clock.now())?,
                FlowStep::Wait(duration) => {
                    runtime.sleep(duration).await;
                    login.waited(self.clock.now())?
                }
                FlowStep::Done(token) => return Ok(token),
            };
        }
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
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::ask::Answer;
    use crate::environment::FixedClock;
    use crate::oidc::CALLBACK_VERSION;

    /// A runtime whose sleeps are recorded and end at once, and whose blocking work runs inline.
    #[derive(Default)]
    struct Recording {
        slept: Mutex<Vec<Duration>>,
    }

    impl Runtime for Recording {
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
            self.slept.lock().unwrap().push(duration);
            std::future::ready(())
        }

        fn run_blocking<T, F>(&self, work: F) -> impl Future<Output = T> + Send + use<T, F>
        where
            T: Send + 'static,
            F: FnOnce() -> T + Send + 'static,
        {
            std::future::ready(work())
        }

        fn answer(&self, ask: Ask) -> impl Future<Output = Answer> + Send + use<> {
            std::future::ready(ask.fail("no I/O here"))
        }
    }

    fn poll<F: Future>(future: &mut std::pin::Pin<Box<F>>) -> Poll<F::Output> {
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }

    fn now<F: Future>(future: F) -> F::Output {
        match poll(&mut Box::pin(future)) {
            Poll::Ready(output) => output,
            Poll::Pending => panic!("the future waits for something that never comes here"),
        }
    }

    fn request(client: &Arc<OidcClient>, callback: Callback) -> TokenRequest {
        TokenRequest {
            client: client.clone(),
            provider: Provider::Callback(callback),
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
            human: false,
        }
    }

    fn counting(calls: &Arc<AtomicUsize>) -> Callback {
        let calls = calls.clone();
        Callback::blocking(move |_: &CallbackContext| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(Token::new(format!("token-{n}")))
        })
    }

    #[test]
    fn calls_are_spaced_and_a_cached_token_is_taken_without_a_call() {
        let client = OidcClient::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let runtime = Recording::default();
        let first = now(request(&client, counting(&calls)).run(&runtime))
            .0
            .unwrap();
        assert_eq!(first.access_token.expose(), "token-0");
        assert!(
            runtime.slept.lock().unwrap().is_empty(),
            "the first call waits for nothing"
        );
        // Cached: no call.
        let cached = now(request(&client, counting(&calls)).run(&runtime))
            .0
            .unwrap();
        assert!(cached.from_cache() && cached.generation == first.generation);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Invalidated: a new call, 100 ms after the last one ended (rule L17).
        client.invalidate(first.generation);
        let second = now(request(&client, counting(&calls)).run(&runtime))
            .0
            .unwrap();
        assert_eq!(second.access_token.expose(), "token-1");
        assert_eq!(*runtime.slept.lock().unwrap(), [MIN_CALLBACK_INTERVAL]);
        assert_eq!(client.callback_calls(), 2);
    }

    #[test]
    fn a_turn_is_waited_for_without_blocking_and_a_dropped_call_gives_it_back() {
        let client = OidcClient::new();
        let runtime = Recording::default();
        // An async callback that never finishes: it holds the turn while it is polled.
        let hanging = Callback::new(|_| std::future::pending());
        let mut first = Box::pin(request(&client, hanging).run(&runtime));
        assert!(poll(&mut first).is_pending());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut second = Box::pin(request(&client, counting(&calls)).run(&runtime));
        assert!(
            poll(&mut second).is_pending(),
            "the second waits its turn, and the wait returns to the caller"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // The first login is dropped in the middle of its callback: the turn is free.
        drop(first);
        let Poll::Ready(TokenOutput(Ok(token))) = poll(&mut second) else {
            panic!("the second call runs once the first is dropped");
        };
        assert_eq!(token.access_token.expose(), "token-0");
        assert_eq!(
            client.callback_calls(),
            2,
            "the dropped call counts as a call"
        );
    }

    #[test]
    fn a_lifetime_past_the_clocks_range_is_no_expiry() {
        let client = OidcClient::new();
        let forever = Callback::blocking(|_: &CallbackContext| {
            Ok(Token::new("t").with_expires_in(Duration::MAX))
        });
        let issued = now(request(&client, forever).run(&Recording::default()));
        assert!(issued.0.is_ok());
        assert_eq!(client.saved_tokens().expires_at, None);
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

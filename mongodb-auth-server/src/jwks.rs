//! An identity provider's JSON Web Key Set, as the MONGODB-OIDC check of the core takes it: each
//! key decoded once (with `jsonwebtoken`), then chosen per token by its `kid`; from a file
//! ([`Jwks`]) or found from the issuer and refreshed when it rotates ([`IssuerKeys`]).
//!
//! ```
//! use std::sync::Arc;
//! use mongodb_auth::server::oidc::OidcSettings;
//! use mongodb_auth_server::jwks::Jwks;
//!
//! let jwks = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig",
//!   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
//! let settings = OidcSettings::new("https://issuer.example", "mongodb", Arc::new(Jwks::from_json(jwks)?));
//! assert_eq!(settings.issuer(), "https://issuer.example");
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use mongodb_auth::Error;
use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::error::OidcError;
use mongodb_auth::oidc::{ProviderMetadata, fetched_body};
use mongodb_auth::server::oidc::SigningKeys;

/// The largest JWKS read.
pub const MAX_JWKS_SIZE: usize = 1024 * 1024;

/// The keys of a JWKS, each decoded once here rather than at every login.
pub struct Jwks {
    keys: Vec<(Jwk, DecodingKey)>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Jwks {
    /// Reads a JSON Web Key Set, as the provider publishes it.
    pub fn from_json(jwks: &[u8]) -> mongodb_auth::Result<Self> {
        let invalid = |rule: String| Error::InvalidOption {
            option: "JWKS".into(),
            rule,
        };
        if jwks.len() > MAX_JWKS_SIZE {
            return Err(invalid("the JWKS is larger than 1 MiB".into()));
        }
        let set: JwkSet = serde_json::from_slice(jwks)
            .map_err(|e| invalid(format!("the JWKS is not a JSON Web Key Set: {e}")))?;
        if set.keys.is_empty() {
            return Err(invalid("the JWKS has no keys".into()));
        }
        let keys = set
            .keys
            .into_iter()
            .map(|jwk| {
                let decoded = DecodingKey::from_jwk(&jwk)
                    .map_err(|e| invalid(format!("a JWKS key cannot verify signatures: {e}")))?;
                Ok((jwk, decoded))
            })
            .collect::<mongodb_auth::Result<Vec<_>>>()?;
        Ok(Jwks { keys })
    }
}

impl Jwks {
    /// Whether a key is named `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys
            .iter()
            .any(|(k, _)| k.common.key_id.as_deref() == Some(kid))
    }
}

/// How often, at most, [`IssuerKeys`] fetches the keys again for a token whose `kid` it does
/// not know.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How [`IssuerKeys`] answers its HTTP asks (by default [`mongodb_auth_io::answer::answer`]).
pub type Fetch = dyn Fn(&Ask) -> Answer + Send + Sync;

/// An identity provider's keys found as mongod finds them: from the issuer's discovery document
/// and its `jwks_uri`, fetched again when a token names a `kid` the keys do not have (the first
/// time at once, then at most once per [`MIN_REFRESH_INTERVAL`]), so a provider that rotates its
/// keys needs no restart.
/// When the provider cannot be reached, the keys it had stay in use.
///
/// The fetch of a refresh (an HTTP ask, within [`mongodb_auth::ask::HTTP_TIMEOUT`]) runs on the
/// login that needed it: on a multi-threaded tokio runtime in `block_in_place`, so the worker's
/// other tasks move on, and outside a runtime on the caller's thread. On any other runtime (a
/// current-thread one) it runs on a thread of its own and that login is refused at once, as are
/// the logins that meet an unknown `kid` while a refresh runs: a client that sends a token
/// naming an unknown `kid` cannot stall the runtime's only thread. A token of another issuer
/// never reaches these keys (the core checks `iss` first).
pub struct IssuerKeys {
    keys_request: Ask,
    /// Shared with a refresh that runs on a thread of its own.
    keys: Arc<RwLock<Arc<Jwks>>>,
    /// When the last refresh started (none yet: the first unknown `kid` may refresh at once).
    refreshed: Mutex<Option<Instant>>,
    /// A fetch is under way: one at a time, so an older fetch never replaces the keys a newer
    /// one brought, and a current-thread runtime gets one thread at most, whatever the
    /// interval and however long the fetch takes.
    fetching: Arc<AtomicBool>,
    min_refresh_interval: Duration,
    fetch: Arc<Fetch>,
    refreshes: AtomicU64,
}

impl fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("keys", &self.keys_request.describe())
            .field("refreshes", &self.refreshes())
            .finish_non_exhaustive()
    }
}

impl IssuerKeys {
    /// Reads `issuer`'s discovery document and the keys its `jwks_uri` names, over HTTPS (plain
    /// HTTP only to a loopback issuer), each reply at most 64 KiB, each exchange within 10 s.
    pub fn discover(issuer: &str) -> mongodb_auth::Result<Self> {
        IssuerKeys::discover_with(issuer, Arc::new(mongodb_auth_io::answer::answer))
    }

    /// [`discover`](Self::discover) with `fetch` doing the HTTP.
    pub fn discover_with(issuer: &str, fetch: Arc<Fetch>) -> mongodb_auth::Result<Self> {
        let document = fetch(&ProviderMetadata::document_request(issuer)?);
        let metadata = ProviderMetadata::parse(fetched_body(&document)?, issuer)?;
        let keys_request = metadata
            .keys_request()
            .ok_or(OidcError::MalformedDiscovery {
                rule: "has no jwks_uri",
            })?;
        let keys = Jwks::from_json(fetched_body(&fetch(&keys_request))?)?;
        Ok(IssuerKeys {
            keys_request,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            refreshed: Mutex::new(None),
            fetching: Arc::default(),
            min_refresh_interval: MIN_REFRESH_INTERVAL,
            fetch,
            refreshes: AtomicU64::new(0),
        })
    }

    /// Fetches again at most once per `interval` (default [`MIN_REFRESH_INTERVAL`]).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// How many times the keys were fetched again for an unknown `kid` (successfully or not).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    fn current(&self) -> Arc<Jwks> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the keys again if the last refresh is old enough.
    fn refresh(&self) {
        {
            let mut refreshed = self
                .refreshed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if refreshed.is_some_and(|at| at.elapsed() < self.min_refresh_interval)
                || self.fetching.swap(true, Ordering::AcqRel)
            {
                return;
            }
            // Taken now, so the logins that arrive during the fetch do not fetch too.
            *refreshed = Some(Instant::now());
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        /// Clears `fetching` when the fetch is done, or dropped without running (no thread).
        struct Done(Arc<AtomicBool>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let done = Done(Arc::clone(&self.fetching));
        let (keys, fetch, request) = (
            Arc::clone(&self.keys),
            Arc::clone(&self.fetch),
            self.keys_request.clone(),
        );
        let fetch_and_keep = move || {
            let _done = done;
            // A provider that is down, or answers garbage, leaves the keys as they were.
            if let Ok(fetched) = fetched_body(&fetch(&request))
                .map_err(|_| ())
                .and_then(|body| Jwks::from_json(body).map_err(|_| ()))
            {
                *keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fetched);
            }
        };
        match tokio::runtime::Handle::try_current().map(|runtime| runtime.runtime_flavor()) {
            // A worker of a multi-threaded runtime (the server's): the runtime moves its other
            // tasks elsewhere while this one blocks.
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                tokio::task::block_in_place(fetch_and_keep);
            }
            // The only thread of a current-thread runtime, which blocking would stall for as
            // long as the provider takes. A thread that cannot be made means no refresh.
            Ok(_) => {
                let _ = std::thread::Builder::new()
                    .name("jwks refresh".into())
                    .spawn(fetch_and_keep);
            }
            Err(_) => fetch_and_keep(),
        }
    }
}

impl SigningKeys for IssuerKeys {
    fn verify(
        &self,
        kid: Option<&str>,
        algorithm: &str,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        if kid.is_some_and(|kid| !self.current().has_kid(kid)) {
            self.refresh();
        }
        // The keys as they are now: another login's refresh may have brought the kid meanwhile.
        self.current()
            .verify(kid, algorithm, signing_input, signature)
    }
}

impl SigningKeys for Jwks {
    fn verify(
        &self,
        kid: Option<&str>,
        algorithm: &str,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        let algorithm = Algorithm::from_str(algorithm)
            .map_err(|_| format!("the algorithm {algorithm:?} is unknown"))?;
        let (key, decoding_key) = match (kid, self.keys.as_slice()) {
            (Some(kid), keys) => keys
                .iter()
                .find(|(k, _)| k.common.key_id.as_deref() == Some(kid))
                .ok_or_else(|| format!("no JWKS key has the kid `{kid}`"))?,
            (None, [only]) => only,
            (None, _) => return Err("the token names no kid and the JWKS has several keys".into()),
        };
        // A key published for one use or algorithm serves only that.
        if key
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return Err("the JWKS key is not for signatures".into());
        }
        if let Some(published) = key.common.key_algorithm
            && published != key_algorithm(algorithm)
        {
            return Err(format!(
                "the JWKS key is for {published:?}, the token says {algorithm:?}"
            ));
        }
        // `crypto::verify` leaves this check to its caller, and panics on an RSA key given an
        // ES or EdDSA algorithm: the key's type, not only its published `alg`, must fit.
        if !key_verifies(&key.algorithm, algorithm) {
            return Err(format!(
                "the JWKS key is {}, the token says {algorithm:?}",
                key_type(&key.algorithm)
            ));
        }
        // Wiped: with the header and the claims it makes the bearer token again.
        let encoded = zeroize::Zeroizing::new(URL_SAFE_NO_PAD.encode(signature));
        match jsonwebtoken::crypto::verify(&encoded, signing_input, decoding_key, algorithm) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the signature is wrong".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Whether a key of this type and curve verifies `algorithm`'s signatures. An `oct` key is a
/// shared secret, and no secret verifies a token here.
fn key_verifies(key: &AlgorithmParameters, algorithm: Algorithm) -> bool {
    match key {
        AlgorithmParameters::RSA(_) => matches!(
            algorithm,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(ec) => matches!(
            (algorithm, &ec.curve),
            (Algorithm::ES256, EllipticCurve::P256) | (Algorithm::ES384, EllipticCurve::P384)
        ),
        AlgorithmParameters::OctetKeyPair(okp) => {
            algorithm == Algorithm::EdDSA && okp.curve == EllipticCurve::Ed25519
        }
        AlgorithmParameters::OctetKey(_) => false,
    }
}

/// A key's type, as an error names it.
fn key_type(key: &AlgorithmParameters) -> String {
    match key {
        AlgorithmParameters::RSA(_) => "an RSA key".into(),
        AlgorithmParameters::EllipticCurve(ec) => format!("an EC key on {:?}", ec.curve),
        AlgorithmParameters::OctetKeyPair(okp) => format!("an OKP key on {:?}", okp.curve),
        AlgorithmParameters::OctetKey(_) => "a shared secret".into(),
    }
}

/// The JWK name of a signature algorithm.
fn key_algorithm(algorithm: Algorithm) -> KeyAlgorithm {
    match algorithm {
        Algorithm::HS256 => KeyAlgorithm::HS256,
        Algorithm::HS384 => KeyAlgorithm::HS384,
        Algorithm::HS512 => KeyAlgorithm::HS512,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::ES384 => KeyAlgorithm::ES384,
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::RS384 => KeyAlgorithm::RS384,
        Algorithm::RS512 => KeyAlgorithm::RS512,
        Algorithm::PS256 => KeyAlgorithm::PS256,
        Algorithm::PS384 => KeyAlgorithm::PS384,
        Algorithm::PS512 => KeyAlgorithm::PS512,
        Algorithm::EdDSA => KeyAlgorithm::EdDSA,
    }
}

#[cfg(all(test, feature = "devpki"))]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::SystemTime;

    use mongodb_auth::server::oidc::OidcSettings;

    use super::*;
    use crate::devpki::TokenIssuer;

    const ISSUER: &str = "https://idp.test";

    /// A provider in memory: its key set can change, it can go down, and it counts key fetches.
    struct Provider {
        jwks: Mutex<Option<String>>,
        key_fetches: AtomicUsize,
    }

    impl Provider {
        fn fetch(self: &Arc<Self>) -> Arc<Fetch> {
            let provider = self.clone();
            Arc::new(move |ask: &Ask| {
                let Ask::Http(request) = ask else {
                    return ask.fail("not HTTP");
                };
                let reply = match request.url() {
                    "https://idp.test/.well-known/openid-configuration" => Some(format!(
                        r#"{{"issuer": "{ISSUER}", "jwks_uri": "https://idp.test/keys"}}"#
                    )),
                    "https://idp.test/keys" => {
                        provider.key_fetches.fetch_add(1, Ordering::Relaxed);
                        provider.jwks.lock().unwrap().clone()
                    }
                    _ => None,
                };
                match reply {
                    Some(body) => request.answer(200, body.into_bytes().into()),
                    None => ask.fail("connection refused"),
                }
            })
        }
    }

    #[test]
    fn a_rotation_is_followed_at_most_once_per_interval_and_a_provider_down_changes_nothing() {
        let first = TokenIssuer::generate(ISSUER).unwrap().key_id("k1");
        let second = TokenIssuer::generate(ISSUER).unwrap().key_id("k2");
        let third = TokenIssuer::generate(ISSUER).unwrap().key_id("k3");
        let provider = Arc::new(Provider {
            jwks: Mutex::new(Some(first.jwks())),
            key_fetches: AtomicUsize::new(0),
        });
        let keys = Arc::new(
            IssuerKeys::discover_with(ISSUER, provider.fetch())
                .unwrap()
                .min_refresh_interval(Duration::ZERO),
        );
        let settings = OidcSettings::new(ISSUER, "aud", keys.clone());
        let now = SystemTime::now();
        let token = |issuer: &TokenIssuer| {
            issuer
                .issue("alice", "aud", now, now + Duration::from_secs(60))
                .unwrap()
        };
        assert_eq!(
            settings.verify(&token(&first), now),
            Ok("oidc/alice".into())
        );
        assert_eq!(keys.refreshes(), 0);

        // The provider rotates to k2: the first token naming k2 fetches the keys again.
        *provider.jwks.lock().unwrap() = Some(second.jwks());
        assert_eq!(
            settings.verify(&token(&second), now),
            Ok("oidc/alice".into())
        );
        assert_eq!(keys.refreshes(), 1);

        // The provider is down: the keys it had stay in use, a new kid is refused.
        *provider.jwks.lock().unwrap() = None;
        assert_eq!(
            settings.verify(&token(&second), now),
            Ok("oidc/alice".into())
        );
        assert!(settings.verify(&token(&third), now).is_err());
        assert_eq!(
            settings.verify(&token(&second), now),
            Ok("oidc/alice".into())
        );

        // With an interval, a flood of unknown kids costs one fetch.
        let keys = Arc::new(
            IssuerKeys::discover_with(ISSUER, {
                *provider.jwks.lock().unwrap() = Some(second.jwks());
                provider.fetch()
            })
            .unwrap()
            .min_refresh_interval(Duration::from_secs(3600)),
        );
        let settings = OidcSettings::new(ISSUER, "aud", keys.clone());
        let fetches = provider.key_fetches.load(Ordering::Relaxed);
        for _ in 0..20 {
            assert!(settings.verify(&token(&third), now).is_err());
        }
        assert_eq!(provider.key_fetches.load(Ordering::Relaxed), fetches + 1);
        assert_eq!(keys.refreshes(), 1);
    }

    /// Any client can make the keys refresh (a token naming an unknown `kid` needs no valid
    /// signature to get there): on a current-thread runtime the fetch must not run on the
    /// runtime's only thread, or a slow provider stalls every connection.
    #[test]
    fn a_refresh_never_stalls_a_current_thread_runtime() {
        let first = TokenIssuer::generate(ISSUER).unwrap().key_id("k1");
        let second = TokenIssuer::generate(ISSUER).unwrap().key_id("k2");
        let provider = Arc::new(Provider {
            jwks: Mutex::new(Some(first.jwks())),
            key_fetches: AtomicUsize::new(0),
        });
        let slow = Arc::new(AtomicBool::new(false));
        let fetch: Arc<Fetch> = {
            let (fetch, slow) = (provider.fetch(), slow.clone());
            Arc::new(move |ask: &Ask| {
                if slow.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_secs(2));
                }
                fetch(ask)
            })
        };
        // No interval: only the one fetch at a time bounds the refreshes (and the threads).
        let keys = Arc::new(
            IssuerKeys::discover_with(ISSUER, fetch)
                .unwrap()
                .min_refresh_interval(Duration::ZERO),
        );
        let settings = OidcSettings::new(ISSUER, "aud", keys.clone());
        let now = SystemTime::now();
        let token = second
            .issue("alice", "aud", now, now + Duration::from_secs(60))
            .unwrap();
        *provider.jwks.lock().unwrap() = Some(second.jwks());
        slow.store(true, Ordering::Relaxed);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let started = Instant::now();
        let refused = runtime.block_on(async {
            (0..5)
                .map(|_| settings.verify(&token, now))
                .collect::<Vec<_>>()
        });
        let took = started.elapsed();
        assert!(
            refused.iter().all(Result::is_err),
            "refused while the keys are fetched"
        );
        assert!(took < Duration::from_secs(1), "the logins waited {took:?}");
        assert_eq!(keys.refreshes(), 1, "one fetch at a time");
        // The refresh ends on its own thread, and the next login finds the new key.
        while settings.verify(&token, now).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "never refreshed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(keys.refreshes(), 1);
    }

    #[test]
    fn discovery_refuses_another_issuers_document_and_insecure_issuers() {
        let provider = Arc::new(Provider {
            jwks: Mutex::new(None),
            key_fetches: AtomicUsize::new(0),
        });
        // No keys to fetch: discovery fails and says which request.
        let error = IssuerKeys::discover_with(ISSUER, provider.fetch()).unwrap_err();
        assert!(
            error.to_string().contains("https://idp.test/keys"),
            "{error}"
        );
        // The document is for https://idp.test, not for the issuer asked.
        let error = IssuerKeys::discover_with("https://idp.test/", provider.fetch()).unwrap_err();
        assert!(
            matches!(error, Error::Oidc(OidcError::IssuerMismatch { .. })),
            "{error}"
        );
        let error = IssuerKeys::discover_with("http://idp.test", provider.fetch()).unwrap_err();
        assert!(
            matches!(error, Error::Oidc(OidcError::InsecureEndpoint { .. })),
            "{error}"
        );
    }

    /// An RSA public key (2048 bits) as a provider publishes it: no `alg`, which RFC 7517 makes
    /// optional and some providers leave out.
    const RSA_JWK_WITHOUT_ALG: &str = concat!(
        r#"{"kty":"RSA","kid":"r1","use":"sig","e":"AQAB","n":""#,
        "sBOuENlChSn3s8eQDz5DdLxjrrEwu2qADNJvI2nq54Jts08Oxg7ADn8cI-uDEH1Nd8rq-Xyjb78wwu7e-QQsfj1WGUV3K3mxO6UG0hHNug-H3YWvKBfBVEX4Q0Yesq2qWgh-LT4O4fbmxkYbWZVvzmb5IPTRL0CM3F5tM6PWJ0jp4w-T55q7UJBeKcKvIwJ8g_lCY1AZe8aETZy8k2XydaDdBXcuKVgZSd1IX20dzcxy7KeWbbfsW-VZYkw9uyHtxmsY3LK1FHuaD2aPmlcyx7ZhC4YeHFX4b_2jV54wUWz85jTuzqwcauP52Vq1-KDP_OzpnEWdWvvHJN-fRU50Nw",
        r#""}"#
    );

    #[test]
    fn a_key_verifies_only_the_algorithms_of_its_type_and_curve() {
        let rsa =
            Jwks::from_json(format!(r#"{{"keys":[{RSA_JWK_WITHOUT_ALG}]}}"#).as_bytes()).unwrap();
        // jsonwebtoken panics (`unreachable!`) when asked to check an ES or EdDSA signature
        // with an RSA key: a client chooses the token's `alg`, so this must be a refusal.
        for algorithm in ["ES256", "ES384", "EdDSA"] {
            let refused = rsa.verify(Some("r1"), algorithm, b"header.payload", &[7; 64]);
            assert_eq!(
                refused,
                Err(format!(
                    "the JWKS key is an RSA key, the token says {algorithm}"
                ))
            );
        }
        // Of its own type, the key is used, and a wrong signature is just wrong.
        assert_eq!(
            rsa.verify(Some("r1"), "RS256", b"header.payload", &[7; 256]),
            Err("the signature is wrong".into())
        );

        let ec = TokenIssuer::generate(ISSUER).unwrap().key_id("e1");
        // Without its `alg` too, so that only the key's curve and type can refuse.
        let mut set: serde_json::Value = serde_json::from_str(&ec.jwks()).unwrap();
        set["keys"][0].as_object_mut().unwrap().remove("alg");
        let ec_keys = Jwks::from_json(set.to_string().as_bytes()).unwrap();
        for (algorithm, key) in [
            ("RS256", "an EC key on P256"),
            ("ES384", "an EC key on P256"),
        ] {
            assert_eq!(
                ec_keys.verify(Some("e1"), algorithm, b"header.payload", &[7; 64]),
                Err(format!("the JWKS key is {key}, the token says {algorithm}"))
            );
        }
        let settings = OidcSettings::new(ISSUER, "mongodb", Arc::new(ec_keys));
        let now = SystemTime::now();
        let token = ec
            .issue("alice", "mongodb", now, now + Duration::from_secs(60))
            .unwrap();
        assert_eq!(settings.verify(&token, now), Ok("oidc/alice".into()));
    }
}

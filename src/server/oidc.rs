//! The server side of MONGODB-OIDC (feature `oidc-server`): the `IdpInfo` of the two-step
//! conversation, and the check of an access token, a JWT signed by a key of the identity
//! provider's JWKS, with its issuer, audience and validity period.
//!
//! ```
//! use mongodb_auth::server::oidc::OidcSettings;
//!
//! let jwks = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig",
//!   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
//!   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
//! let settings = OidcSettings::new("https://issuer.example", "mongodb", jwks)?
//!     .client_id("0oa1")
//!     .user("alice@example.com");
//! assert_eq!(settings.issuer(), "https://issuer.example");
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use bson::raw::cstr;
use bson::{RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::error::{Error, Result};

/// The largest JWKS file read.
pub const MAX_JWKS_SIZE: usize = 1024 * 1024;

/// The largest access token checked: real ones are one or two KiB.
pub const MAX_TOKEN_SIZE: usize = 16 * 1024;

/// Signature algorithms taken: the asymmetric ones a JWKS publishes keys for. `none` and the
/// HMAC family never are (a public key is no shared secret).
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What the server accepts as MONGODB-OIDC: tokens its identity provider issued for it.
#[derive(Clone)]
pub struct OidcSettings {
    issuer: String,
    audience: String,
    client_id: Option<String>,
    request_scopes: Vec<String>,
    /// Each key of the JWKS with its decoded form, made once here rather than at every login.
    keys: Vec<(Jwk, DecodingKey)>,
    principal_claim: String,
    users: BTreeSet<String>,
    principal_suffix: Option<String>,
}

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("client_id", &self.client_id)
            .field("keys", &self.keys.len())
            .field("principal_claim", &self.principal_claim)
            .field("users", &self.users)
            .finish()
    }
}

impl OidcSettings {
    /// Tokens from `issuer` (the `iss` claim), for `audience` (one of `aud`), signed by a key of
    /// `jwks` (a JSON Web Key Set, as the provider publishes it).
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks: &[u8],
    ) -> Result<Self> {
        if jwks.len() > MAX_JWKS_SIZE {
            return Err(Error::oidc("the JWKS is larger than 1 MiB"));
        }
        let keys: JwkSet = serde_json::from_slice(jwks)
            .map_err(|e| Error::oidc(format!("the JWKS is not a JSON Web Key Set: {e}")))?;
        if keys.keys.is_empty() {
            return Err(Error::oidc("the JWKS has no keys"));
        }
        let keys = keys
            .keys
            .into_iter()
            .map(|jwk| {
                let decoded = DecodingKey::from_jwk(&jwk).map_err(|e| {
                    Error::oidc(format!("a JWKS key cannot verify signatures: {e}"))
                })?;
                Ok((jwk, decoded))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(OidcSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            client_id: None,
            request_scopes: Vec::new(),
            keys,
            principal_claim: "sub".to_owned(),
            users: BTreeSet::new(),
            principal_suffix: None,
        })
    }

    /// The client id the two-step conversation's `IdpInfo` names (a human flow's identity
    /// provider has one; a machine one has none).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The scopes `IdpInfo` asks for.
    pub fn request_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.request_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The claim that names the user (default `sub`).
    pub fn principal_claim(mut self, claim: impl Into<String>) -> Self {
        self.principal_claim = claim.into();
        self
    }

    /// A principal that may log in (as a user of `$external`). With none listed, every
    /// principal with a valid token may.
    pub fn user(mut self, principal: impl Into<String>) -> Self {
        self.users.insert(principal.into());
        self
    }

    /// With several identity providers, the usernames this one serves in the two-step
    /// conversation: those ending in `suffix` (say `@idp2.example`), as mongod's `matchPattern`
    /// picks a provider.
    pub fn principal_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.principal_suffix = Some(suffix.into());
        self
    }

    /// Whether this provider serves `username` (see [`principal_suffix`](Self::principal_suffix)).
    pub fn serves(&self, username: &str) -> bool {
        self.principal_suffix
            .as_deref()
            .is_some_and(|suffix| username.ends_with(suffix))
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `IdpInfo` document of the two-step conversation (rule L15).
    pub fn idp_info(&self) -> RawDocumentBuf {
        let mut info = RawDocumentBuf::new();
        info.append(cstr!("issuer"), self.issuer.as_str());
        if let Some(client_id) = &self.client_id {
            info.append(cstr!("clientId"), client_id.as_str());
        }
        if !self.request_scopes.is_empty() {
            let mut scopes = RawArrayBuf::new();
            for scope in &self.request_scopes {
                scopes.push(scope.as_str());
            }
            info.append(cstr!("requestScopes"), scopes);
        }
        info
    }

    /// Checks an access token at time `now`: its signature against the JWKS (the key its `kid`
    /// names, or the only key), `iss`, `aud`, `exp` (required) and `nbf`. Returns the principal,
    /// or why the token is refused (for the server's log; the client only hears 18).
    pub fn verify(&self, token: &str, now: SystemTime) -> std::result::Result<String, String> {
        if token.len() > MAX_TOKEN_SIZE {
            return Err("the token is larger than 16 KiB".into());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(format!("the algorithm {:?} is not accepted", header.alg));
        }
        let (key, decoding_key) = match (&header.kid, self.keys.as_slice()) {
            (Some(kid), keys) => keys
                .iter()
                .find(|(k, _)| k.common.key_id.as_deref() == Some(kid.as_str()))
                .ok_or_else(|| format!("no JWKS key has the kid `{kid}`"))?,
            (None, [only]) => only,
            (None, _) => return Err("the token names no kid and the JWKS has several keys".into()),
        };
        // A key published for one use or algorithm serves only that.
        if key
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            return Err("the JWKS key is not for signatures".into());
        }
        if let Some(algorithm) = key.common.key_algorithm
            && algorithm != key_algorithm(header.alg)
        {
            return Err(format!(
                "the JWKS key is for {algorithm:?}, the token says {:?}",
                header.alg
            ));
        }
        let mut validation = Validation::new(header.alg);
        // The claims are checked below, against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, decoding_key, &validation)
            .map_err(|e| format!("the signature does not verify: {e}"))?
            .claims;
        let string = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
        let seconds = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
        if string("iss") != Some(self.issuer.as_str()) {
            return Err(format!("the issuer is not `{}`", self.issuer));
        }
        let audience_matches = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => *aud == self.audience,
            Some(serde_json::Value::Array(auds)) => auds
                .iter()
                .any(|aud| aud.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_matches {
            return Err(format!("the audience is not `{}`", self.audience));
        }
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        match seconds("exp") {
            Some(exp) if exp > now => {}
            Some(_) => return Err("the token has expired".into()),
            None => return Err("the token has no `exp`".into()),
        }
        match (claims.get("nbf"), seconds("nbf")) {
            (None, _) => {}
            (Some(_), Some(nbf)) if nbf <= now => {}
            (Some(_), Some(_)) => return Err("the token is not valid yet (`nbf`)".into()),
            (Some(_), None) => return Err("the token's `nbf` is not a number of seconds".into()),
        }
        let principal = string(&self.principal_claim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| format!("the token has no `{}` claim", self.principal_claim))?;
        // With several providers, one may only vouch for the principals it serves.
        if self.principal_suffix.is_some() && !self.serves(principal) {
            return Err(format!("`{principal}` is not a principal of this issuer"));
        }
        if !self.users.is_empty() && !self.users.contains(principal) {
            return Err(format!("`{principal}` is not a user"));
        }
        Ok(principal.to_owned())
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

/// Checks `token` against each provider of `providers` in turn: the principal of the first that
/// accepts it, or the first provider's reason.
pub fn verify_with_any(
    providers: &[OidcSettings],
    token: &str,
    now: SystemTime,
) -> std::result::Result<String, String> {
    let mut first_reason = None;
    for provider in providers {
        match provider.verify(token, now) {
            Ok(principal) => return Ok(principal),
            Err(reason) => {
                first_reason.get_or_insert(reason);
            }
        }
    }
    Err(first_reason.unwrap_or_else(|| "MONGODB-OIDC is not enabled".into()))
}

/// The provider (its index) that answers a principal step: the only one, or the one that
/// serves the username.
pub fn provider_for(providers: &[OidcSettings], username: Option<&str>) -> Option<usize> {
    match (providers, username) {
        ([_], _) => Some(0),
        (providers, Some(name)) => providers.iter().position(|p| p.serves(name)),
        (_, None) => None,
    }
}

/// What a client's MONGODB-OIDC payload asks: a token check (`{jwt}`), or the `IdpInfo` of the
/// two-step conversation (`{n}`, or `{}`).
#[derive(Debug, PartialEq, Eq)]
pub enum ClientStep<'a> {
    /// `JwtStepRequest`.
    Jwt(&'a str),
    /// `PrincipalStepRequest`, with the username if given.
    Principal(Option<&'a str>),
}

/// Reads a client's payload.
pub fn read_client_step(payload: &[u8]) -> std::result::Result<ClientStep<'_>, &'static str> {
    let doc = RawDocument::from_bytes(payload).map_err(|_| "the payload is not BSON")?;
    let mut jwt = None;
    let mut name = None;
    for element in doc {
        match element.map_err(|_| "the payload is not BSON")? {
            (key, RawBsonRef::String(value)) if key.as_str() == "jwt" => jwt = Some(value),
            (key, RawBsonRef::String(value)) if key.as_str() == "n" => name = Some(value),
            (key, _) if matches!(key.as_str(), "jwt" | "n") => {
                return Err("`jwt` and `n` must be strings");
            }
            _ => {}
        }
    }
    match (jwt, name) {
        (Some(jwt), None) => Ok(ClientStep::Jwt(jwt)),
        (None, name) => Ok(ClientStep::Principal(name)),
        (Some(_), Some(_)) => Err("the payload has both `jwt` and `n`"),
    }
}

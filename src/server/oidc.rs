//! The server side of MONGODB-OIDC (features `server` and `oidc`): the `IdpInfo` of the two-step
//! conversation, and the check of an access token: a JWT whose signature a [`SigningKeys`] of
//! the identity provider verifies, with its issuer, audience and validity period checked here.
//! Where the keys come from (a JWKS file, the issuer's `jwks_uri`) is the embedding server's
//! business: `mongodb-auth-server` reads them with `jsonwebtoken`.
//!
//! ```
//! use std::sync::Arc;
//! use mongodb_auth::server::oidc::{OidcSettings, SigningKeys};
//!
//! struct NoKeys;
//! impl SigningKeys for NoKeys {
//!     fn verify(&self, _: Option<&str>, _: &str, _: &[u8], _: &[u8]) -> Result<(), String> {
//!         Err("no keys".into())
//!     }
//! }
//! let settings = OidcSettings::new("https://issuer.example", "mongodb", Arc::new(NoKeys))
//!     .auth_name_prefix("corp")
//!     .client_id("0oa1")
//!     .user("alice@example.com");
//! assert_eq!(settings.issuer(), "https://issuer.example");
//! // The user a principal logs in as in `$external`, as mongod's authNamePrefix names it.
//! assert_eq!(settings.user_name("alice@example.com"), "corp/alice@example.com");
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::conversation::{ServerContext, ServerConversation, Verdict};
use crate::oidc::MECHANISM;
use bson::raw::cstr;
use bson::{RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf};
use zeroize::Zeroizing;

/// The largest access token checked: real ones are one or two KiB.
pub const MAX_TOKEN_SIZE: usize = 16 * 1024;

/// Signature algorithms taken: the asymmetric ones a JWKS publishes keys for. `none` and the
/// HMAC family never are (a public key is no shared secret).
pub const ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The identity provider's public keys: they verify a JWS signature.
pub trait SigningKeys: Send + Sync {
    /// Verifies `signature` of `signing_input` (the token's `header.payload`, as sent), made
    /// with `algorithm` (one of [`ALGORITHMS`]) by the key named `kid` (or the only key when the
    /// token names none). A key published for another use or algorithm must not verify.
    fn verify(
        &self,
        kid: Option<&str>,
        algorithm: &str,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), String>;
}

/// Why an access token is refused: for the server's log and the embedder (the client only
/// hears 18). Each names the rule the token broke, in the order they are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenRefusal {
    /// Larger than [`MAX_TOKEN_SIZE`].
    TooLarge,
    /// Not a compact JWS with a JSON header and claims: what is wrong with it.
    Malformed(&'static str),
    /// Signed with an algorithm not in [`ALGORITHMS`].
    Algorithm(String),
    /// Its `iss` is not the provider's issuer, which it names.
    Issuer(String),
    /// The provider's keys do not verify its signature (their reason).
    Signature(String),
    /// Its `aud` does not hold the audience the provider's tokens must be for, which it names.
    Audience(String),
    /// Its `exp` has passed.
    Expired,
    /// It has no `exp` (a token that never expires is not taken).
    NoExpiry,
    /// Its `nbf` is still to come.
    NotYetValid,
    /// Its `nbf` is not a number of seconds.
    MalformedNotBefore,
    /// It lacks the claim that names the principal (which it names), or that claim is empty.
    NoPrincipal(String),
    /// The principal (named) is not one this provider serves, among several providers.
    NotThisIssuersPrincipal(String),
    /// The principal (named) is not among the provider's users.
    NotAUser(String),
    /// The server has no identity provider.
    NotEnabled,
}

impl fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenRefusal::TooLarge => f.write_str("the token is larger than 16 KiB"),
            TokenRefusal::Malformed(what) => write!(f, "not a JWT: {what}"),
            TokenRefusal::Algorithm(algorithm) => {
                write!(f, "the algorithm {algorithm:?} is not accepted")
            }
            TokenRefusal::Issuer(issuer) => write!(f, "the issuer is not `{issuer}`"),
            TokenRefusal::Signature(why) => write!(f, "the signature does not verify: {why}"),
            TokenRefusal::Audience(audience) => write!(f, "the audience is not `{audience}`"),
            TokenRefusal::Expired => f.write_str("the token has expired"),
            TokenRefusal::NoExpiry => f.write_str("the token has no `exp`"),
            TokenRefusal::NotYetValid => f.write_str("the token is not valid yet (`nbf`)"),
            TokenRefusal::MalformedNotBefore => {
                f.write_str("the token's `nbf` is not a number of seconds")
            }
            TokenRefusal::NoPrincipal(claim) => write!(f, "the token has no `{claim}` claim"),
            TokenRefusal::NotThisIssuersPrincipal(principal) => {
                write!(f, "`{principal}` is not a principal of this issuer")
            }
            TokenRefusal::NotAUser(principal) => write!(f, "`{principal}` is not a user"),
            TokenRefusal::NotEnabled => f.write_str("MONGODB-OIDC is not enabled"),
        }
    }
}

impl std::error::Error for TokenRefusal {}

/// What the server accepts as MONGODB-OIDC: tokens its identity provider issued for it.
#[derive(Clone)]
pub struct OidcSettings {
    issuer: String,
    audience: String,
    client_id: Option<String>,
    request_scopes: Vec<String>,
    keys: Arc<dyn SigningKeys>,
    principal_claim: String,
    users: BTreeSet<String>,
    principal_suffix: Option<String>,
    name_prefix: String,
}

/// The prefix of a provider's user names when none is given.
pub const DEFAULT_AUTH_NAME_PREFIX: &str = "oidc";

impl fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("client_id", &self.client_id)
            .field("principal_claim", &self.principal_claim)
            .field("users", &self.users)
            .field("name_prefix", &self.name_prefix)
            .finish_non_exhaustive()
    }
}

/// The header and claims of a JWT, read before its signature is checked.
struct Jwt<'a> {
    algorithm: String,
    kid: Option<String>,
    signing_input: &'a [u8],
    /// Wiped: with it, the header and the claims make the bearer token again.
    signature: Zeroizing<Vec<u8>>,
    claims: serde_json::Map<String, serde_json::Value>,
}

impl<'a> Jwt<'a> {
    /// Splits a compact JWS (`header.payload.signature`, each base64url) and reads its header
    /// and claims as JSON objects.
    fn parse(token: &'a str) -> Result<Self, TokenRefusal> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRefusal::Malformed(
                "it is not three dot-separated parts",
            ));
        };
        let decode = |part: &str, not_base64: &'static str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenRefusal::Malformed(not_base64))
        };
        let object = |bytes: Vec<u8>, not_object: &'static str| match serde_json::from_slice(&bytes)
        {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(TokenRefusal::Malformed(not_object)),
        };
        let header = object(
            decode(header, "the header is not base64url")?,
            "the header is not a JSON object",
        )?;
        let algorithm = match header.get("alg") {
            Some(serde_json::Value::String(alg)) => alg.clone(),
            _ => return Err(TokenRefusal::Malformed("the header has no `alg`")),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(serde_json::Value::String(kid)) => Some(kid.clone()),
            Some(_) => {
                return Err(TokenRefusal::Malformed(
                    "the header's `kid` is not a string",
                ));
            }
        };
        let claims = object(
            decode(payload, "the payload is not base64url")?,
            "the payload is not a JSON object",
        )?;
        let signing_input = token
            .get(..token.len() - signature.len() - 1)
            .unwrap_or_default()
            .as_bytes();
        Ok(Jwt {
            algorithm,
            kid,
            signing_input,
            signature: Zeroizing::new(decode(signature, "the signature is not base64url")?),
            claims,
        })
    }
}

impl OidcSettings {
    /// Tokens from `issuer` (the `iss` claim), for `audience` (one of `aud`), signed by one of
    /// `keys`.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: Arc<dyn SigningKeys>,
    ) -> Self {
        OidcSettings {
            issuer: issuer.into(),
            audience: audience.into(),
            client_id: None,
            request_scopes: Vec::new(),
            keys,
            principal_claim: "sub".to_owned(),
            users: BTreeSet::new(),
            principal_suffix: None,
            name_prefix: DEFAULT_AUTH_NAME_PREFIX.to_owned(),
        }
    }

    /// The prefix of this provider's user names in `$external` (default
    /// [`DEFAULT_AUTH_NAME_PREFIX`]): the principal `alice` logs in as `<prefix>/alice`, as
    /// mongod's `authNamePrefix` names it, so no provider's users share a name with another
    /// provider's or with another mechanism's (an X.509 subject, a Kerberos principal).
    pub fn auth_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// The user a principal of this provider logs in as.
    pub fn user_name(&self, principal: &str) -> String {
        format!("{}/{principal}", self.name_prefix)
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

    /// The `IdpInfo` document of the two-step conversation (rule L15), as BSON bytes.
    pub fn idp_info(&self) -> Vec<u8> {
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
        info.into_bytes()
    }

    /// Checks an access token at time `now`: its signature with the provider's keys, `iss`,
    /// `aud`, `exp` (required) and `nbf`. Returns the user it logs in
    /// ([`user_name`](Self::user_name) of its principal), or why the token is refused (for the
    /// server's log; the client only hears 18).
    pub fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> std::result::Result<String, TokenRefusal> {
        self.verify_until(token, now).map(|(user, _)| user)
    }

    /// [`verify`](Self::verify), and when the token expires (its `exp`).
    pub fn verify_until(
        &self,
        token: &str,
        now: SystemTime,
    ) -> std::result::Result<(String, SystemTime), TokenRefusal> {
        if token.len() > MAX_TOKEN_SIZE {
            return Err(TokenRefusal::TooLarge);
        }
        let jwt = Jwt::parse(token)?;
        if !ALGORITHMS.contains(&jwt.algorithm.as_str()) {
            return Err(TokenRefusal::Algorithm(jwt.algorithm));
        }
        let claims = &jwt.claims;
        let string = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
        let seconds = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
        // Another provider's token never reaches this provider's keys: with keys found from the
        // issuer, an unknown `kid` would make them fetch again for nothing.
        if string("iss") != Some(self.issuer.as_str()) {
            return Err(TokenRefusal::Issuer(self.issuer.clone()));
        }
        self.keys
            .verify(
                jwt.kid.as_deref(),
                &jwt.algorithm,
                jwt.signing_input,
                &jwt.signature,
            )
            .map_err(TokenRefusal::Signature)?;
        let audience_matches = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => *aud == self.audience,
            Some(serde_json::Value::Array(auds)) => auds
                .iter()
                .any(|aud| aud.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_matches {
            return Err(TokenRefusal::Audience(self.audience.clone()));
        }
        let now = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let expires = match seconds("exp") {
            Some(exp) if exp > now => crate::environment::deadline(
                UNIX_EPOCH,
                std::time::Duration::from_secs(u64::try_from(exp).unwrap_or_default()),
            ),
            Some(_) => return Err(TokenRefusal::Expired),
            None => return Err(TokenRefusal::NoExpiry),
        };
        match (claims.get("nbf"), seconds("nbf")) {
            (None, _) => {}
            (Some(_), Some(nbf)) if nbf <= now => {}
            (Some(_), Some(_)) => return Err(TokenRefusal::NotYetValid),
            (Some(_), None) => return Err(TokenRefusal::MalformedNotBefore),
        }
        let principal = string(&self.principal_claim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| TokenRefusal::NoPrincipal(self.principal_claim.clone()))?;
        // With several providers, one may only vouch for the principals it serves.
        if self.principal_suffix.is_some() && !self.serves(principal) {
            return Err(TokenRefusal::NotThisIssuersPrincipal(principal.to_owned()));
        }
        if !self.users.is_empty() && !self.users.contains(principal) {
            return Err(TokenRefusal::NotAUser(principal.to_owned()));
        }
        Ok((self.user_name(principal), expires))
    }
}

/// Whether `providers` can serve together: each with a prefix of its own, so that no provider
/// can log in a user of another's. Why not, if they cannot.
pub fn check_providers(providers: &[OidcSettings]) -> std::result::Result<(), String> {
    for (i, provider) in providers.iter().enumerate() {
        let prefix = &provider.name_prefix;
        if prefix.is_empty() || prefix.contains('/') {
            return Err(format!(
                "the identity provider `{}` needs an authNamePrefix without `/`, got `{prefix}`",
                provider.issuer
            ));
        }
        if let Some(other) = providers
            .get(..i)
            .unwrap_or_default()
            .iter()
            .find(|p| p.name_prefix == *prefix)
        {
            return Err(format!(
                "the identity providers `{}` and `{}` share the authNamePrefix `{prefix}`: give each its own",
                other.issuer, provider.issuer
            ));
        }
    }
    Ok(())
}

/// Checks `token` against each provider of `providers` in turn: the user of the first that
/// accepts it and when the token expires, or the first provider's reason.
pub(crate) fn verify_with_any(
    providers: &[OidcSettings],
    token: &str,
    now: SystemTime,
) -> std::result::Result<(String, SystemTime), TokenRefusal> {
    let mut first_reason = None;
    for provider in providers {
        match provider.verify_until(token, now) {
            Ok(principal) => return Ok(principal),
            Err(reason) => {
                first_reason.get_or_insert(reason);
            }
        }
    }
    Err(first_reason.unwrap_or(TokenRefusal::NotEnabled))
}

/// The provider (its index) that answers a principal step: the only one, or the one that
/// serves the username.
pub(crate) fn provider_for(providers: &[OidcSettings], username: Option<&str>) -> Option<usize> {
    match (providers, username) {
        ([_], _) => Some(0),
        (providers, Some(name)) => providers.iter().position(|p| p.serves(name)),
        (_, None) => None,
    }
}

/// What a client's MONGODB-OIDC payload asks: a token check (`{jwt}`), or the `IdpInfo` of the
/// two-step conversation (`{n}`, or `{}`). Public for the fuzz targets.
#[doc(hidden)]
#[derive(PartialEq, Eq)]
pub enum ClientStep<'a> {
    /// `JwtStepRequest`.
    Jwt(&'a str),
    /// `PrincipalStepRequest`, with the username if given.
    Principal(Option<&'a str>),
}

impl std::fmt::Debug for ClientStep<'_> {
    /// The token is a bearer credential: only its length is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientStep::Jwt(token) => write!(f, "Jwt({} bytes)", token.len()),
            ClientStep::Principal(name) => f.debug_tuple("Principal").field(name).finish(),
        }
    }
}

/// Reads a client's payload (public for the fuzz targets).
#[doc(hidden)]
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

/// One MONGODB-OIDC conversation as the session drives it: a token is checked at once (one
/// step, also inside `hello`); a principal step is answered with `IdpInfo` (two steps, rule
/// L15), and only the provider that sent it may vouch for the token that follows.
#[derive(Default)]
pub(crate) struct OidcConversation {
    /// The provider whose `IdpInfo` went out.
    provider: Option<usize>,
}

impl OidcConversation {
    fn verdict(principal: std::result::Result<(String, SystemTime), TokenRefusal>) -> Verdict {
        match principal {
            Ok((principal, expires)) => Verdict::Authenticated {
                user: principal,
                payload: Vec::new(),
                expires: Some(expires),
            },
            Err(reason) => Verdict::refused("", reason.to_string()),
        }
    }
}

impl ServerConversation for OidcConversation {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn start(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        let step = match (read_client_step(payload), cx.db) {
            (Ok(step), "$external") => step,
            (Err(reason), _) => return Verdict::refused("", reason),
            (Ok(_), _) => return Verdict::refused("", "not $external"),
        };
        match step {
            ClientStep::Jwt(token) => {
                Self::verdict(verify_with_any(&cx.config.oidc, token, cx.now))
            }
            ClientStep::Principal(_) if cx.speculative => {
                Verdict::refused("", "a principal step inside hello")
            }
            ClientStep::Principal(name) => {
                let user = name.unwrap_or_default();
                let Some(index) = provider_for(&cx.config.oidc, name) else {
                    return Verdict::refused(
                        user,
                        "no identity provider serves this username (with several, one is needed)",
                    );
                };
                let Some(provider) = cx.config.oidc.get(index) else {
                    return Verdict::refused(user, "no such identity provider");
                };
                self.provider = Some(index);
                Verdict::Continue(provider.idp_info())
            }
        }
    }

    fn awaits_person(&self) -> bool {
        // A provider is chosen only by the principal step, which the human flow alone sends.
        self.provider.is_some()
    }

    fn next(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        let provider = self
            .provider
            .take()
            .and_then(|index| cx.config.oidc.get(index));
        match (read_client_step(payload), provider) {
            (Ok(ClientStep::Jwt(token)), Some(provider)) => {
                Self::verdict(provider.verify_until(token, cx.now))
            }
            _ => Verdict::refused("", "the second step is not a JwtStepRequest"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys that verify every signature but `bad`'s.
    struct AnySignature;

    impl SigningKeys for AnySignature {
        fn verify(
            &self,
            _: Option<&str>,
            _: &str,
            _: &[u8],
            signature: &[u8],
        ) -> Result<(), String> {
            if signature == b"bad" {
                Err("no key signed it".into())
            } else {
                Ok(())
            }
        }
    }

    fn token(header: &str, claims: &str, signature: &[u8]) -> String {
        let part = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        format!(
            "{}.{}.{}",
            part(header.as_bytes()),
            part(claims.as_bytes()),
            part(signature)
        )
    }

    #[test]
    fn each_refusal_names_the_rule_the_token_broke() {
        let settings = OidcSettings::new("https://idp", "db", Arc::new(AnySignature)).user("ada");
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        let es256 = r#"{"alg":"ES256"}"#;
        let claims = |extra: &str| {
            format!(r#"{{"iss":"https://idp","aud":"db","sub":"ada","exp":2000{extra}}}"#)
        };
        let check = |token: &str| settings.verify(token, now);
        assert_eq!(
            check(&token(es256, &claims(""), b"s")),
            Ok("oidc/ada".into())
        );
        let cases: Vec<(String, TokenRefusal)> = vec![
            ("x".repeat(MAX_TOKEN_SIZE + 1), TokenRefusal::TooLarge),
            (
                "a.b".into(),
                TokenRefusal::Malformed("it is not three dot-separated parts"),
            ),
            (
                token("[]", &claims(""), b"s"),
                TokenRefusal::Malformed("the header is not a JSON object"),
            ),
            (
                token(r#"{"alg":"HS256"}"#, &claims(""), b"s"),
                TokenRefusal::Algorithm("HS256".into()),
            ),
            (
                token(
                    es256,
                    &claims("").replace("https://idp", "https://other"),
                    b"s",
                ),
                TokenRefusal::Issuer("https://idp".into()),
            ),
            (
                token(es256, &claims(""), b"bad"),
                TokenRefusal::Signature("no key signed it".into()),
            ),
            (
                token(es256, &claims("").replace(r#""db""#, r#""web""#), b"s"),
                TokenRefusal::Audience("db".into()),
            ),
            (
                token(es256, &claims("").replace("2000", "999"), b"s"),
                TokenRefusal::Expired,
            ),
            (
                token(es256, &claims("").replace(r#","exp":2000"#, ""), b"s"),
                TokenRefusal::NoExpiry,
            ),
            (
                token(es256, &claims(r#","nbf":1001"#), b"s"),
                TokenRefusal::NotYetValid,
            ),
            (
                token(es256, &claims(r#","nbf":"soon""#), b"s"),
                TokenRefusal::MalformedNotBefore,
            ),
            (
                token(es256, &claims("").replace(r#""sub":"ada","#, ""), b"s"),
                TokenRefusal::NoPrincipal("sub".into()),
            ),
            (
                token(es256, &claims("").replace(r#""ada""#, r#""eve""#), b"s"),
                TokenRefusal::NotAUser("eve".into()),
            ),
        ];
        for (token, refusal) in cases {
            assert_eq!(check(&token), Err(refusal.clone()), "{refusal}");
        }
        let suffixed = OidcSettings::new("https://idp", "db", Arc::new(AnySignature))
            .principal_suffix("@corp.example");
        assert_eq!(
            suffixed.verify(&token(es256, &claims(""), b"s"), now),
            Err(TokenRefusal::NotThisIssuersPrincipal("ada".into()))
        );
        assert_eq!(
            verify_with_any(&[], "a.b.c", now),
            Err(TokenRefusal::NotEnabled)
        );
    }

    #[test]
    fn a_client_step_shows_the_tokens_length_not_the_token() {
        let payload = bson::rawdoc! { "jwt": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2ln" };
        let step = read_client_step(payload.as_bytes()).unwrap();
        assert_eq!(format!("{step:?}"), "Jwt(44 bytes)");
        assert_eq!(
            format!("{:?}", ClientStep::Principal(Some("ada"))),
            r#"Principal(Some("ada"))"#
        );
    }
}

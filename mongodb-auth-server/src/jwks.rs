//! An identity provider's JSON Web Key Set, as the MONGODB-OIDC check of the core takes it: each
//! key decoded once (with `jsonwebtoken`), then chosen per token by its `kid`.
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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use mongodb_auth::Error;
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
        let encoded = URL_SAFE_NO_PAD.encode(signature);
        match jsonwebtoken::crypto::verify(&encoded, signing_input, decoding_key, algorithm) {
            Ok(true) => Ok(()),
            Ok(false) => Err("the signature is wrong".into()),
            Err(e) => Err(e.to_string()),
        }
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

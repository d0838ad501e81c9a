//! An arbitrary JSON Web Key Set (what the server fetches from the identity provider) against an
//! arbitrary token (what a client sends) never panics the check: every key type, curve and
//! published `alg` meets every token header (an RSA key named by an ES token once panicked
//! jsonwebtoken). Should a token ever pass (the fuzzer would have to sign under a key it wrote),
//! it must name a user and an expiry after now.
//!
//! Input: two bytes (little-endian) giving the key set's length, the key set, then the token.

#![no_main]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth_server::jwks::Jwks;

fuzz_target!(|data: &[u8]| {
    let Some((length, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let length = usize::from(u16::from_le_bytes(*length)).min(rest.len());
    let (jwks, token) = rest.split_at(length);
    let Ok(keys) = Jwks::from_json(jwks) else {
        return;
    };
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let settings = OidcSettings::new("https://issuer", "aud", Arc::new(keys));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    if let Ok((user, until)) = settings.verify_until(token, now) {
        assert!(!user.is_empty());
        assert!(until > now);
    }
});

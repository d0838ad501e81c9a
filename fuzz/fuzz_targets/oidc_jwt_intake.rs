//! Arbitrary MONGODB-OIDC client payloads never panic the server's intake, and no token the
//! fuzzer makes passes the check (that would be an ES256 forgery).

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::{ClientStep, read_client_step};
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth_server::jwks::Jwks;

/// The public key of RFC 7515's ES256 example, and an RSA key published without `alg` (a token
/// naming it with an ES or EdDSA `alg` once panicked jsonwebtoken); no private key of either is
/// in this program.
const JWKS: &str = concat!(
    r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
  {"kty":"RSA","kid":"r1","e":"AQAB","n":""#,
    "sBOuENlChSn3s8eQDz5DdLxjrrEwu2qADNJvI2nq54Jts08Oxg7ADn8cI-uDEH1Nd8rq-Xyjb78wwu7e-QQsfj1WGUV3K3mxO6UG0hHNug-H3YWvKBfBVEX4Q0Yesq2qWgh-LT4O4fbmxkYbWZVvzmb5IPTRL0CM3F5tM6PWJ0jp4w-T55q7UJBeKcKvIwJ8g_lCY1AZe8aETZy8k2XydaDdBXcuKVgZSd1IX20dzcxy7KeWbbfsW-VZYkw9uyHtxmsY3LK1FHuaD2aPmlcyx7ZhC4YeHFX4b_2jV54wUWz85jTuzqwcauP52Vq1-KDP_OzpnEWdWvvHJN-fRU50Nw",
    r#""}]}"#
);

fuzz_target!(|data: &[u8]| {
    static SETTINGS: OnceLock<OidcSettings> = OnceLock::new();
    let settings = SETTINGS.get_or_init(|| {
        let keys = Jwks::from_json(JWKS.as_bytes()).expect("the JWKS is valid");
        OidcSettings::new("https://issuer", "aud", Arc::new(keys))
    });
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    // As a saslStart payload.
    if let Ok(ClientStep::Jwt(token)) = read_client_step(data) {
        assert!(settings.verify(token, now).is_err());
    }
    // As a bare token.
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(settings.verify(token, now).is_err());
    }
});

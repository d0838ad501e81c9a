//! Arbitrary MONGODB-OIDC client payloads never panic the server's intake, and no token the
//! fuzzer makes passes the check (that would be an ES256 forgery).

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mongodb_auth::fuzzing::{ClientStep, read_client_step};
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth_server::jwks::Jwks;

/// The public key of RFC 7515's ES256 example; its private key is not in this program.
const JWKS: &[u8] = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
  "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

fuzz_target!(|data: &[u8]| {
    static SETTINGS: OnceLock<OidcSettings> = OnceLock::new();
    let settings = SETTINGS.get_or_init(|| {
        let keys = Jwks::from_json(JWKS).expect("the JWKS is valid");
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

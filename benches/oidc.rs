//! What the server's MONGODB-OIDC check of an access token costs beyond verifying its signature,
//! measured in the same run.
//!
//! `cargo bench --features server,oidc --bench oidc`. `server_check` is `OidcSettings::verify`
//! (the JWT read, the key found by `kid`, the ES256 signature, `iss`, `aud`, `exp`, `nbf`, the
//! principal and its user name); `bare_signature` verifies the same signature with the same
//! decoded key through `jsonwebtoken` and nothing else, its floor. The claim checked in the
//! notes: the check costs at most 1.2x the bare verification.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth_server::devpki::TokenIssuer;
use mongodb_auth_server::jwks::Jwks;

fn oidc(c: &mut Criterion) {
    let issuer = TokenIssuer::generate("https://issuer.test").unwrap();
    let now = SystemTime::now();
    let token = issuer
        .issue(
            "alice",
            "mongodb",
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        )
        .unwrap();
    let keys = Arc::new(Jwks::from_json(issuer.jwks().as_bytes()).unwrap());
    let settings = OidcSettings::new("https://issuer.test", "mongodb", keys).user("alice");
    assert_eq!(settings.verify(&token, now), Ok("oidc/alice".to_owned()));

    let set: JwkSet = serde_json::from_str(&issuer.jwks()).unwrap();
    let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    // As the server holds it: the signature decoded from the token.
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();

    let mut group = c.benchmark_group("oidc_server");
    group.bench_function("server_check", |b| {
        b.iter(|| black_box(settings.verify(black_box(&token), now).unwrap()))
    });
    group.bench_function("bare_signature", |b| {
        b.iter(|| {
            let encoded = URL_SAFE_NO_PAD.encode(&signature);
            black_box(
                jsonwebtoken::crypto::verify(
                    &encoded,
                    signing_input.as_bytes(),
                    &key,
                    Algorithm::ES256,
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, oidc);
criterion_main!(benches);

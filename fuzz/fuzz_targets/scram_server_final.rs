//! Arbitrary server-final messages never panic the SCRAM client, and only the true signature
//! (the auth spec's SCRAM-SHA-256 example) is accepted.

#![no_main]

use mongodb_auth::random::SystemRandom;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mongodb_auth::scram::{ScramClient, ScramKeyCache, ScramVariant};
use mongodb_auth::Secret;

const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST: &[u8] = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const SIGNATURE: &str = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

fuzz_target!(|data: &[u8]| {
    // The keys are derived once; every run after that is a cache hit.
    static CACHE: OnceLock<ScramKeyCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| ScramKeyCache::new(1, &mut SystemRandom));
    let client = ScramClient::new(ScramVariant::Sha256, "user", &Secret::new("pencil")).unwrap();
    let (_, state) = client.start_with_nonce(NONCE).unwrap();
    let (_, state) = state.handle_server_first(SERVER_FIRST, cache).unwrap();
    if state.handle_server_final(data).is_ok() {
        let text = std::str::from_utf8(data).unwrap();
        let signature = text.strip_prefix("v=").unwrap().split(',').next().unwrap();
        assert_eq!(signature, SIGNATURE, "accepted a wrong signature: {text}");
    }
});

//! Arbitrary server-first messages never panic the SCRAM client; a message it accepts satisfies
//! the auth spec's rules (nonce extended, iterations within bounds).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::scram::{MIN_ITERATIONS, ScramClient, ScramVariant};
use mongodb_auth::Secret;

const NONCE: &str = "fyko";
const MAX_ITERATIONS: u32 = 100_000;

fuzz_target!(|data: &[u8]| {
    for variant in [ScramVariant::Sha1, ScramVariant::Sha256] {
        let client = ScramClient::new(variant, "user", &Secret::new("pencil")).unwrap().max_iterations(MAX_ITERATIONS);
        let (_, state) = client.start_with_nonce(NONCE).unwrap();
        if let Ok(server_first) = state.receive_server_first(data) {
            // Accepted: only derive nothing (PBKDF2 would dominate the run); check the invariants.
            let job = server_first.key_derivation();
            assert!((MIN_ITERATIONS..=MAX_ITERATIONS).contains(&job.iterations()));
            assert!(!job.salt().is_empty());
            let text = std::str::from_utf8(data).unwrap();
            assert!(text.contains("r=fyko"), "{text}");
        }
    }
});

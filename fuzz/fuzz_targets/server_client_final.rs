//! Arbitrary client-final messages never panic the server's SCRAM check, and only the one true
//! proof is accepted.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mongodb_auth::random;
use mongodb_auth::scram::{ScramClient, ScramKeyCache, ScramVariant};
use mongodb_auth::server::StoredCredential;
use mongodb_auth::fuzzing::receive_client_first;
use mongodb_auth::Secret;

const CLIENT_FIRST: &[u8] = b"n,,n=user,r=fuzzclientnonce";

struct Fixture {
    credential: StoredCredential,
    right_final: Vec<u8>,
}

/// The server's random source: fixed, so the server nonce and so the right proof are too.
fn zeros() -> impl random::SecureRandom {
    random::from_fn(|bytes: &mut [u8]| bytes.fill(7))
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let password = Secret::new("pencil");
        let credential =
            StoredCredential::new("user", "admin", &password, ScramVariant::Sha256, 4096, &mut zeros())
                .unwrap();
        let first = receive_client_first(CLIENT_FIRST).unwrap();
        let (server_first, _) = first.respond(ScramVariant::Sha256, Some(&credential), (b"k", 4096), &mut zeros());
        let client = ScramClient::new(ScramVariant::Sha256, "user", &password).unwrap();
        let (_, state) = client.start_with_nonce("fuzzclientnonce").unwrap();
        let cache = ScramKeyCache::new(1, &mut zeros());
        let (right_final, _) = state.handle_server_first(&server_first, &cache).unwrap();
        let right_final = right_final.to_vec();
        Fixture { credential, right_final }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    let first = receive_client_first(CLIENT_FIRST).unwrap();
    let (_, awaiting) =
        first.respond(ScramVariant::Sha256, Some(&fixture.credential), (b"k", 4096), &mut zeros());
    if awaiting.receive_client_final(data).is_ok() {
        assert_eq!(data, fixture.right_final.as_slice(), "accepted a proof that is not the right one");
    }
});

//! Arbitrary client-first messages never panic the server's SCRAM parser, and whatever it
//! accepts it answers with a well-formed server-first that extends the client's nonce.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mongodb_auth::random;
use mongodb_auth::scram::ScramVariant;
use mongodb_auth::fuzzing::receive_client_first;

fuzz_target!(|data: &[u8]| {
    let Ok(first) = receive_client_first(data) else {
        return;
    };
    let user = first.username().to_owned();
    assert!(!user.is_empty());
    let text = std::str::from_utf8(data).unwrap();
    let client_nonce = text
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .unwrap()
        .to_owned();
    let mut zeros = random::from_fn(|bytes: &mut [u8]| bytes.fill(0));
    for variant in [ScramVariant::Sha1, ScramVariant::Sha256] {
        let first = receive_client_first(data).unwrap();
        let (server_first, _) = first.respond(variant, None, (b"fuzz", 15_000), &mut zeros);
        let server_first = String::from_utf8(server_first).unwrap();
        let nonce = server_first.strip_prefix("r=").unwrap().split(',').next().unwrap();
        assert!(nonce.starts_with(&client_nonce) && nonce.len() > client_nonce.len());
    }
});

//! The crate's SCRAM client against a server written from the RFC 5802 formulas in the test: for
//! random users, passwords, salts and iteration counts it authenticates, and it fails (on both
//! sides) when the passwords differ.

use mongodb_auth_testkit::rfc5802 as common;

use common::{Hash, Rfc5802Server, normalize};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::scram::{ScramClient, ScramKeyCache, ScramVariant};
use mongodb_auth::{Error, ScramError, Secret};
use proptest::prelude::*;

fn variant(hash: Hash) -> ScramVariant {
    match hash {
        Hash::Sha1 => ScramVariant::Sha1,
        Hash::Sha256 => ScramVariant::Sha256,
    }
}

fn hash() -> impl Strategy<Value = Hash> {
    prop_oneof![Just(Hash::Sha1), Just(Hash::Sha256)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn completes_against_an_rfc5802_server(
        hash in hash(),
        username in "\\PC{1,16}",
        password in "\\PC{0,16}",
        salt in proptest::collection::vec(any::<u8>(), 1..40),
        iterations in 4096u32..4400,
    ) {
        prop_assume!(normalize(hash, &username, &password).is_some());
        let mut server = Rfc5802Server::new(hash, &username, &password, &salt, iterations);
        let client = ScramClient::new(variant(hash), &username, &Secret::new(password.as_str())).unwrap();
        let (client_first, state) = client.start(&mut SystemRandom);
        let server_first = server.server_first(&client_first);
        let (client_final, state) = state.handle_server_first(server_first.as_bytes(), &ScramKeyCache::new(1, &mut SystemRandom)).unwrap();
        let server_final = server.server_final(&client_final).map_err(TestCaseError::fail)?;
        state.handle_server_final(server_final.as_bytes()).unwrap();
    }

    #[test]
    fn fails_when_the_passwords_differ(
        hash in hash(),
        username in "[a-z]{1,8}",
        password in "\\PC{0,12}",
        other in "\\PC{0,12}",
        iterations in 4096u32..4200,
    ) {
        let (Some(a), Some(b)) = (normalize(hash, &username, &password), normalize(hash, &username, &other)) else {
            return Err(TestCaseError::reject("SASLprep refuses a password"));
        };
        prop_assume!(a != b);
        let mut server = Rfc5802Server::new(hash, &username, &password, b"salt", iterations);
        let client = ScramClient::new(variant(hash), &username, &Secret::new(other.as_str())).unwrap();
        let (client_first, state) = client.start(&mut SystemRandom);
        let server_first = server.server_first(&client_first);
        let (client_final, state) = state.handle_server_first(server_first.as_bytes(), &ScramKeyCache::new(1, &mut SystemRandom)).unwrap();
        // The server refuses the proof...
        prop_assert!(server.server_final(&client_final).is_err());
        // ...and a server that signs anyway, with keys from another password, is caught.
        let lie = server.signature_for(&client_final);
        let err = state.handle_server_final(lie.as_bytes()).unwrap_err();
        prop_assert!(matches!(err, Error::Scram(ScramError::ServerSignatureMismatch)), "{err:?}");
    }
}

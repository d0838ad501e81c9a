use super::*;
use crate::random::SystemRandom;

fn scram_error(err: Error) -> ScramError {
    match err {
        Error::Scram(e) => e,
        other => panic!("not a SCRAM error: {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Vector {
    variant: ScramVariant,
    nonce: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
    password_input: &'static str,
    salted_password: &'static str,
    client_key: &'static str,
    stored_key: &'static str,
    server_key: &'static str,
}

/// The two conversations of the auth spec (user `user`, password `pencil`) and the
/// intermediate values of the checklist.
const VECTORS: [Vector; 2] = [
    Vector {
        variant: ScramVariant::Sha1,
        nonce: "fyko+d2lbbFgONRv9qkxdawL",
        client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        server_first: "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
        client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=",
        server_final: "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=",
        password_input: "1c33006ec1ffd90f9cadcbcc0e118200",
        salted_password: "6abd37850da6e327df8dc5afd430791052f92499",
        client_key: "6eca60b8b046771fc7174092de6e7e837859b356",
        stored_key: "a79cfa9fb52da9ffa92c191a7899384f778138e0",
        server_key: "951ad51f2a8c5fe38ea86be972fbfd6a7940f084",
    },
    Vector {
        variant: ScramVariant::Sha256,
        nonce: "rOprNGfwEbeRWgbNEkqO",
        client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
        server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        password_input: "pencil",
        salted_password: "c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d",
        client_key: "a60fc923d67e8644a92d16b96eda5ef4656b0c725c484374be25535576996e8b",
        stored_key: "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6",
        server_key: "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5",
    },
];

fn start(v: &Vector) -> ClientFirst {
    let client = ScramClient::new(v.variant, "user", &Secret::new("pencil")).unwrap();
    let (client_first, state) = client.start_with_nonce(v.nonce).unwrap();
    assert_eq!(std::str::from_utf8(&client_first).unwrap(), v.client_first);
    state
}

#[test]
fn spec_vectors_byte_for_byte() {
    for v in &VECTORS {
        let cache = ScramKeyCache::new(1, &mut SystemRandom);
        let (client_final, state) = start(v)
            .handle_server_first(v.server_first.as_bytes(), &cache)
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&client_final).unwrap(),
            v.client_final,
            "{}",
            v.variant
        );
        state
            .handle_server_final(v.server_final.as_bytes())
            .unwrap();
    }
}

#[test]
fn intermediate_key_table() {
    for v in &VECTORS {
        let input = password_input(v.variant, "user", &Secret::new("pencil")).unwrap();
        assert_eq!(input.expose(), v.password_input);
        let state = start(v)
            .receive_server_first(v.server_first.as_bytes())
            .unwrap();
        let derivation = state.key_derivation();
        let salted = salted_password(
            v.variant,
            input.expose().as_bytes(),
            derivation.salt(),
            derivation.iterations(),
        );
        assert_eq!(hex(&salted), v.salted_password);
        let keys = derivation.run();
        assert_eq!(hex(&keys.client_key), v.client_key);
        assert_eq!(hex(&keys.stored_key()), v.stored_key);
        assert_eq!(hex(&keys.server_key), v.server_key);
    }
}

#[test]
fn split_derivation_gives_the_same_messages() {
    for v in &VECTORS {
        let state = start(v)
            .receive_server_first(v.server_first.as_bytes())
            .unwrap();
        let keys = state.key_derivation().run();
        let (client_final, state) = state.finish(&keys);
        assert_eq!(client_final.as_slice(), v.client_final.as_bytes());
        state
            .handle_server_final(v.server_final.as_bytes())
            .unwrap();
    }
}

#[test]
fn tampered_server_signature_is_a_mutual_authentication_error() {
    for v in &VECTORS {
        let cache = ScramKeyCache::new(1, &mut SystemRandom);
        let (_, state) = start(v)
            .handle_server_first(v.server_first.as_bytes(), &cache)
            .unwrap();
        // Flip one bit of the signature.
        let mut signature = BASE64.decode(&v.server_final[2..]).unwrap();
        signature[0] ^= 1;
        let tampered = format!("v={}", BASE64.encode(signature));
        let err = state.handle_server_final(tampered.as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::Scram(ScramError::ServerSignatureMismatch)),
            "{err:?}"
        );
        assert_eq!(
            err.kind(),
            crate::error::ErrorKind::MutualAuthenticationFailed
        );
    }
}

#[test]
fn truncated_or_missing_signature_is_rejected() {
    let v = &VECTORS[1];
    for server_final in ["v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", "v=", "x=1"] {
        let (_, state) = start(v)
            .handle_server_first(
                v.server_first.as_bytes(),
                &ScramKeyCache::new(1, &mut SystemRandom),
            )
            .unwrap();
        assert!(
            state.handle_server_final(server_final.as_bytes()).is_err(),
            "{server_final}"
        );
    }
}

#[test]
fn server_error_carries_the_reason() {
    let v = &VECTORS[0];
    let (_, state) = start(v)
        .handle_server_first(
            v.server_first.as_bytes(),
            &ScramKeyCache::new(1, &mut SystemRandom),
        )
        .unwrap();
    let err = state.handle_server_final(b"e=invalid-proof").unwrap_err();
    assert_eq!(
        scram_error(err),
        ScramError::ServerError {
            reason: "invalid-proof".into()
        }
    );
}

#[test]
fn usernames_are_escaped_not_saslprepped() {
    for (user, expected) in [
        ("a=b,c", "n=a=3Db=2Cc"),
        ("=,", "n==3D=2C"),
        ("\u{2168}", "n=\u{2168}"),
        ("I\u{00AD}X", "n=I\u{00AD}X"),
    ] {
        let client = ScramClient::new(ScramVariant::Sha256, user, &Secret::new("p")).unwrap();
        let (first, _) = client.start_with_nonce("abc").unwrap();
        assert_eq!(
            String::from_utf8(first).unwrap(),
            format!("n,,{expected},r=abc")
        );
    }
}

#[test]
fn saslprep_users_of_the_auth_test_plan() {
    // SCRAM-SHA-256 prepares the password: a soft hyphen maps to nothing, so each pair of
    // passwords derives the same keys for its user.
    for (user, a, b) in [("IX", "IX", "I\u{00AD}X"), ("\u{2168}", "IV", "I\u{00AD}V")] {
        let input_a = password_input(ScramVariant::Sha256, user, &Secret::new(a)).unwrap();
        let input_b = password_input(ScramVariant::Sha256, user, &Secret::new(b)).unwrap();
        assert_eq!(input_a, input_b);
        assert_eq!(input_a.expose(), a);
    }
    // SCRAM-SHA-1 does not: the digest of `I\u{AD}X` differs from that of `IX`.
    let sha1_a = password_input(ScramVariant::Sha1, "IX", &Secret::new("IX")).unwrap();
    let sha1_b = password_input(ScramVariant::Sha1, "IX", &Secret::new("I\u{00AD}X")).unwrap();
    assert_ne!(sha1_a, sha1_b);
}

#[test]
fn prohibited_password_characters_fail_saslprep() {
    let err = ScramClient::new(ScramVariant::Sha256, "u", &Secret::new("a\u{0007}b")).unwrap_err();
    assert_eq!(scram_error(err), ScramError::InvalidPassword);
    // SHA-1 does not SASLprep.
    assert!(ScramClient::new(ScramVariant::Sha1, "u", &Secret::new("a\u{0007}b")).is_ok());
}

#[test]
fn nonces_are_fresh_and_well_formed() {
    let mut rng = SystemRandom;
    let a = generate_nonce(&mut rng);
    let b = generate_nonce(&mut rng);
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b','));
    for bad in ["", "a,b", "a b", "\u{e9}"] {
        let client = ScramClient::new(ScramVariant::Sha1, "u", &Secret::new("p")).unwrap();
        assert_eq!(
            scram_error(client.start_with_nonce(bad).unwrap_err()),
            ScramError::InvalidNonce
        );
    }
}

#[test]
fn iteration_ceiling_is_configurable() {
    let v = &VECTORS[0]; // i=10000
    let client = ScramClient::new(v.variant, "user", &Secret::new("pencil"))
        .unwrap()
        .max_iterations(9999);
    let (_, state) = client.start_with_nonce(v.nonce).unwrap();
    let err = state
        .receive_server_first(v.server_first.as_bytes())
        .unwrap_err();
    assert_eq!(
        scram_error(err),
        ScramError::IterationCountTooHigh {
            count: 10000,
            maximum: 9999
        }
    );
}

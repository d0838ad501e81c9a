//! The command-level machine against scripted replies: the auth spec's SCRAM conversations as
//! commands, negotiation, speculative authentication, PLAIN, X.509, and the failure paths.

use mongodb_auth_testkit::embedded::auth_options as options;
use mongodb_auth_testkit::rfc5802 as common;

use mongodb_auth::random::SystemRandom;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::{Bson, Document, doc};
use common::{Hash, Rfc5802Server, binary, hello_reply, payload, sasl_reply, to_bytes, to_doc};
use mongodb_auth::{
    AuthMechanism, AuthOptions, Authenticator, Command, ConnectionString, Error, ErrorKind, Job,
    Outcome, ScramError, ScramKeyCache, Step,
};

fn credential(uri: &str) -> mongodb_auth::Credential {
    ConnectionString::parse(uri)
        .unwrap()
        .credential()
        .unwrap()
        .clone()
}

fn fixed_nonce(nonce: &'static str) -> AuthOptions {
    let mut options = options().speculative(false);
    options.dangerous().set_nonces(move || nonce.to_owned());
    options
}

fn expect_send(step: Step) -> Command {
    match step {
        Step::Send(command) => command,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn expect_done(step: Step) -> Outcome {
    match step {
        Step::Done(outcome) => outcome,
        other => panic!("expected done, got {other:?}"),
    }
}

/// Runs a job step if there is one.
fn derive(auth: &mut Authenticator, step: Step) -> Step {
    match step {
        Step::Job(job) => auth.handle_job(job.run()).unwrap(),
        other => other,
    }
}

/// Documents equal field by field, whatever the order (the spec prints the SHA-256 command with
/// `options` before `payload`, the SHA-1 one after).
fn same_fields(actual: &Document, expected: &Document) -> bool {
    actual.len() == expected.len() && expected.iter().all(|(k, v)| actual.get(k) == Some(v))
}

struct SpecConversation {
    uri: &'static str,
    nonce: &'static str,
    commands: [Document; 2],
    replies: [Document; 2],
}

fn bin(b64: &str) -> Bson {
    binary(BASE64.decode(b64).unwrap())
}

/// The SCRAM examples of the auth spec, as commands and replies.
fn spec_conversations() -> [SpecConversation; 2] {
    [
        SpecConversation {
            uri: "mongodb://user:pencil@localhost/?authMechanism=SCRAM-SHA-1",
            nonce: "fyko+d2lbbFgONRv9qkxdawL",
            commands: [
                doc! { "saslStart": 1, "mechanism": "SCRAM-SHA-1", "payload": bin("biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM"), "options": { "skipEmptyExchange": true } },
                doc! { "saslContinue": 1, "conversationId": 1, "payload": bin("Yz1iaXdzLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdMSG8rVmdrN3F2VU9LVXd1V0xJV2c0bC85U3JhR01IRUUscD1NQzJUOEJ2Ym1XUmNrRHc4b1dsNUlWZ2h3Q1k9") },
            ],
            replies: [
                doc! { "conversationId": 1, "payload": bin("cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0xIbytWZ2s3cXZVT0tVd3VXTElXZzRsLzlTcmFHTUhFRSxzPXJROVpZM01udEJldVAzRTFURFZDNHc9PSxpPTEwMDAw"), "done": false, "ok": 1 },
                doc! { "conversationId": 1, "payload": bin("dj1VTVdlSTI1SkQxeU5ZWlJNcFo0Vkh2aFo5ZTA9"), "done": true, "ok": 1 },
            ],
        },
        SpecConversation {
            uri: "mongodb://user:pencil@localhost/?authMechanism=SCRAM-SHA-256",
            nonce: "rOprNGfwEbeRWgbNEkqO",
            commands: [
                doc! { "saslStart": 1, "mechanism": "SCRAM-SHA-256", "options": { "skipEmptyExchange": true }, "payload": bin("biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8=") },
                doc! { "saslContinue": 1, "conversationId": 1, "payload": bin("Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ==") },
            ],
            replies: [
                doc! { "conversationId": 1, "payload": bin("cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY="), "done": false, "ok": 1 },
                doc! { "conversationId": 1, "payload": bin("dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ=="), "done": true, "ok": 1 },
            ],
        },
    ]
}

#[test]
fn spec_conversations_as_commands() {
    for conversation in spec_conversations() {
        let mut auth = Authenticator::new(
            &credential(conversation.uri),
            fixed_nonce(conversation.nonce),
        )
        .unwrap();
        assert_eq!(
            to_doc(&auth.hello_fields().unwrap()),
            doc! {},
            "explicit mechanism, no speculation"
        );
        let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
        assert_eq!(start.db(), "admin");
        assert!(
            same_fields(&to_doc(start.body()), &conversation.commands[0]),
            "{:?}",
            to_doc(start.body())
        );
        let step = auth
            .handle_reply(&to_bytes(&conversation.replies[0]))
            .unwrap();
        let cont = expect_send(derive(&mut auth, step));
        assert!(
            same_fields(&to_doc(cont.body()), &conversation.commands[1]),
            "{:?}",
            to_doc(cont.body())
        );
        let outcome = expect_done(
            auth.handle_reply(&to_bytes(&conversation.replies[1]))
                .unwrap(),
        );
        assert_eq!(outcome.round_trips, 2);
        assert!(!outcome.speculative);
    }
    // The SHA-1 example lists its fields in the order the crate writes them: byte for byte.
    let sha1 = &spec_conversations()[0];
    let mut auth = Authenticator::new(&credential(sha1.uri), fixed_nonce(sha1.nonce)).unwrap();
    auth.hello_fields().unwrap();
    let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
    assert_eq!(start.body(), to_bytes(&sha1.commands[0]));
}

/// An authenticator that has sent client-final of a spec conversation (no speculation).
fn awaiting_server_final(conversation: &SpecConversation) -> Authenticator {
    let mut auth = Authenticator::new(
        &credential(conversation.uri),
        fixed_nonce(conversation.nonce),
    )
    .unwrap();
    auth.hello_fields().unwrap();
    auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
    let step = auth
        .handle_reply(&to_bytes(&conversation.replies[0]))
        .unwrap();
    expect_send(derive(&mut auth, step));
    auth
}

#[test]
fn the_long_ending_sends_one_empty_sasl_continue() {
    let sha1 = &spec_conversations()[0];
    let mut auth = awaiting_server_final(sha1);
    // The server answers client-final with done: false (servers before 4.4).
    let mut not_done = sha1.replies[1].clone();
    not_done.insert("done", false);
    let empty = expect_send(auth.handle_reply(&to_bytes(&not_done)).unwrap());
    assert_eq!(
        to_doc(empty.body()),
        doc! { "saslContinue": 1, "conversationId": 1, "payload": binary(vec![]) }
    );
    let outcome = expect_done(auth.handle_reply(&sasl_reply(1, b"", true)).unwrap());
    assert_eq!(outcome.round_trips, 3);
}

#[test]
fn the_empty_exchange_must_end_the_conversation() {
    let sha1 = &spec_conversations()[0];
    for last in [sasl_reply(1, b"", false), sasl_reply(1, b"extra", true)] {
        let mut auth = awaiting_server_final(sha1);
        let mut not_done = sha1.replies[1].clone();
        not_done.insert("done", false);
        auth.handle_reply(&to_bytes(&not_done)).unwrap();
        let err = auth.handle_reply(&last).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    }
}

#[test]
fn server_signature_is_checked_even_when_done() {
    let sha256 = &spec_conversations()[1];
    let mut auth = awaiting_server_final(sha256);
    let forged = sasl_reply(1, b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", true);
    let err = auth.handle_reply(&forged).unwrap_err();
    assert!(
        matches!(err, Error::Scram(ScramError::ServerSignatureMismatch)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::MutualAuthenticationFailed);
    // A failed machine refuses to go on.
    assert!(matches!(
        auth.handle_reply(&sasl_reply(1, b"", true)),
        Err(Error::OutOfOrder { .. })
    ));
}

/// The `speculativeAuthenticate` document of hello fields, and its SCRAM payload.
fn speculative(fields: &Document) -> (Document, Vec<u8>) {
    let spec = fields
        .get_document("speculativeAuthenticate")
        .unwrap()
        .clone();
    let payload = payload(&spec);
    (spec, payload)
}

#[test]
fn hello_fields_negotiate_and_speculate_with_sha256() {
    let mut auth = Authenticator::new(
        &credential("mongodb://user:pencil@localhost/app"),
        options(),
    )
    .unwrap();
    let fields = to_doc(&auth.hello_fields().unwrap());
    assert_eq!(fields.get_str("saslSupportedMechs").unwrap(), "app.user");
    let (spec, client_first) = speculative(&fields);
    assert_eq!(spec.get_i32("saslStart").unwrap(), 1);
    assert_eq!(spec.get_str("mechanism").unwrap(), "SCRAM-SHA-256");
    assert_eq!(spec.get_str("db").unwrap(), "app");
    assert_eq!(
        spec.get_document("options").unwrap(),
        &doc! { "skipEmptyExchange": true }
    );
    assert!(client_first.starts_with(b"n,,n=user,r="));
    // Calling it twice is a usage error.
    assert!(matches!(auth.hello_fields(), Err(Error::OutOfOrder { .. })));
}

#[test]
fn speculative_reply_continues_the_same_conversation() {
    let mut server = Rfc5802Server::new(Hash::Sha256, "user", "pencil", b"salty salt", 4096);
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    let (_, client_first) = speculative(&to_doc(&auth.hello_fields().unwrap()));
    let server_first = server.server_first(&client_first);
    let reply = hello_reply(doc! {
        "saslSupportedMechs": ["SCRAM-SHA-256", "SCRAM-SHA-1"],
        "speculativeAuthenticate": { "conversationId": 7, "done": false, "payload": binary(server_first.as_bytes()) },
    });
    let step = auth.handle_hello_reply(&reply).unwrap();
    assert!(
        matches!(step, Step::Job(Job::DeriveKey(_))),
        "a cold cache derives"
    );
    let proof = expect_send(derive(&mut auth, step));
    let command = to_doc(proof.body());
    assert_eq!(command.get_i32("conversationId").unwrap(), 7);
    let server_final = server.server_final(&payload(&command)).unwrap();
    let outcome = expect_done(
        auth.handle_reply(&sasl_reply(7, server_final.as_bytes(), true))
            .unwrap(),
    );
    assert_eq!(outcome.mechanism, Some(AuthMechanism::ScramSha256));
    assert!(outcome.speculative);
    assert_eq!(outcome.round_trips, 1, "hello plus one saslContinue");
}

#[test]
fn missing_speculative_reply_starts_a_fresh_conversation() {
    // No `speculativeAuthenticate`, or an empty one (which PyMongo reads as none too).
    for reply in [
        doc! { "saslSupportedMechs": ["SCRAM-SHA-256"] },
        doc! { "saslSupportedMechs": ["SCRAM-SHA-256"], "speculativeAuthenticate": {} },
    ] {
        let mut auth =
            Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
        let (_, speculative_first) = speculative(&to_doc(&auth.hello_fields().unwrap()));
        let step = auth.handle_hello_reply(&hello_reply(reply.clone()));
        let start = to_doc(expect_send(step.unwrap()).body());
        assert_eq!(start.get_str("mechanism").unwrap(), "SCRAM-SHA-256");
        assert_ne!(
            payload(&start),
            speculative_first,
            "a fresh conversation has a fresh nonce: {reply}"
        );
    }
}

#[test]
fn negotiation_picks_sha256_only_when_listed() {
    for (mechs, expected) in [
        (Some(vec!["SCRAM-SHA-256", "SCRAM-SHA-1"]), "SCRAM-SHA-256"),
        (Some(vec!["SCRAM-SHA-1"]), "SCRAM-SHA-1"),
        (Some(vec!["PLAIN", "GSSAPI"]), "SCRAM-SHA-1"),
        // The handshake specification's prose test 2: a name no driver knows is no error.
        (
            Some(vec!["ARBITRARY-MECHANISM", "SCRAM-SHA-256"]),
            "SCRAM-SHA-256",
        ),
        (Some(vec!["ARBITRARY-MECHANISM"]), "SCRAM-SHA-1"),
        (Some(vec![]), "SCRAM-SHA-1"),
        (None, "SCRAM-SHA-1"),
    ] {
        let mut auth =
            Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
        auth.hello_fields().unwrap();
        let extra = mechs.map_or_else(Document::new, |m| doc! { "saslSupportedMechs": m });
        let start =
            to_doc(expect_send(auth.handle_hello_reply(&hello_reply(extra)).unwrap()).body());
        assert_eq!(start.get_str("mechanism").unwrap(), expected);
        assert_eq!(auth.mechanism().map(|m| m.as_str()), Some(expected));
    }
    // Names that are not strings do not fail negotiation either (rule D7).
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.hello_fields().unwrap();
    let reply = hello_reply(doc! { "saslSupportedMechs": [1, "SCRAM-SHA-256"] });
    let start = to_doc(expect_send(auth.handle_hello_reply(&reply).unwrap()).body());
    assert_eq!(start.get_str("mechanism").unwrap(), "SCRAM-SHA-256");
}

#[test]
fn server_listing_only_sha1_gets_a_full_sha1_conversation() {
    let mut server = Rfc5802Server::new(Hash::Sha1, "user", "pencil", b"salt", 10000);
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.hello_fields().unwrap();
    let start = expect_send(
        auth.handle_hello_reply(&hello_reply(doc! { "saslSupportedMechs": ["SCRAM-SHA-1"] }))
            .unwrap(),
    );
    let server_first = server.server_first(&payload(&to_doc(start.body())));
    let step = auth
        .handle_reply(&sasl_reply(1, server_first.as_bytes(), false))
        .unwrap();
    let proof = expect_send(derive(&mut auth, step));
    let server_final = server
        .server_final(&payload(&to_doc(proof.body())))
        .unwrap();
    let outcome = expect_done(
        auth.handle_reply(&sasl_reply(1, server_final.as_bytes(), true))
            .unwrap(),
    );
    assert_eq!(outcome.mechanism, Some(AuthMechanism::ScramSha1));
    assert_eq!(outcome.round_trips, 2);
}

/// One SCRAM-SHA-256 login through `cache` against a server that accepts or refuses the proof;
/// returns whether the keys came from the cache and the outcome.
fn login_through_cache(
    cache: &Arc<ScramKeyCache>,
    server_accepts: bool,
) -> (bool, Option<Outcome>) {
    let mut server = Rfc5802Server::new(Hash::Sha256, "user", "pencil", b"same salt", 4096);
    let opts = AuthOptions::default()
        .key_cache(Some(cache.clone()))
        .speculative(false);
    let uri = "mongodb://user:pencil@localhost/?authMechanism=SCRAM-SHA-256";
    let mut auth = Authenticator::new(&credential(uri), opts).unwrap();
    auth.hello_fields().unwrap();
    let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
    let server_first = server.server_first(&payload(&to_doc(start.body())));
    let step = auth
        .handle_reply(&sasl_reply(1, server_first.as_bytes(), false))
        .unwrap();
    let used_cache = !matches!(step, Step::Job(Job::DeriveKey(_)));
    let proof = expect_send(derive(&mut auth, step));
    let reply = if server_accepts {
        let server_final = server
            .server_final(&payload(&to_doc(proof.body())))
            .unwrap();
        sasl_reply(1, server_final.as_bytes(), true)
    } else {
        // As when the password changed on the server after the keys were cached.
        to_bytes(&doc! { "ok": 0, "code": 18, "codeName": "AuthenticationFailed" })
    };
    (used_cache, auth.handle_reply(&reply).ok().map(expect_done))
}

#[test]
fn a_warm_cache_skips_pbkdf2() {
    let cache = Arc::new(ScramKeyCache::new(4, &mut SystemRandom));
    let (used_cache, first) = login_through_cache(&cache, true);
    assert!(!used_cache && !first.unwrap().key_cache_hit);
    let (cached, second) = login_through_cache(&cache, true);
    assert!(cached && second.unwrap().key_cache_hit);
    assert_eq!(cache.stats().hits, 1);
}

#[test]
fn authentication_failed_is_its_own_kind() {
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.hello_fields().unwrap();
    auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
    let refusal = to_bytes(
        &doc! { "ok": 0.0, "errmsg": "Authentication failed.", "code": 18, "codeName": "AuthenticationFailed" },
    );
    let err = auth.handle_reply(&refusal).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthenticationFailed);
    match err {
        Error::Server {
            code,
            code_name,
            message,
            labels,
            reply,
        } => {
            assert_eq!(
                (code, code_name.as_str(), message.as_str()),
                (18, "AuthenticationFailed", "Authentication failed.")
            );
            assert!(labels.is_empty());
            assert_eq!(reply.as_bytes(), refusal.as_slice());
        }
        other => panic!("{other:?}"),
    }
    // Another server error is not an authentication failure.
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.hello_fields().unwrap();
    auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
    let other =
        to_bytes(&doc! { "ok": 0, "errmsg": "no", "code": 59, "codeName": "CommandNotFound" });
    assert_eq!(
        auth.handle_reply(&other).unwrap_err().kind(),
        ErrorKind::Server
    );
}

#[test]
fn malformed_sasl_replies_are_protocol_errors() {
    let bad_replies = [
        to_bytes(&doc! { "done": false, "payload": binary(b"r=x".to_vec()), "ok": 1 }),
        to_bytes(&doc! { "conversationId": 1, "payload": binary(b"r=x".to_vec()), "ok": 1 }),
        to_bytes(&doc! { "conversationId": 1, "done": false, "payload": "r=x", "ok": 1 }),
        to_bytes(
            &doc! { "conversationId": 1, "done": true, "payload": binary(b"r=x".to_vec()), "ok": 1 },
        ),
        to_bytes(&doc! { "conversationId": 1, "done": false, "payload": binary(b"r=x".to_vec()) }),
        to_bytes(
            &doc! { "conversationId": 1, "done": false, "payload": binary(b"r=x".to_vec()), "ok": "yes" },
        ),
        vec![1, 2, 3],
    ];
    for reply in bad_replies {
        let mut auth =
            Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
        auth.hello_fields().unwrap();
        auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
        let err = auth.handle_reply(&reply).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    }
}

#[test]
fn conversation_id_must_not_change() {
    let mut server = Rfc5802Server::new(Hash::Sha1, "user", "pencil", b"salt", 4096);
    let mut auth = Authenticator::new(
        &credential("mongodb://user:pencil@localhost/?authMechanism=SCRAM-SHA-1"),
        options(),
    )
    .unwrap();
    auth.hello_fields().unwrap();
    let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
    let server_first = server.server_first(&payload(&to_doc(start.body())));
    let step = auth
        .handle_reply(&sasl_reply(1, server_first.as_bytes(), false))
        .unwrap();
    let proof = expect_send(derive(&mut auth, step));
    let server_final = server
        .server_final(&payload(&to_doc(proof.body())))
        .unwrap();
    let err = auth
        .handle_reply(&sasl_reply(2, server_final.as_bytes(), true))
        .unwrap_err();
    assert!(err.to_string().contains("conversationId"), "{err}");
}

#[test]
fn plain_is_one_sasl_start_without_speculation() {
    let mut auth = Authenticator::new(
        &credential("mongodb://user:pencil@localhost/?authMechanism=PLAIN"),
        options(),
    )
    .unwrap();
    assert_eq!(to_doc(&auth.hello_fields().unwrap()), doc! {});
    let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
    assert_eq!(start.db(), "$external");
    assert_eq!(
        to_doc(start.body()),
        doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": bin("AHVzZXIAcGVuY2ls") }
    );
    let outcome = expect_done(auth.handle_reply(&sasl_reply(1, b"", true)).unwrap());
    assert_eq!(
        (outcome.mechanism, outcome.round_trips),
        (Some(AuthMechanism::Plain), 1)
    );
    // The command's Debug does not show the password-bearing payload.
    assert!(!format!("{start:?}").contains("AHVzZXIAcGVuY2ls"));
}

#[test]
fn x509_speculative_and_not() {
    let subject = "C=IS,ST=Reykjavik,L=Reykjavik,O=MongoDB,OU=Drivers,CN=client";
    let uri = "mongodb://C%3DIS%2CST%3DReykjavik%2CL%3DReykjavik%2CO%3DMongoDB%2COU%3DDrivers%2CCN%3Dclient@localhost/?authMechanism=MONGODB-X509";
    // Taken: the hello reply carries the authenticate reply.
    let mut auth = Authenticator::new(&credential(uri), options()).unwrap();
    let fields = to_doc(&auth.hello_fields().unwrap());
    assert_eq!(
        fields,
        doc! { "speculativeAuthenticate": { "authenticate": 1, "mechanism": "MONGODB-X509", "user": subject } }
    );
    let reply =
        hello_reply(doc! { "speculativeAuthenticate": { "dbname": "$external", "user": subject } });
    let outcome = expect_done(auth.handle_hello_reply(&reply).unwrap());
    assert!(outcome.speculative);
    assert_eq!(outcome.round_trips, 0);
    // Not taken: one authenticate command, without `user` when no username was given.
    let mut auth = Authenticator::new(
        &credential("mongodb://localhost/?authMechanism=MONGODB-X509"),
        options(),
    )
    .unwrap();
    auth.hello_fields().unwrap();
    let command = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
    assert_eq!(command.db(), "$external");
    assert_eq!(
        to_doc(command.body()),
        doc! { "authenticate": 1, "mechanism": "MONGODB-X509" }
    );
    let outcome = expect_done(
        auth.handle_reply(&to_bytes(
            &doc! { "dbname": "$external", "user": subject, "ok": 1 },
        ))
        .unwrap(),
    );
    assert_eq!(outcome.mechanism, Some(AuthMechanism::MongoDbX509));
    // An empty speculative document is no login (as PyMongo reads it): authenticate follows.
    let mut auth = Authenticator::new(&credential(uri), options()).unwrap();
    auth.hello_fields().unwrap();
    let reply = hello_reply(doc! { "speculativeAuthenticate": {} });
    let command = expect_send(auth.handle_hello_reply(&reply).unwrap());
    assert_eq!(
        to_doc(command.body()),
        doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "user": subject }
    );
    let reply = to_bytes(&doc! { "dbname": "$external", "user": subject, "ok": 1 });
    let outcome = expect_done(auth.handle_reply(&reply).unwrap());
    assert!(!outcome.speculative);
    assert_eq!(outcome.round_trips, 1);
}

#[test]
fn arbiters_need_no_authentication() {
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.hello_fields().unwrap();
    let outcome = expect_done(
        auth.handle_hello_reply(&hello_reply(doc! { "arbiterOnly": true, "setName": "rs" }))
            .unwrap(),
    );
    assert_eq!((outcome.mechanism, outcome.round_trips), (None, 0));
}

#[test]
fn usage_errors() {
    let cred = credential("mongodb://user:pencil@localhost/");
    let mut auth = Authenticator::new(&cred, options()).unwrap();
    assert!(matches!(
        auth.handle_hello_reply(&hello_reply(doc! {})),
        Err(Error::OutOfOrder { .. })
    ));
    assert!(matches!(
        auth.handle_reply(&hello_reply(doc! {})),
        Err(Error::OutOfOrder { .. })
    ));
    // Out-of-order calls do not break the machine.
    auth.hello_fields().unwrap();
    assert!(auth.handle_hello_reply(&hello_reply(doc! {})).is_ok());
    // A negotiated credential without password cannot start.
    let err = Authenticator::new(&credential("mongodb://alice@localhost/"), options()).unwrap_err();
    assert!(err.to_string().contains("password is required"), "{err}");
    // An unsolicited speculative reply is refused.
    let mut auth = Authenticator::new(&cred, options().speculative(false)).unwrap();
    auth.hello_fields().unwrap();
    let reply = hello_reply(
        doc! { "speculativeAuthenticate": { "conversationId": 1, "done": false, "payload": binary(vec![]) } },
    );
    assert_eq!(
        auth.handle_hello_reply(&reply).unwrap_err().kind(),
        ErrorKind::Protocol
    );
}

#[test]
fn hello_failure_is_a_server_error() {
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.hello_fields().unwrap();
    let err = auth
        .handle_hello_reply(&to_bytes(&doc! { "ok": 0, "errmsg": "nope", "code": 13 }))
        .unwrap_err();
    assert!(matches!(err, Error::Server { code: 13, .. }));
}

/// Starts a SCRAM-SHA-256 conversation with `server` and stops at the DeriveKey step.
fn until_derive(
    auth: &mut Authenticator,
    server: &mut Rfc5802Server,
) -> mongodb_auth::KeyDerivation {
    auth.hello_fields().unwrap();
    let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
    let server_first = server.server_first(&payload(&to_doc(start.body())));
    match auth
        .handle_reply(&sasl_reply(1, server_first.as_bytes(), false))
        .unwrap()
    {
        Step::Job(Job::DeriveKey(job)) => job,
        other => panic!("expected a key derivation, got {other:?}"),
    }
}

#[test]
fn keys_from_another_derivation_are_refused() {
    let uri = "mongodb://user:pencil@localhost/?authMechanism=SCRAM-SHA-256";
    let mut server = Rfc5802Server::new(Hash::Sha256, "user", "pencil", b"salt", 4096);
    let mut first = Authenticator::new(&credential(uri), options().speculative(false)).unwrap();
    let mut second = Authenticator::new(&credential(uri), options().speculative(false)).unwrap();
    let first_job = until_derive(&mut first, &mut server);
    let second_job = until_derive(&mut second, &mut server);
    // Same password, same salt, same count: the same key bytes, and still another job's keys.
    let err = second.handle_job(first_job.run().into()).unwrap_err();
    assert!(matches!(err, Error::ForeignKeys), "{err}");
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(first_job.run().derived_by(&first_job));
    assert!(!first_job.run().derived_by(&second_job));
    // The refused call leaves the other machine untouched.
    assert!(matches!(
        first.handle_job(first_job.run().into()).unwrap(),
        Step::Send(_)
    ));
}

#[test]
fn refused_keys_leave_the_cache() {
    let cache = Arc::new(ScramKeyCache::new(4, &mut SystemRandom));
    let attempt = |accepts| {
        let (used_cache, outcome) = login_through_cache(&cache, accepts);
        (used_cache, outcome.is_some())
    };
    assert_eq!(
        attempt(true),
        (false, true),
        "the first login derives and caches"
    );
    assert_eq!(cache.stats().entries, 1);
    assert_eq!(attempt(false), (true, false), "cached keys, refused");
    assert_eq!(cache.stats().entries, 0, "the refused entry is gone");
    assert_eq!(
        attempt(true),
        (false, true),
        "so the next login derives again"
    );
}

#[test]
fn reauthentication_is_sasl_without_hello() {
    let mut server = Rfc5802Server::new(Hash::Sha256, "user", "pencil", b"salt", 4096);
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    // A first login, speculative inside hello.
    let (fields, _) = speculative(&to_doc(&auth.hello_fields().unwrap()));
    assert!(fields.contains_key("saslStart"));
    // (The scripted server declines the speculative attempt and negotiates SHA-256.)
    let start = expect_send(
        auth.handle_hello_reply(&hello_reply(
            doc! { "saslSupportedMechs": ["SCRAM-SHA-256"] },
        ))
        .unwrap(),
    );
    let mut finish = |auth: &mut Authenticator, start: Command| {
        let server_first = server.server_first(&payload(&to_doc(start.body())));
        let step = auth
            .handle_reply(&sasl_reply(1, server_first.as_bytes(), false))
            .unwrap();
        let proof = expect_send(derive(auth, step));
        let server_final = server
            .server_final(&payload(&to_doc(proof.body())))
            .unwrap();
        expect_done(
            auth.handle_reply(&sasl_reply(1, server_final.as_bytes(), true))
                .unwrap(),
        )
    };
    finish(&mut auth, start);
    assert!(auth.is_done());
    // The server answers a command with 391: log in again, straight with saslStart.
    let start = expect_send(auth.reauthenticate().unwrap());
    let body = to_doc(start.body());
    assert_eq!(body.get_str("mechanism").unwrap(), "SCRAM-SHA-256");
    assert!(body.contains_key("saslStart") && !body.contains_key("db"));
    let outcome = finish(&mut auth, start);
    assert!(!outcome.speculative);
    assert_eq!(outcome.round_trips, 2);
    // Not in the middle of a conversation.
    auth.reauthenticate().unwrap();
    assert!(matches!(
        auth.reauthenticate(),
        Err(Error::OutOfOrder { .. })
    ));
}

/// Rules D6 and D8 on a connection whose `hello` negotiated nothing (the driver's own): a fresh
/// authenticator asks the server with a `hello` of its own, and its reply chooses the variant;
/// SCRAM-SHA-1 unless SCRAM-SHA-256 is listed, as the handshake would have chosen.
#[test]
fn reauthentication_with_nothing_negotiated_asks_the_server_first() {
    for (listed, chosen) in [
        (Some(vec!["SCRAM-SHA-1"]), AuthMechanism::ScramSha1),
        (
            Some(vec!["SCRAM-SHA-1", "SCRAM-SHA-256"]),
            AuthMechanism::ScramSha256,
        ),
        (None, AuthMechanism::ScramSha1),
    ] {
        let mut auth = Authenticator::new(
            &credential("mongodb://user:pencil@localhost/app?authSource=users"),
            options(),
        )
        .unwrap();
        let hello = expect_send(auth.reauthenticate().unwrap());
        assert_eq!(hello.db(), "users");
        assert_eq!(
            to_doc(hello.body()),
            doc! { "hello": 1, "saslSupportedMechs": "users.user" }
        );
        let reply = match &listed {
            Some(mechs) => doc! { "saslSupportedMechs": mechs.clone(), "ok": 1 },
            None => doc! { "ok": 1 },
        };
        let start = expect_send(auth.handle_reply(&to_bytes(&reply)).unwrap());
        let body = to_doc(start.body());
        assert_eq!(
            body.get_str("mechanism").unwrap(),
            chosen.as_str(),
            "{listed:?}"
        );
        assert_eq!(auth.mechanism(), Some(chosen));
    }
    // A credential that names its mechanism needs no question.
    let mut auth = Authenticator::new(
        &credential("mongodb://user:pencil@localhost/?authMechanism=SCRAM-SHA-256"),
        options(),
    )
    .unwrap();
    let start = expect_send(auth.reauthenticate().unwrap());
    assert!(to_doc(start.body()).contains_key("saslStart"));
    // A refused question is the server's error, as a refused hello is.
    let mut auth =
        Authenticator::new(&credential("mongodb://user:pencil@localhost/"), options()).unwrap();
    auth.reauthenticate().unwrap();
    let refusal = doc! { "ok": 0, "code": 13, "errmsg": "no" };
    let error = auth.handle_reply(&to_bytes(&refusal)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Server, "{error}");
}

#[test]
fn an_unknown_step_becomes_an_error_not_a_panic() {
    let mut auth = Authenticator::new(
        &credential("mongodb://user:pencil@localhost/?authMechanism=PLAIN"),
        options(),
    )
    .unwrap();
    let step = auth.reauthenticate().unwrap();
    let err = step.unhandled();
    assert!(
        matches!(err, Error::UnhandledStep { step: "Send" }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Usage);
}

/// Rules K10 and K16 through the authenticator: credentials cached from a fetched source are used
/// even when the environment has keys by then, and a refused login clears them.
#[cfg(feature = "aws")]
#[test]
fn cached_aws_credentials_win_over_a_later_environment_and_go_when_refused() {
    use std::time::{Duration, SystemTime};

    use mongodb_auth::aws::Source;
    use mongodb_auth::aws::{CredentialCache, Credentials};
    use mongodb_auth::environment::{FixedClock, MapEnvironment};

    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let cache = Arc::new(CredentialCache::new());
    cache.offer(
        &Credentials::new("AKIACACHED", "cached-secret", None)
            .with_expiration(now + Duration::from_secs(3600)),
        Source::Process,
    );
    let login = |server_accepts: bool| {
        let options = AuthOptions::default()
            .aws_credential_cache(Some(cache.clone()))
            .with_clock(FixedClock(now))
            .with_environment(MapEnvironment::from([
                ("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT"),
                ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ]));
        let mut auth = Authenticator::new(
            &credential("mongodb://localhost/?authMechanism=MONGODB-AWS"),
            options,
        )
        .unwrap();
        auth.hello_fields().unwrap();
        let start = expect_send(auth.handle_hello_reply(&hello_reply(doc! {})).unwrap());
        let client_first =
            bson::Document::from_reader(payload(&to_doc(start.body())).as_slice()).unwrap();
        let mut nonce = client_first.get_binary_generic("r").unwrap().clone();
        nonce.extend_from_slice(&[9; 32]);
        let server_first = to_bytes(&doc! { "s": binary(nonce), "h": "sts.amazonaws.com" });
        let proof = expect_send(
            auth.handle_reply(&sasl_reply(1, &server_first, false))
                .unwrap(),
        );
        let client_final =
            bson::Document::from_reader(payload(&to_doc(proof.body())).as_slice()).unwrap();
        let signer = client_final.get_str("a").unwrap().to_owned();
        let reply = if server_accepts {
            sasl_reply(1, b"", true)
        } else {
            to_bytes(&doc! { "ok": 0, "code": 18, "codeName": "AuthenticationFailed" })
        };
        (signer, auth.handle_reply(&reply).is_ok())
    };
    let (signer, ok) = login(true);
    assert!(ok && signer.contains("Credential=AKIACACHED/"), "{signer}");
    // Refused: the cache is cleared, so the next login takes the environment's keys.
    let (signer, ok) = login(false);
    assert!(!ok && signer.contains("Credential=AKIACACHED/"), "{signer}");
    assert!(cache.get(now).is_none());
    let (signer, _) = login(true);
    assert!(signer.contains("Credential=AKIAENVIRONMENT/"), "{signer}");
    // Environment credentials are never cached.
    assert!(cache.get(now).is_none());
}

/// A GSS context that follows a script: its first token, then one server token to finish on;
/// wrapping prefixes `W`. It records the service principal it was made for.
struct ScriptedGss {
    principals: std::sync::Mutex<Vec<String>>,
}

struct ScriptedContext {
    complete: bool,
}

impl mongodb_auth::gssapi::GssContext for ScriptedContext {
    fn step(&mut self, input: Option<&[u8]>) -> mongodb_auth::Result<Option<Vec<u8>>> {
        match input {
            None => Ok(Some(b"ap-req".to_vec())),
            Some(b"ap-rep") => {
                self.complete = true;
                Ok(None)
            }
            Some(_) => Err(mongodb_auth::GssapiError::Context {
                message: "unexpected token".into(),
            }
            .into()),
        }
    }

    fn is_complete(&self) -> bool {
        self.complete
    }

    fn wrap(&mut self, message: &[u8]) -> mongodb_auth::Result<Vec<u8>> {
        Ok([b"W", message].concat())
    }

    fn unwrap(&mut self, message: &[u8]) -> mongodb_auth::Result<Vec<u8>> {
        Ok(message.strip_prefix(b"W").unwrap_or(message).to_vec())
    }
}

impl mongodb_auth::gssapi::GssProvider for ScriptedGss {
    fn client_context(
        &self,
        request: &mongodb_auth::gssapi::ContextRequest,
    ) -> mongodb_auth::Result<Box<dyn mongodb_auth::gssapi::GssContext>> {
        self.principals
            .lock()
            .unwrap()
            .push(request.service_principal());
        Ok(Box::new(ScriptedContext { complete: false }))
    }
}

fn gssapi_auth(uri: &str) -> (Authenticator, Arc<ScriptedGss>) {
    let provider = Arc::new(ScriptedGss {
        principals: std::sync::Mutex::new(Vec::new()),
    });
    let options = options()
        .gssapi_provider(provider.clone())
        .server_host("db.example.com");
    (
        Authenticator::new(&credential(uri), options).unwrap(),
        provider,
    )
}

fn run_gss(auth: &mut Authenticator, step: Step) -> Step {
    match step {
        Step::Job(job @ Job::Gssapi(_)) => auth.handle_job(job.run()).unwrap(),
        other => panic!("expected a GSSAPI job, got {other:?}"),
    }
}

#[test]
fn gssapi_runs_the_rfc_4752_conversation() {
    let (mut auth, provider) =
        gssapi_auth("mongodb://alice%40EXAMPLE.COM@db.example.com/?authMechanism=GSSAPI");
    let fields = to_doc(&auth.hello_fields().unwrap());
    assert!(
        fields.is_empty(),
        "no speculative GSSAPI (rule E10): {fields:?}"
    );
    let step = auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
    let start = expect_send(run_gss(&mut auth, step));
    let body = to_doc(start.body());
    assert_eq!((start.name(), start.db()), ("saslStart", "$external"));
    assert_eq!(body.get_str("mechanism").unwrap(), "GSSAPI");
    assert_eq!(payload(&body), b"ap-req");
    assert_eq!(body.get_i32("autoAuthorize").unwrap(), 1);
    // The server's last context token completes the context: an empty answer.
    let step = auth.handle_reply(&sasl_reply(7, b"ap-rep", false)).unwrap();
    let empty = expect_send(run_gss(&mut auth, step));
    assert_eq!(empty.name(), "saslContinue");
    assert_eq!(to_doc(empty.body()).get_i32("conversationId").unwrap(), 7);
    assert!(payload(&to_doc(empty.body())).is_empty());
    // The security-layer offer, wrapped: the answer picks "none" and names the user.
    let step = auth
        .handle_reply(&sasl_reply(7, b"W\x07\x00\x10\x00", false))
        .unwrap();
    let layer = expect_send(run_gss(&mut auth, step));
    assert_eq!(
        payload(&to_doc(layer.body())),
        b"W\x01\x00\x00\x00alice@EXAMPLE.COM"
    );
    let outcome = expect_done(auth.handle_reply(&sasl_reply(7, b"", true)).unwrap());
    assert_eq!(outcome.mechanism, Some(mongodb_auth::AuthMechanism::Gssapi));
    assert_eq!(outcome.round_trips, 3);
    assert_eq!(
        *provider.principals.lock().unwrap(),
        ["mongodb@db.example.com"]
    );
}

#[test]
fn gssapi_refuses_a_layer_offer_without_none_and_an_early_done() {
    let (mut auth, _) = gssapi_auth("mongodb://alice@db.example.com/?authMechanism=GSSAPI");
    auth.hello_fields().unwrap();
    let step = auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
    expect_send(run_gss(&mut auth, step));
    let step = auth.handle_reply(&sasl_reply(1, b"ap-rep", false)).unwrap();
    expect_send(run_gss(&mut auth, step));
    let step = auth
        .handle_reply(&sasl_reply(1, b"W\x06\x00\x00\x00", false))
        .unwrap();
    let Step::Job(job) = step else { panic!() };
    let error = auth.handle_job(job.run()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::Gssapi(mongodb_auth::GssapiError::SecurityLayer { .. })
        ),
        "{error}"
    );
    let (mut auth, _) = gssapi_auth("mongodb://alice@db.example.com/?authMechanism=GSSAPI");
    auth.hello_fields().unwrap();
    let step = auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
    expect_send(run_gss(&mut auth, step));
    let error = auth.handle_reply(&sasl_reply(1, b"", true)).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Protocol);
}

#[test]
fn gssapi_service_principals_follow_the_properties_and_canonicalization() {
    use mongodb_auth::ask::{Answer, Ask};
    type Answerer = fn(&Ask) -> Answer;
    let base = "mongodb://alice@db.example.com/?authMechanism=GSSAPI&authMechanismProperties=";
    let principal_after = |properties: &str, answers: &[Answerer]| {
        let (mut auth, provider) = gssapi_auth(&format!("{base}{properties}"));
        auth.hello_fields().unwrap();
        let mut step = auth.handle_hello_reply(&hello_reply(doc! {})).unwrap();
        let mut asks = Vec::new();
        for answer in answers {
            let Step::Ask(ask) = step else {
                panic!("expected an ask, got {step:?}")
            };
            step = auth.handle_answer(answer(&ask)).unwrap();
            asks.push(ask);
        }
        run_gss(&mut auth, step);
        let principal = provider.principals.lock().unwrap()[0].clone();
        (principal, asks)
    };
    assert_eq!(
        principal_after("SERVICE_NAME:other,SERVICE_REALM:EXAMPLE.COM", &[]).0,
        "other/db.example.com@EXAMPLE.COM"
    );
    assert_eq!(
        principal_after("SERVICE_HOST:alias.example.com", &[]).0,
        "mongodb@alias.example.com"
    );
    let host: Answerer = |ask| match ask {
        Ask::LookupHost(lookup) => {
            lookup.answer("Canon.Example.COM.", vec!["10.0.0.1".parse().unwrap()])
        }
        other => panic!("expected a host lookup, got {other:?}"),
    };
    // SERVICE_HOST is a host used for authentication: canonicalised too (rule J3), as PyMongo
    // canonicalises it.
    let (principal, asks) = principal_after(
        "SERVICE_HOST:alias.example.com,CANONICALIZE_HOST_NAME:forward",
        &[host],
    );
    assert_eq!(principal, "mongodb@canon.example.com");
    assert!(
        matches!(&asks[..], [Ask::LookupHost(lookup)] if lookup.name() == "alias.example.com"),
        "{asks:?}"
    );
    let (principal, asks) = principal_after("CANONICALIZE_HOST_NAME:forward", &[host]);
    assert_eq!(principal, "mongodb@canon.example.com");
    assert!(
        matches!(&asks[..], [Ask::LookupHost(lookup)] if lookup.name() == "db.example.com"),
        "{asks:?}"
    );
    let names: Answerer = |ask| match ask {
        Ask::ReverseLookup(reverse) => reverse.answer(vec!["Real.Example.COM.".into()]),
        other => panic!("expected a reverse lookup, got {other:?}"),
    };
    for value in ["forwardAndReverse", "true"] {
        let (principal, asks) =
            principal_after(&format!("CANONICALIZE_HOST_NAME:{value}"), &[host, names]);
        assert_eq!(principal, "mongodb@real.example.com");
        assert!(
            matches!(&asks[1], Ask::ReverseLookup(reverse)
                if reverse.address() == "10.0.0.1".parse::<std::net::IpAddr>().unwrap()),
            "{asks:?}"
        );
    }
    // A failed lookup leaves the host as it is (rule J3).
    let failed: Answerer = |ask| ask.fail("SERVFAIL");
    let (principal, _) = principal_after("CANONICALIZE_HOST_NAME:forward", &[failed]);
    assert_eq!(principal, "mongodb@db.example.com");
}

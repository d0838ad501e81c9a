//! Arbitrary BSON replies, fed at every step of every mechanism, never panic the
//! `Authenticator` (nor the load-balanced mode's check of the hello reply, the reading of its
//! connection ids, or the search of a reply for `MaxTimeMSExpired`).
//!
//! The auth spec's example conversations are deterministic (fixed nonces), so the target knows
//! the right reply at each step. The input is a list of (selector byte, optional document): a
//! step takes the next document from the input when its selector is odd, and the right reply
//! otherwise, so the fuzzer reaches every state with whatever bytes it likes.

#![no_main]

use mongodb_auth::random::SystemRandom;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use bson::{Binary, Document, doc, spec::BinarySubtype};
use libfuzzer_sys::fuzz_target;
use mongodb_auth::{AuthOptions, Authenticator, ConnectionString, Job, ScramKeyCache, Step};

fn bin(b64: &str) -> bson::Bson {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    bson::Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes })
}

struct Scenario {
    uri: &'static str,
    nonce: &'static str,
    speculative: bool,
    /// Starts with `reauthenticate` on a fresh authenticator (a driver's own `hello`): its
    /// negotiation `hello` takes the first reply.
    reauthenticate: bool,
    replies: Vec<Document>,
}

fn scenarios() -> Vec<Scenario> {
    let sha1_first = bin("cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0xIbytWZ2s3cXZVT0tVd3VXTElXZzRsLzlTcmFHTUhFRSxzPXJROVpZM01udEJldVAzRTFURFZDNHc9PSxpPTEwMDAw");
    let sha1_final = bin("dj1VTVdlSTI1SkQxeU5ZWlJNcFo0Vkh2aFo5ZTA9");
    let sha256_first = bin("cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY=");
    let sha256_final = bin("dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ==");
    let empty = bin("");
    let hello = doc! { "isWritablePrimary": true, "saslSupportedMechs": ["SCRAM-SHA-256", "SCRAM-SHA-1"], "ok": 1 };
    vec![
        // SCRAM-SHA-1, long ending.
        Scenario {
            uri: "mongodb://user:pencil@h/?authMechanism=SCRAM-SHA-1",
            nonce: "fyko+d2lbbFgONRv9qkxdawL",
            speculative: false,
            reauthenticate: false,
            replies: vec![
                hello.clone(),
                doc! { "conversationId": 1, "payload": sha1_first.clone(), "done": false, "ok": 1 },
                doc! { "conversationId": 1, "payload": sha1_final.clone(), "done": false, "ok": 1 },
                doc! { "conversationId": 1, "payload": empty.clone(), "done": true, "ok": 1 },
            ],
        },
        // Negotiated, speculative SCRAM-SHA-256.
        Scenario {
            uri: "mongodb://user:pencil@h/",
            nonce: "rOprNGfwEbeRWgbNEkqO",
            speculative: true,
            reauthenticate: false,
            replies: vec![
                {
                    let mut reply = hello.clone();
                    reply.insert("speculativeAuthenticate", doc! { "conversationId": 1, "payload": sha256_first.clone(), "done": false });
                    reply
                },
                doc! { "conversationId": 1, "payload": sha256_final.clone(), "done": true, "ok": 1 },
            ],
        },
        // Nothing negotiated: reauthenticate asks the server first, then SCRAM-SHA-256.
        Scenario {
            uri: "mongodb://user:pencil@h/",
            nonce: "rOprNGfwEbeRWgbNEkqO",
            speculative: false,
            reauthenticate: true,
            replies: vec![
                hello.clone(),
                doc! { "conversationId": 1, "payload": sha256_first.clone(), "done": false, "ok": 1 },
                doc! { "conversationId": 1, "payload": sha256_final.clone(), "done": true, "ok": 1 },
            ],
        },
        // Negotiated, not speculative, short ending.
        Scenario {
            uri: "mongodb://user:pencil@h/",
            nonce: "rOprNGfwEbeRWgbNEkqO",
            speculative: false,
            reauthenticate: false,
            replies: vec![
                hello.clone(),
                doc! { "conversationId": 1, "payload": sha256_first, "done": false, "ok": 1 },
                doc! { "conversationId": 1, "payload": sha256_final, "done": true, "ok": 1 },
            ],
        },
        Scenario {
            uri: "mongodb://user:pencil@h/?authMechanism=PLAIN",
            nonce: "unused",
            speculative: true,
            reauthenticate: false,
            replies: vec![hello.clone(), doc! { "conversationId": 1, "payload": empty, "done": true, "ok": 1 }],
        },
        Scenario {
            uri: "mongodb://CN%3Dclient@h/?authMechanism=MONGODB-X509",
            nonce: "unused",
            speculative: true,
            reauthenticate: false,
            replies: vec![{
                let mut reply = hello.clone();
                reply.insert("speculativeAuthenticate", doc! { "dbname": "$external", "user": "CN=client" });
                reply
            }],
        },
        Scenario {
            uri: "mongodb://h/?authMechanism=MONGODB-X509",
            nonce: "unused",
            speculative: false,
            reauthenticate: false,
            replies: vec![hello, doc! { "dbname": "$external", "user": "CN=client", "ok": 1 }],
        },
    ]
}

/// Splits the input into (selector, document bytes) pairs; a document is framed by its own
/// little-endian length, clamped to what is left.
fn next<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&selector, rest) = input.split_first()?;
    let len = rest.get(..4).map_or(0, |b| i32::from_le_bytes(b.try_into().unwrap()).clamp(0, rest.len() as i32) as usize);
    let (doc, rest) = rest.split_at(len);
    *input = rest;
    Some((selector, doc))
}

fuzz_target!(|data: &[u8]| {
    static CACHE: OnceLock<Arc<ScramKeyCache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Arc::new(ScramKeyCache::new(16, &mut SystemRandom))).clone();
    let Some((&choice, mut input)) = data.split_first() else { return };
    let scenarios = scenarios();
    let scenario = &scenarios[choice as usize % scenarios.len()];
    let credential = ConnectionString::parse(scenario.uri).unwrap().credential().unwrap().clone();
    let nonce = scenario.nonce;
    let mut options =
        AuthOptions::default().key_cache(Some(cache)).speculative(scenario.speculative);
    options.dangerous().set_nonces(move || nonce.to_owned());
    let mut auth = Authenticator::new(&credential, options).unwrap();

    let mut valid = scenario.replies.iter().map(|d| d.to_vec().unwrap());
    let mut reply = |input: &mut &[u8]| -> Vec<u8> {
        let right = valid.next().unwrap_or_default();
        match next(input) {
            Some((selector, doc)) if selector % 2 == 1 => doc.to_vec(),
            _ => right,
        }
    };
    let started = if scenario.reauthenticate {
        auth.reauthenticate()
    } else {
        auth.hello_fields().unwrap();
        let hello_reply = reply(&mut input);
        // A driver in load-balanced mode checks the same reply first, and command monitoring
        // reads the connection's ids from it; a command's reply is read for `maxTimeMS`.
        let _ = mongodb_auth::handshake::check_load_balanced_reply(&hello_reply);
        let _ = mongodb_auth::handshake::ConnectionIds::of_hello_reply(&hello_reply);
        let _ = mongodb_auth::command::max_time_ms_expired(&hello_reply);
        auth.handle_hello_reply(&hello_reply)
    };
    let Ok(mut step) = started else { return };
    // Bounded: no conversation here has more than four steps.
    for _ in 0..8 {
        let result = match step {
            Step::Send(_) => auth.handle_reply(&reply(&mut input)),
            // Iterations are bounded by the scenarios' server-first messages unless the fuzzer
            // replaced them, in which case the ceiling below keeps PBKDF2 affordable.
            Step::Job(Job::DeriveKey(job)) if job.iterations() <= 10_000 => {
                auth.handle_job(job.run().into())
            }
            Step::Job(_) => return,
            Step::Done(_) => {
                assert!(auth.is_done());
                return;
            }
            _ => return,
        };
        match result {
            Ok(next_step) => step = next_step,
            Err(_) => {
                assert!(!auth.is_done());
                return;
            }
        }
    }
    panic!("the conversation did not end");
});

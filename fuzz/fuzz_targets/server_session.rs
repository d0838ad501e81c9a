//! A whole server session fed arbitrary bytes: as wire messages through the request decoder,
//! and as command documents straight into the session, before a login or after one (an X.509
//! certificate's, so the commands of logged-in clients are reached too: `insert`'s documents,
//! `find`, `drop`), with test commands on or off (`configureFailPoint` and the fail points it
//! arms). Every mechanism but GSSAPI (`server_gssapi`'s) is served, MONGODB-AWS against keys
//! the server checks itself. Nothing panics, every reply is a BSON document, and no login
//! succeeds without the password.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use mongodb_auth::random;
use mongodb_auth::scram::ScramVariant;
use mongodb_auth::server::aws::{AwsSettings, LocalSts, StsVerifier};
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth::server::{Session, SessionConfig, User, UserStore};
use mongodb_auth::wire::{MessageDecoder, OP_MSG, OP_QUERY};
use mongodb_auth::Secret;
use mongodb_auth::fuzzing::settle_inline;

/// The subject of the client certificate a logged-in session was given.
const CERTIFICATE: &str = "CN=fuzz";

/// The MONGODB-AWS user, whose key's secret no fuzzer sends.
const AWS_USER: &str = "arn:aws:iam::123456789012:user/fuzz";

/// What every run's server has: the users (whose verifiers take a while to derive, so they are
/// made once), a MONGODB-OIDC provider and MONGODB-AWS's settings.
fn parts() -> &'static (UserStore, OidcSettings, AwsSettings) {
    static PARTS: OnceLock<(UserStore, OidcSettings, AwsSettings)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let mut fixed = random::from_fn(|bytes: &mut [u8]| bytes.fill(3));
        let mut users = UserStore::new();
        users.insert_x509(CERTIFICATE);
        users.insert_aws(AWS_USER);
        let password = Secret::new("a password no fuzzer sends");
        users.insert(
            User::new("admin", "user", &password, &[ScramVariant::Sha1, ScramVariant::Sha256], &mut fixed)
                .unwrap(),
        );
        // The public key of RFC 7515's ES256 example (its private key is not in this program),
        // so no token the fuzzer makes may log in.
        let jwks = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",
          "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
          "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let oidc = OidcSettings::new(
            "https://issuer",
            "aud",
            Arc::new(mongodb_auth_server::jwks::Jwks::from_json(jwks).unwrap()),
        )
        .client_id("fuzz");
        let mut sts = LocalSts::new();
        sts.insert(AWS_USER, "AKIAFUZZ", Secret::new("a secret no fuzzer sends"));
        let aws = AwsSettings::new(StsVerifier::Local(Arc::new(sts)));
        (users, oidc, aws)
    })
}

/// A server of its own for each run, so that no run's inserts or fail points reach the next
/// (a crash reproduces from its input alone).
fn config(test_commands: bool) -> Arc<SessionConfig> {
    let (users, oidc, aws) = parts();
    let fixed = random::from_fn(|bytes: &mut [u8]| bytes.fill(3));
    let mut config = SessionConfig::with_random(users.clone(), fixed);
    config.enable_test_commands = test_commands;
    config.aws = Some(aws.clone());
    config.store_limits = mongodb_auth::server::StoreLimits {
        max_documents: 64,
        max_bytes: 64 * 1024,
    };
    config.oidc.push(oidc.clone());
    Arc::new(config)
}

fuzz_target!(|data: &[u8]| {
    let (&mode, rest) = match data.split_first() {
        Some(split) => split,
        None => return,
    };
    let mut session = Session::new(config(mode & 4 != 0), 1);
    let now = SystemTime::UNIX_EPOCH;
    let logged_in = mode & 2 != 0;
    if logged_in {
        session.set_client_certificate_subject(Some(CERTIFICATE.to_owned()));
        let login = bson::rawdoc! { "authenticate": 1, "mechanism": "MONGODB-X509" };
        let step = session.handle_command("$external", login.as_bytes(), now);
        settle_inline(&mut session, step, now);
        assert_eq!(session.authenticated_users().len(), 1, "the certificate logs in");
    }
    let mut replies = Vec::new();
    if mode % 2 == 0 {
        // Wire bytes, as a client would send them.
        let mut decoder = MessageDecoder::requests().max_size(64 * 1024);
        let mut next = decoder.push(rest);
        for _ in 0..64 {
            let Ok(Some(message)) = next else { break };
            replies.push(match message.op_code {
                OP_MSG => {
                    let step = session.handle_op_msg(message.body(), now);
                    settle_inline(&mut session, step, now)
                }
                OP_QUERY => {
                    let step = session.handle_op_query(message.collection.as_deref().unwrap_or(""), message.body(), now);
                    settle_inline(&mut session, step, now)
                }
                _ => unreachable!("the request decoder accepts OP_MSG and OP_QUERY only"),
            });
            next = decoder.push(&[]);
        }
    } else {
        // Command documents, each framed by its own length, against `admin` or `$external`.
        let mut input = rest;
        for _ in 0..16 {
            let Some((&db, tail)) = input.split_first() else { break };
            let len = tail.get(..4).map_or(0, |b| {
                i32::from_le_bytes([b[0], b[1], b[2], b[3]]).clamp(0, tail.len() as i32) as usize
            });
            let (doc, tail) = tail.split_at(len);
            input = tail;
            let db = if db % 2 == 0 { "admin" } else { "$external" };
            let step = session.handle_command(db, doc, now);
            replies.push(settle_inline(&mut session, step, now));
        }
    }
    // `None`: the connection was closed (a fail point), which is an answer too.
    for reply in replies.iter().flatten() {
        assert!(bson::RawDocument::from_bytes(reply).is_ok(), "a reply is not a document");
    }
    assert!(
        session
            .authenticated_users()
            .iter()
            .all(|u| logged_in && u.user == CERTIFICATE && u.mechanism == "MONGODB-X509"),
        "a login succeeded without the password"
    );
});

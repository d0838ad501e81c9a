//! What a refused PLAIN login costs the embedded server, per kind of refusal: a wrong password
//! for a user with both verifiers, for a SCRAM-SHA-1-only user, for a SCRAM-SHA-256-only user,
//! and an unknown user. They must cost the same, or the time a refusal takes tells which users
//! exist. 200 samples each; compare the medians (the unknown user is the baseline).
//!
//! `cargo bench --features server --bench plain_parity`

use std::sync::Arc;
use std::time::SystemTime;

use bson::spec::BinarySubtype;
use bson::{Binary, doc};
use criterion::{Criterion, criterion_group, criterion_main};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::{Session, SessionConfig, User, UserStore};
use mongodb_auth::{ScramVariant, Secret};

fn plain_start(user: &str, password: &str) -> Vec<u8> {
    let payload = format!("\0{user}\0{password}").into_bytes();
    doc! {
        "saslStart": 1,
        "mechanism": "PLAIN",
        "payload": Binary { subtype: BinarySubtype::Generic, bytes: payload },
    }
    .to_vec()
    .unwrap()
}

fn refusals(c: &mut Criterion) {
    let mut users = UserStore::new();
    for (name, variants) in [
        ("both", &[ScramVariant::Sha1, ScramVariant::Sha256][..]),
        ("sha1only", &[ScramVariant::Sha1][..]),
        ("sha256only", &[ScramVariant::Sha256][..]),
    ] {
        users.insert(
            User::new(
                "$external",
                name,
                &Secret::new("pencil"),
                variants,
                &mut SystemRandom,
            )
            .unwrap(),
        );
    }
    let config = Arc::new(SessionConfig::new(users));
    let mut group = c.benchmark_group("plain_refusal");
    group.sample_size(200);
    for (label, user) in [
        ("unknown_user", "nobody"),
        ("wrong_password_both", "both"),
        ("wrong_password_sha1_only", "sha1only"),
        ("wrong_password_sha256_only", "sha256only"),
    ] {
        let command = plain_start(user, "wrong");
        group.bench_function(label, |b| {
            b.iter(|| {
                let mut session = Session::new(config.clone(), 1);
                let now = SystemTime::now();
                let step = session.handle_command("$external", &command, now);
                mongodb_auth::fuzzing::settle_inline(&mut session, step, now)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, refusals);
criterion_main!(benches);

//! SCRAM client cost against its floor, PBKDF2 itself, measured in the same run.
//!
//! `cargo bench --bench scram`. The claims checked in the notes: `sha256_full_uncached` costs at
//! most 1.05x `pbkdf2_sha256_15000` (everything but PBKDF2 is noise), and `sha256_full_cached` at
//! most 1% of `sha256_full_uncached` (a cache hit runs no PBKDF2).

use mongodb_auth_testkit::rfc5802 as common;

use mongodb_auth::random::SystemRandom;
use std::hint::black_box;

use common::{Hash, Rfc5802Server, normalize};
use criterion::{Criterion, criterion_group, criterion_main};
use mongodb_auth::Secret;
use mongodb_auth::scram::{ScramClient, ScramKeyCache, ScramVariant};
use sha1::Sha1;
use sha2::Sha256;

const USER: &str = "user";
const PASSWORD: &str = "pencil";
const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const SALT: &[u8] = b"0123456789abcdef";

/// Server-first and server-final for the fixed nonce, computed once by the test server.
struct Transcript {
    server_first: String,
    server_final: String,
}

fn transcript(variant: ScramVariant, hash: Hash, iterations: u32) -> Transcript {
    let mut server = Rfc5802Server::new(hash, USER, PASSWORD, SALT, iterations);
    let client = ScramClient::new(variant, USER, &Secret::new(PASSWORD)).unwrap();
    let (client_first, state) = client.start_with_nonce(NONCE).unwrap();
    let server_first = server.server_first(&client_first);
    let (client_final, _) = state
        .handle_server_first(
            server_first.as_bytes(),
            &ScramKeyCache::new(1, &mut SystemRandom),
        )
        .unwrap();
    let server_final = server.server_final(&client_final).unwrap();
    Transcript {
        server_first,
        server_final,
    }
}

/// One whole client conversation; the keys come from `cache`, or are derived when it is `None`.
fn conversation(variant: ScramVariant, t: &Transcript, cache: Option<&ScramKeyCache>) {
    let client = ScramClient::new(variant, USER, &Secret::new(PASSWORD)).unwrap();
    let (client_first, state) = client.start_with_nonce(NONCE).unwrap();
    black_box(client_first);
    let (client_final, state) = match cache {
        Some(cache) => state
            .handle_server_first(t.server_first.as_bytes(), cache)
            .unwrap(),
        None => {
            let server_first = state
                .receive_server_first(t.server_first.as_bytes())
                .unwrap();
            let keys = server_first.key_derivation().run();
            server_first.finish(&keys)
        }
    };
    black_box(client_final);
    state
        .handle_server_final(t.server_final.as_bytes())
        .unwrap();
}

fn scram(c: &mut Criterion) {
    let mut group = c.benchmark_group("scram");
    group.sample_size(50);

    let sha256 = transcript(ScramVariant::Sha256, Hash::Sha256, 15000);
    let sha1 = transcript(ScramVariant::Sha1, Hash::Sha1, 10000);
    let sha1_input = normalize(Hash::Sha1, USER, PASSWORD).unwrap();

    group.bench_function("pbkdf2_sha256_15000", |b| {
        b.iter(|| {
            let mut out = [0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(black_box(PASSWORD.as_bytes()), SALT, 15000, &mut out);
            out
        })
    });
    group.bench_function("sha256_full_uncached", |b| {
        b.iter(|| conversation(ScramVariant::Sha256, &sha256, None))
    });
    let warm = ScramKeyCache::new(4, &mut SystemRandom);
    conversation(ScramVariant::Sha256, &sha256, Some(&warm));
    group.bench_function("sha256_full_cached", |b| {
        b.iter(|| conversation(ScramVariant::Sha256, &sha256, Some(&warm)))
    });
    group.bench_function("pbkdf2_sha1_10000", |b| {
        b.iter(|| {
            let mut out = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<Sha1>(black_box(sha1_input.as_bytes()), SALT, 10000, &mut out);
            out
        })
    });
    group.bench_function("sha1_full_uncached", |b| {
        b.iter(|| conversation(ScramVariant::Sha1, &sha1, None))
    });
    group.finish();
}

criterion_group!(benches, scram);
criterion_main!(benches);

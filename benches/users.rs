//! What finding a user costs the server as its store grows: the lookup every `hello` that names
//! a user and every login makes, in a store of 2 users (the floor) and of 10,000 (a large users
//! file), measured in the same run.
//!
//! `cargo bench --features server --bench users`. The claim checked in the notes: among 10,000
//! users a lookup costs a small multiple of the floor (a search that grows with the logarithm of
//! the store), where a scan of every user would cost thousands of times it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use mongodb_auth::Secret;
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::{User, UserStore};

/// A store of `count` users spread over three databases; no verifiers, so no key derivation.
fn store(count: usize) -> UserStore {
    let mut users = UserStore::new();
    let password = Secret::new("pencil");
    for n in 0..count {
        let db = ["admin", "app", "$external"][n % 3];
        let user = User::new(db, &format!("user{n}"), &password, &[], &mut SystemRandom)
            .expect("a user without verifiers");
        users.insert(user);
    }
    users
}

fn users(c: &mut Criterion) {
    let mut group = c.benchmark_group("users");
    for count in [2, 10_000] {
        let users = store(count);
        // The last user inserted: the one a scan in insertion order reaches last.
        let (db, name) = (
            ["admin", "app", "$external"][(count - 1) % 3],
            format!("user{}", count - 1),
        );
        assert!(users.get(db, &name).is_some());
        group.bench_function(format!("get_among_{count}"), |b| {
            b.iter(|| black_box(users.get(black_box(db), black_box(&name))))
        });
    }
    group.finish();
}

criterion_group!(benches, users);
criterion_main!(benches);

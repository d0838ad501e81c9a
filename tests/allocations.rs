//! What a cached SCRAM-SHA-256 login allocates, on each side, counted with a counting global
//! allocator over the sans-IO machines (client `Authenticator`, server `Session`) talking to
//! each other in memory: a speculative `hello`, then one `saslContinue`. Allocations were most
//! of what such a login cost the server beyond a bare connection (see `benches/logins.rs`); the
//! bounds keep them from creeping back.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::SystemTime;

use bson::rawdoc;
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::{Session, SessionConfig, SessionStep};
use mongodb_auth::{
    AuthMechanism, AuthOptions, Authenticator, ConnectionString, ScramKeyCache, ScramVariant, Step,
};
use mongodb_auth_testkit::embedded::scram_users;

/// The most allocations the server makes for the login, from the `hello` to the last reply
/// (71 before they were counted here).
const SERVER_MAX: u64 = 12;
/// The most the client makes, from `Authenticator::new` to `Step::Done` (47 before).
const CLIENT_MAX: u64 = 28;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; the count is a
// thread-local cell that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Runs `f`, adding what it allocated on this thread to `total`.
fn counted<T>(total: &mut u64, f: impl FnOnce() -> T) -> T {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    *total += ALLOCATIONS.with(Cell::get) - before;
    out
}

/// The reply bytes of a step that answers at once.
fn reply(step: SessionStep) -> Vec<u8> {
    match step {
        SessionStep::Reply(body) => body,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// One login; the allocations of (client, server).
fn login(config: &Arc<SessionConfig>, options: &AuthOptions) -> (u64, u64) {
    let cs = ConnectionString::parse("mongodb://alice:pencil@localhost/?authSource=admin")
        .expect("a connection string");
    let credential = cs.credential().expect("a credential");
    let now = SystemTime::now();
    let (mut client, mut server) = (0, 0);
    let mut authenticator = counted(&mut client, || {
        Authenticator::new(credential, options.clone()).expect("an authenticator")
    });
    let fields = counted(&mut client, || {
        authenticator.hello_fields().expect("fields")
    });
    // The hello a driver sends, with the authenticator's fields (`saslSupportedMechs`,
    // `speculativeAuthenticate`) after its own: built outside the count, as the driver's part.
    let mut hello = rawdoc! { "isMaster": 1, "helloOk": true };
    for field in bson::RawDocument::from_bytes(&fields).expect("a document") {
        let (key, value) = field.expect("a field");
        hello.append(key, value);
    }
    let mut session = counted(&mut server, || Session::new(config.clone(), 1));
    let hello_reply = counted(&mut server, || {
        reply(session.handle_command("admin", hello.as_bytes(), now))
    });
    let mut step = counted(&mut client, || {
        authenticator
            .handle_hello_reply(&hello_reply)
            .expect("the hello reply")
    });
    loop {
        step = match step {
            Step::Send(command) => {
                let answer = counted(&mut server, || {
                    reply(session.handle_command(command.db(), command.body(), now))
                });
                counted(&mut client, || {
                    authenticator.handle_reply(&answer).expect("a reply")
                })
            }
            // The first login derives the keys; the cache has them for the next.
            Step::Job(job) => authenticator.handle_job(job.run()).expect("the keys"),
            Step::Done(outcome) => {
                assert_eq!(outcome.mechanism, Some(AuthMechanism::ScramSha256));
                assert_eq!(session.authenticated_users().len(), 1);
                return (client, server);
            }
            other => panic!("unexpected step {other:?}"),
        }
    }
}

#[test]
fn a_cached_scram_login_allocates_within_its_bounds_on_each_side() {
    let users = scram_users(&[("admin", "alice", "pencil", &[ScramVariant::Sha256])]);
    let config = Arc::new(SessionConfig::new(users));
    let cache = Arc::new(ScramKeyCache::new(4, &mut SystemRandom));
    let options = AuthOptions::default().key_cache(Some(cache.clone()));
    login(&config, &options);
    let (client, server) = login(&config, &options);
    assert_eq!(
        cache.stats().hits,
        1,
        "the second login used the cached keys"
    );
    assert!(
        server <= SERVER_MAX,
        "the server allocated {server} times (at most {SERVER_MAX})"
    );
    assert!(
        client <= CLIENT_MAX,
        "the client allocated {client} times (at most {CLIENT_MAX})"
    );
}

//! The client-side operations timeout specification (`timeoutMS`) as the adapters meet it, with
//! both: the handshake's commands end within the lesser of `timeoutMS` and what is left of
//! `serverSelectionTimeoutMS` (its prose tests 8.5 and 8.6, with longer times), `socketTimeoutMS`
//! is ignored under it, and each command of `run_command` runs under it, with `maxTimeMS`, a
//! re-authentication included, and the server's `MaxTimeMSExpired` turned into its timeout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mongodb_auth::command::Command;
use mongodb_auth::{Error, ErrorKind};
use mongodb_auth_io::{ConnectOptions, Event};
use mongodb_auth_testkit::embedded::{
    Adapter, TestServer, alice_server, fail_next, hold_next, options,
};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The test's options without the read timeout they set in code, so the connection string's
/// socket timeouts are the ones in force.
fn socket_timeouts_from_the_uri() -> ConnectOptions {
    let mut options = options();
    options.read_timeout = None;
    options
}

/// A login whose `saslContinue` is held 1.5 s fails within the lesser of `timeoutMS` and what
/// is left of `serverSelectionTimeoutMS`, whichever is less, `timeoutMS=0` included; without
/// `timeoutMS` the rest of the login is not bounded by the selection timeout.
#[test]
fn the_handshake_ends_within_the_lesser_of_timeout_ms_and_the_selection_timeout() {
    let server = alice_server();
    let uri = |query: &str| server.uri("alice:pencil@", &format!("?{query}"));
    for adapter in Adapter::BOTH {
        let selection = "logging in (serverSelectionTimeoutMS, which bounds a connection's \
                         handshake under timeoutMS)";
        for (query, bound) in [
            (
                "timeoutMS=1000&serverSelectionTimeoutMS=3000",
                "connecting and logging in (timeoutMS)",
            ),
            ("timeoutMS=3000&serverSelectionTimeoutMS=1000", selection),
            ("timeoutMS=0&serverSelectionTimeoutMS=1000", selection),
        ] {
            hold_next(server.server(), "saslContinue", ms(1500));
            let started = Instant::now();
            let error = adapter
                .login(server.runtime(), &uri(query), options())
                .expect_err(query);
            let took = started.elapsed();
            let context = format!("{adapter:?} {query}: {error} after {took:?}");
            assert_eq!(error.kind(), ErrorKind::Timeout, "{context}");
            assert!(took < Duration::from_millis(1450), "{context}");
            let Error::Timeout {
                operation, cause, ..
            } = &error
            else {
                panic!("{context}");
            };
            assert_eq!(*operation, bound, "{context}");
            assert!(cause.is_some(), "{context}");
        }
        hold_next(server.server(), "saslContinue", ms(1500));
        let login = adapter.login(
            server.runtime(),
            &uri("serverSelectionTimeoutMS=1000"),
            options(),
        );
        assert!(login.is_ok(), "{adapter:?}: {login:?}");
    }
}

/// `socketTimeoutMS` ends a login whose reply is slower than it, unless `timeoutMS` is set
/// (`0` too): that specification deprecates it and ignores it then.
#[test]
fn socket_timeout_ms_is_ignored_under_timeout_ms() {
    let server = alice_server();
    let uri = |query: &str| server.uri("alice:pencil@", &format!("?socketTimeoutMS=200&{query}"));
    for adapter in Adapter::BOTH {
        hold_next(server.server(), "saslContinue", ms(600));
        let error = adapter
            .login(server.runtime(), &uri(""), socket_timeouts_from_the_uri())
            .expect_err("socketTimeoutMS");
        assert_eq!(error.kind(), ErrorKind::Timeout, "{adapter:?}: {error}");
        for query in ["timeoutMS=3000", "timeoutMS=0"] {
            hold_next(server.server(), "saslContinue", ms(600));
            let login = adapter.login(
                server.runtime(),
                &uri(query),
                socket_timeouts_from_the_uri(),
            );
            let login = login.unwrap_or_else(|e| panic!("{adapter:?} {query}: {e}"));
            assert_eq!(login.users.len(), 1, "{adapter:?} {query}");
        }
    }
}

/// A connection of either adapter, to run commands on.
enum Connection {
    Blocking(mongodb_auth_io::blocking::Connection),
    Tokio(mongodb_auth_io::tokio::Connection),
}

impl Connection {
    fn open(adapter: Adapter, server: &TestServer, uri: &str, options: ConnectOptions) -> Self {
        match adapter {
            Adapter::Blocking => {
                Connection::Blocking(mongodb_auth_io::blocking::connect(uri, options).unwrap())
            }
            Adapter::Tokio => Connection::Tokio(
                server
                    .block_on(mongodb_auth_io::tokio::connect(uri, options))
                    .unwrap(),
            ),
        }
    }

    /// Runs `command`, within `timeout` if given.
    fn run(
        &mut self,
        server: &TestServer,
        command: &Command,
        timeout: Option<Duration>,
    ) -> mongodb_auth::Result<Vec<u8>> {
        match (self, timeout) {
            (Connection::Blocking(c), None) => c.run_command(command),
            (Connection::Blocking(c), Some(t)) => c.run_command_within(command, t),
            (Connection::Tokio(c), None) => server.block_on(c.run_command(command)),
            (Connection::Tokio(c), Some(t)) => server.block_on(c.run_command_within(command, t)),
        }
    }

    fn is_usable(&self) -> bool {
        match self {
            Connection::Blocking(c) => c.is_usable(),
            Connection::Tokio(c) => c.is_usable(),
        }
    }
}

fn ping() -> Command {
    Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes())
}

/// The `maxTimeMS` of each command monitoring saw go out (`None` for one without).
fn observing_max_times(options: ConnectOptions) -> (ConnectOptions, Arc<Mutex<Vec<Option<i64>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = options.observe(move |event| {
        if let Event::CommandStarted { document, .. } = event {
            let sent = bson::RawDocument::from_bytes(document).unwrap();
            sink.lock().unwrap().push(sent.get_i64("maxTimeMS").ok());
        }
    });
    (options, seen)
}

/// What `timeoutMS` cut short: its error, naming the command, with the cut step's as its cause.
fn assert_cut_short(error: &Error, context: &str) {
    let Error::Timeout {
        operation: "running a command (timeoutMS)",
        cause: Some(cause),
        ..
    } = error
    else {
        panic!("{context}: {error:?}");
    };
    assert_eq!(cause.kind(), ErrorKind::Timeout, "{context}: {error}");
    // The step's own timeout (a read), not the command's wrapped again.
    assert!(
        !matches!(**cause, Error::Timeout { operation, .. } if operation.contains("timeoutMS")),
        "{context}: {error:?}"
    );
}

/// Under `timeoutMS`, each command carries what is left of it as `maxTimeMS`, ignores
/// `socketTimeoutMS`, and ends within it: a held reply is cut short (and the connection, a
/// reply half read, is not used again), and the server's `MaxTimeMSExpired` is the timeout's
/// error (the connection stays usable: the reply came whole). Without it, no `maxTimeMS` is
/// sent and a code 50 reply is a reply; `run_command_within` gives one command its own.
#[test]
fn each_command_runs_within_timeout_ms_and_carries_max_time_ms() {
    let server = alice_server();
    let timed = server.uri("alice:pencil@", "?timeoutMS=1000&socketTimeoutMS=100");
    let untimed = server.uri("alice:pencil@", "?socketTimeoutMS=3000");
    for adapter in Adapter::BOTH {
        let (options, max_times) = observing_max_times(socket_timeouts_from_the_uri());
        let mut connection = Connection::open(adapter, &server, &timed, options);
        // Slower than socketTimeoutMS, within timeoutMS.
        hold_next(server.server(), "ping", ms(300));
        let reply = connection.run(&server, &ping(), None);
        assert!(reply.is_ok(), "{adapter:?}: {reply:?}");
        let sent = max_times.lock().unwrap().clone();
        assert!(
            matches!(sent[..], [Some(ms)] if ms > 500 && ms <= 1000),
            "{adapter:?}: {sent:?}"
        );

        fail_next(server.server(), "ping", 50);
        let error = connection.run(&server, &ping(), None).unwrap_err();
        let Error::Timeout {
            cause: Some(cause), ..
        } = &error
        else {
            panic!("{adapter:?}: {error:?}");
        };
        assert!(
            matches!(**cause, Error::Server { code: 50, .. }),
            "{adapter:?}: {error:?}"
        );
        assert!(connection.is_usable(), "{adapter:?}");

        hold_next(server.server(), "ping", ms(3000));
        let started = Instant::now();
        let error = connection.run(&server, &ping(), None).unwrap_err();
        let took = started.elapsed();
        assert_cut_short(&error, &format!("{adapter:?}"));
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
            "{adapter:?}: {took:?}"
        );
        assert!(!connection.is_usable(), "{adapter:?}");

        let (options, max_times) = observing_max_times(socket_timeouts_from_the_uri());
        let mut connection = Connection::open(adapter, &server, &untimed, options);
        fail_next(server.server(), "ping", 50);
        let reply = connection.run(&server, &ping(), None);
        let reply = reply.unwrap_or_else(|e| panic!("{adapter:?}: {e}"));
        let reply = bson::RawDocument::from_bytes(&reply).unwrap();
        assert_eq!(reply.get_i32("code").ok(), Some(50), "{adapter:?}");
        assert_eq!(max_times.lock().unwrap()[..], [None], "{adapter:?}");

        hold_next(server.server(), "ping", ms(3000));
        let started = Instant::now();
        let within = Some(Duration::from_millis(400));
        let error = connection.run(&server, &ping(), within).unwrap_err();
        let took = started.elapsed();
        assert_cut_short(&error, &format!("{adapter:?} within"));
        assert!(took < Duration::from_millis(2000), "{adapter:?}: {took:?}");
        let sent = max_times.lock().unwrap().clone();
        assert!(
            matches!(sent[..], [None, Some(ms)] if ms > 0 && ms <= 400),
            "{adapter:?}: {sent:?}"
        );
    }
}

/// A command answered with a 391 logs in again within the same `timeoutMS`: a
/// re-authentication whose `saslContinue` is held past it ends the command as its timeout.
#[test]
fn a_reauthentication_runs_within_the_command_s_timeout_ms() {
    let server = Arc::new(alice_server());
    let uri = server.uri("alice:pencil@", "?timeoutMS=1000");
    for adapter in Adapter::BOTH {
        let held = server.clone();
        // Once the 391 is answered, the re-authentication's reply is held.
        let options = options().observe(move |event| {
            if let Event::Reauthenticating { .. } = event {
                hold_next(held.server(), "saslContinue", ms(3000));
            }
        });
        let mut connection = Connection::open(adapter, &server, &uri, options);
        fail_next(server.server(), "ping", 391);
        let started = Instant::now();
        let error = connection.run(&server, &ping(), None).unwrap_err();
        let took = started.elapsed();
        assert_cut_short(&error, &format!("{adapter:?}"));
        assert!(took < Duration::from_millis(2500), "{adapter:?}: {took:?}");
    }
}

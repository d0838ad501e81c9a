//! The embedded server as the tests start it, and logins through the adapters.
//!
//! A [`TestServer`] is a listener on a loopback port with the runtime it runs on; it shuts down
//! when dropped. [`login_with_both`] logs in with the blocking and the tokio adapter and fails
//! the test when they disagree, which is how every socket test checks that the two shells drive
//! the same machines.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::danger::{FailCommand, Misbehavior};
use mongodb_auth::server::{User, UserStore};
use mongodb_auth::{AuthOptions, Error, Outcome, ScramKeyCache, ScramVariant, Secret};
use mongodb_auth_io::tls::TlsInfo;
use mongodb_auth_io::{ConnectOptions, blocking};
use mongodb_auth_server::{Server, ServerConfig};

/// A tokio runtime of two workers, as many as CI has cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The embedded server on `127.0.0.1`, on a port of its own, with its runtime.
pub struct TestServer {
    runtime: tokio::runtime::Runtime,
    server: Option<Server>,
    address: SocketAddr,
}

impl TestServer {
    /// Starts a server with `config`.
    pub fn start(config: ServerConfig) -> TestServer {
        TestServer::start_at((std::net::Ipv4Addr::LOCALHOST, 0).into(), config)
            .expect("the embedded server binds a loopback port")
    }

    /// Starts a server with `config` on `address`: a port chosen before, for a server that
    /// starts after its clients.
    pub fn start_at(address: SocketAddr, config: ServerConfig) -> std::io::Result<TestServer> {
        let runtime = runtime();
        let server = runtime.block_on(Server::bind(address, config))?;
        let address = server.local_addr();
        Ok(TestServer {
            runtime,
            server: Some(server),
            address,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `mongodb://{userinfo}{address}/{rest}`: `userinfo` ends in `@` when there is one, `rest`
    /// is a database and/or `?options`.
    pub fn uri(&self, userinfo: &str, rest: &str) -> String {
        format!("mongodb://{userinfo}{}/{rest}", self.address)
    }

    /// The server, for its counters and test knobs.
    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("running until dropped")
    }

    /// The runtime the server runs on, which tokio logins may share.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Runs `future` on the server's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// A SCRAM user of `db` with `password`, stored for `variants`.
pub fn scram_user(db: &str, name: &str, password: &str, variants: &[ScramVariant]) -> User {
    User::new(
        db,
        name,
        &Secret::new(password),
        variants,
        &mut SystemRandom,
    )
    .expect("a valid test user")
}

/// A server whose one user is alice (password `pencil`, SCRAM-SHA-256) on `admin`.
pub fn alice_server() -> TestServer {
    TestServer::start(ServerConfig::new(scram_users(&[(
        "admin",
        "alice",
        "pencil",
        &[ScramVariant::Sha256],
    )])))
}

/// Arms `server`'s fail point: its next `command` (once, on whichever connection) is answered
/// after `time`.
pub fn hold_next(server: &Server, command: &str, time: Duration) {
    let point = FailCommand::hold([command], time).times(1);
    server
        .dangerous()
        .misbehave(Some(Misbehavior::FailCommand(point)));
}

/// Arms `server`'s fail point: its next `command` (once, on whichever connection) is answered
/// with error `code`.
pub fn fail_next(server: &Server, command: &str, code: i32) {
    let point = FailCommand::new([command], code).times(1);
    server
        .dangerous()
        .misbehave(Some(Misbehavior::FailCommand(point)));
}

/// Users `(db, name, password, variants)`.
pub fn scram_users(users: &[(&str, &str, &str, &[ScramVariant])]) -> UserStore {
    let mut store = UserStore::new();
    for (db, name, password, variants) in users {
        store.insert(scram_user(db, name, password, variants));
    }
    store
}

/// Authentication options with a key cache of their own, so a test derives its own keys and
/// never finds another test's in the process-wide cache.
pub fn auth_options() -> AuthOptions {
    AuthOptions::default().key_cache(Some(Arc::new(ScramKeyCache::new(16, &mut SystemRandom))))
}

/// Connection options over [`auth_options`], with five-second connect and read timeouts so a
/// broken test fails instead of hanging.
pub fn options() -> ConnectOptions {
    let mut options = ConnectOptions::default().auth_options(auth_options());
    options.connect_timeout = Some(Duration::from_secs(5));
    options.read_timeout = Some(Duration::from_secs(5));
    options
}

/// An adapter of `mongodb-auth-io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// `mongodb_auth_io::blocking`.
    Blocking,
    /// `mongodb_auth_io::tokio`.
    Tokio,
}

/// What a login came to, as both adapters report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// How authentication went.
    pub outcome: Outcome,
    /// `connectionStatus`'s authenticated users, `(user, db)`.
    pub users: Vec<(String, String)>,
    /// What TLS negotiated, on a TLS connection.
    pub tls: Option<TlsInfo>,
    /// Logins again after a 391 while running `connectionStatus`.
    pub reauthentications: u32,
}

impl Login {
    /// What two logins must agree on: not the server's replies (connection ids, nonces) nor
    /// whether the keys came from a cache.
    #[allow(clippy::type_complexity)]
    fn comparable(
        &self,
    ) -> (
        Option<mongodb_auth::AuthMechanism>,
        bool,
        u32,
        &[(String, String)],
        Option<&TlsInfo>,
        u32,
    ) {
        (
            self.outcome.mechanism,
            self.outcome.speculative,
            self.outcome.round_trips,
            &self.users,
            self.tls.as_ref(),
            self.reauthentications,
        )
    }
}

impl Adapter {
    /// Both, the blocking one first.
    pub const BOTH: [Adapter; 2] = [Adapter::Blocking, Adapter::Tokio];

    /// Connects to `uri` with this adapter (the tokio one on `runtime`), then asks the server who
    /// is logged in.
    pub fn login(
        self,
        runtime: &tokio::runtime::Runtime,
        uri: &str,
        options: ConnectOptions,
    ) -> Result<Login, Error> {
        match self {
            Adapter::Blocking => {
                let mut connection = blocking::connect(uri, options)?;
                let users = connection.authenticated_users()?;
                Ok(Login {
                    outcome: connection.outcome().clone(),
                    users,
                    tls: connection.tls().cloned(),
                    reauthentications: connection.reauthentications(),
                })
            }
            Adapter::Tokio => runtime.block_on(async {
                let mut connection = mongodb_auth_io::tokio::connect(uri, options).await?;
                let users = connection.authenticated_users().await?;
                Ok(Login {
                    outcome: connection.outcome().clone(),
                    users,
                    tls: connection.tls().cloned(),
                    reauthentications: connection.reauthentications(),
                })
            }),
        }
    }
}

/// Logs in to `uri` with both adapters, each with options of its own from `options`; panics
/// unless they agree (the same login, or errors of the same kind). Returns the blocking one's.
pub fn login_with_both(
    runtime: &tokio::runtime::Runtime,
    uri: &str,
    options: impl Fn() -> ConnectOptions,
) -> Result<Login, Error> {
    let blocking = Adapter::Blocking.login(runtime, uri, options());
    let tokio = Adapter::Tokio.login(runtime, uri, options());
    match (&blocking, &tokio) {
        (Ok(b), Ok(t)) => assert_eq!(
            b.comparable(),
            t.comparable(),
            "the adapters disagree on {uri}"
        ),
        (Err(b), Err(t)) => assert_eq!(b.kind(), t.kind(), "{uri}: {b} / {t}"),
        _ => panic!("the adapters disagree on {uri}: {blocking:?} / {tokio:?}"),
    }
    blocking
}

/// `path` as a connection string's host: a UNIX socket's path, percent-encoded (the test
/// directories' paths hold nothing else to encode).
pub fn unix_socket_host(path: &std::path::Path) -> String {
    let path = path.to_str().expect("a UTF-8 path");
    assert!(
        path.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)),
        "{path} needs more encoding than this"
    );
    path.replace('/', "%2F")
}

//! Logins per second on the embedded server, each against its floor in the same run: bare
//! connections with the same round trips (`hello`, then as many `ping`s as the login has
//! commands after `hello`), with no credential. 32 tokio clients on the server's own runtime,
//! each connecting, logging in and closing in turn; the time per login is the wall time over
//! the logins, so logins per second is its inverse and the ratio of two is the ratio of their
//! rates.
//!
//! `cargo bench --features server --bench logins`. Groups:
//! - `tcp`: SCRAM-SHA-256 with cached keys (speculative, one command after `hello`) and PLAIN on
//!   `$external` against bare TCP connections;
//! - `tls_resumed`: one connector for every connection, so each handshake after the first
//!   resumes a session: SCRAM and X.509 against bare TLS connections made the same way;
//! - `tls_full`: a connector per connection, every handshake a full one;
//! - `server_side`: the server alone, its clients replaying recorded messages (a SCRAM login's
//!   speculative `hello` and `saslContinue`, to a server whose random source is fixed so the
//!   recording stays valid; a bare `hello` and `ping`), so only the server's work differs.
//!
//! - `ratio`: each login's rate as a fraction of its floor's, from the two run in alternating
//!   batches within every sample (see `RateRatio`): on a shared machine whose speed drifts, the
//!   ratio of two benchmarks measured one after the other is mostly the drift.
//!
//! The claims checked in the notes: SCRAM with cached keys >= 0.95x the bare rate on the server
//! (`ratio/server_side/scram_sha256`), and TLS logins with resumption >= 0.9x bare TLS
//! connections with resumption (`ratio/tls_resumed/scram_sha256_cached`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mongodb_auth::command::Command;
use mongodb_auth::{AuthMechanism, ScramVariant};
use mongodb_auth_io::tls;
use mongodb_auth_io::tokio::{Socket, Stream};
use mongodb_auth_io::{ConnectOptions, Connector};
use mongodb_auth_server::ServerConfig;
use mongodb_auth_server::devpki::{DevPki, Subject};
use mongodb_auth_testkit::TempDir;
use mongodb_auth_testkit::embedded::{TestServer, options, scram_user};

const CLIENTS: u64 = 32;
const CLIENT_SUBJECT: &str = "CN=bench-client";

/// How each connection of a run gets its connector.
#[derive(Clone)]
enum Connecting {
    /// One for all: TLS sessions are resumed, the seeds and caches kept.
    Shared(Connector),
    /// A new one each time, as `connect` does.
    Fresh(Arc<(String, ConnectOptions)>),
}

/// One kind of connection.
#[derive(Clone)]
enum Kind {
    /// Through the tokio adapter: how it connects, and the commands it runs after `hello`.
    Login { connecting: Connecting, pings: u32 },
    /// A client that sends recorded messages to `address`, each after the previous reply, and
    /// does nothing else: what is measured is the server. Each connection's last reply must be
    /// `last_reply`, the accepted one (see [`accepted_reply`]): a login the server refused would
    /// be cheaper than the login measured.
    Replay {
        address: std::net::SocketAddr,
        messages: Arc<Vec<Vec<u8>>>,
        last_reply: Arc<Vec<u8>>,
    },
}

impl Kind {
    async fn once(&self) {
        match self {
            Kind::Login { connecting, pings } => login(connecting, *pings).await,
            Kind::Replay {
                address,
                messages,
                last_reply,
            } => {
                let reply = replay(*address, messages).await;
                assert!(
                    reply.get(4..) == last_reply.get(4..),
                    "a replayed connection's last reply is not the accepted one"
                );
            }
        }
    }
}

/// Replays `messages` on a new connection; the last reply, from its request id on. Replies are
/// compared past that id, which is the server's to choose.
async fn replay(address: std::net::SocketAddr, messages: &[Vec<u8>]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let mut reply = Vec::new();
    for message in messages {
        tcp.write_all(message).await.expect("write");
        let mut length = [0u8; 4];
        tcp.read_exact(&mut length).await.expect("a reply");
        let length = usize::try_from(i32::from_le_bytes(length)).expect("a length");
        reply.resize(length.saturating_sub(4), 0);
        tcp.read_exact(&mut reply).await.expect("a reply");
    }
    tcp.set_zero_linger().expect("SO_LINGER");
    reply
}

/// The last reply of one replay of `messages`, checked once: `ok: 1`, and for a SASL
/// conversation `done: true`. Every later replay must end with the same bytes.
fn accepted_reply(server: &TestServer, messages: &[Vec<u8>]) -> Vec<u8> {
    let reply = server.block_on(replay(server.address(), messages));
    // After the request id, `responseTo` and the op code: OP_MSG's flags, then the body
    // section's kind byte and its document.
    let document = reply.get(4 + 4 + 4 + 4 + 1..).expect("an OP_MSG reply");
    let document = bson::RawDocument::from_bytes(document).expect("a BSON reply");
    assert_eq!(
        document.get_f64("ok").ok(),
        Some(1.0),
        "the replay is refused: {document:?}"
    );
    if document.get("conversationId").ok().flatten().is_some() {
        assert_eq!(
            document.get_bool("done").ok(),
            Some(true),
            "the replayed login does not finish: {document:?}"
        );
    }
    reply
}

async fn login(connecting: &Connecting, pings: u32) {
    {
        let fresh;
        let connector = match connecting {
            Connecting::Shared(connector) => connector,
            Connecting::Fresh(made) => {
                let (uri, options) = &**made;
                fresh = Connector::new(uri.as_str(), options.clone())
                    .expect("a valid connection string");
                &fresh
            }
        };
        let mut connection = mongodb_auth_io::tokio::connect_with(connector)
            .await
            .expect("the login succeeds");
        let ping = Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
        for _ in 0..pings {
            connection.run_command(&ping).await.expect("ping");
        }
        // An abortive close leaves no TIME_WAIT behind: tens of thousands of them would make
        // each later connect search longer for a port, and so the later benchmark slower.
        let socket = match connection.into_stream() {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => tls.into_inner().0,
            _ => return,
        };
        if let Socket::Tcp(tcp) = socket {
            tcp.set_zero_linger().expect("SO_LINGER");
        }
    }
}

/// `iters` connections spread over [`CLIENTS`] clients at once; the wall time.
fn run(server: &TestServer, kind: &Kind, iters: u64) -> Duration {
    server.block_on(async {
        let started = Instant::now();
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..CLIENTS {
            let share = iters / CLIENTS + u64::from(client < iters % CLIENTS);
            let kind = kind.clone();
            clients.spawn(async move {
                for _ in 0..share {
                    kind.once().await;
                }
            });
        }
        while let Some(done) = clients.join_next().await {
            done.expect("a client task");
        }
        started.elapsed()
    })
}

/// The login of `uri`, and the bare connection with as many commands after `hello` as it has
/// (checked here, so the floor is the same conversation without the credential).
fn pair(uri: &str, bare_uri: &str, mechanism: AuthMechanism, shared: bool) -> (Kind, Kind) {
    let outcome = {
        let connection = mongodb_auth_io::blocking::connect(uri, options()).expect("the login");
        connection.outcome().clone()
    };
    assert_eq!(outcome.mechanism, Some(mechanism), "{uri}");
    let connecting = |uri: &str| {
        if shared {
            Connecting::Shared(Connector::new(uri, options()).expect("a connector"))
        } else {
            Connecting::Fresh(Arc::new((uri.to_owned(), options())))
        }
    };
    (
        Kind::Login {
            connecting: connecting(uri),
            pings: 0,
        },
        Kind::Login {
            connecting: connecting(bare_uri),
            pings: outcome.round_trips,
        },
    )
}

/// A std stream that keeps what is written to it.
struct Recording {
    tcp: std::net::TcpStream,
    written: Vec<u8>,
}

impl std::io::Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.tcp.read(buf)
    }
}

impl std::io::Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.tcp.write(buf)?;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

/// The messages a client sends, one by one (each starts with its length).
fn messages(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    while bytes.len() >= 4 {
        let length = i32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        messages.push(bytes[..length].to_vec());
        bytes = &bytes[length..];
    }
    messages
}

/// The messages of a SCRAM-SHA-256 login with a fixed client nonce (to a server whose random
/// source is fixed too, so every replay is the same valid conversation), and of a bare
/// connection (the same `hello` without the credential, then a `ping`), recorded from the
/// blocking adapter.
fn recorded(address: std::net::SocketAddr) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let record = |credential: Option<&mongodb_auth::Credential>| {
        let mut options = options();
        options
            .auth
            .dangerous()
            .set_nonces(|| "fixed-client-nonce".to_owned());
        let mut stream = Recording {
            tcp: std::net::TcpStream::connect(address).expect("connect"),
            written: Vec::new(),
        };
        let authenticated =
            mongodb_auth_io::blocking::authenticate(&mut stream, credential, options)
                .expect("the recorded login");
        (messages(&stream.written), authenticated)
    };
    let cs = mongodb_auth::ConnectionString::parse("mongodb://alice:pencil@h/?authSource=admin")
        .expect("a connection string");
    let (scram, authenticated) = record(cs.credential());
    assert_eq!(
        authenticated.outcome.mechanism,
        Some(AuthMechanism::ScramSha256)
    );
    assert_eq!(scram.len(), 2, "speculative hello and saslContinue");
    let (mut bare, _) = record(None);
    let ping = Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
    bare.push(
        mongodb_auth::wire::encode_command(&ping, 7)
            .expect("ping")
            .to_vec(),
    );
    (scram, bare)
}

/// The servers, and the pairs of connection kinds each group compares.
struct Setup {
    groups: Vec<Group>,
    /// Holds the certificates the TLS connections read.
    _dir: TempDir,
}

/// Connections to one server.
struct Group {
    name: &'static str,
    server: Arc<TestServer>,
    pairs: Vec<Pair>,
}

/// A login and its floor: the same round trips without the credential.
struct Pair {
    floor_name: &'static str,
    floor: Kind,
    login_name: &'static str,
    login: Kind,
    /// Whether the `ratio` group measures it: not PLAIN, whose server runs PBKDF2 each login
    /// (0.02x the floor's rate), so that one sample would take seconds.
    in_ratio: bool,
}

impl Pair {
    fn new(
        (floor_name, floor): (&'static str, Kind),
        (login_name, login): (&'static str, Kind),
    ) -> Self {
        Pair {
            floor_name,
            floor,
            login_name,
            login,
            in_ratio: true,
        }
    }
}

fn setup() -> Setup {
    let dir = TempDir::new("bench-logins");
    let pki = DevPki::new(&dir).expect("a CA");
    let (cert, key) = pki.server("server", &["127.0.0.1"]).expect("a certificate");
    let client_pem = pki
        .client("client", &Subject::new().common_name("bench-client"))
        .expect("a client certificate");
    let mut users = mongodb_auth::server::UserStore::new();
    users.insert(scram_user(
        "admin",
        "alice",
        "pencil",
        &[ScramVariant::Sha256],
    ));
    users.insert(scram_user(
        "$external",
        "bob",
        "pencil",
        &[ScramVariant::Sha256],
    ));
    users.insert_x509(CLIENT_SUBJECT);
    let tcp = Arc::new(TestServer::start(ServerConfig::new(users.clone())));
    // Every draw of its random source the same bytes: the server nonce is fixed, so a recorded
    // SCRAM conversation is valid each time it is replayed.
    let fixed = Arc::new(TestServer::start(ServerConfig::new(users.clone()).random(
        mongodb_auth::random::from_fn(|bytes: &mut [u8]| bytes.fill(7)),
    )));
    let tls_server = Arc::new(TestServer::start(ServerConfig::new(users).tls(
        tls::server_config(&cert, &key, None, Some(&pki.ca_file())).expect("TLS config"),
    )));

    let mut groups = Vec::new();
    let address = tcp.address();
    let (scram, bare) = pair(
        &format!("mongodb://alice:pencil@{address}/?authSource=admin"),
        &format!("mongodb://{address}/"),
        AuthMechanism::ScramSha256,
        true,
    );
    let (plain, bare_plain) = pair(
        &format!("mongodb://bob:pencil@{address}/?authMechanism=PLAIN&authSource=$external"),
        &format!("mongodb://{address}/"),
        AuthMechanism::Plain,
        true,
    );
    groups.push(Group {
        name: "tcp",
        server: tcp,
        pairs: vec![
            Pair::new(("bare", bare), ("scram_sha256_cached", scram)),
            Pair {
                in_ratio: false,
                ..Pair::new(("bare_for_plain", bare_plain), ("plain_external", plain))
            },
        ],
    });

    let (scram_messages, bare_messages) = recorded(fixed.address());
    let replayed = |messages: Vec<Vec<u8>>| Kind::Replay {
        address: fixed.address(),
        last_reply: Arc::new(accepted_reply(&fixed, &messages)),
        messages: Arc::new(messages),
    };
    groups.push(Group {
        name: "server_side",
        server: fixed.clone(),
        pairs: vec![Pair::new(
            ("bare", replayed(bare_messages)),
            ("scram_sha256", replayed(scram_messages)),
        )],
    });

    let address = tls_server.address();
    let ca = pki.ca_file();
    let tls_query = format!("tls=true&tlsCAFile={}", ca.display());
    let x509_query = format!("{tls_query}&tlsCertificateKeyFile={}", client_pem.display());
    for (name, shared) in [("tls_resumed", true), ("tls_full", false)] {
        let (scram, bare) = pair(
            &format!("mongodb://alice:pencil@{address}/?authSource=admin&{tls_query}"),
            &format!("mongodb://{address}/?{tls_query}"),
            AuthMechanism::ScramSha256,
            shared,
        );
        let (x509, bare_x509) = pair(
            &format!("mongodb://{address}/?authMechanism=MONGODB-X509&{x509_query}"),
            &format!("mongodb://{address}/?{x509_query}"),
            AuthMechanism::MongoDbX509,
            shared,
        );
        groups.push(Group {
            name,
            server: tls_server.clone(),
            pairs: vec![
                Pair::new(("bare", bare), ("scram_sha256_cached", scram)),
                Pair::new(("bare_with_client_certificate", bare_x509), ("x509", x509)),
            ],
        });
    }
    Setup { groups, _dir: dir }
}

/// The time a connection of each kind takes: each floor, then its login.
fn logins(c: &mut Criterion) {
    let setup = setup();
    for group in &setup.groups {
        let mut benchmarks = c.benchmark_group(group.name);
        benchmarks
            .sample_size(20)
            .measurement_time(Duration::from_secs(4));
        for pair in &group.pairs {
            for (name, kind) in [
                (pair.floor_name, &pair.floor),
                (pair.login_name, &pair.login),
            ] {
                benchmarks.bench_function(name, |b| {
                    b.iter_custom(|iters| run(&group.server, kind, iters))
                });
            }
        }
        benchmarks.finish();
    }
}

/// What the `ratio` group measures instead of time: a login's rate as a fraction of its
/// floor's. The machine these run on is shared, and its speed changes by a third for seconds at
/// a time; two benchmarks measured one after the other cannot tell that from a difference
/// between them. Here each sample runs both kinds in alternating batches, so both meet the
/// machine in the same state, and the ratio is taken within the sample.
struct RateRatio;

impl Measurement for RateRatio {
    type Intermediate = ();
    type Value = f64;

    fn start(&self) {}

    fn end(&self, (): ()) -> f64 {
        unreachable!("the ratio benchmarks measure through iter_custom")
    }

    fn add(&self, a: &f64, b: &f64) -> f64 {
        a + b
    }

    fn zero(&self) -> f64 {
        0.0
    }

    fn to_f64(&self, value: &f64) -> f64 {
        *value
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &RateRatio
    }
}

impl ValueFormatter for RateRatio {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "x"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "x"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "x"
    }
}

/// Connections of one kind in a row, before the other kind takes over: about 10 ms of
/// `server_side` connections, 80 of full TLS handshakes.
const BATCH: u64 = 256;

/// `iters` connections of each kind, in alternating batches (floor then login, then login then
/// floor, ...): the floor's time over the login's, which is the login's rate as a fraction of
/// the floor's, times `iters` (criterion takes the value per iteration).
fn paired(server: &TestServer, pair: &Pair, iters: u64) -> f64 {
    let (mut floor_time, mut login_time) = (Duration::ZERO, Duration::ZERO);
    let mut left = iters;
    let mut floor_first = true;
    while left > 0 {
        let batch = left.min(BATCH);
        if floor_first {
            floor_time += run(server, &pair.floor, batch);
            login_time += run(server, &pair.login, batch);
        } else {
            login_time += run(server, &pair.login, batch);
            floor_time += run(server, &pair.floor, batch);
        }
        floor_first = !floor_first;
        left -= batch;
    }
    iters as f64 * floor_time.as_secs_f64() / login_time.as_secs_f64()
}

/// Each login's rate over its floor's, measured in pairs (see [`RateRatio`]).
fn ratios(c: &mut Criterion<RateRatio>) {
    let setup = setup();
    let mut benchmarks = c.benchmark_group("ratio");
    benchmarks
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    for group in &setup.groups {
        for pair in group.pairs.iter().filter(|pair| pair.in_ratio) {
            let name = format!("{}/{}", group.name, pair.login_name);
            benchmarks.bench_function(name, |b| {
                b.iter_custom(|iters| paired(&group.server, pair, iters))
            });
        }
    }
    benchmarks.finish();
}

criterion_group!(benches, logins);
criterion_group! {
    name = paired_benches;
    config = Criterion::default().with_measurement(RateRatio);
    targets = ratios
}
criterion_main!(benches, paired_benches);

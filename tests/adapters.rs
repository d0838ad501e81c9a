//! One table of cases, run against both adapters: TLS, `mongodb+srv`, a refused connection, a
//! silent server, a trickling one, the next host after a dead one, UNIX sockets, and a 391
//! answered by re-authentication. Each
//! case must come out as the table says in each adapter, and the two must send the same commands
//! to the same addresses: what they share is the shell, and this is where it shows.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mongodb_auth::server::danger::{FailCommand, Misbehavior};
use mongodb_auth::{AuthMechanism, ErrorKind, ScramVariant};
use mongodb_auth_io::{ConnectOptions, Event, MIN_HEARTBEAT_FREQUENCY, tls};
use mongodb_auth_server::ServerConfig;
use mongodb_auth_server::devpki::DevPki;
use mongodb_auth_testkit::dns::{Answer, DnsServer};
use mongodb_auth_testkit::embedded::{
    Adapter, Login, TestServer, hold_next, options, scram_users, unix_socket_host,
};
use mongodb_auth_testkit::{RefusedPort, TempDir};

const SRV_NAME: &str = "cluster.adapters.test";
const SRV_HOST: &str = "host1.cluster.adapters.test";

/// What the cases run against.
struct Fixtures {
    plain: TestServer,
    tls: TestServer,
    reauth: TestServer,
    dns: DnsServer,
    /// A port nothing listens on (a late server of another test part cannot take it).
    dead: RefusedPort,
    /// A listener that accepts (the kernel does) and never answers.
    silent: TcpListener,
    /// A server that answers one byte every 50 ms.
    trickler: std::net::SocketAddr,
    /// A TLS server that answers the client's hello with the header of a 16 KiB record, then
    /// one byte of it every 50 ms.
    tls_trickler: std::net::SocketAddr,
    /// Another plain trickler, for `timeoutMS`.
    slow_server: std::net::SocketAddr,
    /// A TLS server on a UNIX socket (and TCP), with a certificate for `localhost` only.
    _tls_over_socket: TestServer,
    /// The UNIX sockets of `plain` and of the TLS server above, and one nobody listens on, as
    /// hosts.
    plain_socket: String,
    tls_socket: String,
    dead_socket: String,
    ca: std::path::PathBuf,
    _files: TempDir,
}

/// `config`, listening on a UNIX socket at `path` too, where there are UNIX sockets.
fn with_socket(config: ServerConfig, path: std::path::PathBuf) -> ServerConfig {
    if cfg!(unix) {
        config.unix_socket(path)
    } else {
        config
    }
}

fn config() -> ServerConfig {
    ServerConfig::new(scram_users(&[(
        "admin",
        "alice",
        "pencil",
        &[ScramVariant::Sha256],
    )]))
}

impl Fixtures {
    fn start() -> Fixtures {
        let files = TempDir::new("adapters");
        let pki = DevPki::new(&files).unwrap();
        let (cert, key) = pki.server("server", &["127.0.0.1", SRV_HOST]).unwrap();
        let tls =
            TestServer::start(config().tls(tls::server_config(&cert, &key, None, None).unwrap()));
        // Over a UNIX socket the certificate is checked for `localhost`, the only name it has.
        let (cert, key) = pki.server("socket", &["localhost"]).unwrap();
        let tls_over_socket = TestServer::start(with_socket(
            config().tls(tls::server_config(&cert, &key, None, None).unwrap()),
            files.join("tls.sock"),
        ));
        let dns = DnsServer::start(vec![
            Answer::Srv {
                name: format!("_mongodb._tcp.{SRV_NAME}"),
                target: SRV_HOST.into(),
                port: tls.address().port(),
            },
            Answer::Txt {
                name: SRV_NAME.into(),
                strings: vec!["authSource=admin".into()],
            },
            Answer::A {
                name: SRV_HOST.into(),
                ip: Ipv4Addr::LOCALHOST,
            },
        ]);
        Fixtures {
            plain: TestServer::start(with_socket(config(), files.join("plain.sock"))),
            tls,
            _tls_over_socket: tls_over_socket,
            reauth: TestServer::start(config()),
            dns,
            dead: RefusedPort::new(),
            silent: TcpListener::bind("127.0.0.1:0").unwrap(),
            trickler: trickler(&[]),
            tls_trickler: trickler(&[0x16, 0x03, 0x03, 0x40, 0x00]),
            slow_server: trickler(&[]),
            plain_socket: unix_socket_host(&files.join("plain.sock")),
            tls_socket: unix_socket_host(&files.join("tls.sock")),
            dead_socket: unix_socket_host(&files.join("dead.sock")),
            ca: pki.ca_file(),
            _files: files,
        }
    }

    /// Arms the next `connectionStatus` of the re-authentication server with a 391, once.
    fn arm_391(&self) {
        self.reauth
            .server()
            .dangerous()
            .misbehave(Some(Misbehavior::FailCommand(
                FailCommand::new(["connectionStatus"], 391).times(1),
            )));
    }
}

/// A server that reads a request and then answers `prefix` and a byte every 50 ms, for two
/// connections (one per adapter), each for two seconds at most.
fn trickler(prefix: &'static [u8]) -> std::net::SocketAddr {
    use std::io::Write;
    after_a_request(move |socket, _| {
        let _ = socket.write_all(prefix);
        for _ in 0..40 {
            if socket.write_all(&[0]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// A server that reads a request, then does `answer` (given the request's bytes) and closes the
/// connection, for two connections (one per adapter).
fn after_a_request(
    answer: impl Fn(&mut std::net::TcpStream, &[u8]) + Send + 'static,
) -> std::net::SocketAddr {
    after_requests(Adapter::BOTH.len(), answer)
}

/// The same for `connections` connections.
fn after_requests(
    connections: usize,
    answer: impl Fn(&mut std::net::TcpStream, &[u8]) + Send + 'static,
) -> std::net::SocketAddr {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut socket, _)) = listener.accept() else {
                return;
            };
            // A `hello` (or a TLS client hello) comes whole in one read over loopback.
            let mut request = vec![0u8; 16 * 1024];
            let read = socket.read(&mut request).unwrap_or(0);
            answer(&mut socket, request.get(..read).unwrap_or_default());
        }
    });
    address
}

/// A server that answers the first message of each of `connections` connections as a
/// standalone does (OP_REPLY to OP_QUERY, else OP_MSG), keeping what `read` takes from it.
fn recording_hellos<T: Send + 'static>(
    connections: usize,
    read: fn(&mongodb_auth::wire::Message, &bson::RawDocument) -> T,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<T>>>) {
    use mongodb_auth::wire::{self, MessageDecoder, OP_MSG};
    use std::io::Write;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = after_requests(connections, move |socket, request| {
        let message = MessageDecoder::requests().push(request).unwrap().unwrap();
        let body = bson::RawDocument::from_bytes(message.body()).unwrap();
        record.lock().unwrap().push(read(&message, body));
        let reply = bson::rawdoc! { "isWritablePrimary": true, "helloOk": true, "ok": 1.0 };
        let reply = match message.op_code {
            OP_MSG => wire::encode_reply(reply.as_bytes(), 1, message.request_id),
            _ => wire::encode_legacy_reply(reply.as_bytes(), 1, message.request_id),
        };
        let _ = socket.write_all(&reply.unwrap());
    });
    (server, seen)
}

/// How a case must come out.
#[derive(Debug)]
enum Expect {
    /// Logged in as alice with SCRAM-SHA-256; over TLS or not; after this many
    /// re-authentications.
    LoggedIn { tls: bool, reauthentications: u32 },
    /// Failed with an error of this kind.
    Fails(ErrorKind),
}

struct Case {
    name: &'static str,
    uri: String,
    options: ConnectOptions,
    expect: Expect,
    /// Run before each adapter's turn.
    before: fn(&Fixtures),
}

fn cases(f: &Fixtures) -> Vec<Case> {
    let ca = f.ca.display();
    let tls = f.tls.address();
    let mut srv = options();
    srv.dns_server = Some(f.dns.address);
    let mut short_read = options();
    short_read.read_timeout = Some(Duration::from_millis(300));
    // `Duration::MAX` as "no timeout": every deadline made from it must hold, not overflow.
    let mut no_timeouts = options();
    no_timeouts.connect_timeout = Some(Duration::MAX);
    no_timeouts.read_timeout = Some(Duration::MAX);
    no_timeouts.write_timeout = Some(Duration::MAX);
    let mut srv_no_timeouts = no_timeouts.clone();
    srv_no_timeouts.dns_server = Some(f.dns.address);
    let nothing = |_: &Fixtures| {};
    let mut cases = vec![
        Case {
            name: "TLS with the server's CA",
            uri: format!("mongodb://alice:pencil@{tls}/?tls=true&tlsCAFile={ca}"),
            options: options(),
            expect: Expect::LoggedIn {
                tls: true,
                reauthentications: 0,
            },
            before: nothing,
        },
        Case {
            name: "TLS refused: the server's CA is not trusted",
            uri: format!("mongodb://alice:pencil@{tls}/?tls=true"),
            options: options(),
            expect: Expect::Fails(ErrorKind::Tls),
            before: nothing,
        },
        Case {
            name: "mongodb+srv: SRV, TXT and A from the DNS server, TLS by default",
            uri: format!("mongodb+srv://alice:pencil@{SRV_NAME}/?tlsCAFile={ca}"),
            options: srv.clone(),
            expect: Expect::LoggedIn {
                tls: true,
                reauthentications: 0,
            },
            before: nothing,
        },
        Case {
            name: "a host the DNS server cannot resolve, then one it can",
            uri: format!(
                "mongodb://alice:pencil@unknown.{SRV_NAME}:{port},{SRV_HOST}:{port}/?tls=true&tlsCAFile={ca}",
                port = f.tls.address().port()
            ),
            options: srv.clone(),
            expect: Expect::LoggedIn {
                tls: true,
                reauthentications: 0,
            },
            before: nothing,
        },
        Case {
            name: "no timeouts (Duration::MAX): TLS, then the login",
            uri: format!("mongodb://alice:pencil@{tls}/?tls=true&tlsCAFile={ca}"),
            options: no_timeouts,
            expect: Expect::LoggedIn {
                tls: true,
                reauthentications: 0,
            },
            before: nothing,
        },
        Case {
            name: "no timeouts (Duration::MAX): mongodb+srv's lookups, then TLS and the login",
            uri: format!("mongodb+srv://alice:pencil@{SRV_NAME}/?tlsCAFile={ca}"),
            options: srv_no_timeouts,
            expect: Expect::LoggedIn {
                tls: true,
                reauthentications: 0,
            },
            before: nothing,
        },
        Case {
            name: "mongodb+srv: a name with no SRV record",
            uri: "mongodb+srv://alice:pencil@missing.adapters.test/".into(),
            options: srv,
            expect: Expect::Fails(ErrorKind::Dns),
            before: nothing,
        },
        Case {
            name: "refused",
            uri: format!("mongodb://alice:pencil@127.0.0.1:{}/", f.dead.port()),
            options: options(),
            expect: Expect::Fails(ErrorKind::Io),
            before: nothing,
        },
        Case {
            name: "a server that never answers: the read times out",
            uri: format!("mongodb://alice:pencil@{}/", f.silent.local_addr().unwrap()),
            options: short_read.clone(),
            expect: Expect::Fails(ErrorKind::Timeout),
            before: nothing,
        },
        Case {
            name: "a server that trickles its reply: the whole reply must arrive in time",
            uri: format!("mongodb://alice:pencil@{}/", f.trickler),
            options: short_read.clone(),
            expect: Expect::Fails(ErrorKind::Timeout),
            before: nothing,
        },
        Case {
            name: "a TLS server that trickles its handshake: the whole handshake must be in time",
            uri: format!(
                "mongodb://alice:pencil@{}/?tls=true&tlsCAFile={ca}",
                f.tls_trickler
            ),
            options: short_read.clone(),
            expect: Expect::Fails(ErrorKind::Timeout),
            before: nothing,
        },
        Case {
            name: "timeoutMS bounds the connect and login as a whole, under a longer read timeout",
            uri: format!("mongodb://alice:pencil@{}/?timeoutMS=300", f.slow_server),
            options: options(),
            expect: Expect::Fails(ErrorKind::Timeout),
            before: nothing,
        },
        Case {
            name: "the next host after a refused one",
            uri: format!(
                "mongodb://alice:pencil@127.0.0.1:{},{}/",
                f.dead.port(),
                f.plain.address()
            ),
            options: options(),
            expect: Expect::LoggedIn {
                tls: false,
                reauthentications: 0,
            },
            before: nothing,
        },
        Case {
            name: "391: logs in again on the same connection and runs the command again",
            uri: f.reauth.uri("alice:pencil@", ""),
            options: options(),
            expect: Expect::LoggedIn {
                tls: false,
                reauthentications: 1,
            },
            before: Fixtures::arm_391,
        },
        Case {
            name: "a wrong password",
            uri: f.plain.uri("alice:pen@", ""),
            options: options(),
            expect: Expect::Fails(ErrorKind::AuthenticationFailed),
            before: nothing,
        },
    ];
    if cfg!(unix) {
        cases.extend([
            Case {
                name: "a UNIX socket host",
                uri: format!("mongodb://alice:pencil@{}/", f.plain_socket),
                options: options(),
                expect: Expect::LoggedIn {
                    tls: false,
                    reauthentications: 0,
                },
                before: nothing,
            },
            Case {
                name: "TLS over a UNIX socket, the certificate checked for localhost",
                uri: format!(
                    "mongodb://alice:pencil@{}/?tls=true&tlsCAFile={ca}",
                    f.tls_socket
                ),
                options: options(),
                expect: Expect::LoggedIn {
                    tls: true,
                    reauthentications: 0,
                },
                before: nothing,
            },
            Case {
                name: "a UNIX socket nobody listens on",
                uri: format!("mongodb://alice:pencil@{}/", f.dead_socket),
                options: options(),
                expect: Expect::Fails(ErrorKind::Io),
                before: nothing,
            },
            Case {
                name: "a TCP host after a UNIX socket nobody listens on",
                uri: format!(
                    "mongodb://alice:pencil@{},{}/",
                    f.dead_socket,
                    f.plain.address()
                ),
                options: options(),
                expect: Expect::LoggedIn {
                    tls: false,
                    reauthentications: 0,
                },
                before: nothing,
            },
        ]);
    }
    cases
}

/// What an adapter did: the addresses it connected to and the commands it sent, in order.
type Trace = Vec<String>;

fn run(f: &Fixtures, case: &Case, adapter: Adapter) -> (Result<Login, mongodb_auth::Error>, Trace) {
    (case.before)(f);
    let trace = Arc::new(Mutex::new(Vec::new()));
    let sink = trace.clone();
    let options = case.options.clone().observe(move |event| {
        let line = match event {
            Event::Connected { address } => format!("connect {address}"),
            Event::TlsEstablished { .. } => "tls".to_owned(),
            Event::Sent { command, db, .. } => format!("send {command} {db}"),
            Event::Reauthenticating { command } => format!("391 on {command}"),
            _ => return,
        };
        sink.lock().unwrap().push(line);
    });
    let result = adapter.login(f.plain.runtime(), &case.uri, options);
    let trace = trace.lock().unwrap().clone();
    (result, trace)
}

#[test]
fn both_adapters_meet_each_case_of_the_table_and_agree() {
    let f = Fixtures::start();
    for case in cases(&f) {
        let mut traces = Vec::new();
        for adapter in Adapter::BOTH {
            let context = format!("{adapter:?}: {}", case.name);
            let (result, trace) = run(&f, &case, adapter);
            match (&case.expect, result) {
                (
                    Expect::LoggedIn {
                        tls,
                        reauthentications,
                    },
                    Ok(login),
                ) => {
                    assert_eq!(
                        login.users,
                        [("alice".to_owned(), "admin".to_owned())],
                        "{context}"
                    );
                    assert_eq!(
                        login.outcome.mechanism,
                        Some(AuthMechanism::ScramSha256),
                        "{context}"
                    );
                    assert_eq!(login.tls.is_some(), *tls, "{context}");
                    assert_eq!(login.reauthentications, *reauthentications, "{context}");
                }
                (Expect::Fails(kind), Err(error)) => {
                    assert_eq!(error.kind(), *kind, "{context}: {error}");
                }
                (expect, result) => panic!("{context}: expected {expect:?}, got {result:?}"),
            }
            traces.push(trace);
        }
        assert_eq!(
            traces[0], traces[1],
            "{}: the adapters went different ways",
            case.name
        );
    }
}

/// A UNIX socket host is reached through the socket itself (the table's cases log in; here the
/// connection shows where it went), with TLS over it when asked.
#[cfg(unix)]
#[test]
fn a_unix_socket_host_is_reached_through_its_socket() {
    use mongodb_auth_io::{blocking, tokio as async_io};
    let f = Fixtures::start();
    let plain = format!("mongodb://alice:pencil@{}/", f.plain_socket);
    let path = f.plain_socket.replace("%2F", "/");
    let connection = blocking::connect(plain.as_str(), options()).unwrap();
    assert_eq!(connection.address(), path);
    assert!(matches!(
        connection.into_stream(),
        blocking::Stream::Plain(blocking::Socket::Unix(_))
    ));
    let connection = f
        .plain
        .block_on(async_io::connect(plain.as_str(), options()))
        .unwrap();
    assert_eq!(connection.address(), path);
    assert!(matches!(
        connection.into_stream(),
        async_io::Stream::Plain(async_io::Socket::Unix(_))
    ));
    let tls = format!(
        "mongodb://alice:pencil@{}/?tls=true&tlsCAFile={}",
        f.tls_socket,
        f.ca.display()
    );
    let connection = blocking::connect(tls.as_str(), options()).unwrap();
    assert!(matches!(
        connection.into_stream(),
        blocking::Stream::Tls(tls) if matches!(tls.get_ref(), blocking::Socket::Unix(_))
    ));
    let connection = f
        .plain
        .block_on(async_io::connect(tls.as_str(), options()))
        .unwrap();
    assert!(matches!(
        connection.into_stream(),
        async_io::Stream::Tls(tls) if matches!(tls.get_ref().0, async_io::Socket::Unix(_))
    ));
}

/// `socketTimeoutMS` and `connectTimeoutMS` of the connection string, where the options leave
/// the timeouts unset; the options' own where they set them. The defaults (30 s to read, 10 s to
/// connect) would take far longer than the bound asserted.
#[test]
fn timeouts_the_options_leave_unset_come_from_the_connection_string() {
    let f = Fixtures::start();
    let silent = f.silent.local_addr().unwrap();
    // A DNS server that never answers.
    let deaf = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let unset = || {
        let mut options = options();
        (
            options.connect_timeout,
            options.read_timeout,
            options.write_timeout,
        ) = (None, None, None);
        options
    };
    let mut read_in_code = unset();
    read_in_code.read_timeout = Some(Duration::from_millis(300));
    let mut deaf_dns = unset();
    deaf_dns.dns_server = Some(deaf.local_addr().unwrap());
    let cases = [
        (
            format!("mongodb://alice:pencil@{silent}/?socketTimeoutMS=300"),
            unset(),
        ),
        (
            format!("mongodb://alice:pencil@{silent}/?socketTimeoutMS=600000"),
            read_in_code,
        ),
        (
            format!("mongodb+srv://alice:pencil@{SRV_NAME}/?connectTimeoutMS=300"),
            deaf_dns,
        ),
    ];
    for adapter in Adapter::BOTH {
        for (uri, options) in &cases {
            let started = std::time::Instant::now();
            let result = adapter.login(f.plain.runtime(), uri, options.clone());
            let took = started.elapsed();
            let error = result.expect_err(uri);
            assert!(
                matches!(error.kind(), ErrorKind::Timeout | ErrorKind::Dns),
                "{adapter:?} {uri}: {error}"
            );
            assert!(
                took < Duration::from_secs(8),
                "{adapter:?} {uri}: took {took:?}"
            );
        }
    }
}

/// `serverSelectionTimeoutMS` bounds the search for a host to log in to, every step together: hosts
/// that accept a connection and never finish the TLS handshake would otherwise hold a connect for
/// the lesser of each one's read and connect timeouts (10 s each by default), and a DNS server that
/// never answers for the connect timeout of each query. One window for every host: a first silent
/// host whose timeouts are longer than it uses it all, and no other is tried. With `0` no host is
/// tried, as PyMongo selects no server then. When `timeoutMS` runs out first, the error is its own.
#[test]
fn server_selection_timeout_bounds_the_search_for_a_host() {
    let f = Fixtures::start();
    // Listeners that accept (the kernel does) and never answer, as distinct hosts.
    let listeners: Vec<_> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let silent: Vec<_> = listeners
        .iter()
        .map(|listener| listener.local_addr().unwrap().to_string())
        .collect();
    let silent = silent.join(",");
    let deaf = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut no_timeouts = options();
    (no_timeouts.connect_timeout, no_timeouts.read_timeout) = (None, None);
    let mut in_code = no_timeouts.clone();
    in_code.server_selection_timeout = Some(Duration::from_millis(700));
    let mut deaf_dns = no_timeouts.clone();
    deaf_dns.dns_server = Some(deaf.local_addr().unwrap());
    let ca = f.ca.display();
    // Each case, the connections it may make, and whether it tries anything (a lookup or a
    // host) before the time runs out.
    let cases = [
        (
            format!(
                "mongodb://alice:pencil@{silent}/?tls=true&tlsCAFile={ca}\
                 &serverSelectionTimeoutMS=700"
            ),
            no_timeouts,
            1,
            true,
        ),
        (
            format!("mongodb://alice:pencil@{silent}/?tls=true&tlsCAFile={ca}"),
            in_code,
            1,
            true,
        ),
        (
            format!("mongodb+srv://alice:pencil@{SRV_NAME}/?serverSelectionTimeoutMS=700"),
            deaf_dns,
            0,
            true,
        ),
        (
            format!(
                "mongodb://alice:pencil@{}/?serverSelectionTimeoutMS=0",
                f.plain.address()
            ),
            options(),
            0,
            false,
        ),
        // `timeoutMS` runs out first: its error, not the last step's or the window's.
        (
            format!(
                "mongodb://alice:pencil@{}/?tls=true&tlsCAFile={ca}&timeoutMS=300",
                listeners[0].local_addr().unwrap()
            ),
            options(),
            1,
            true,
        ),
    ];
    for adapter in Adapter::BOTH {
        for (uri, options, connections, tried) in &cases {
            let (options, connects) = counting_connections(options.clone());
            let started = std::time::Instant::now();
            let error = adapter
                .login(f.plain.runtime(), uri, options)
                .expect_err(uri);
            let took = started.elapsed();
            // The window's error says what it was doing when it ran out: the first host's
            // handshake, or the seed list's lookup; nothing when it tried nothing.
            // `timeoutMS`'s is its own.
            match &error {
                mongodb_auth::Error::ServerSelectionTimeout { host, cause, .. }
                    if !uri.contains("timeoutMS=300") =>
                {
                    assert_eq!(cause.is_some(), *tried, "{adapter:?} {uri}: {error}");
                    let first = listeners[0].local_addr().unwrap().to_string();
                    let expected = (*connections > 0).then_some(first.as_str());
                    assert_eq!(host.as_deref(), expected, "{adapter:?} {uri}: {error}");
                }
                // With the host it was at and what its handshake failed with (the client-side
                // operations timeout specification: the underlying error is exposed).
                mongodb_auth::Error::Timeout {
                    operation: "connecting and logging in (timeoutMS)",
                    host,
                    cause: Some(_),
                    ..
                } if uri.contains("timeoutMS=300") => {
                    let first = listeners[0].local_addr().unwrap().to_string();
                    assert_eq!(
                        host.as_deref(),
                        Some(first.as_str()),
                        "{adapter:?}: {error}"
                    );
                    assert!(error.to_string().contains(&first), "{adapter:?}: {error}");
                }
                other => panic!("{adapter:?} {uri}: {other:?}"),
            }
            assert!(
                took < Duration::from_secs(6),
                "{adapter:?} {uri}: took {took:?}"
            );
            assert_eq!(*connects.lock().unwrap(), *connections, "{adapter:?} {uri}");
        }
    }
}

/// A server that holds its `saslContinue` reply. The selection timeout bounds finding a host,
/// not the login: a window shorter than the hold still logs the client in once the host has
/// answered `hello`. `timeoutMS` bounds the whole login: one shorter than the hold fails as
/// its own timeout, with the read it cut short as the cause, in the message and as the source
/// (the client-side operations timeout specification).
#[test]
fn a_held_login_outlasts_the_selection_timeout_but_not_timeout_ms() {
    let f = Fixtures::start();
    let held = |query: &str| format!("mongodb://alice:pencil@{}/?{query}", f.plain.address());
    let hold = |ms: u64| hold_next(f.plain.server(), "saslContinue", Duration::from_millis(ms));
    for adapter in Adapter::BOTH {
        hold(1500);
        let started = std::time::Instant::now();
        let login = adapter.login(
            f.plain.runtime(),
            &held("serverSelectionTimeoutMS=500"),
            options(),
        );
        let took = started.elapsed();
        let login = login.unwrap_or_else(|e| panic!("{adapter:?}: {e}"));
        assert_eq!(login.users.len(), 1, "{adapter:?}: {:?}", login.users);
        assert!(
            took >= Duration::from_millis(1500),
            "{adapter:?}: the saslContinue reply was not held ({took:?})"
        );

        // Room for the login's other steps on a slow machine, so the time runs out in the read.
        hold(2500);
        let error = adapter
            .login(f.plain.runtime(), &held("timeoutMS=1000"), options())
            .expect_err("timeoutMS");
        let mongodb_auth::Error::Timeout {
            operation: "connecting and logging in (timeoutMS)",
            host: None,
            cause: Some(cause),
            ..
        } = &error
        else {
            panic!("{adapter:?}: {error:?}");
        };
        assert_eq!(cause.kind(), ErrorKind::Timeout, "{adapter:?}: {error}");
        assert!(error.to_string().contains(&cause.to_string()), "{error}");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source, Some(cause.to_string()), "{adapter:?}");
    }
}

/// A host is found when it answers `hello`, as a driver's server selection waits for a
/// server's monitor to hear from it: one that accepts connections and then never answers (its
/// TLS handshake or its `hello`), or closes the connection, is passed over for the next host as
/// one that refuses them is, after the read timeout or the connect timeout, whichever is less
/// (a monitor's socket timeout is the connect timeout). A host that never answers takes no more
/// than what is left of the selection timeout either, and the error names it and why it failed.
#[test]
fn a_host_that_does_not_answer_hello_is_passed_over() {
    let f = Fixtures::start();
    let silent = f.silent.local_addr().unwrap();
    // Closes the connection at `hello`.
    let closer = after_a_request(|_, _| {});
    let live = f.plain.address();
    let tls = f.tls.address();
    let ca = f.ca.display();
    let mut short_read = options();
    short_read.read_timeout = Some(Duration::from_millis(300));
    // The read timeout is the default's (30 s, the window's too): the connect timeout bounds the
    // silent host's handshake and `hello`, as a driver's monitor checks a server.
    let mut short_connect = options();
    (short_connect.connect_timeout, short_connect.read_timeout) =
        (Some(Duration::from_secs(1)), None);
    for (uri, options, live) in [
        (
            format!("mongodb://alice:pencil@{silent},{live}/"),
            short_read,
            live,
        ),
        (
            format!("mongodb://alice:pencil@{silent},{live}/"),
            short_connect.clone(),
            live,
        ),
        (
            format!("mongodb://alice:pencil@{silent},{tls}/?tls=true&tlsCAFile={ca}"),
            short_connect,
            tls,
        ),
        (
            format!("mongodb://alice:pencil@{closer},{live}/"),
            options(),
            live,
        ),
    ] {
        for adapter in Adapter::BOTH {
            let connected = Arc::new(Mutex::new(Vec::new()));
            let seen = connected.clone();
            let options = options.clone().observe(move |event| {
                if let Event::Connected { address } = event {
                    seen.lock().unwrap().push(address.to_string());
                }
            });
            let started = std::time::Instant::now();
            let login = adapter
                .login(f.plain.runtime(), &uri, options)
                .unwrap_or_else(|e| panic!("{adapter:?} {uri}: {e}"));
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(8),
                "{adapter:?} {uri}: took {took:?}"
            );
            assert_eq!(login.users.len(), 1, "{adapter:?} {uri}");
            let connected = connected.lock().unwrap();
            assert_eq!(connected.len(), 2, "{adapter:?} {uri}: {connected:?}");
            assert_eq!(connected[1], live.to_string(), "{adapter:?} {uri}");
        }
    }

    let mut no_timeouts = options();
    (no_timeouts.connect_timeout, no_timeouts.read_timeout) = (None, None);
    let uri = format!("mongodb://alice:pencil@{silent}/?serverSelectionTimeoutMS=700");
    for adapter in Adapter::BOTH {
        let started = std::time::Instant::now();
        let error = adapter
            .login(f.plain.runtime(), &uri, no_timeouts.clone())
            .expect_err(&uri);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(6), "{adapter:?}: took {took:?}");
        let mongodb_auth::Error::ServerSelectionTimeout { host, cause, .. } = &error else {
            panic!("{adapter:?}: {error:?}");
        };
        assert_eq!(
            host.as_deref(),
            Some(silent.to_string().as_str()),
            "{adapter:?}"
        );
        let cause = cause
            .as_deref()
            .unwrap_or_else(|| panic!("{adapter:?}: {error}"));
        assert_eq!(cause.kind(), ErrorKind::Timeout, "{adapter:?}: {error}");
        let shown = error.to_string();
        assert!(
            shown.contains(&silent.to_string()) && shown.contains(&cause.to_string()),
            "{adapter:?}: {shown}"
        );
        assert!(
            std::error::Error::source(&error).is_some(),
            "{adapter:?}: {error:?}"
        );
    }
}

/// `options` observed, counting the connections made (each host tried that accepted one).
fn counting_connections(options: ConnectOptions) -> (ConnectOptions, Arc<Mutex<usize>>) {
    let connected = Arc::new(Mutex::new(0));
    let counted = connected.clone();
    let options = options.observe(move |event| {
        if matches!(event, Event::Connected { .. }) {
            *counted.lock().unwrap() += 1;
        }
    });
    (options, connected)
}

/// With `serverSelectionTryOnce=false` the search for a host passes over the seed list again
/// 500 ms (`minHeartbeatFrequencyMS`) after each pass while the selection timeout lasts, so a
/// server that starts after the connect began is found; by default one pass fails with the
/// last host's error at once. Passes that find nothing end with the selection timeout, naming
/// the last host and its failure, once the next pass would begin after the window (or with
/// `timeoutMS`'s error, naming them too, when it is the tighter limit); a failure no pass would
/// mend (a certificate not trusted) ends them at once.
#[test]
fn server_selection_try_once_false_waits_for_a_server_to_start() {
    let f = Fixtures::start();
    let refused = format!("mongodb://alice:pencil@127.0.0.1:{}/", f.dead.port());
    // Closes each connection at `hello`: every pass connects to it once.
    let closer = after_requests(20, |_, _| {});
    let mut in_code = options();
    in_code.server_selection_try_once = Some(false);
    for adapter in Adapter::BOTH {
        let error = adapter
            .login(f.plain.runtime(), &refused, options())
            .expect_err(&refused);
        assert_eq!(error.kind(), ErrorKind::Io, "{adapter:?}: {error:?}");

        // A port nothing listens on until a server binds it, 800 ms into the connect. Another
        // socket may take the port meanwhile: then again with another port.
        let (login, took, _late) = (0..3)
            .find_map(|_| {
                let port = TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap();
                let late = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(800));
                    TestServer::start_at(port, config())
                });
                let uri = format!(
                    "mongodb://alice:pencil@{port}/?serverSelectionTryOnce=false\
                     &serverSelectionTimeoutMS=20000"
                );
                let started = std::time::Instant::now();
                let login = adapter.login(f.plain.runtime(), &uri, options());
                let took = started.elapsed();
                let late = late.join().unwrap().ok()?;
                Some((login, took, late))
            })
            .expect("a free port for the late server");
        let login = login.unwrap_or_else(|e| panic!("{adapter:?}: {e}"));
        assert_eq!(login.users.len(), 1, "{adapter:?}");
        // Found at the first pass after it started, not at the end of the window.
        assert!(
            (Duration::from_millis(800)..Duration::from_secs(8)).contains(&took),
            "{adapter:?}: {took:?}"
        );

        let connected = Arc::new(Mutex::new(0));
        let counted = connected.clone();
        let waits = Arc::new(Mutex::new(Vec::new()));
        let waited = waits.clone();
        let options = in_code.clone().observe(move |event| match event {
            Event::Connected { .. } => *counted.lock().unwrap() += 1,
            Event::WaitingForHost {
                host,
                failure,
                pause,
            } => waited
                .lock()
                .unwrap()
                .push((host.to_string(), failure.kind(), *pause)),
            _ => {}
        });
        let uri = format!("mongodb://alice:pencil@{closer}/?serverSelectionTimeoutMS=2000");
        let started = std::time::Instant::now();
        let error = adapter
            .login(f.plain.runtime(), &uri, options)
            .expect_err(&uri);
        let took = started.elapsed();
        let passes = *connected.lock().unwrap();
        // Passes at 0, 500, 1000 and 1500 ms, the one at 2000 ms too late; fewer on a slow
        // machine, but two at least: the window ends at least 500 ms after the first.
        assert!((2..=4).contains(&passes), "{adapter:?}: {passes} passes");
        // Each pass but the last tells of the wait before the next (and the last too, when
        // the wait overshoots the window on a slow machine and no pass follows).
        let waits = waits.lock().unwrap();
        assert!(
            (passes - 1..=passes).contains(&waits.len()),
            "{adapter:?}: {passes} passes, {waits:?}"
        );
        for (host, kind, pause) in waits.iter() {
            assert_eq!(host, &closer.to_string(), "{adapter:?}");
            assert_eq!(*kind, ErrorKind::Io, "{adapter:?}");
            assert!(
                !pause.is_zero() && *pause <= MIN_HEARTBEAT_FREQUENCY,
                "{adapter:?}: {pause:?}"
            );
        }
        assert!(took >= Duration::from_millis(1500), "{adapter:?}: {took:?}");
        let mongodb_auth::Error::ServerSelectionTimeout { host, cause, .. } = &error else {
            panic!("{adapter:?}: {error:?}");
        };
        assert_eq!(host.as_deref(), Some(closer.to_string().as_str()));
        let cause = cause.as_deref().expect("the last host's failure");
        assert_eq!(cause.kind(), ErrorKind::Io, "{adapter:?}: {error}");

        // A host still starting (refused) before one whose certificate is not trusted: another
        // pass may mend the first, so the passes go on, whichever host comes last.
        let mixed = format!(
            "mongodb://alice:pencil@127.0.0.1:{},{}/?tls=true&serverSelectionTimeoutMS=1200",
            f.dead.port(),
            f.tls.address()
        );
        let (options, connected) = counting_connections(in_code.clone());
        let started = std::time::Instant::now();
        let error = adapter
            .login(f.plain.runtime(), &mixed, options)
            .expect_err(&mixed);
        let took = started.elapsed();
        let mongodb_auth::Error::ServerSelectionTimeout { host, cause, .. } = &error else {
            panic!("{adapter:?}: {error:?}");
        };
        assert_eq!(host.as_deref(), Some(f.tls.address().to_string().as_str()));
        assert_eq!(cause.as_deref().map(|c| c.kind()), Some(ErrorKind::Tls));
        assert!(took >= Duration::from_millis(700), "{adapter:?}: {took:?}");
        assert!(*connected.lock().unwrap() >= 2, "{adapter:?}");

        // `timeoutMS` the tighter limit: its error, with the last host and its refusal, in its
        // message and as its source, as with the window's.
        let dead = format!("127.0.0.1:{}", f.dead.port());
        let within_timeout_ms =
            format!("mongodb://alice:pencil@{dead}/?timeoutMS=1200&serverSelectionTimeoutMS=20000");
        let started = std::time::Instant::now();
        let error = adapter
            .login(f.plain.runtime(), &within_timeout_ms, in_code.clone())
            .expect_err(&within_timeout_ms);
        let took = started.elapsed();
        let mongodb_auth::Error::Timeout {
            operation: "connecting and logging in (timeoutMS)",
            host,
            cause,
            ..
        } = &error
        else {
            panic!("{adapter:?}: {error:?}");
        };
        assert_eq!(host.as_deref(), Some(dead.as_str()), "{adapter:?}: {error}");
        let cause = cause.as_deref().expect("the refusal");
        assert_eq!(cause.kind(), ErrorKind::Io, "{adapter:?}: {error}");
        let shown = error.to_string();
        assert!(
            shown.contains(&dead) && shown.contains(&cause.to_string()),
            "{shown}"
        );
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source, Some(cause.to_string()), "{adapter:?}");
        assert!(
            (Duration::from_millis(700)..Duration::from_secs(6)).contains(&took),
            "{adapter:?}: {took:?}"
        );

        // A certificate the client does not trust: no pass would change that.
        let untrusted = format!(
            "mongodb://alice:pencil@{}/?tls=true&serverSelectionTimeoutMS=20000",
            f.tls.address()
        );
        let (options, connected) = counting_connections(in_code.clone());
        let error = adapter
            .login(f.plain.runtime(), &untrusted, options)
            .expect_err(&untrusted);
        assert_eq!(error.kind(), ErrorKind::Tls, "{adapter:?}: {error:?}");
        assert_eq!(*connected.lock().unwrap(), 1, "{adapter:?}");
    }

    // The server selection specification: the option in code may not contradict the string.
    for (in_string, in_code) in [(true, false), (false, true), (true, true), (false, false)] {
        let uri = format!(
            "mongodb://{}/?serverSelectionTryOnce={in_string}",
            f.plain.address()
        );
        let mut options = options();
        options.server_selection_try_once = Some(in_code);
        match mongodb_auth_io::Connector::new(uri.as_str(), options) {
            Err(mongodb_auth::Error::InvalidOption { option, .. }) if in_string != in_code => {
                assert_eq!(option, "serverSelectionTryOnce");
            }
            Ok(_) if in_string == in_code => {}
            other => panic!("{uri} with {in_code} in code: {other:?}"),
        }
    }
}

#[test]
fn the_next_host_case_connects_only_to_the_live_one() {
    let f = Fixtures::start();
    let case = cases(&f)
        .into_iter()
        .find(|case| case.name.starts_with("the next host"))
        .unwrap();
    for adapter in Adapter::BOTH {
        let (result, trace) = run(&f, &case, adapter);
        result.unwrap();
        let connects: Vec<_> = trace.iter().filter(|l| l.starts_with("connect")).collect();
        assert_eq!(
            connects,
            [&format!("connect {}", f.plain.address())],
            "{adapter:?}"
        );
    }
}

#[test]
fn command_monitoring_shows_what_carries_credentials_as_empty_documents() {
    let server = TestServer::start(config());
    let uri = server.uri("alice:pencil@", "?authSource=admin");
    let plain_payload = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: b"\0bob\0S3CRET".to_vec(),
    };
    let commands = [
        bson::rawdoc! { "ping": 1 },
        bson::rawdoc! { "createUser": "bob", "pwd": "S3CRET", "roles": [] },
        bson::rawdoc! { "UPDATEUSER": "bob", "pwd": "S3CRET" },
        bson::rawdoc! { "saslStart": 1, "mechanism": "PLAIN", "payload": plain_payload.clone() },
        bson::rawdoc! {
            "hello": 1,
            "speculativeAuthenticate": { "saslStart": 1, "mechanism": "PLAIN", "payload": plain_payload, "db": "$external" },
        },
        bson::rawdoc! { "hello": 1 },
        bson::rawdoc! { "noSuchCommand": 1 },
    ];
    let shown = |bytes: &[u8]| {
        bson::RawDocument::from_bytes(bytes)
            .ok()
            .and_then(|raw| bson::Document::try_from(raw).ok())
            .map_or("(not BSON)".to_owned(), |doc| doc.to_string())
    };
    for adapter in Adapter::BOTH {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let options = options().observe(move |event| {
            let line = match event {
                Event::CommandStarted { name, document, .. } => {
                    format!("started {name} {}", shown(document))
                }
                Event::CommandSucceeded { name, reply, .. } => {
                    format!("succeeded {name} {}", shown(reply))
                }
                Event::CommandFailed { name, failure, .. } => match failure {
                    mongodb_auth::Error::Server { reply, .. } if !reply.as_bytes().is_empty() => {
                        format!("failed {name} {}", shown(reply.as_bytes()))
                    }
                    mongodb_auth::Error::Server {
                        code_name, message, ..
                    } => format!("failed {name} {code_name}: {message}"),
                    _ => format!("failed {name}"),
                },
                _ => return,
            };
            sink.lock().unwrap().push(line);
        });
        let commands = commands
            .iter()
            .map(|doc| mongodb_auth::command::Command::new("admin", doc.as_bytes().to_vec()))
            .collect::<Vec<_>>();
        match adapter {
            Adapter::Blocking => {
                let mut connection =
                    mongodb_auth_io::blocking::connect(uri.as_str(), options).unwrap();
                for command in &commands {
                    let _ = connection.run_command(command);
                }
            }
            Adapter::Tokio => server.block_on(async {
                let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options)
                    .await
                    .unwrap();
                for command in &commands {
                    let _ = connection.run_command(command).await;
                }
            }),
        }
        let events = events.lock().unwrap().clone();
        let context = format!("{adapter:?}: {events:#?}");
        assert!(
            !events
                .iter()
                .any(|e| e.contains("S3CRET") || e.contains("AGJvYgBTM0NSRVQ")),
            "{context}"
        );
        let of_kind = |kind: &str| -> Vec<&str> {
            events.iter().filter_map(|e| e.strip_prefix(kind)).collect()
        };
        assert_eq!(
            of_kind("started "),
            [
                r#"ping { "ping": 1 }"#,
                "createUser {}",
                "UPDATEUSER {}",
                "saslStart {}",
                "hello {}",
                r#"hello { "hello": 1 }"#,
                r#"noSuchCommand { "noSuchCommand": 1 }"#,
            ],
            "{context}"
        );
        // The sensitive commands the server refuses fail without their reply or message (which
        // may quote the conversation), their code's name kept; the others keep both.
        let failed = of_kind("failed ");
        let redacted = ": (redacted: a security-sensitive command's error)";
        for (failure, name) in failed.iter().zip(["createUser", "UPDATEUSER", "saslStart"]) {
            let code_name = failure
                .strip_prefix(name)
                .and_then(|rest| rest.strip_suffix(redacted))
                .and_then(|rest| rest.strip_prefix(' '));
            assert!(code_name.is_some_and(|c| !c.is_empty()), "{context}");
        }
        assert_eq!(failed.len(), 4, "{context}");
        assert!(
            failed[3].starts_with("noSuchCommand {") && failed[3].contains("CommandNotFound"),
            "{context}"
        );
        // The speculative hello succeeds, and its reply (which could answer the login) is
        // shown empty too; the plain one's is not.
        let hellos: Vec<&String> = events
            .iter()
            .filter(|e| e.starts_with("succeeded hello"))
            .collect();
        assert_eq!(hellos.len(), 2, "{context}");
        assert_eq!(hellos[0], "succeeded hello {}", "{context}");
        assert!(hellos[1].contains("isWritablePrimary"), "{context}");
    }
}

/// The handshake specification sends every handshake over OP_MSG since June 2026: by default the
/// first message is the legacy `isMaster` with `helloOk`, over OP_MSG to `admin`; OP_QUERY only
/// when asked for. Read off the wire, with both adapters.
#[test]
fn the_first_message_is_a_legacy_hello_over_op_msg() {
    use mongodb_auth::handshake::HelloStyle;
    use mongodb_auth::wire::{OP_MSG, OP_QUERY};
    let (server, seen) = recording_hellos(4, |message, body| {
        let first = body.iter().next().unwrap().unwrap().0.as_str().to_owned();
        let db = match message.op_code {
            OP_MSG => body.get_str("$db").unwrap().to_owned(),
            _ => message.collection.clone().unwrap(),
        };
        let hello_ok = body.get_bool("helloOk").unwrap();
        (message.op_code, first, db, hello_ok)
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uri = format!("mongodb://{server}/");
    for adapter in Adapter::BOTH {
        for style in [None, Some(HelloStyle::LegacyOpQuery)] {
            let mut options = options();
            options.hello_style = style;
            let connected = match adapter {
                Adapter::Blocking => {
                    mongodb_auth_io::blocking::connect(uri.as_str(), options).map(drop)
                }
                Adapter::Tokio => runtime
                    .block_on(mongodb_auth_io::tokio::connect(uri.as_str(), options))
                    .map(drop),
            };
            connected.unwrap_or_else(|e| panic!("{adapter:?} {style:?}: {e}"));
        }
    }
    let by_op_msg = (OP_MSG, "isMaster".to_owned(), "admin".to_owned(), true);
    let by_op_query = (
        OP_QUERY,
        "isMaster".to_owned(),
        "admin.$cmd".to_owned(),
        true,
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            by_op_msg.clone(),
            by_op_query.clone(),
            by_op_msg,
            by_op_query
        ]
    );
}

/// The OP_MSG specification's rules for a connection's commands, with both adapters: a
/// command larger than the server's `maxMessageSizeBytes` is refused unsent. A reply that says
/// more is to come (which a client must read on, or close the connection for), or one that
/// stops half way and times out, fails the command and leaves the connection unusable: the
/// next command fails unsent (`NotConnected`), where it would have met the rest of the last
/// reply; so does a command whose future the caller dropped part way. The server sees one
/// command a connection.
#[test]
fn a_connection_is_not_used_after_a_reply_that_left_it_out_of_step() {
    use mongodb_auth::wire::{self, MessageDecoder};
    use mongodb_auth::{Error, WireError};
    use std::io::{ErrorKind as IoKind, Read, Write};
    // Per adapter, a connection whose command's reply says more is to come, then one whose
    // command's reply stops half way (the command says `halfWay`); then a tokio connection
    // whose command is dropped while its reply stops half way.
    let connections = 2 * Adapter::BOTH.len() + 1;
    let (counted, counts) = std::sync::mpsc::channel();
    let server = after_requests(connections, move |socket, hello| {
        let mut decoder = MessageDecoder::requests();
        let Ok(Some(hello)) = decoder.push(hello) else {
            return;
        };
        let limited = bson::rawdoc! {
            "isWritablePrimary": true, "maxMessageSizeBytes": 4096, "ok": 1.0,
        };
        let _ =
            socket.write_all(&wire::encode_reply(limited.as_bytes(), 1, hello.request_id).unwrap());
        let mut commands = 0;
        let mut buffer = [0u8; 16 * 1024];
        // Until the client closes.
        while let Ok(read @ 1..) = socket.read(&mut buffer) {
            let mut bytes = &buffer[..read];
            while let Ok(Some(command)) = decoder.push(bytes) {
                bytes = &[];
                commands += 1;
                let ok = bson::rawdoc! { "ok": 1.0 };
                let body = bson::RawDocument::from_bytes(command.body()).unwrap();
                let reply = if body.get("halfWay").unwrap().is_some() {
                    let whole = wire::encode_reply(ok.as_bytes(), 2, command.request_id).unwrap();
                    whole[..whole.len() / 2].to_vec()
                } else {
                    wire::encode_streamed_reply(ok.as_bytes(), 2, command.request_id)
                        .unwrap()
                        .to_vec()
                };
                let _ = socket.write_all(&reply);
            }
        }
        let _ = counted.send(commands);
    });
    let uri = format!("mongodb://{server}/");
    let command =
        |body: bson::RawDocumentBuf| mongodb_auth::Command::new("admin", body.into_bytes());
    let too_large = command(bson::rawdoc! { "ping": 1, "padding": "x".repeat(4096) });
    let ping = command(bson::rawdoc! { "ping": 1 });
    let ping_half_way = command(bson::rawdoc! { "ping": 1, "halfWay": true });
    let not_connected = |result: &mongodb_auth::Result<Vec<u8>>| match result {
        Err(Error::Io { source, .. }) => source.kind() == IoKind::NotConnected,
        _ => false,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for adapter in Adapter::BOTH {
        for half_way in [false, true] {
            let mut options = options();
            if half_way {
                // Long enough for `hello`, which the read timeout also bounds.
                options.read_timeout = Some(Duration::from_secs(1));
            }
            let first = if half_way { &ping_half_way } else { &ping };
            let commands = [&too_large, first, &ping];
            let (results, usable) = match adapter {
                Adapter::Blocking => {
                    let mut connection =
                        mongodb_auth_io::blocking::connect(uri.as_str(), options).unwrap();
                    let results = commands.map(|command| connection.run_command(command));
                    (results, connection.is_usable())
                }
                Adapter::Tokio => runtime.block_on(async {
                    let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options)
                        .await
                        .unwrap();
                    let mut results = Vec::new();
                    for command in commands {
                        results.push(connection.run_command(command).await);
                    }
                    let results: [_; 3] = results.try_into().unwrap();
                    (results, connection.is_usable())
                }),
            };
            let context = format!("{adapter:?}, half way {half_way}: {results:?}");
            let [refused, failed, unsent] = &results;
            let refused_for_its_size = match refused {
                Err(Error::InvalidInput { rule }) => rule.contains("maxMessageSizeBytes"),
                _ => false,
            };
            assert!(refused_for_its_size, "{context}");
            let failed_as_expected = match failed {
                Err(Error::Wire(WireError::MoreToCome)) => !half_way,
                Err(Error::Timeout { .. }) => half_way,
                _ => false,
            };
            assert!(failed_as_expected, "{context}");
            assert!(not_connected(unsent), "{context}");
            assert!(!usable, "{context}");
        }
    }
    runtime.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options())
            .await
            .unwrap();
        let cut_short = Duration::from_millis(100);
        let dropped = tokio::time::timeout(cut_short, connection.run_command(&ping_half_way));
        assert!(dropped.await.is_err(), "the reply never comes whole");
        assert!(!connection.is_usable());
        let unsent = connection.run_command(&ping).await;
        assert!(not_connected(&unsent), "{unsent:?}");
    });
    let counts: Vec<_> = (0..connections)
        .map(|_| counts.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    assert_eq!(counts, vec![1; connections]);
}

/// A re-authentication that fails (the server asks for one with 391, then refuses its
/// `saslStart`) fails the command and leaves the connection unusable: a later command fails
/// unsent. With both adapters.
#[test]
fn a_connection_whose_reauthentication_failed_is_not_used_again() {
    let server = TestServer::start(config());
    let uri = server.uri("alice:pencil@", "");
    let status = mongodb_auth::command::connection_status();
    for adapter in Adapter::BOTH {
        let arm = || {
            let refusals = FailCommand::new(["connectionStatus", "saslStart"], 391).times(2);
            let misbehavior = Misbehavior::FailCommand(refusals);
            server.server().dangerous().misbehave(Some(misbehavior));
        };
        let (failed, usable, unsent) = match adapter {
            Adapter::Blocking => {
                let mut connection =
                    mongodb_auth_io::blocking::connect(uri.as_str(), options()).unwrap();
                arm();
                let failed = connection.run_command(&status);
                let usable = connection.is_usable();
                (failed, usable, connection.run_command(&status))
            }
            Adapter::Tokio => server.block_on(async {
                let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options())
                    .await
                    .unwrap();
                arm();
                let failed = connection.run_command(&status).await;
                let usable = connection.is_usable();
                (failed, usable, connection.run_command(&status).await)
            }),
        };
        let context = format!("{adapter:?}: {failed:?}, {unsent:?}");
        assert!(
            matches!(failed, Err(mongodb_auth::Error::Server { code: 391, .. })),
            "{context}"
        );
        assert!(!usable, "{context}");
        let not_connected = match &unsent {
            Err(mongodb_auth::Error::Io { source, .. }) => {
                source.kind() == std::io::ErrorKind::NotConnected
            }
            _ => false,
        };
        assert!(not_connected, "{context}");
    }
    server.server().dangerous().misbehave(None);
}

/// The stable API specification, with both adapters, against the embedded server made to
/// require a declared version of every command (mongod's `requireApiVersion`): declared
/// strict, the first message is `hello` over OP_MSG though OP_QUERY's legacy `isMaster` (which
/// strict refuses) is asked for, and the login, a command and a re-authentication after a 391
/// all carry it, since the server refuses any command that does not; a command outside
/// version 1 is refused as strict asks. Undeclared, the first `hello` is refused.
#[test]
fn a_declared_stable_api_goes_with_every_command() {
    use mongodb_auth::handshake::HelloStyle;
    use mongodb_auth::{Error, ServerApi, ServerApiVersion};
    let mut config = config();
    config.require_api_version = true;
    let server = TestServer::start(config);
    let uri = server.uri("alice:pencil@", "");
    let ping = mongodb_auth::Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
    let status = mongodb_auth::command::connection_status();
    let api = ServerApi::new(ServerApiVersion::V1)
        .strict(true)
        .deprecation_errors(false);
    let code = |reply: &[u8]| mongodb_auth::command::error_code(reply);
    for adapter in Adapter::BOTH {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(Mutex::new(Vec::new()));
        let (seen, seen_started) = (sent.clone(), started.clone());
        let mut declared = options().observe(move |event| match event {
            Event::Sent { command, op, .. } => seen.lock().unwrap().push(format!("{command} {op}")),
            Event::CommandStarted { name, document, .. } => {
                let document = bson::RawDocument::from_bytes(document).unwrap();
                let keys: Vec<String> = document
                    .iter()
                    .map(|e| e.unwrap().0.as_str().to_owned())
                    .collect();
                seen_started
                    .lock()
                    .unwrap()
                    .push(format!("{name}: {}", keys.join(" ")));
            }
            _ => {}
        });
        declared.server_api = Some(api);
        declared.hello_style = Some(HelloStyle::LegacyOpQuery);
        let arm_391 = || {
            let once = FailCommand::new(["ping"], 391).times(1);
            server
                .server()
                .dangerous()
                .misbehave(Some(Misbehavior::FailCommand(once)));
        };
        let (outcome, pinged, reauthenticated, reauthentications, outside_v1) = match adapter {
            Adapter::Blocking => {
                let mut connection =
                    mongodb_auth_io::blocking::connect(uri.as_str(), declared).unwrap();
                let outcome = connection.outcome().clone();
                let pinged = connection.run_command(&ping).unwrap();
                arm_391();
                let reauthenticated = connection.run_command(&ping).unwrap();
                let outside_v1 = connection.run_command(&status).unwrap();
                let count = connection.reauthentications();
                (outcome, pinged, reauthenticated, count, outside_v1)
            }
            Adapter::Tokio => server.block_on(async {
                let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), declared)
                    .await
                    .unwrap();
                let outcome = connection.outcome().clone();
                let pinged = connection.run_command(&ping).await.unwrap();
                arm_391();
                let reauthenticated = connection.run_command(&ping).await.unwrap();
                let outside_v1 = connection.run_command(&status).await.unwrap();
                let count = connection.reauthentications();
                (outcome, pinged, reauthenticated, count, outside_v1)
            }),
        };
        let context = format!("{adapter:?}: {:?}", sent.lock().unwrap());
        assert_eq!(
            outcome.mechanism,
            Some(AuthMechanism::ScramSha256),
            "{context}"
        );
        assert!(outcome.speculative, "{context}");
        assert_eq!(code(&pinged), None, "{context}");
        assert_eq!(code(&reauthenticated), None, "{context}");
        assert_eq!(reauthentications, 1, "{context}");
        assert_eq!(code(&outside_v1), Some(323), "{context}");
        assert_eq!(
            *sent.lock().unwrap(),
            [
                "hello OP_MSG",
                "saslContinue OP_MSG",
                "ping OP_MSG",
                "ping OP_MSG",
                "saslStart OP_MSG",
                "saslContinue OP_MSG",
                "ping OP_MSG",
                "connectionStatus OP_MSG",
            ],
            "{context}"
        );

        // Monitoring shows each command as sent, the declared API's fields included.
        let as_sent = "ping: ping apiVersion apiStrict apiDeprecationErrors";
        let status_sent =
            "connectionStatus: connectionStatus apiVersion apiStrict apiDeprecationErrors";
        assert_eq!(
            *started.lock().unwrap(),
            [as_sent, as_sent, as_sent, status_sent],
            "{adapter:?}"
        );

        let undeclared = adapter.login(server.runtime(), &uri, options());
        let refused = matches!(undeclared, Err(Error::Server { code: 498870, .. }));
        assert!(refused, "{adapter:?}: {undeclared:?}");
    }
    server.server().dangerous().misbehave(None);
}

/// The connection-string specification has a client log a warning for each option it ignores:
/// with both adapters, each is an `Event::Warning`, before anything is sent, and the login goes
/// on. A `tls` whose value cannot be read is refused before any connection, where ignoring it
/// would send the password in plain text.
#[test]
fn what_the_connection_string_ignores_is_said_and_an_unreadable_tls_is_refused() {
    use mongodb_auth::uri::Warning;
    let server = TestServer::start(config());
    let uri = server.uri("alice:pencil@", "?fooBar=1&connectTimeoutMS=soon");
    for adapter in Adapter::BOTH {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let events = seen.clone();
        let observed = move || {
            let events = events.clone();
            options().observe(move |event| {
                let line = match event {
                    Event::Warning { warning } => match warning {
                        Warning::UnknownOption { key } => format!("unknown {key}"),
                        Warning::InvalidValue { key, value, .. } => {
                            format!("invalid {key}={value}")
                        }
                        other => format!("other {other}"),
                    },
                    Event::Connected { .. } => "connected".to_owned(),
                    _ => return,
                };
                events.lock().unwrap().push(line);
            })
        };
        let login = adapter.login(server.runtime(), &uri, observed());
        assert!(login.is_ok(), "{adapter:?}: {login:?}");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "unknown fooBar",
                "invalid connectTimeoutMS=soon",
                "connected"
            ],
            "{adapter:?}"
        );

        seen.lock().unwrap().clear();
        for unreadable in ["?tls=TRUE", "?ssl=1", "?tls=yes&authMechanism=PLAIN"] {
            let uri = server.uri("alice:pencil@", unreadable);
            let refused = adapter.login(server.runtime(), &uri, observed());
            assert!(
                matches!(&refused, Err(mongodb_auth::Error::InvalidOption { option, .. })
                    if option == "tls" || option == "ssl"),
                "{adapter:?} {unreadable}: {refused:?}"
            );
        }
        assert_eq!(*seen.lock().unwrap(), Vec::<String>::new(), "{adapter:?}");
    }
}

/// The handshake specification's prose test 1, "environment metadata is properly captured":
/// with each of its sets of environment variables (given through `AuthOptions`), `hello`'s
/// `client.env` names the platform and container they describe, leaves out the 512-byte region
/// (and, with it, everything but the name) and the memory size that is no number, fits 512
/// bytes, and a login to the embedded server, which checks metadata as mongod does, succeeds.
/// `authenticate` on a caller's stream says it too; a connector says what it found when built.
/// Read off the wire, with both adapters.
#[test]
fn hello_says_where_the_client_runs() {
    use bson::doc;
    use mongodb_auth::environment::MapEnvironment;
    let docker = std::path::Path::new(mongodb_auth::handshake::ClientEnv::DOCKERENV).exists();
    let lambda = [
        ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
        ("AWS_REGION", "us-east-2"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
    ];
    let long_region = "a".repeat(512);
    let lambda_env = doc! { "name": "aws.lambda", "memory_mb": 1024, "region": "us-east-2" };
    // Each case's variables, what its `env` says of the platform, and whether the container
    // stays (cutting `env` to its name leaves it out).
    type EnvCase<'a> = (Vec<(&'a str, &'a str)>, bson::Document, bool);
    let cases: Vec<EnvCase> = vec![
        (lambda.to_vec(), lambda_env.clone(), true),
        (
            vec![("FUNCTIONS_WORKER_RUNTIME", "node")],
            doc! { "name": "azure.func" },
            true,
        ),
        (
            vec![
                ("K_SERVICE", "servicename"),
                ("FUNCTION_MEMORY_MB", "1024"),
                ("FUNCTION_TIMEOUT_SEC", "60"),
                ("FUNCTION_REGION", "us-central1"),
            ],
            doc! {
                "name": "gcp.func",
                "timeout_sec": 60,
                "memory_mb": 1024,
                "region": "us-central1",
            },
            true,
        ),
        (
            vec![("VERCEL", "1"), ("VERCEL_REGION", "cdg1")],
            doc! { "name": "vercel", "region": "cdg1" },
            true,
        ),
        (
            vec![
                ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
                ("FUNCTIONS_WORKER_RUNTIME", "node"),
            ],
            doc! {},
            true,
        ),
        (
            vec![
                ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
                ("AWS_REGION", long_region.as_str()),
            ],
            doc! { "name": "aws.lambda" },
            false,
        ),
        (
            vec![
                ("AWS_EXECUTION_ENV", "AWS_Lambda_java8"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "big"),
            ],
            doc! { "name": "aws.lambda" },
            true,
        ),
        (vec![("AWS_EXECUTION_ENV", "EC2")], doc! {}, true),
        (
            [&lambda[..], &[("KUBERNETES_SERVICE_HOST", "1")]].concat(),
            lambda_env,
            true,
        ),
    ];
    let expected: Vec<Option<bson::Document>> = cases
        .iter()
        .map(|(variables, faas, container_kept)| {
            let mut env = faas.clone();
            let mut container = bson::Document::new();
            if docker {
                container.insert("runtime", "docker");
            }
            if variables
                .iter()
                .any(|(name, _)| *name == "KUBERNETES_SERVICE_HOST")
            {
                container.insert("orchestrator", "kubernetes");
            }
            if *container_kept && !container.is_empty() {
                env.insert("container", container);
            }
            (!env.is_empty()).then_some(env)
        })
        .collect();
    let with = |variables: &[(&str, &str)]| {
        let mut options = options();
        let environment = MapEnvironment::from_iter(variables.iter().copied());
        options.auth = options.auth.with_environment(environment);
        options
    };
    // Each case through each adapter, then each adapter's `authenticate` on a stream the test
    // opens, with the last case's variables, then the connector's three below.
    let (recorder, seen) = recording_hellos(2 * cases.len() + 5, |_, body| {
        let client = body.get_document("client").unwrap();
        let env = client
            .get_document("env")
            .ok()
            .map(|env| bson::Document::try_from(env).unwrap());
        (env, client.as_bytes().len())
    });
    let server = TestServer::start(config());
    let login_uri = server.uri("alice:pencil@", "");
    let recorder_uri = format!("mongodb://{recorder}/");
    for adapter in Adapter::BOTH {
        for (variables, _, _) in &cases {
            let login = adapter.login(server.runtime(), &login_uri, with(variables));
            assert!(login.is_ok(), "{adapter:?} {variables:?}: {login:?}");
            let options = with(variables);
            let hello = match adapter {
                Adapter::Blocking => {
                    mongodb_auth_io::blocking::connect(recorder_uri.as_str(), options).map(drop)
                }
                Adapter::Tokio => server
                    .runtime()
                    .block_on(mongodb_auth_io::tokio::connect(
                        recorder_uri.as_str(),
                        options,
                    ))
                    .map(drop),
            };
            assert!(hello.is_ok(), "{adapter:?} {variables:?}: {hello:?}");
        }
    }
    let (last_variables, _, _) = cases.last().unwrap();
    let mut stream = std::net::TcpStream::connect(recorder).unwrap();
    mongodb_auth_io::blocking::authenticate(&mut stream, None, with(last_variables)).unwrap();
    server
        .runtime()
        .block_on(async {
            let mut stream = tokio::net::TcpStream::connect(recorder).await.unwrap();
            mongodb_auth_io::tokio::authenticate(&mut stream, None, with(last_variables)).await
        })
        .unwrap();
    // A connector finds it once, when built: its connections say what its environment said
    // then, though the variables have gone since; a clone of its options given another
    // environment, for `authenticate`, says what that one says.
    struct Moving {
        gone: Arc<std::sync::atomic::AtomicBool>,
        before: MapEnvironment,
    }
    impl mongodb_auth::environment::Environment for Moving {
        fn var(&self, name: &str) -> Option<String> {
            let gone = self.gone.load(std::sync::atomic::Ordering::SeqCst);
            self.before.var(name).filter(|_| !gone)
        }
    }
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (lambda_variables, _, _) = &cases[0];
    let mut moving = options();
    moving.auth = moving.auth.with_environment(Moving {
        gone: gone.clone(),
        before: MapEnvironment::from_iter(lambda_variables.iter().copied()),
    });
    let connector = mongodb_auth_io::Connector::new(recorder_uri.as_str(), moving).unwrap();
    gone.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(connector.client_env().faas_name(), Some("aws.lambda"));
    mongodb_auth_io::blocking::connect_with(&connector).unwrap();
    server
        .runtime()
        .block_on(mongodb_auth_io::tokio::connect_with(&connector))
        .unwrap();
    let (vercel_variables, _, _) = &cases[3];
    let mut changed = connector.options().clone();
    changed.auth = changed
        .auth
        .with_environment(MapEnvironment::from_iter(vercel_variables.iter().copied()));
    let mut stream = std::net::TcpStream::connect(recorder).unwrap();
    mongodb_auth_io::blocking::authenticate(&mut stream, None, changed).unwrap();

    let seen = seen.lock().unwrap();
    let envs: Vec<_> = seen.iter().map(|(env, _)| env.clone()).collect();
    let last = expected.last().unwrap().clone();
    let (lambda, vercel) = (expected[0].clone(), expected[3].clone());
    let through_connector = vec![lambda.clone(), lambda, vercel];
    assert_eq!(
        envs,
        [
            expected.clone(),
            expected,
            vec![last.clone(), last],
            through_connector
        ]
        .concat()
    );
    for (_, size) in seen.iter() {
        assert!(
            *size <= mongodb_auth::handshake::MAX_CLIENT_METADATA_LEN,
            "{size}"
        );
    }
}

/// Libraries that wrap the adapters append their name, version and platform to `hello`'s client
/// metadata (the handshake specification's "Supporting Wrapping Libraries", after its metadata
/// update prose tests): given in the options or appended to a connector after it is built,
/// each after a `|`; one equal to any given before (an empty string being no value) is not
/// appended again; metadata too large for `hello` is refused and leaves what was there. Read
/// off the wire, with both adapters.
#[test]
fn wrapping_libraries_append_to_the_client_metadata() {
    use mongodb_auth::handshake::DriverInfo;
    use mongodb_auth_io::Connector;
    let (server, seen) = recording_hellos(8, |_, body| {
        let client = body.get_document("client").unwrap();
        let driver = client.get_document("driver").unwrap();
        let fields = [
            driver.get_str("name"),
            driver.get_str("version"),
            client.get_str("platform"),
        ];
        fields.map(|field| field.unwrap().to_owned())
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let uri = format!("mongodb://{server}/");
    let info = |name: &str, version, platform| DriverInfo::new(name, version, platform).unwrap();
    let library = info("library", Some("1.2"), Some("Library Platform"));
    for adapter in Adapter::BOTH {
        let mut given = options();
        given.driver_info = vec![library.clone(), library.clone()];
        let connector = Connector::new(uri.as_str(), given).unwrap();
        let connect = || match adapter {
            Adapter::Blocking => mongodb_auth_io::blocking::connect_with(&connector).map(drop),
            Adapter::Tokio => runtime
                .block_on(mongodb_auth_io::tokio::connect_with(&connector))
                .map(drop),
        };
        connect().unwrap();
        connector
            .append_metadata(info("framework", Some("2.0"), None))
            .unwrap();
        connect().unwrap();
        // Equal to what the options gave, and to what was appended: nothing more.
        connector.append_metadata(library.clone()).unwrap();
        connector
            .append_metadata(info("framework", Some("2.0"), Some("")))
            .unwrap();
        connect().unwrap();
        connector
            .append_metadata(info("framework", None, Some("Framework Platform")))
            .unwrap();
        // Too large for `hello`: refused, and nothing appended.
        let error = connector
            .append_metadata(info(&"n".repeat(500), None, None))
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Usage, "{adapter:?}: {error}");
        // The options' duplicate is listed as given; `hello` carries it once.
        assert_eq!(connector.driver_info().len(), 4, "{adapter:?}");
        connect().unwrap();
    }
    let version = env!("CARGO_PKG_VERSION");
    let expected = |name: &str, versions: &str, platform: &str| {
        [
            format!("mongodb-auth{name}"),
            format!("{version}{versions}"),
            format!("Rust{platform}"),
        ]
    };
    let per_adapter = [
        expected("|library", "|1.2", "|Library Platform"),
        expected("|library|framework", "|1.2|2.0", "|Library Platform"),
        expected("|library|framework", "|1.2|2.0", "|Library Platform"),
        expected(
            "|library|framework|framework",
            "|1.2|2.0",
            "|Library Platform|Framework Platform",
        ),
    ];
    assert_eq!(
        *seen.lock().unwrap(),
        [per_adapter.clone(), per_adapter].concat()
    );

    let mut too_large = options();
    too_large.driver_info = vec![info(&"n".repeat(500), None, None)];
    let refused = Connector::new(uri.as_str(), too_large).unwrap_err();
    assert!(
        matches!(refused, mongodb_auth::Error::InvalidInput { .. }),
        "{refused:?}"
    );
}

/// An application name is at most 128 bytes, all a server takes: a longer one in code fails
/// before anything is sent; one in the connection string is dropped with a warning, as the
/// string's invalid values are, and the connection goes on without it.
#[test]
fn an_application_name_too_long_for_hello_is_not_sent() {
    let server = TestServer::start(config());
    let longest = "a".repeat(mongodb_auth::handshake::MAX_APP_NAME_LEN);
    let too_long = format!("{longest}b");
    for adapter in Adapter::BOTH {
        let uri = server.uri("alice:pencil@", "");
        let mut named = options();
        named.app_name = Some(longest.clone());
        let login = adapter.login(server.runtime(), &uri, named);
        assert!(login.is_ok(), "{adapter:?}: {login:?}");
        let mut named = options();
        named.app_name = Some(too_long.clone());
        let error = adapter
            .login(server.runtime(), &uri, named)
            .expect_err("too long");
        assert!(
            matches!(
                &error,
                mongodb_auth::Error::InvalidOption { option, .. } if option == "appName"
            ),
            "{adapter:?}: {error:?}"
        );
        let uri = server.uri("alice:pencil@", &format!("?appName={too_long}"));
        let login = adapter.login(server.runtime(), &uri, options());
        assert!(login.is_ok(), "{adapter:?}: {login:?}");
    }
    assert_eq!(server.server().accepted_connections(), 4);
}

/// With `loadBalanced=true` the adapters say so in an OP_MSG `hello` and require a `serviceId` in
/// its reply (load balancer spec): the embedded server gives one and the login goes on; a server
/// that gives none is not behind a load balancer, and is refused rather than logged in to.
#[test]
fn a_load_balanced_connection_requires_a_service_id() {
    use std::io::Write;
    let f = Fixtures::start();
    let balanced = format!(
        "mongodb://alice:pencil@{}/?loadBalanced=true",
        f.plain.address()
    );
    // Each answers the first message of a connection with `reply`.
    let answering = |connections, reply: bson::RawDocumentBuf| {
        after_requests(connections, move |socket, request| {
            let request_id = request
                .get(4..8)
                .map_or(0, |id| i32::from_le_bytes(id.try_into().unwrap()));
            let reply = mongodb_auth::wire::encode_reply(reply.as_bytes(), 1, request_id);
            let _ = socket.write_all(&reply.unwrap());
        })
    };
    // As a standalone mongod answers: no `serviceId`; with and without a credential.
    let standalone = bson::rawdoc! { "isWritablePrimary": true, "maxWireVersion": 21, "ok": 1.0 };
    let standalone = answering(4, standalone);
    let refusing = answering(2, bson::rawdoc! { "ok": 0.0, "code": 8000, "errmsg": "no" });
    for adapter in Adapter::BOTH {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let seen = sent.clone();
        let mut watched = options().observe(move |event| {
            if let Event::Sent { command, op, .. } = event {
                seen.lock().unwrap().push(format!("{command} {op}"));
            }
        });
        // The legacy form asked for: OP_MSG all the same, as the specification requires.
        watched.hello_style = Some(mongodb_auth::handshake::HelloStyle::LegacyOpQuery);
        let login = adapter
            .login(f.plain.runtime(), &balanced, watched)
            .unwrap_or_else(|e| panic!("{adapter:?}: {e}"));
        assert_eq!(login.users.len(), 1, "{adapter:?}");
        assert_eq!(
            sent.lock().unwrap().first().map(String::as_str),
            Some("hello OP_MSG"),
            "{adapter:?}"
        );

        for userinfo in ["alice:pencil@", ""] {
            let unbalanced = format!("mongodb://{userinfo}{standalone}/?loadBalanced=true");
            let error = adapter
                .login(f.plain.runtime(), &unbalanced, options())
                .expect_err(&unbalanced);
            let mongodb_auth::Error::Unsupported { what } = &error else {
                panic!("{adapter:?} {unbalanced}: {error:?}");
            };
            assert!(what.contains("serviceId"), "{adapter:?}: {error}");
        }
        // A refused `hello` is the server's own error, not a missing `serviceId`.
        let refused = format!("mongodb://alice:pencil@{refusing}/?loadBalanced=true");
        let error = adapter
            .login(f.plain.runtime(), &refused, options())
            .expect_err(&refused);
        assert!(
            matches!(error, mongodb_auth::Error::Server { code: 8000, .. }),
            "{adapter:?}: {error:?}"
        );
    }
}

/// The SOCKS5 proxy options are refused, not ignored: a connection that went around the proxy
/// would leave from an address, and cross a network, the user did not choose.
#[test]
fn a_proxy_is_refused_not_bypassed() {
    let server = TestServer::start(config());
    let uri = server.uri("alice:pencil@", "?proxyHost=127.0.0.1&proxyPort=1080");
    for adapter in Adapter::BOTH {
        let error = adapter
            .login(server.runtime(), &uri, options())
            .unwrap_err();
        assert_eq!(
            error.kind(),
            ErrorKind::Configuration,
            "{adapter:?}: {error}"
        );
        assert!(error.to_string().contains("proxyHost"), "{error}");
    }
    assert_eq!(
        server.server().accepted_connections(),
        0,
        "nothing went around the proxy"
    );
}

/// `timeoutMS` bounds what a login asks for as well as its exchanges: a `credential_process`
/// that does not end (its own limit is a minute) and a credentials endpoint that never answers
/// (an HTTP exchange's is ten seconds) end the connect at `timeoutMS`, as a timeout, with both
/// adapters.
#[cfg(unix)]
#[test]
fn timeout_ms_bounds_what_a_login_asks_for() {
    use std::time::Instant;

    use mongodb_auth::environment::MapEnvironment;

    let server = TestServer::start(config());
    let files = TempDir::new("adapters-asks");
    let aws_config = files.join("config");
    std::fs::write(&aws_config, "[default]\ncredential_process = sleep 20\n").unwrap();
    let aws_config = aws_config.to_str().unwrap().to_owned();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/credentials", silent.local_addr().unwrap());
    let sources = [
        (
            "a credential_process that does not end",
            ("AWS_CONFIG_FILE", aws_config.as_str()),
        ),
        (
            "a container credentials endpoint that never answers",
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.as_str()),
        ),
    ];
    let uri = server.uri("", "?authMechanism=MONGODB-AWS&timeoutMS=500");
    for (source, variable) in sources {
        for adapter in Adapter::BOTH {
            let mut options = options();
            options.auth = options.auth.with_environment(MapEnvironment::from([
                variable,
                ("AWS_SHARED_CREDENTIALS_FILE", ""),
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("HOME", files.to_str().unwrap()),
            ]));
            let started = Instant::now();
            let error = adapter
                .login(server.runtime(), &uri, options)
                .expect_err("no credentials come");
            let took = started.elapsed();
            assert_eq!(
                error.kind(),
                ErrorKind::Timeout,
                "{adapter:?}, {source}: {error}"
            );
            assert!(
                took < Duration::from_secs(5),
                "{adapter:?}, {source}: ended after {took:?}"
            );
        }
    }
}

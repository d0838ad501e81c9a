//! The server's promises under attack and the client's in a driver's hands, over real loopback
//! sockets: one peer cannot hold the connection cap, an idle unauthenticated socket is closed, a
//! login cannot be left open, a flood before a login is cut off while a driver's monitor that
//! never logs in stays for as long as it talks, and a 391 from the server is answered by
//! re-authentication in both adapters.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mongodb_auth::server::danger::{FailCommand, Misbehavior};
use mongodb_auth::server::{AuthEvent, UserStore};
use mongodb_auth::{AuthMechanism, ScramVariant};
use mongodb_auth_io::blocking;
use mongodb_auth_server::ServerConfig;
use mongodb_auth_testkit::embedded::{Adapter, TestServer, options, scram_users};
use tokio::io::AsyncReadExt;

fn users() -> UserStore {
    scram_users(&[
        (
            "admin",
            "both",
            "pencil",
            &[ScramVariant::Sha1, ScramVariant::Sha256],
        ),
        ("admin", "sha1", "sha1pw", &[ScramVariant::Sha1]),
        ("$external", "ldap", "ldappw", &[ScramVariant::Sha256]),
    ])
}

/// A TCP connection to `server` from the loopback address `source` (127.0.0.2, ...), which the
/// server sees as another peer than 127.0.0.1.
async fn connect_from(source: &str, server: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server closes `stream` within `within` without it sending anything.
async fn closed_by_server(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(within, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[test]
fn one_peer_cannot_hold_the_connection_cap() {
    let mut config = ServerConfig::new(users());
    config.max_connections = 6;
    config.max_connections_per_peer = 3;
    let server = TestServer::start(config);
    let address = server.address();

    server.block_on(async {
        // 127.0.0.2 opens twice the whole cap and keeps every socket it is given.
        let mut held = Vec::new();
        for _ in 0..12 {
            held.push(connect_from("127.0.0.2", address).await);
        }
        // The server keeps its share open and closes the rest at once.
        let mut open = 0;
        for stream in &mut held {
            if !closed_by_server(stream, Duration::from_millis(300)).await {
                open += 1;
            }
        }
        assert_eq!(open, 3, "one peer holds exactly its share");
    });

    // The rest of the world (127.0.0.1 here) still logs in, with both adapters.
    let uri = server.uri("both:pencil@", "");
    for adapter in Adapter::BOTH {
        let login = adapter.login(server.runtime(), &uri, options()).unwrap();
        assert_eq!(login.users, [("both".to_owned(), "admin".to_owned())]);
    }
}

/// Sends `command` on `stream` and reads its reply; `None` when the server closed the
/// connection (or did not answer within 10 s).
async fn round_trip(
    stream: &mut tokio::net::TcpStream,
    command: bson::RawDocumentBuf,
    request_id: i32,
) -> Option<bson::Document> {
    round_trip_on(stream, "admin", command, request_id).await
}

/// [`round_trip`] against the database `db`.
async fn round_trip_on(
    stream: &mut tokio::net::TcpStream,
    db: &str,
    command: bson::RawDocumentBuf,
    request_id: i32,
) -> Option<bson::Document> {
    use tokio::io::AsyncWriteExt;
    let command = mongodb_auth::Command::new(db, command.into_bytes());
    let request = mongodb_auth::wire::encode_command(&command, request_id).unwrap();
    stream.write_all(&request).await.ok()?;
    let mut decoder = mongodb_auth::wire::ReplyDecoder::new(request_id);
    let mut buffer = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if let Some(reply) = decoder.push(&buffer[..n]).ok()? {
            return bson::Document::try_from(bson::RawDocument::from_bytes(reply.body()).ok()?)
                .ok();
        }
    }
}

#[test]
fn an_idle_unauthenticated_connection_is_closed_and_a_logged_in_one_stays() {
    let mut config = ServerConfig::new(users());
    config.unauthenticated_idle_timeout = Duration::from_millis(300);
    let server = TestServer::start(config);
    let address = server.address();
    let uri = server.uri("both:pencil@", "");
    server.block_on(async {
        // A socket that never says anything is closed once it has been idle that long...
        let mut idle = connect_from("127.0.0.1", address).await;
        assert!(closed_by_server(&mut idle, Duration::from_secs(10)).await);
        // ...while one that logged in stays open past it.
        let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            connection.authenticated_users().await.unwrap(),
            [("both".to_owned(), "admin".to_owned())]
        );
    });
}

/// A server of [`users`] whose logins must be done within `login_timeout`.
fn server_with_login_timeout(login_timeout: Duration) -> TestServer {
    let mut config = ServerConfig::new(users());
    config.login_timeout = login_timeout;
    TestServer::start(config)
}

/// Opens a SCRAM-SHA-256 conversation (`saslStart`, request `request_id`) and leaves it open.
async fn open_scram_conversation(stream: &mut tokio::net::TcpStream, request_id: i32) {
    let mut start = bson::rawdoc! { "saslStart": 1, "mechanism": "SCRAM-SHA-256" };
    start.append(
        bson::raw::cstr!("payload"),
        bson::RawBinaryRef {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: b"n,,n=both,r=abcdefghijklmnop",
        },
    );
    let first = round_trip(stream, start, request_id).await.unwrap();
    assert!(!first.get_bool("done").unwrap(), "{first}");
}

/// What a driver's streaming monitor sends: a `hello` (request `request_id`) for the server's
/// topology version, then the awaitable `hello` naming it, as OP_MSG with `exhaustAllowed`
/// (request `request_id + 1`), which the server answers with a stream of replies; with
/// `more_to_come`, that flag too, which asks for no reply at all.
async fn ask_for_a_stream_of_hellos(
    stream: &mut tokio::net::TcpStream,
    request_id: i32,
    max_await_time_ms: i64,
    more_to_come: bool,
) {
    use tokio::io::AsyncWriteExt;
    let first = round_trip(stream, bson::rawdoc! { "hello": 1 }, request_id)
        .await
        .unwrap();
    let version = first.get_document("topologyVersion").unwrap().clone();
    let version = bson::RawDocumentBuf::try_from(&version).unwrap();
    let awaitable = bson::rawdoc! {
        "hello": 1, "topologyVersion": version, "maxAwaitTimeMS": max_await_time_ms,
    };
    let command = mongodb_auth::Command::new("admin", awaitable.into_bytes());
    let mut request = mongodb_auth::wire::encode_command(&command, request_id + 1)
        .unwrap()
        .to_vec();
    request[18] |= 1; // flag bit 16: exhaustAllowed
    if more_to_come {
        request[16] |= 2; // flag bit 1: moreToCome
    }
    stream.write_all(&request).await.unwrap();
}

#[test]
fn a_login_left_unfinished_is_closed_at_the_login_deadline_however_chatty() {
    let server = server_with_login_timeout(Duration::from_millis(500));
    let address = server.address();
    server.block_on(async {
        let mut stream = connect_from("127.0.0.1", address).await;
        let started = std::time::Instant::now();
        open_scram_conversation(&mut stream, 1).await;
        chat_until_closed_at_the_login_deadline(&mut stream, started, 2).await;
    });
}

#[test]
fn a_login_again_left_unfinished_is_closed_at_the_login_deadline() {
    let server = server_with_login_timeout(Duration::from_millis(500));
    let address = server.address();
    server.block_on(async {
        let mut stream = connect_from("127.0.0.1", address).await;
        log_in_with_plain(&mut stream, 1).await;
        // Logged in, the client begins another login: the conversation is no more its to hold
        // open than before a login.
        let started = std::time::Instant::now();
        open_scram_conversation(&mut stream, 2).await;
        chat_until_closed_at_the_login_deadline(&mut stream, started, 3).await;
    });
}

/// Logs in as the fixture's PLAIN user (request `request_id`).
async fn log_in_with_plain(stream: &mut tokio::net::TcpStream, request_id: i32) {
    let plain = bson::rawdoc! {
        "saslStart": 1,
        "mechanism": "PLAIN",
        "payload": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"\0ldap\0ldappw".to_vec() },
    };
    let reply = round_trip_on(stream, "$external", plain, request_id)
        .await
        .unwrap();
    assert_eq!(reply.get_bool("done").ok(), Some(true), "{reply:?}");
}

/// Pings (from request `first_id`) while a login begun at `started`, with a deadline of 500 ms,
/// is left unfinished: the server closes the connection at that deadline, however chatty.
async fn chat_until_closed_at_the_login_deadline(
    stream: &mut tokio::net::TcpStream,
    started: std::time::Instant,
    first_id: i32,
) {
    let mut id = first_id;
    while round_trip(stream, bson::rawdoc! { "ping": 1 }, id)
        .await
        .is_some()
    {
        id += 1;
        assert!(started.elapsed() < Duration::from_secs(5), "never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let open_for = started.elapsed();
    assert!(
        open_for >= Duration::from_millis(300) && open_for < Duration::from_secs(3),
        "closed after {open_for:?}"
    );
}

/// A driver's monitor for 45 s, more than twice the default login deadline (20 s), with the
/// server's default limits: `hello` every 500 ms on a connection that never logs in, and a
/// command every 2 s on one that did. The server closes neither.
#[test]
fn a_monitor_that_never_logs_in_stays_as_long_as_it_talks() {
    let server = TestServer::start(ServerConfig::new(users()));
    let address = server.address();
    let uri = server.uri("both:pencil@", "");
    server.block_on(async {
        let mut monitor = connect_from("127.0.0.1", address).await;
        let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options())
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut heartbeats = 0;
        let mut commands = 0;
        while started.elapsed() < Duration::from_secs(45) {
            let hello = bson::rawdoc! { "hello": 1, "helloOk": true };
            let reply = round_trip(&mut monitor, hello, heartbeats + 1).await;
            let reply = reply
                .unwrap_or_else(|| panic!("the monitor was closed after {:?}", started.elapsed()));
            assert!(reply.get_bool("isWritablePrimary").unwrap());
            heartbeats += 1;
            if heartbeats % 4 == 0 {
                connection
                    .run_command(&mongodb_auth::Command::new(
                        "admin",
                        bson::rawdoc! { "ping": 1 }.into_bytes(),
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("after {:?}: {e}", started.elapsed()));
                commands += 1;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(
            heartbeats >= 80 && commands >= 20,
            "{heartbeats} {commands}"
        );
        assert_eq!(connection.reauthentications(), 0);
        assert_eq!(
            server.server().accepted_connections(),
            2,
            "nobody reconnected"
        );
    });
}

#[test]
fn monitors_that_hold_a_peers_share_leave_the_others_their_slots() {
    let mut config = ServerConfig::new(users());
    config.max_connections = 8;
    config.max_connections_per_peer = 3;
    let server = TestServer::start(config);
    let address = server.address();
    server.block_on(async {
        // 127.0.0.2 holds its share with monitors that say hello forever and never log in.
        let mut monitors = Vec::new();
        for _ in 0..3 {
            monitors.push(connect_from("127.0.0.2", address).await);
        }
        for round in 0..3 {
            for (i, monitor) in monitors.iter_mut().enumerate() {
                let id = round * 10 + i as i32 + 1;
                assert!(
                    round_trip(monitor, bson::rawdoc! { "hello": 1 }, id)
                        .await
                        .is_some()
                );
            }
            // A fourth connection from that peer is closed at once...
            let mut extra = connect_from("127.0.0.2", address).await;
            assert!(closed_by_server(&mut extra, Duration::from_secs(2)).await);
        }
    });
    // ...while everyone else still logs in, with both adapters.
    let uri = server.uri("both:pencil@", "");
    for adapter in Adapter::BOTH {
        let login = adapter.login(server.runtime(), &uri, options()).unwrap();
        assert_eq!(login.users, [("both".to_owned(), "admin".to_owned())]);
    }
}

#[test]
fn a_client_that_floods_requests_before_logging_in_is_cut_off() {
    use std::io::{Read, Write};
    let server = TestServer::start(ServerConfig::new(users()));
    let socket = std::net::TcpStream::connect(server.address()).unwrap();
    let mut reader = socket.try_clone().unwrap();
    reader
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // A reader drains the replies, so the server never blocks writing them...
    let drained = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        let started = std::time::Instant::now();
        loop {
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    });
    // ...while the writer sends pings as fast as it can, for at most 5 s.
    let ping = mongodb_auth::Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
    let request = mongodb_auth::wire::encode_command(&ping, 1).unwrap();
    let mut writer = socket;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if writer.write_all(&request).is_err() {
            break;
        }
    }
    let _ = writer.shutdown(std::net::Shutdown::Both);
    let open_for = drained.join().unwrap();
    assert!(
        open_for < Duration::from_secs(4),
        "a flood before any login went on for {open_for:?}"
    );
}

#[test]
fn a_logged_in_connection_tries_logins_no_faster_than_one_that_is_not() {
    let mut config = ServerConfig::new(users());
    config.unauthenticated_requests_per_second = 5;
    let server = TestServer::start(config);
    let address = server.address();
    server.block_on(async {
        let mut stream = connect_from("127.0.0.1", address).await;
        log_in_with_plain(&mut stream, 1).await;
        // What a logged-in client runs is not counted...
        for id in 2..42 {
            let reply = round_trip(&mut stream, bson::rawdoc! { "ping": 1 }, id).await;
            assert!(reply.is_some(), "ping {id} was not answered");
        }
        // ...but its logins are: SCRAM starts (a password guess each, once finished) in a row
        // get the budget of a connection that has not logged in, 10 at once and 5 a second.
        let mut answered: u32 = 0;
        let started = std::time::Instant::now();
        for id in 42..82 {
            let start = bson::rawdoc! {
                "saslStart": 1,
                "mechanism": "SCRAM-SHA-256",
                "payload": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: b"n,,n=both,r=fyko+d2lbbFgONRv9qkxdawL".to_vec() },
            };
            match round_trip(&mut stream, start, id).await {
                Some(reply) => {
                    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply:?}");
                    answered += 1;
                }
                None => break,
            }
        }
        // The burst, and what the budget earned meanwhile (however slow the machine).
        let earned = (5.0 * started.elapsed().as_secs_f64()).ceil();
        assert!(
            answered >= 5 && f64::from(answered) <= 11.0 + earned && answered < 40,
            "{answered} of 40 logins in a row were answered in {:?}",
            started.elapsed()
        );
    });
}

/// A server whose next `connectionStatus` (anywhere) gets 391, and its auth log.
fn reauth_server() -> (TestServer, Arc<Mutex<Vec<AuthEvent>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let mut config =
        ServerConfig::new(users()).auth_log(move |event| sink.lock().unwrap().push(event.clone()));
    config.dangerous().misbehave(Some(Misbehavior::FailCommand(
        FailCommand::new(["connectionStatus"], 391).times(1),
    )));
    (TestServer::start(config), log)
}

/// The logins the server logged, per connection.
fn logins_per_connection(log: &Mutex<Vec<AuthEvent>>) -> Vec<(i32, &'static str, bool)> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|event| match event {
            AuthEvent::Authenticated {
                connection_id,
                mechanism,
                speculative,
                ..
            } => Some((*connection_id, *mechanism, *speculative)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_391_is_answered_by_reauthentication_in_both_adapters() {
    for (userinfo, query, mechanism) in [
        ("both:pencil@", "", AuthMechanism::ScramSha256),
        ("sha1:sha1pw@", "", AuthMechanism::ScramSha1),
        (
            "ldap:ldappw@",
            "?authMechanism=PLAIN&authSource=$external",
            AuthMechanism::Plain,
        ),
    ] {
        for adapter in Adapter::BOTH {
            let (server, log) = reauth_server();
            let uri = server.uri(userinfo, query);
            let login = adapter.login(server.runtime(), &uri, options()).unwrap();
            let context = format!("{adapter:?} {userinfo}{query}");
            // The command got 391, the connection logged in again, and the command ran again.
            assert_eq!(login.reauthentications, 1, "{context}");
            assert_eq!(login.users.len(), 1, "{context}: {:?}", login.users);
            assert_eq!(login.outcome.mechanism, Some(mechanism), "{context}");
            assert!(
                !login.outcome.speculative,
                "{context}: no speculative re-authentication"
            );
            let logins = logins_per_connection(&log);
            assert_eq!(logins.len(), 2, "{context}: {logins:?}");
            assert_eq!(
                logins[0].0, logins[1].0,
                "{context}: on the same connection"
            );
            assert!(!logins[1].2, "{context}: the second login is plain SASL");
        }
    }
}

#[test]
fn a_failed_reauthentication_is_the_error_returned() {
    let mut config = ServerConfig::new(users());
    // The first login runs inside hello (speculative), so the fail point's two shots go to the
    // connectionStatus (391) and then to the saslStart of the re-authentication.
    config.dangerous().misbehave(Some(Misbehavior::FailCommand(
        FailCommand::new(["connectionStatus", "saslStart"], 391).times(2),
    )));
    let server = TestServer::start(config);
    let uri = server.uri("both:pencil@", "");
    let mut connection = blocking::connect(uri.as_str(), options()).unwrap();
    assert!(connection.outcome().speculative);
    let err = connection.authenticated_users().unwrap_err();
    assert!(
        matches!(err, mongodb_auth::Error::Server { code: 391, .. }),
        "the re-authentication's own failure, not a rerun of the command: {err}"
    );
    assert_eq!(connection.reauthentications(), 0);
}

/// Reads one whole message from `stream`: (its requestId, its responseTo, moreToCome, body).
async fn read_raw(stream: &mut tokio::net::TcpStream) -> Option<(i32, i32, bool, bson::Document)> {
    let mut header = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut header))
        .await
        .ok()?
        .ok()?;
    let field = |at: usize| i32::from_le_bytes(header[at..at + 4].try_into().unwrap());
    let mut rest = vec![0u8; usize::try_from(field(0)).ok()? - 16];
    stream.read_exact(&mut rest).await.ok()?;
    let flags = u32::from_le_bytes(rest[..4].try_into().unwrap());
    assert_eq!(rest[4], 0, "section kind 0");
    let body = bson::Document::try_from(bson::RawDocument::from_bytes(&rest[5..]).ok()?).ok()?;
    Some((field(4), field(8), flags & 2 != 0, body))
}

#[test]
fn a_monitor_that_allows_exhaust_gets_a_stream_of_hellos_until_it_speaks() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(ServerConfig::new(users()));
    let address = server.address();
    server.block_on(async {
        let mut monitor = connect_from("127.0.0.1", address).await;
        ask_for_a_stream_of_hellos(&mut monitor, 1, 200, false).await;
        let mut answered = 2;
        for _ in 0..3 {
            let (id, response_to, more_to_come, body) = read_raw(&mut monitor).await.unwrap();
            assert!(
                more_to_come,
                "each reply of the stream says more is to come"
            );
            assert_eq!(response_to, answered, "each answers the one before");
            assert!(body.get_bool("isWritablePrimary").unwrap());
            answered = id;
        }
        // Anything the client sends ends the stream and is answered as a request.
        let ping = mongodb_auth::Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
        let ping = mongodb_auth::wire::encode_command(&ping, 20).unwrap();
        monitor.write_all(&ping).await.unwrap();
        // A reply of the stream may have been on its way when the ping went out.
        let (_, response_to, more_to_come, body) = loop {
            let reply = read_raw(&mut monitor).await.unwrap();
            if reply.1 != 20 {
                assert!(reply.2, "a stray reply belongs to the stream");
                continue;
            }
            break reply;
        };
        assert_eq!((response_to, more_to_come), (20, false));
        assert_eq!(body.get_f64("ok").unwrap(), 1.0);
    });
}

/// Each reply of a stream of hellos is a command of its own to mongod, its fail point asked
/// again: one armed while the stream runs ends it with its error (a reply without
/// `moreToCome`, the connection still open) or closes the connection (the SDAM tests' "on
/// Monitor check" cases, for a streaming monitor).
#[test]
fn a_fail_point_armed_while_hellos_stream_answers_the_next_of_them() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(ServerConfig::new(users()));
    let address = server.address();
    let arm = |point: FailCommand| {
        let point = Misbehavior::FailCommand(point.times(1));
        server.server().dangerous().misbehave(Some(point));
    };
    server.block_on(async {
        let mut monitor = connect_from("127.0.0.1", address).await;
        ask_for_a_stream_of_hellos(&mut monitor, 1, 200, false).await;
        let (_, _, more_to_come, _) = read_raw(&mut monitor).await.unwrap();
        assert!(more_to_come);
        arm(FailCommand::new(["hello"], 91));
        // A reply of the stream may have been on its way when the fail point was armed; the
        // next is the fail point's.
        let armed = std::time::Instant::now();
        let (_, _, more_to_come, body) = loop {
            let reply = read_raw(&mut monitor).await.unwrap();
            if reply.3.get_f64("ok").ok() == Some(1.0) {
                assert!(reply.2, "{:?}", reply.3);
                // Two intervals of the stream are more than enough for one reply in flight.
                let late = armed.elapsed() > Duration::from_millis(1500);
                assert!(!late, "the stream goes on after the fail point's error");
                continue;
            }
            break reply;
        };
        assert_eq!(body.get_i32("code").ok(), Some(91), "{body}");
        assert!(!more_to_come, "the error ends the stream");
        let ping = mongodb_auth::Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
        let ping = mongodb_auth::wire::encode_command(&ping, 20).unwrap();
        monitor.write_all(&ping).await.unwrap();
        let (_, response_to, _, body) = read_raw(&mut monitor).await.unwrap();
        assert_eq!((response_to, body.get_f64("ok").ok()), (20, Some(1.0)));

        let mut monitor = connect_from("127.0.0.1", address).await;
        ask_for_a_stream_of_hellos(&mut monitor, 1, 200, false).await;
        read_raw(&mut monitor).await.unwrap();
        arm(FailCommand::close_connection(["hello"]));
        let armed = std::time::Instant::now();
        while read_raw(&mut monitor).await.is_some() {
            let late = armed.elapsed() > Duration::from_millis(1500);
            assert!(!late, "the stream goes on after closeConnection");
        }
    });
}

/// An awaitable `hello` that allows exhaust but itself says more is to come gets no reply at
/// all, not a stream (the OP_MSG specification: no response to a request with `moreToCome`):
/// the first reply the client reads after it is its next request's.
#[test]
fn a_request_that_says_more_is_to_come_starts_no_stream() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(ServerConfig::new(users()));
    let address = server.address();
    server.block_on(async {
        let mut monitor = connect_from("127.0.0.1", address).await;
        ask_for_a_stream_of_hellos(&mut monitor, 1, 100, true).await;
        let ping = mongodb_auth::Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
        let ping = mongodb_auth::wire::encode_command(&ping, 20).unwrap();
        monitor.write_all(&ping).await.unwrap();
        let (_, response_to, more_to_come, body) = read_raw(&mut monitor).await.unwrap();
        assert_eq!((response_to, more_to_come), (20, false), "{body}");
        assert_eq!(body.get_f64("ok").unwrap(), 1.0);
    });
}

/// A login left open ends at its deadline even while the server streams hellos to the client
/// (an awaitable `hello` that allows exhaust, sent after `saslStart`, then silence): the stream
/// does not hold the conversation, and its connection slot, for as long as the client likes.
#[test]
fn a_login_left_open_ends_at_its_deadline_while_hellos_stream() {
    let server = server_with_login_timeout(Duration::from_millis(500));
    let address = server.address();
    server.block_on(async {
        let mut stream = connect_from("127.0.0.1", address).await;
        let started = std::time::Instant::now();
        open_scram_conversation(&mut stream, 1).await;
        ask_for_a_stream_of_hellos(&mut stream, 2, 100, false).await;
        let mut streamed = 0;
        while read_raw(&mut stream).await.is_some() {
            streamed += 1;
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still streaming after {streamed} replies"
            );
        }
        let open_for = started.elapsed();
        assert!(streamed >= 1, "no reply streamed");
        assert!(
            open_for >= Duration::from_millis(400) && open_for < Duration::from_secs(3),
            "closed after {open_for:?} and {streamed} replies"
        );
    });
}

/// A monitor whose `heartbeatFrequencyMS` is longer than the login deadline: its awaitable
/// `hello` waits `maxAwaitTimeMS` on a connection that never logs in, and is answered then, not
/// closed at the login deadline.
#[test]
fn an_awaitable_hello_may_wait_longer_than_a_login_may_take() {
    let server = server_with_login_timeout(Duration::from_millis(300));
    let address = server.address();
    server.block_on(async {
        let mut monitor = connect_from("127.0.0.1", address).await;
        let first = round_trip(&mut monitor, bson::rawdoc! { "hello": 1 }, 1)
            .await
            .unwrap();
        let version = first.get_document("topologyVersion").unwrap().clone();
        let version = bson::RawDocumentBuf::try_from(&version).unwrap();
        for id in 2..4 {
            let awaitable = bson::rawdoc! {
                "hello": 1, "topologyVersion": version.clone(), "maxAwaitTimeMS": 1000_i64,
            };
            let started = std::time::Instant::now();
            let reply = round_trip(&mut monitor, awaitable, id).await;
            let waited = started.elapsed();
            let reply = reply.unwrap_or_else(|| panic!("closed after {waited:?}"));
            assert!(reply.get_bool("isWritablePrimary").unwrap());
            assert!(waited >= Duration::from_millis(900), "{waited:?}");
        }
    });
}

/// `hello` advertises the request size the server reads and a document size that fits in it,
/// and a request of that document is served, as a driver's batch split by them would be.
#[test]
fn the_sizes_hello_advertises_are_the_sizes_served() {
    use tokio::io::AsyncWriteExt;
    let mut config = ServerConfig::new(users());
    config.max_message_size = 256 * 1024;
    let server = TestServer::start(config);
    let uri = server.uri("both:pencil@", "");
    let mut connection = server
        .block_on(mongodb_auth_io::tokio::connect(uri.as_str(), options()))
        .unwrap();
    let hello = server
        .block_on(connection.run_command(&mongodb_auth::Command::new(
            "admin",
            bson::rawdoc! { "hello": 1 }.into_bytes(),
        )))
        .unwrap();
    let hello = bson::RawDocument::from_bytes(&hello).unwrap();
    let message = hello.get_i32("maxMessageSizeBytes").unwrap();
    let document = hello.get_i32("maxBsonObjectSize").unwrap();
    assert_eq!((message, document), (256 * 1024, 240 * 1024));

    // One document of exactly the advertised size, inside an insert.
    let size = usize::try_from(document).unwrap();
    let overhead = bson::rawdoc! { "_id": 1, "f": "" }.as_bytes().len();
    let big = bson::rawdoc! { "_id": 1, "f": "x".repeat(size - overhead) };
    assert_eq!(big.as_bytes().len(), size);
    let mut documents = bson::RawArrayBuf::new();
    documents.push(big);
    let mut insert = bson::rawdoc! { "insert": "c" };
    insert.append(bson::raw::cstr!("documents"), documents);
    let reply = server
        .block_on(connection.run_command(&mongodb_auth::Command::new("test", insert.into_bytes())))
        .unwrap();
    let reply = bson::RawDocument::from_bytes(&reply).unwrap();
    assert_eq!(reply.get_i32("n").unwrap(), 1, "{reply:?}");

    // A request over the advertised size is refused, as before.
    server.block_on(async {
        let mut stream = connect_from("127.0.0.1", server.address()).await;
        let too_big =
            bson::rawdoc! { "ping": 1, "pad": "y".repeat(usize::try_from(message).unwrap()) };
        let command = mongodb_auth::Command::new("admin", too_big.into_bytes());
        let request = mongodb_auth::wire::encode_command(&command, 1).unwrap();
        let _ = stream.write_all(&request).await;
        assert!(closed_by_server(&mut stream, Duration::from_secs(10)).await);
    });
}

/// A stand-in for STS that answers every request with `arn` after `delay`, each connection on a
/// thread of its own, and counts how many requests it held at once at most.
struct SlowSts {
    address: SocketAddr,
    peak: Arc<std::sync::atomic::AtomicUsize>,
    served: Arc<std::sync::atomic::AtomicUsize>,
}

impl SlowSts {
    fn start(arn: &'static str, delay: Duration) -> SlowSts {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (active, peak, served) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (held, highest, answered) = (active.clone(), peak.clone(), served.clone());
        std::thread::spawn(move || {
            // Bounded: the test makes a handful of requests.
            for stream in listener.incoming().take(16) {
                let Ok(mut stream) = stream else { continue };
                let (held, highest, answered) = (held.clone(), highest.clone(), answered.clone());
                std::thread::spawn(move || {
                    let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                    highest.fetch_max(now, Ordering::SeqCst);
                    // The whole request: its head, then as many bytes as Content-Length says.
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut request = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let text = String::from_utf8_lossy(&request).to_lowercase();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if request.len() >= end + 4 + length {
                                break;
                            }
                        }
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&chunk[..n]),
                        }
                    }
                    std::thread::sleep(delay);
                    let body = format!(
                        "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>{arn}</Arn>\
                         </GetCallerIdentityResult></GetCallerIdentityResponse>"
                    );
                    held.fetch_sub(1, Ordering::SeqCst);
                    answered.fetch_add(1, Ordering::SeqCst);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        SlowSts {
            address,
            peak,
            served,
        }
    }
}

/// Exchanges with STS take the job permits as PLAIN's derivations do: with one job a peer, the
/// logins of one peer reach STS one at a time, and every login still succeeds.
/// The IAM user the stand-in STS names.
const ARN: &str = "arn:aws:iam::123456789012:user/permits";

/// A server whose MONGODB-AWS logins `sts` checks, with one job a peer (and eight in all), as
/// `configure` leaves it; and the URI of a client with a key.
fn server_behind(sts: &SlowSts, configure: impl FnOnce(&mut ServerConfig)) -> (TestServer, String) {
    use mongodb_auth::server::aws::{AwsSettings, StsVerifier};
    let mut users = UserStore::new();
    users.insert_aws(ARN);
    let mut config = ServerConfig::new(users).aws(AwsSettings::new(StsVerifier::Endpoint(
        format!("http://{}/", sts.address),
    )));
    config.max_concurrent_jobs = 8;
    config.max_concurrent_jobs_per_peer = 1;
    configure(&mut config);
    let server = TestServer::start(config);
    let uri = server.uri(
        "AKIAPERMITSEXAMPLE:permits-secret@",
        "?authMechanism=MONGODB-AWS",
    );
    (server, uri)
}

#[test]
fn logins_of_one_peer_reach_sts_one_at_a_time() {
    use std::sync::atomic::Ordering;
    let sts = SlowSts::start(ARN, Duration::from_millis(400));
    let (server, uri) = server_behind(&sts, |_| {});
    let logins = server.block_on(async {
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let uri = uri.clone();
                tokio::spawn(async move {
                    let mut connection =
                        mongodb_auth_io::tokio::connect(uri.as_str(), options()).await?;
                    connection.authenticated_users().await
                })
            })
            .collect();
        let mut logins = Vec::new();
        for task in tasks {
            logins.push(task.await.unwrap());
        }
        logins
    });
    for login in logins {
        assert_eq!(login.unwrap(), [(ARN.to_owned(), "$external".to_owned())]);
    }
    assert_eq!(sts.served.load(Ordering::SeqCst), 3);
    assert_eq!(
        sts.peak.load(Ordering::SeqCst),
        1,
        "one peer's exchanges with STS at once"
    );
}

/// A job that outlives its connection (an STS call past the login deadline) still counts for
/// its peer: closing every connection does not give the peer a fresh share beside it.
#[test]
fn a_peer_does_not_regain_its_job_share_by_closing_its_connections() {
    use std::sync::atomic::Ordering;
    let sts = SlowSts::start(ARN, Duration::from_millis(1500));
    let (server, uri) = server_behind(&sts, |config| {
        config.login_timeout = Duration::from_millis(300);
    });
    server.block_on(async {
        // Each login's STS call outlasts its deadline: the server closes the connection, and
        // this peer has no other.
        for _ in 0..2 {
            let login = mongodb_auth_io::tokio::connect(uri.as_str(), options()).await;
            assert!(login.is_err(), "closed at the login deadline");
            // The server ends the connection's task just after it closes the socket.
            for _ in 0..100 {
                if server.server().active_connections() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(server.server().active_connections(), 0);
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
    });
    assert_eq!(
        sts.peak.load(Ordering::SeqCst),
        1,
        "the second login waited for the first one's call"
    );
    assert_eq!(sts.served.load(Ordering::SeqCst), 1);
}

/// A host that is not Rust (a C program linking a driver built on these crates) may leave
/// `SIGPIPE` at its default action, which ends the process: a write to a UNIX socket whose peer
/// has hung up must then fail, through both adapters' sockets (the server writes through the
/// tokio one), and not raise it. The test runs itself again in a child process with `SIGPIPE`
/// at its default, as such a host has it (Rust ignores it from the start). From Rust 1.90 std's
/// own `UnixStream::write` passes `MSG_NOSIGNAL`, so only an older toolchain can show the
/// fault: the test command runs this test on the declared rust-version (1.88) too.
#[cfg(unix)]
#[test]
fn a_unix_socket_write_to_a_peer_that_hung_up_fails_and_ends_no_host() {
    use std::io::{ErrorKind, Write};
    use tokio::io::AsyncWriteExt;
    const NAME: &str = "a_unix_socket_write_to_a_peer_that_hung_up_fails_and_ends_no_host";
    const CHILD: &str = "MONGODB_AUTH_TEST_SIGPIPE_AT_DEFAULT";
    if std::env::var_os(CHILD).is_none() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the child ended with {:?}, signal {:?}:\n{stdout}{}",
            output.status,
            std::os::unix::process::ExitStatusExt::signal(&output.status),
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    // SAFETY: the default action is restored, no handler installed; this child process runs
    // this one test only.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // Sockets connected as the adapters connect theirs (a socket pair would lack the
    // `SO_NOSIGPIPE` Apple's systems rely on), whose peer is accepted and closed.
    let dir = mongodb_auth_testkit::TempDir::new("sigpipe");
    let path = dir.path().join("peer.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let ours = std::os::unix::net::UnixStream::connect(&path).unwrap();
    drop(listener.accept().unwrap());
    let mut socket = blocking::Socket::Unix(ours);
    let error = socket.write_all(b"hello").expect_err("the peer has gone");
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ours = tokio::net::UnixStream::connect(&path).await.unwrap();
        drop(listener.accept().unwrap());
        let mut socket = mongodb_auth_io::tokio::Socket::Unix(ours);
        let error = socket
            .write_all(b"hello")
            .await
            .expect_err("the peer has gone");
        assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    });
}

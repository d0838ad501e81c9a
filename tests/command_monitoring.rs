//! Command monitoring's guarantees, with both adapters: every started event has one end with
//! its request id, and each names its connection (address, the server's connection id); a
//! command cut short still ends; a duration is the exchange's, not the observer's.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mongodb_auth::Error;
use mongodb_auth::command::Command;
use mongodb_auth_io::{ConnectOptions, Connector, Event};
use mongodb_auth_testkit::embedded::{Adapter, alice_server, hold_next, options};

fn command(body: bson::RawDocumentBuf) -> Command {
    Command::new("admin", body.into_bytes())
}

/// One monitoring event, as owned values.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    kind: &'static str,
    name: String,
    db: String,
    request_id: i32,
    address: String,
    server_connection_id: Option<i64>,
    duration: Option<Duration>,
    /// The failure's `io::Error` kind, for a failure without a reply.
    io_kind: Option<std::io::ErrorKind>,
}

fn recording(options: ConnectOptions) -> (ConnectOptions, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let options = options.observe(move |event| {
        let seen = |kind, name: &str, db: &str, request_id, address: &str, connection_id| Seen {
            kind,
            name: name.into(),
            db: db.into(),
            request_id,
            address: address.into(),
            server_connection_id: connection_id,
            duration: None,
            io_kind: None,
        };
        let seen = match *event {
            Event::CommandStarted {
                name,
                db,
                request_id,
                address,
                server_connection_id,
                ..
            } => seen(
                "started",
                name,
                db,
                request_id,
                address,
                server_connection_id,
            ),
            Event::CommandSucceeded {
                name,
                db,
                duration,
                request_id,
                address,
                server_connection_id,
                ..
            } => Seen {
                duration: Some(duration),
                ..seen(
                    "succeeded",
                    name,
                    db,
                    request_id,
                    address,
                    server_connection_id,
                )
            },
            Event::CommandFailed {
                name,
                db,
                failure,
                duration,
                request_id,
                address,
                server_connection_id,
                ..
            } => Seen {
                duration: Some(duration),
                io_kind: match failure {
                    Error::Io { source, .. } => Some(source.kind()),
                    _ => None,
                },
                ..seen(
                    "failed",
                    name,
                    db,
                    request_id,
                    address,
                    server_connection_id,
                )
            },
            _ => return,
        };
        sink.lock().unwrap().push(seen);
    });
    (options, seen)
}

/// The server's id of a connection, from its `hello` reply.
fn connection_id(hello_reply: &[u8]) -> Option<i64> {
    let reply = bson::RawDocument::from_bytes(hello_reply).ok()?;
    reply.get_i32("connectionId").ok().map(i64::from)
}

/// Behind a load balancer (the embedded server answers `loadBalanced: true` as one), each
/// event carries the service's id, as the load balancer specification requires; otherwise none.
#[test]
fn a_load_balanced_connection_s_events_name_its_service() {
    let server = alice_server();
    for (query, balanced) in [("?loadBalanced=true", true), ("", false)] {
        let uri = server.uri("alice:pencil@", query);
        let services = Arc::new(Mutex::new(Vec::new()));
        let sink = services.clone();
        let options = options().observe(move |event| match *event {
            Event::CommandStarted { service_id, .. }
            | Event::CommandSucceeded { service_id, .. }
            | Event::CommandFailed { service_id, .. } => sink.lock().unwrap().push(service_id),
            _ => {}
        });
        let mut connection = mongodb_auth_io::blocking::connect(uri.as_str(), options).unwrap();
        connection
            .run_command(&command(bson::rawdoc! { "ping": 1 }))
            .unwrap();
        let reply = bson::RawDocument::from_bytes(connection.hello_reply()).unwrap();
        let service = reply.get_object_id("serviceId").ok().map(|id| id.bytes());
        assert_eq!(service.is_some(), balanced, "{query}");
        assert_eq!(services.lock().unwrap()[..], [service, service], "{query}");
    }

    // A server that names a service to a client that did not ask for load balancing: the
    // events name none.
    let address = answering_with_a_service_id();
    let services = Arc::new(Mutex::new(Vec::new()));
    let sink = services.clone();
    let options = options().observe(move |event| {
        if let Event::CommandSucceeded { service_id, .. } = *event {
            sink.lock().unwrap().push(service_id);
        }
    });
    let uri = format!("mongodb://{address}/");
    let mut connection = mongodb_auth_io::blocking::connect(uri.as_str(), options).unwrap();
    connection
        .run_command(&command(bson::rawdoc! { "ping": 1 }))
        .unwrap();
    assert_eq!(services.lock().unwrap()[..], [None]);
}

/// A server for one connection that answers each of its requests `ok: 1` with a `serviceId`,
/// whatever was asked.
fn answering_with_a_service_id() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        let mut decoder = mongodb_auth::wire::MessageDecoder::requests();
        let mut buffer = [0u8; 16 * 1024];
        let reply = bson::rawdoc! {
            "ok": 1.0,
            "isWritablePrimary": true,
            "maxWireVersion": 21,
            "connectionId": 5,
            "serviceId": bson::oid::ObjectId::new(),
        };
        while let Ok(read) = socket.read(&mut buffer) {
            let Some(bytes) = buffer.get(..read).filter(|bytes| !bytes.is_empty()) else {
                return;
            };
            let Ok(Some(request)) = decoder.push(bytes) else {
                continue;
            };
            let answer =
                mongodb_auth::wire::encode_reply(reply.as_bytes(), 1, request.request_id).unwrap();
            if socket.write_all(&answer).is_err() {
                return;
            }
        }
    });
    address
}

/// Two connections through one connector share its observer: each command's started event
/// and its end have the same request id, database, address and server connection id, the
/// connection's own, and no request id is used twice.
#[test]
fn each_started_event_has_one_end_that_names_its_connection() {
    let server = alice_server();
    let uri = server.uri("alice:pencil@", "?authSource=admin");
    for adapter in Adapter::BOTH {
        let (options, seen) = recording(options());
        let connector = Connector::new(uri.as_str(), options).unwrap();
        let mut ids = Vec::new();
        let commands = [
            command(bson::rawdoc! { "ping": 1 }),
            command(bson::rawdoc! { "noSuchCommand": 1 }),
        ];
        for _ in 0..2 {
            let (address, hello_reply) = match adapter {
                Adapter::Blocking => {
                    let mut connection = mongodb_auth_io::blocking::connect_with(&connector)
                        .unwrap_or_else(|e| panic!("{adapter:?}: {e}"));
                    for command in &commands {
                        let _ = connection.run_command(command);
                    }
                    (
                        connection.address().to_owned(),
                        connection.hello_reply().to_vec(),
                    )
                }
                Adapter::Tokio => server.block_on(async {
                    let mut connection = mongodb_auth_io::tokio::connect_with(&connector)
                        .await
                        .unwrap_or_else(|e| panic!("{adapter:?}: {e}"));
                    for command in &commands {
                        let _ = connection.run_command(command).await;
                    }
                    (
                        connection.address().to_owned(),
                        connection.hello_reply().to_vec(),
                    )
                }),
            };
            ids.push((address, connection_id(&hello_reply)));
        }
        let seen = seen.lock().unwrap().clone();
        let context = format!("{adapter:?}: {seen:#?}");
        assert_eq!(seen.len(), 8, "{context}");
        assert_ne!(ids[0].1, ids[1].1, "{context}");
        for (pair, (address, connection_id)) in seen.chunks(2).zip(
            ids.iter()
                .flat_map(|id| std::iter::repeat_n(id, commands.len())),
        ) {
            let [started, ended] = pair else {
                panic!("{context}");
            };
            assert_eq!(started.kind, "started", "{context}");
            assert_ne!(ended.kind, "started", "{context}");
            assert!(connection_id.is_some(), "{context}");
            for event in pair {
                assert_eq!(
                    (
                        &event.name,
                        event.db.as_str(),
                        event.request_id,
                        &event.address,
                        event.server_connection_id
                    ),
                    (
                        &started.name,
                        "admin",
                        started.request_id,
                        address,
                        *connection_id
                    ),
                    "{context}"
                );
            }
        }
        let mut request_ids: Vec<i32> = seen.iter().map(|event| event.request_id).collect();
        request_ids.sort_unstable();
        request_ids.dedup();
        assert_eq!(request_ids.len(), 4, "{context}");
    }
}

/// A command whose future is dropped before its reply (the caller's own timeout) ends as
/// failed, cut short.
#[test]
fn a_command_cut_short_still_ends() {
    let server = alice_server();
    let uri = server.uri("alice:pencil@", "?authSource=admin");
    let (options, seen) = recording(options());
    server.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options)
            .await
            .unwrap();
        hold_next(server.server(), "ping", Duration::from_secs(2));
        let ping = command(bson::rawdoc! { "ping": 1 });
        let cut =
            tokio::time::timeout(Duration::from_millis(200), connection.run_command(&ping)).await;
        assert!(cut.is_err(), "{cut:?}");
    });
    let seen = seen.lock().unwrap().clone();
    let kinds: Vec<_> = seen.iter().map(|event| event.kind).collect();
    assert_eq!(kinds, ["started", "failed"], "{seen:#?}");
    assert_eq!(seen[0].request_id, seen[1].request_id);
    // From the exchange's start to the cut, 200 ms later.
    let cut_after = seen[1].duration.unwrap();
    assert!(
        cut_after >= Duration::from_millis(150) && cut_after < Duration::from_secs(2),
        "{seen:#?}"
    );
    assert_eq!(
        seen[1].io_kind,
        Some(std::io::ErrorKind::Interrupted),
        "{seen:#?}"
    );
}

/// An observer that takes a second over the command's message written and its reply read
/// does not lengthen the command's duration (which would then be at least a second).
#[test]
fn a_duration_is_the_exchange_not_the_observer() {
    let server = alice_server();
    let uri = server.uri("alice:pencil@", "?authSource=admin");
    let slow = Duration::from_secs(1);
    for adapter in Adapter::BOTH {
        let durations = Arc::new(Mutex::new(Vec::new()));
        let sink = durations.clone();
        // Slow once the command has started: the login's own messages go at full speed.
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let options = options().observe(move |event| match event {
            Event::CommandStarted { .. } => started.store(true, Ordering::SeqCst),
            Event::Sent { .. } | Event::Received { .. } if started.load(Ordering::SeqCst) => {
                std::thread::sleep(slow)
            }
            Event::CommandSucceeded { duration, .. } => sink.lock().unwrap().push(*duration),
            _ => {}
        });
        let ping = command(bson::rawdoc! { "ping": 1 });
        let began = std::time::Instant::now();
        match adapter {
            Adapter::Blocking => {
                let mut connection =
                    mongodb_auth_io::blocking::connect(uri.as_str(), options).unwrap();
                connection.run_command(&ping).unwrap();
            }
            Adapter::Tokio => server.block_on(async {
                let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options)
                    .await
                    .unwrap();
                connection.run_command(&ping).await.unwrap();
            }),
        }
        assert!(began.elapsed() >= 2 * slow, "the observer was slow");
        let durations = durations.lock().unwrap().clone();
        assert!(
            matches!(durations[..], [duration] if duration < slow / 2),
            "{adapter:?}: {durations:?}"
        );
    }
}

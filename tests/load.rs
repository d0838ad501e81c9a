//! 200 concurrent logins against one embedded server: no error, and every connection is closed
//! afterwards (loopback only, bounded).

use mongodb_auth::random::SystemRandom;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mongodb_auth::{AuthMechanism, AuthOptions, ScramKeyCache, ScramVariant};
use mongodb_auth_io::ConnectOptions;
use mongodb_auth_server::{Server, ServerConfig};
use mongodb_auth_testkit::embedded::scram_users;

const CLIENTS: usize = 200;

fn server_config(max_connections: usize) -> ServerConfig {
    let users = scram_users(&[(
        "admin",
        "loaded",
        "pencil",
        &[ScramVariant::Sha1, ScramVariant::Sha256],
    )]);
    let mut config = ServerConfig::new(users);
    config.max_connections = max_connections;
    // Every client here is 127.0.0.1: the per-peer share must not be what limits them.
    config.max_connections_per_peer = max_connections;
    config
}

/// Logs in `clients` times at once; returns the errors.
async fn storm(server: &Server, clients: usize) -> Vec<String> {
    // One cache for all, as a driver's pool shares one.
    let cache = Arc::new(ScramKeyCache::new(4, &mut SystemRandom));
    let uri = format!("mongodb://loaded:pencil@{}/", server.local_addr());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (uri, cache) = (uri.clone(), cache.clone());
        tasks.spawn(async move {
            let options = ConnectOptions::default()
                .auth_options(AuthOptions::default().key_cache(Some(cache)));
            let mut connection = mongodb_auth_io::tokio::connect(uri.as_str(), options)
                .await
                .map_err(|e| e.to_string())?;
            let users = connection
                .authenticated_users()
                .await
                .map_err(|e| e.to_string())?;
            if users != [("loaded".to_owned(), "admin".to_owned())]
                || connection.outcome().mechanism != Some(AuthMechanism::ScramSha256)
            {
                return Err(format!(
                    "unexpected login: {users:?} {:?}",
                    connection.outcome()
                ));
            }
            Ok(())
        });
    }
    let mut errors = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}

/// Waits (bounded) until the server has no connection open.
async fn drained(server: &Server) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.active_connections() > 0 {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_logins() {
    let server = Server::bind("127.0.0.1:0", server_config(256))
        .await
        .unwrap();
    let errors = storm(&server, CLIENTS).await;
    assert!(
        errors.is_empty(),
        "{} of {CLIENTS} logins failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(server.accepted_connections(), CLIENTS as u64);
    assert!(
        drained(&server).await,
        "{} connections still open",
        server.active_connections()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_queues_clients_without_failing_them() {
    let cap = 8;
    let server = Arc::new(
        Server::bind("127.0.0.1:0", server_config(cap))
            .await
            .unwrap(),
    );
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (server, peak) = (server.clone(), peak.clone());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(server.active_connections(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let errors = storm(&server, 50).await;
    watcher.abort();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(
        peak.load(Ordering::Relaxed) <= cap,
        "peak {} above the cap",
        peak.load(Ordering::Relaxed)
    );
    assert!(drained(&server).await);

    // The queue itself: with every slot held by an idle connection, a login waits (it is not
    // refused), and goes on as soon as one slot is given back.
    let mut idle = Vec::new();
    for _ in 0..cap {
        idle.push(
            tokio::net::TcpStream::connect(server.local_addr())
                .await
                .unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.active_connections() < cap {
        assert!(
            Instant::now() < deadline,
            "the idle connections were not served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let queued = {
        let server = server.clone();
        tokio::spawn(async move { storm(&server, 1).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!queued.is_finished(), "a login went past the cap");
    assert_eq!(server.active_connections(), cap);
    idle.pop();
    let errors = tokio::time::timeout(Duration::from_secs(10), queued)
        .await
        .expect("the queued login went on once a slot was free")
        .unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    drop(idle);
    assert!(drained(&server).await);
}

/// A request has `message_timeout` to arrive whole from its first byte, however its bytes come:
/// a client that goes silent after part of a header, and one that keeps sending a byte every
/// 50 ms of a request that would take minutes, are both closed at that deadline (had each byte
/// restarted it, the second would be served for as long as it trickled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_a_request_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = server_config(4);
    config.message_timeout = Duration::from_millis(300);
    let server = Server::bind("127.0.0.1:0", config).await.unwrap();
    for keeps_sending in [false, true] {
        let client = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let (mut reader, mut writer) = client.into_split();
        let started = Instant::now();
        // A whole OP_MSG header announcing 100,000 bytes (within the message size), or the
        // first bytes of one.
        let mut header = Vec::new();
        for field in [100_000i32, 1, 0, 2013] {
            header.extend_from_slice(&field.to_le_bytes());
        }
        let sent = if keeps_sending {
            &header[..]
        } else {
            &header[..4]
        };
        writer.write_all(sent).await.unwrap();
        let trickle = tokio::spawn(async move {
            // 8 s of bytes at most, far past the deadline; ends when the server hangs up.
            for _ in 0..(if keeps_sending { 160 } else { 0 }) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if writer.write_all(&[0]).await.is_err() {
                    break;
                }
            }
            writer
        });
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut byte)).await;
        let took = started.elapsed();
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "the server should close the connection: {closed:?}"
        );
        // At the deadline: not before it (a request refused at once would prove nothing), and
        // not long after it.
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(4),
            "closed after {took:?} (keeps sending: {keeps_sending})"
        );
        drop(trickle.await.unwrap());
    }
    assert!(drained(&server).await);
}

/// PLAIN's key derivations run as jobs, each holding a permit of its peer's share and one of
/// the server's: four PLAIN logins at once from one peer run one derivation at a time when
/// either cap is one, and several at once when neither is (which shows the count sees them).
/// The user's iteration count makes each derivation last long enough to be seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_plain_logins_runs_within_the_job_caps() {
    use mongodb_auth::Secret;
    use mongodb_auth::server::{StoredCredential, User, UserStore};
    const ITERATIONS: u32 = 100_000;
    let password = Secret::new("slowpw");
    let mut user = User::new("$external", "slow", &password, &[], &mut SystemRandom).unwrap();
    user.set(
        StoredCredential::new(
            "slow",
            "$external",
            &password,
            ScramVariant::Sha256,
            ITERATIONS,
            &mut SystemRandom,
        )
        .unwrap(),
    );
    let mut users = UserStore::new();
    users.insert(user);
    for (jobs, jobs_per_peer) in [(8, 1), (1, 8), (8, 8)] {
        let mut config = ServerConfig::new(users.clone());
        (
            config.max_concurrent_jobs,
            config.max_concurrent_jobs_per_peer,
        ) = (jobs, jobs_per_peer);
        let server = Server::bind("127.0.0.1:0", config).await.unwrap();
        let uri = format!(
            "mongodb://slow:slowpw@{}/?authMechanism=PLAIN&authSource=$external",
            server.local_addr()
        );
        let mut logins = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let uri = uri.clone();
            logins.spawn(async move {
                let connection =
                    mongodb_auth_io::tokio::connect(uri.as_str(), ConnectOptions::default())
                        .await
                        .map_err(|e| e.to_string())?;
                Ok::<_, String>(connection.outcome().mechanism)
            });
        }
        let mut peak = 0;
        let mut outcomes = Vec::new();
        while !logins.is_empty() {
            tokio::select! {
                done = logins.join_next() => outcomes.extend(done),
                () = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            peak = peak.max(server.running_jobs());
        }
        let context = format!("max_concurrent_jobs {jobs}, per peer {jobs_per_peer}");
        for outcome in outcomes {
            assert_eq!(
                outcome.unwrap(),
                Ok(Some(AuthMechanism::Plain)),
                "{context}"
            );
        }
        if jobs.min(jobs_per_peer) == 1 {
            assert_eq!(peak, 1, "{context}: one derivation at a time");
        } else {
            assert!(peak >= 2, "{context}: derivations at once, {peak} seen");
        }
        assert!(drained(&server).await, "{context}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_is_refused_from_its_header() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::bind("127.0.0.1:0", server_config(4)).await.unwrap();
    let mut client = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let mut header = Vec::new();
    for field in [40_000_000i32, 1, 0, 2013] {
        header.extend_from_slice(&field.to_le_bytes());
    }
    client.write_all(&header).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), client.read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    assert!(drained(&server).await);
}

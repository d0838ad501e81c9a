//! The official Rust driver (the `mongodb` crate) against the embedded server, in this process:
//! SCRAM-SHA-256 (negotiated) and SCRAM-SHA-1, a wrong password refused, PLAIN on `$external`,
//! MONGODB-X509 over TLS, and MONGODB-OIDC with a machine callback, whose token the server
//! checks against a key made for the test, again after a 391 makes the driver log in again.
//! Each login is then used: an insert, a find, and `connectionStatus`, whose user is the one
//! the server saw log in.
//!
//! The driver is a dev-dependency, built by `cargo test`: it is never missing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;
use mongodb::options::oidc::{Callback, CallbackContext, IdpServerResponse};
use mongodb_auth::ScramVariant;
use mongodb_auth::server::AuthEvent;
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth_io::tls;
use mongodb_auth_server::ServerConfig;
use mongodb_auth_server::devpki::{DevPki, Subject, TokenIssuer};
use mongodb_auth_server::jwks::Jwks;
use mongodb_auth_testkit::TempDir;
use mongodb_auth_testkit::embedded::{TestServer, scram_users};

/// How long the driver looks for a server before it gives up: the embedded one answers at once.
const SELECTION: &str = "serverSelectionTimeoutMS=5000";

/// Connects with `options`, inserts a document into `test.driver` and finds it among the
/// collection's (the embedded server's `find` has no query language), and returns the users
/// `connectionStatus` names, as `(user, db)`.
async fn use_login(options: ClientOptions) -> mongodb::error::Result<Vec<(String, String)>> {
    let client = mongodb::Client::with_options(options)?;
    let collection = client.database("test").collection::<Document>("driver");
    let marker = format!("{:?}", SystemTime::now());
    collection
        .insert_one(doc! { "marker": &marker, "payload": "x".repeat(1000) })
        .await?;
    let mut cursor = collection.find(doc! {}).await?;
    let mut found = false;
    while cursor.advance().await? {
        found |= cursor.current().get_str("marker").ok() == Some(marker.as_str());
    }
    // A live cursor would hold the client's shutdown.
    drop(cursor);
    assert!(found, "the inserted document is found");
    let status = client
        .database("admin")
        .run_command(doc! { "connectionStatus": 1 })
        .await?;
    let users = status
        .get_document("authInfo")
        .and_then(|info| info.get_array("authenticatedUsers"))
        .map_err(|e| mongodb::error::Error::custom(e.to_string()))?
        .iter()
        .filter_map(|user| user.as_document())
        .map(|user| {
            (
                user.get_str("user").unwrap_or_default().to_owned(),
                user.get_str("db").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    client.shutdown().await;
    Ok(users)
}

fn user(name: &str, db: &str) -> Vec<(String, String)> {
    vec![(name.to_owned(), db.to_owned())]
}

/// The logins the server saw: (connection, user, mechanism).
type Logins = Arc<Mutex<Vec<(i32, String, &'static str)>>>;

/// `config`, logging its logins into the list returned.
fn logging_logins(config: ServerConfig) -> (ServerConfig, Logins) {
    let logins = Logins::default();
    let sink = logins.clone();
    let config = config.auth_log(move |event| {
        if let AuthEvent::Authenticated {
            connection_id,
            user,
            mechanism,
            ..
        } = event
        {
            sink.lock()
                .unwrap()
                .push((*connection_id, user.clone(), *mechanism));
        }
    });
    (config, logins)
}

#[test]
fn scram_and_plain_logins_of_the_rust_driver() {
    let (config, logins) = logging_logins(ServerConfig::new(scram_users(&[
        (
            "admin",
            "alice",
            "pencil",
            &[ScramVariant::Sha1, ScramVariant::Sha256],
        ),
        ("$external", "ldap", "ldappw", &[ScramVariant::Sha256]),
    ])));
    let server = TestServer::start(config);
    let address = server.address();
    server.block_on(async {
        for (query, expected) in [
            ("", user("alice", "admin")),
            ("authMechanism=SCRAM-SHA-1&", user("alice", "admin")),
        ] {
            let uri = format!("mongodb://alice:pencil@{address}/?{query}{SELECTION}");
            let options = ClientOptions::parse(&uri).await.unwrap();
            assert_eq!(use_login(options).await.unwrap(), expected, "{uri}");
        }
        let plain = format!(
            "mongodb://ldap:ldappw@{address}/?authMechanism=PLAIN&authSource=%24external&{SELECTION}"
        );
        let options = ClientOptions::parse(&plain).await.unwrap();
        assert_eq!(
            use_login(options).await.unwrap(),
            user("ldap", "$external")
        );

        let wrong = format!("mongodb://alice:pen@{address}/?{SELECTION}");
        let options = ClientOptions::parse(&wrong).await.unwrap();
        let refused = use_login(options).await.unwrap_err();
        assert!(
            matches!(
                *refused.kind,
                mongodb::error::ErrorKind::Authentication { .. }
            ),
            "{refused:?}"
        );
    });
    // alice with no mechanism named negotiated SCRAM-SHA-256, the strongest both have.
    let mut mechanisms: Vec<&str> = logins.lock().unwrap().iter().map(|l| l.2).collect();
    mechanisms.dedup();
    assert_eq!(mechanisms, ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
}

#[test]
fn an_x509_login_of_the_rust_driver_over_tls() {
    let dir = TempDir::new("rust-driver-x509");
    let pki = DevPki::new(&dir).unwrap();
    let (cert, key) = pki.server("server", &["localhost", "127.0.0.1"]).unwrap();
    let client = pki
        .client(
            "client",
            &Subject::new()
                .organization("MongoDB")
                .common_name("rust-driver"),
        )
        .unwrap();
    let subject = "CN=rust-driver,O=MongoDB";
    let mut users = scram_users(&[]);
    users.insert_x509(subject);
    let config = ServerConfig::new(users)
        .tls(tls::server_config(&cert, &key, None, Some(&pki.ca_file())).unwrap());
    let server = TestServer::start(config);
    let port = server.address().port();
    server.block_on(async {
        let uri = format!(
            "mongodb://127.0.0.1:{port}/?authMechanism=MONGODB-X509&tls=true&tlsCAFile={}&tlsCertificateKeyFile={}&{SELECTION}",
            pki.ca_file().display(),
            client.display()
        );
        let options = ClientOptions::parse(&uri).await.unwrap();
        assert_eq!(
            use_login(options).await.unwrap(),
            user(subject, "$external")
        );
    });
}

#[test]
fn an_oidc_login_of_the_rust_driver_and_its_login_again_after_a_391() {
    const AUDIENCE: &str = "rust-driver";
    let issuer = Arc::new(TokenIssuer::generate("https://issuer.test").unwrap());
    let keys = Arc::new(Jwks::from_json(issuer.jwks().as_bytes()).unwrap());
    let (mut config, logins) =
        logging_logins(ServerConfig::new(scram_users(&[])).oidc(OidcSettings::new(
            issuer.issuer(),
            AUDIENCE,
            keys,
        )));
    config.enable_test_commands = true;
    let server = TestServer::start(config);
    let address = server.address();
    let calls = Arc::new(AtomicUsize::new(0));
    server.block_on(async {
        let uri = format!("mongodb://{address}/?authMechanism=MONGODB-OIDC&{SELECTION}");
        let mut options = ClientOptions::parse(&uri).await.unwrap();
        let (tokens, counted) = (issuer.clone(), calls.clone());
        options.credential.as_mut().unwrap().oidc_callback =
            Callback::machine(move |_: CallbackContext| {
                counted.fetch_add(1, Ordering::SeqCst);
                let now = SystemTime::now();
                let token = tokens.issue("workload", AUDIENCE, now, now + Duration::from_secs(600));
                Box::pin(async move {
                    let token = token.map_err(|e| mongodb::error::Error::custom(e.to_string()))?;
                    Ok(IdpServerResponse::builder().access_token(token).build())
                })
            });
        let client = mongodb::Client::with_options(options.clone()).unwrap();
        let admin = client.database("admin");
        // The next find is answered 391, as mongod answers once a token has expired: the
        // driver asks its callback again, logs in again and runs the find once more.
        admin
            .run_command(doc! {
                "configureFailPoint": "failCommand",
                "mode": { "times": 1 },
                "data": { "failCommands": ["find"], "errorCode": 391 },
            })
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let found = client
            .database("test")
            .collection::<Document>("driver")
            .find_one(doc! {})
            .await;
        assert!(found.is_ok(), "{found:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "a new token after the 391");
        // The server saw the same connection log in again, as the same user.
        let seen = logins.lock().unwrap().clone();
        match seen.as_slice() {
            [(first, user, "MONGODB-OIDC"), (again, same, "MONGODB-OIDC")] => {
                assert_eq!((first, user.as_str()), (again, "oidc/workload"));
                assert_eq!(same, "oidc/workload");
            }
            other => panic!("logins: {other:?}"),
        }
        client.shutdown().await;
        assert_eq!(
            use_login(options).await.unwrap(),
            user("oidc/workload", "$external")
        );
    });
}

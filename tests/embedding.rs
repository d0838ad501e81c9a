//! The crate as an async driver with a connection pool holds it: one set of options cloned into
//! every connection of a client, on threads and tasks, and the embedder's own async code (a
//! custom AWS credential provider) awaited where the login runs, with no thread of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mongodb_auth::aws::{CredentialProvider, Credentials};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::aws::{AwsSettings, LocalSts, StsVerifier, user_of_arn};
use mongodb_auth::server::{Session, UserStore};
use mongodb_auth::{
    AuthMechanism, AuthOptions, Authenticator, CallbackOutput, CallbackRequest, ConnectionString,
    Error, Job, JobOutput, Outcome, ScramKeyCache, ScramVariant, Secret, Step,
};
use mongodb_auth_io::{ConnectOptions, blocking};
use mongodb_auth_server::{Server, ServerConfig};
use mongodb_auth_testkit::embedded::{TestServer, scram_users};

const ARN: &str = "arn:aws:iam::123456789012:user/embedder";
const KEY_ID: &str = "AKIAEMBEDDEREXAMPLE";
const SECRET: &str = "embedder-secret-access-key";

/// A server whose local STS knows one key, of the user `ARN`.
fn aws_server() -> TestServer {
    let mut sts = LocalSts::new();
    sts.insert(ARN, KEY_ID, Secret::new(SECRET));
    let mut users = UserStore::new();
    users.insert_aws(ARN);
    TestServer::start(
        ServerConfig::new(users).aws(AwsSettings::new(StsVerifier::Local(Arc::new(sts)))),
    )
}

#[test]
fn an_async_aws_credential_provider_is_awaited_by_the_tokio_adapter() {
    let server = aws_server();
    let calls = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (counted, seen) = (calls.clone(), threads.clone());
    // An async function, as a vault client or an SDK's provider is: it awaits a timer.
    let provider = CredentialProvider::new(move || {
        let (counted, seen) = (counted.clone(), seen.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(std::thread::current().id());
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(Credentials::new(KEY_ID, SECRET, None))
        }
    });
    assert!(!provider.is_blocking());
    // No cache: each login asks the provider, so the count says each one awaited it.
    let options = ConnectOptions::default().auth_options(
        AuthOptions::default()
            .aws_credential_provider(provider)
            .aws_credential_cache(None),
    );
    let uri = server.uri("", "?authMechanism=MONGODB-AWS");
    let cs = ConnectionString::parse(&uri).unwrap();

    // A current-thread runtime: whatever the provider ran on, it was this thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let test_thread = std::thread::current().id();
    let logins = runtime.block_on(async {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (cs, options) = (cs.clone(), options.clone());
                tokio::spawn(async move {
                    let mut connection = mongodb_auth_io::tokio::connect(&cs, options).await?;
                    let users = connection.authenticated_users().await?;
                    Ok::<_, Error>((connection.outcome().mechanism, users))
                })
            })
            .collect();
        let mut logins = Vec::new();
        for task in tasks {
            logins.push(task.await.unwrap().unwrap());
        }
        logins
    });
    for (mechanism, users) in logins {
        assert_eq!(mechanism, Some(AuthMechanism::MongoDbAws));
        assert_eq!(users, [(user_of_arn(ARN), "$external".to_owned())]);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4, "one call per login");
    assert_eq!(
        *threads.lock().unwrap(),
        [test_thread; 4],
        "the provider ran on the login's own thread"
    );

    // The provider's answer is what logs in: other keys are refused by the server.
    let wrong = ConnectOptions::default().auth_options(
        AuthOptions::default()
            .aws_credential_provider(CredentialProvider::new(|| async {
                Ok(Credentials::new(KEY_ID, "not-the-secret", None))
            }))
            .aws_credential_cache(None),
    );
    let refused = runtime
        .block_on(mongodb_auth_io::tokio::connect(&cs, wrong))
        .unwrap_err();
    assert!(
        matches!(refused, Error::Server { code: 18, .. }),
        "{refused}"
    );
}

/// A credentials provider as the AWS SDK for Rust defines one: it answers with the
/// `aws_credential_types` credentials it holds, counting the calls.
#[derive(Debug)]
struct SdkProvider {
    secret: &'static str,
    calls: Arc<AtomicUsize>,
}

impl aws_credential_types::provider::ProvideCredentials for SdkProvider {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let expires = std::time::SystemTime::now() + Duration::from_secs(3600);
        aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
            aws_credential_types::Credentials::new(KEY_ID, self.secret, None, Some(expires), "sdk"),
        ))
    }
}

/// The auth specification's custom provider is the language's AWS SDK provider:
/// `CredentialProvider::from_sdk` takes one, and both adapters log in with what it gives, each
/// login asking it: the crate's cache keeps none of a custom provider's credentials. Its answer
/// is what logs in (another secret is refused), and its failure fails the login with the SDK's
/// reason.
#[test]
fn an_aws_sdk_credential_provider_logs_in_with_both_adapters() {
    let server = aws_server();
    let uri = server.uri("", "?authMechanism=MONGODB-AWS");
    let cs = ConnectionString::parse(&uri).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let sdk = SdkProvider {
        secret: SECRET,
        calls: calls.clone(),
    };
    let cache = Arc::new(mongodb_auth::aws::CredentialCache::new());
    let auth = AuthOptions::default()
        .aws_credential_provider(CredentialProvider::from_sdk(sdk))
        .aws_credential_cache(Some(cache.clone()));
    let options = || ConnectOptions::default().auth_options(auth.clone());
    let mut blocking = blocking::connect(&cs, options()).unwrap();
    let users = blocking.authenticated_users().unwrap();
    assert_eq!(users, [(user_of_arn(ARN), "$external".to_owned())]);
    let users = server.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(&cs, options())
            .await
            .unwrap();
        connection.authenticated_users().await.unwrap()
    });
    assert_eq!(users, [(user_of_arn(ARN), "$external".to_owned())]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "each login asked the provider"
    );
    let now = std::time::SystemTime::now();
    assert!(
        cache.get(now).is_none(),
        "a custom provider's credentials are not cached"
    );

    let wrong = SdkProvider {
        secret: "not-the-secret",
        calls: Arc::new(AtomicUsize::new(0)),
    };
    let wrong = AuthOptions::default()
        .aws_credential_provider(CredentialProvider::from_sdk(wrong))
        .aws_credential_cache(None);
    let refused = blocking::connect(&cs, ConnectOptions::default().auth_options(wrong));
    assert!(
        matches!(refused, Err(Error::Server { code: 18, .. })),
        "{refused:?}"
    );

    #[derive(Debug)]
    struct Failing;
    impl aws_credential_types::provider::ProvideCredentials for Failing {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded("no profile"),
            ))
        }
    }
    let failing = AuthOptions::default()
        .aws_credential_provider(CredentialProvider::from_sdk(Failing))
        .aws_credential_cache(None);
    let failed = blocking::connect(&cs, ConnectOptions::default().auth_options(failing));
    let failed = failed.map(drop).unwrap_err().to_string();
    let says = failed.contains("custom credential provider") && failed.contains("no profile");
    assert!(says, "{failed}");
}

#[test]
fn one_auth_options_cloned_into_blocking_and_tokio_connections_shares_its_key_cache() {
    let server = TestServer::start(ServerConfig::new(scram_users(&[(
        "admin",
        "pooled",
        "pencil",
        &[ScramVariant::Sha256],
    )])));
    let cache = Arc::new(ScramKeyCache::new(4, &mut SystemRandom));
    // What a driver's client holds: built once, cloned into each connection it opens.
    let auth = AuthOptions::default().key_cache(Some(cache.clone()));
    let uri = server.uri("pooled:pencil@", "");
    let cs = ConnectionString::parse(&uri).unwrap();
    let connect_options = || ConnectOptions::default().auth_options(auth.clone());

    // The first login derives the keys...
    let first = blocking::connect(&cs, connect_options()).unwrap();
    assert!(!first.outcome().key_cache_hit);

    // ...and three threads and three tasks, each with its own clone, find them.
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let options = connect_options();
                let cs = &cs;
                scope.spawn(move || blocking::connect(cs, options).map(|c| c.outcome().clone()))
            })
            .collect();
        let tasks = server.block_on(async {
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let (cs, options) = (cs.clone(), connect_options());
                    tokio::spawn(async move {
                        mongodb_auth_io::tokio::connect(&cs, options)
                            .await
                            .map(|c| c.outcome().clone())
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await.unwrap().unwrap());
            }
            outcomes
        });
        threads
            .into_iter()
            .map(|thread| thread.join().unwrap().unwrap())
            .chain(tasks)
            .collect()
    });
    assert_eq!(outcomes.len(), 6);
    for outcome in &outcomes {
        assert_eq!(outcome.mechanism, Some(AuthMechanism::ScramSha256));
        assert!(
            outcome.key_cache_hit,
            "a clone shares the cache: {outcome:?}"
        );
    }
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits), (1, 6), "{stats:?}");
    assert_eq!(server.server().accepted_connections(), 7);
}

/// What a driver moves between threads and tasks. This compiles or the test fails to build.
#[test]
fn what_a_driver_shares_is_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    fn send_value<T: Send + 'static>(_: &T) {}

    // The core: the options a client holds, the machine of a login and all it hands out.
    send_sync::<AuthOptions>();
    send_sync::<ScramKeyCache>();
    send_sync::<mongodb_auth::oidc::OidcClient>();
    send_sync::<mongodb_auth::aws::CredentialCache>();
    send::<Authenticator>();
    send::<Step>();
    send::<Job>();
    send::<JobOutput>();
    send::<CallbackRequest>();
    send::<CallbackOutput>();
    send_sync::<mongodb_auth::ask::Ask>();
    send_sync::<mongodb_auth::ask::Answer>();
    send_sync::<Outcome>();
    send_sync::<Error>();
    // The server side, for a proxy: a session per connection.
    send::<Session>();
    send::<mongodb_auth::server::SessionStep>();
    send::<mongodb_auth::server::Job>();
    send::<mongodb_auth::server::JobOutput>();

    // The adapters: options, connections and the futures that make them.
    send_sync::<ConnectOptions>();
    send::<blocking::Connection>();
    send::<mongodb_auth_io::tokio::Connection>();
    send_sync::<Server>();
    let uri = "mongodb://u:p@127.0.0.1:1/";
    send_value(&mongodb_auth_io::tokio::connect(
        uri,
        ConnectOptions::default(),
    ));
}

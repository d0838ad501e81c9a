//! The MONGODB-OIDC prose tests of the auth spec (`tests/mongodb-oidc.md`) that need no cloud,
//! each named after its number, over sockets against the embedded server with tokens signed at
//! run time; and the `azure` and `gcp` environments against a local stand-in of their metadata
//! endpoints.
//!
//! A "client" of the spec is an `OidcClient` shared by the connections it opens; a "find" is a
//! `find` command on a connection (opening one when the client has none). Callback calls are
//! counted by the callbacks themselves and checked against `OidcClient::callback_calls`.

use mongodb_auth_testkit::embedded::{TestServer, hold_next};
use mongodb_auth_testkit::http;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bson::{RawDocument, rawdoc};
use mongodb_auth::oidc::{CallbackContext, CallbackError, Flow, OidcClient, Token};
use mongodb_auth::server::UserStore;
use mongodb_auth::server::danger::{FailCommand, Misbehavior};
use mongodb_auth::server::oidc::{OidcSettings, TokenRefusal};
use mongodb_auth::{AuthOptions, Command, ConnectionString, CredentialOptions, Error, ErrorKind};
use mongodb_auth_io::blocking;
use mongodb_auth_io::{ConnectOptions, Event};
use mongodb_auth_server::devpki::TokenIssuer;
use mongodb_auth_server::jwks::Jwks;
use mongodb_auth_server::{Server, ServerConfig};

/// The keys of a JWKS document.
fn key_set(document: &str) -> Arc<Jwks> {
    Arc::new(Jwks::from_json(document.as_bytes()).unwrap())
}

const AUDIENCE: &str = "mongodb-oidc-prose";
const USER1: &str = "test_user1@idp1.test";
const USER2: &str = "test_user2@idp2.test";
const MACHINE: &str = "test_machine";

/// Two identity providers (the second one's principals end in `@idp2.test`, the first one has a
/// client id, as a human flow's provider does), and the server that trusts them.
struct Idp {
    embedded: TestServer,
    first: TokenIssuer,
    second: TokenIssuer,
    stranger: TokenIssuer,
}

impl Idp {
    /// One provider (`MONGODB_URI_SINGLE`), or two (`MONGODB_URI_MULTI`).
    fn start(multi: bool) -> Idp {
        Idp::start_with(multi, Some("client-1"))
    }

    fn start_with(multi: bool, client_id: Option<&str>) -> Idp {
        Idp::start_configured(multi, client_id, |config| config)
    }

    /// [`start_with`](Self::start_with), with the server's configuration changed by `configure`.
    fn start_configured(
        multi: bool,
        client_id: Option<&str>,
        configure: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Idp {
        let first = TokenIssuer::generate("https://idp1.test").unwrap();
        let second = TokenIssuer::generate("https://idp2.test").unwrap();
        let stranger = TokenIssuer::generate("https://idp1.test").unwrap();
        let mut one = OidcSettings::new(first.issuer(), AUDIENCE, key_set(&first.jwks()))
            .auth_name_prefix("idp1")
            .request_scopes(["openid"]);
        if multi {
            // With two providers, each serves (and may vouch for) its own principals.
            one = one.principal_suffix("@idp1.test");
        }
        if let Some(id) = client_id {
            one = one.client_id(id);
        }
        let mut config = ServerConfig::new(UserStore::new()).oidc(one);
        if multi {
            let two = OidcSettings::new(second.issuer(), AUDIENCE, key_set(&second.jwks()))
                .auth_name_prefix("idp2")
                .client_id("client-2")
                .principal_suffix("@idp2.test");
            config = config.oidc(two);
        }
        Idp {
            embedded: TestServer::start(configure(config)),
            first,
            second,
            stranger,
        }
    }

    fn server(&self) -> &Server {
        self.embedded.server()
    }

    fn uri(&self, user: Option<&str>) -> String {
        let port = self.server().local_addr().port();
        match user {
            Some(user) => format!(
                "mongodb://{}@127.0.0.1:{port}/?authMechanism=MONGODB-OIDC",
                user.replace('@', "%40")
            ),
            None => format!("mongodb://127.0.0.1:{port}/?authMechanism=MONGODB-OIDC"),
        }
    }

    /// A token of the first provider for `subject`, valid for ten minutes.
    fn token(&self, subject: &str) -> String {
        issue(&self.first, subject)
    }

    /// A token of the second provider.
    fn token2(&self, subject: &str) -> String {
        issue(&self.second, subject)
    }

    /// A token no provider signed (the right issuer name, another key).
    fn bad_token(&self) -> String {
        issue(&self.stranger, USER1)
    }

    fn fail(&self, commands: &[&str], code: i32) {
        self.server()
            .dangerous()
            .misbehave(Some(Misbehavior::FailCommand(FailCommand::new(
                commands.iter().copied(),
                code,
            ))));
    }
}

fn issue(issuer: &TokenIssuer, subject: &str) -> String {
    let now = SystemTime::now();
    issuer
        .issue(subject, AUDIENCE, now, now + Duration::from_secs(600))
        .unwrap()
}

/// A callback that answers with the tokens `next` gives, counting its calls and keeping what it
/// was called with.
struct Callback {
    calls: AtomicUsize,
    contexts: Mutex<Vec<CallbackContext>>,
    next: Box<dyn Fn(usize) -> Result<Token, CallbackError> + Send + Sync>,
}

impl Callback {
    fn new(
        next: impl Fn(usize) -> Result<Token, CallbackError> + Send + Sync + 'static,
    ) -> Arc<Callback> {
        Arc::new(Callback {
            calls: AtomicUsize::new(0),
            contexts: Mutex::new(Vec::new()),
            next: Box::new(next),
        })
    }

    /// Always the same token.
    fn returning(token: String) -> Arc<Callback> {
        Callback::new(move |_| Ok(Token::new(token.as_str())))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn contexts(&self) -> Vec<CallbackContext> {
        self.contexts.lock().unwrap().clone()
    }

    fn as_oidc(self: &Arc<Self>) -> mongodb_auth::oidc::Callback {
        let this = self.clone();
        mongodb_auth::oidc::Callback::blocking(move |context: &CallbackContext| {
            let call = this.calls.fetch_add(1, Ordering::SeqCst);
            this.contexts.lock().unwrap().push(context.clone());
            (this.next)(call)
        })
    }
}

/// A spec "client": the connection string, the shared cache, the commands its connections sent.
struct Client {
    cs: ConnectionString,
    callback: Option<mongodb_auth::oidc::Callback>,
    cache: Arc<OidcClient>,
    sent: Arc<Mutex<Vec<String>>>,
    connection: Option<blocking::Connection>,
}

impl Client {
    fn machine(uri: &str, callback: &Arc<Callback>) -> Client {
        Client::with(
            uri,
            CredentialOptions::new().oidc_callback(Flow::Machine),
            callback,
        )
    }

    fn human(uri: &str, callback: &Arc<Callback>) -> Client {
        Client::with(
            uri,
            CredentialOptions::new().oidc_callback(Flow::Human),
            callback,
        )
    }

    fn with(uri: &str, options: CredentialOptions, callback: &Arc<Callback>) -> Client {
        Client {
            cs: ConnectionString::parse_with_credential_options(uri, options).unwrap(),
            callback: Some(callback.as_oidc()),
            cache: OidcClient::new(),
            sent: Arc::default(),
            connection: None,
        }
    }

    fn options(&self) -> ConnectOptions {
        let sent = self.sent.clone();
        ConnectOptions::default()
            .auth_options(self.auth())
            .observe(move |event| {
                if let Event::Sent { command, .. } = event {
                    sent.lock().unwrap().push((*command).to_owned());
                }
            })
    }

    /// The client's authentication options: its cache, its callback.
    fn auth(&self) -> AuthOptions {
        let auth = AuthOptions::default().oidc_client(self.cache.clone());
        match &self.callback {
            Some(callback) => auth.oidc_callback(callback.clone()),
            None => auth,
        }
    }

    fn connect(&self) -> mongodb_auth::Result<blocking::Connection> {
        blocking::connect(&self.cs, self.options())
    }

    /// Runs `find` (or `insert`), on the client's connection, opening it first if needed. A
    /// failed command drops the connection, as a pool drops one after an error.
    fn run(&mut self, name: &str) -> mongodb_auth::Result<()> {
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => self.connect()?,
        };
        let body = match name {
            "insert" => rawdoc! { "insert": "coll", "documents": [{ "x": 1 }] },
            _ => rawdoc! { "find": "coll", "filter": {} },
        };
        let reply = connection.run_command(&Command::new("test", body.into_bytes()))?;
        mongodb_auth::command::check_reply(&reply)?;
        self.connection = Some(connection);
        Ok(())
    }

    fn find(&mut self) -> mongodb_auth::Result<()> {
        self.run("find")
    }

    fn count_sent(&self, name: &str) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == name)
            .count()
    }
}

/// The error of a connection string whose credential settings break a rule (a configuration
/// error, found before any connection).
fn assert_configuration_error(uri: &str, options: CredentialOptions) {
    let error = ConnectionString::parse_with_credential_options(uri, options).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
}

fn ok(reply: &[u8]) -> f64 {
    RawDocument::from_bytes(reply)
        .unwrap()
        .get_f64("ok")
        .unwrap_or(0.0)
}

fn server_code(error: &Error) -> Option<i32> {
    match error {
        Error::Server { code, .. } => Some(*code),
        _ => None,
    }
}

// --- Machine flow ----------------------------------------------------------------------------

#[test]
fn machine_1_1_callback_is_called_during_authentication() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
    assert_eq!(client.cache.callback_calls(), 1);
}

#[test]
fn machine_1_1_with_the_tokio_adapter() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let client = Client::machine(&idp.uri(None), &callback);
    let users = idp.embedded.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(&client.cs, client.options())
            .await
            .unwrap();
        connection.authenticated_users().await.unwrap()
    });
    assert_eq!(users, [(format!("idp1/{USER1}"), "$external".to_owned())]);
    assert_eq!(callback.calls(), 1);
}

/// The core a driver embeds, under tokio: 16 connections of one client log in at once through
/// an async callback that awaits a timer. The callback runs once, on the login's own thread (no
/// thread is spawned for it: the runtime has only the test's), and a login dropped in the
/// middle of the callback gives its turn to the next connection at once.
#[test]
fn an_async_callback_serves_16_concurrent_tokio_logins_once_and_a_dropped_login_frees_its_turn() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let calls = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (counted, seen) = (calls.clone(), threads.clone());
    let callback = mongodb_auth::oidc::Callback::new(move |_context| {
        let (token, counted, seen) = (token.clone(), counted.clone(), seen.clone());
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            seen.lock().unwrap().push(std::thread::current().id());
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok(Token::new(token.as_str()))
        }
    });
    let cs = ConnectionString::parse_with_credential_options(
        &idp.uri(None),
        CredentialOptions::new().oidc_callback(Flow::Machine),
    )
    .unwrap();
    let cache = OidcClient::new();
    let options = ConnectOptions::default().auth_options(
        AuthOptions::default()
            .oidc_client(cache.clone())
            .oidc_callback(callback),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let test_thread = std::thread::current().id();
    runtime.block_on(async {
        let logins = (0..16).map(|_| {
            let (cs, options) = (cs.clone(), options.clone());
            tokio::spawn(async move {
                let mut connection = mongodb_auth_io::tokio::connect(&cs, options).await?;
                connection.authenticated_users().await
            })
        });
        for login in logins.collect::<Vec<_>>() {
            let users = login.await.unwrap().unwrap();
            assert_eq!(users, [(format!("idp1/{USER1}"), "$external".to_owned())]);
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one call for 16 logins");
    assert_eq!(
        *threads.lock().unwrap(),
        [test_thread],
        "the callback ran on the login's thread"
    );

    // A callback that would take a minute: its login is dropped while it runs.
    let hang = Arc::new(AtomicUsize::new(0));
    let hung = hang.clone();
    let quick_token = idp.token(USER1);
    let slow_then_quick = mongodb_auth::oidc::Callback::new(move |_context| {
        let first = hung.fetch_add(1, Ordering::SeqCst) == 0;
        let token = quick_token.clone();
        async move {
            if first {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok(Token::new(token.as_str()))
        }
    });
    let fresh = OidcClient::new();
    let options = ConnectOptions::default().auth_options(
        AuthOptions::default()
            .oidc_client(fresh.clone())
            .oidc_callback(slow_then_quick),
    );
    runtime.block_on(async {
        let dropped = tokio::spawn({
            let (cs, options) = (cs.clone(), options.clone());
            async move { mongodb_auth_io::tokio::connect(&cs, options).await }
        });
        while hang.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        dropped.abort();
        let started = std::time::Instant::now();
        let next = tokio::time::timeout(
            Duration::from_secs(5),
            mongodb_auth_io::tokio::connect(&cs, options.clone()),
        )
        .await
        .expect("the next login gets the turn at once")
        .unwrap();
        assert_eq!(
            next.outcome().mechanism,
            Some(mongodb_auth::AuthMechanism::MongoDbOidc)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    });
    assert_eq!(
        hang.load(Ordering::SeqCst),
        2,
        "the dropped call, then the next one"
    );
    assert_eq!(fresh.callback_calls(), 2);
}

/// Rule L16 for a driver that embeds the core: clones of one `AuthOptions` given no cache share
/// the one it made, so two logins, each its own authenticator on its own stream, call the
/// callback once.
#[test]
fn clones_of_one_auth_options_share_its_client_cache() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let cs = ConnectionString::parse_with_credential_options(
        &idp.uri(None),
        CredentialOptions::new().oidc_callback(Flow::Machine),
    )
    .unwrap();
    let auth = AuthOptions::default().oidc_callback(callback.as_oidc());
    for _ in 0..2 {
        let mut stream = std::net::TcpStream::connect(idp.embedded.address()).unwrap();
        let options = ConnectOptions::default().auth_options(auth.clone());
        blocking::authenticate(&mut stream, cs.credential(), options).unwrap();
    }
    assert_eq!(callback.calls(), 1, "one call for two logins");
}

/// Rule L12: with `timeoutMS` in the connection string, the machine callback gets no more than
/// it (and the connect timeout); without it, one minute.
#[test]
fn a_client_side_operation_timeout_shortens_the_machine_callback() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let callback = Callback::new(move |_| {
        std::thread::sleep(Duration::from_secs(3));
        Ok(Token::new(token.as_str()))
    });
    let cs = ConnectionString::parse_with_credential_options(
        &format!("{}&timeoutMS=300", idp.uri(None)),
        CredentialOptions::new().oidc_callback(Flow::Machine),
    )
    .unwrap();
    let options = ConnectOptions::default()
        .auth_options(AuthOptions::default().oidc_callback(callback.as_oidc()));
    let error = blocking::connect(&cs, options).expect_err("the callback outlives timeoutMS");
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
    let told: Vec<Duration> = callback.contexts().iter().map(|c| c.timeout).collect();
    assert!(
        !told.is_empty() && told.iter().all(|t| *t <= Duration::from_millis(300)),
        "the callback was told {told:?}"
    );
}

/// As mongod answers once a MONGODB-OIDC login's token has expired: `ReauthenticationRequired`
/// (391) to a command that needs the login, until the client logs in again; the handshake and
/// `ping` still answer. Another user's login (X.509 here) leaves the token's end as it was; the
/// token's user logging in again moves it. Driven through the session itself, at chosen times.
#[test]
fn an_expired_token_makes_the_server_ask_for_a_new_login() {
    use mongodb_auth::server::{Session, SessionConfig, SessionStep};
    let issuer = TokenIssuer::generate("https://idp1.test").unwrap();
    let mut users = UserStore::new();
    users.insert_x509("CN=client");
    let mut config = SessionConfig::new(users);
    config.oidc.push(
        OidcSettings::new(issuer.issuer(), AUDIENCE, key_set(&issuer.jwks()))
            .auth_name_prefix("idp1"),
    );
    let mut session = Session::new(Arc::new(config), 1);
    session.set_client_certificate_subject(Some("CN=client".to_owned()));
    let start = SystemTime::now();
    let at = |seconds: u64| start + Duration::from_secs(seconds);
    let mut run = |command: bson::RawDocumentBuf, now: SystemTime| -> (f64, Option<i32>) {
        let SessionStep::Reply(reply) = session.handle_op_msg(command.as_bytes(), now) else {
            panic!("a reply");
        };
        let reply = RawDocument::from_bytes(&reply).unwrap();
        (reply.get_f64("ok").unwrap(), reply.get_i32("code").ok())
    };
    let login = |expires: u64| {
        let token = issuer.issue(USER1, AUDIENCE, start, at(expires)).unwrap();
        let payload = rawdoc! { "jwt": token }.into_bytes();
        rawdoc! {
            "saslStart": 1,
            "mechanism": "MONGODB-OIDC",
            "payload": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: payload },
            "$db": "$external",
        }
    };
    let find = || rawdoc! { "find": "coll", "$db": "test" };
    let ping = || rawdoc! { "ping": 1, "$db": "admin" };
    assert_eq!(run(login(60), at(0)), (1.0, None));
    assert_eq!(run(find(), at(30)), (1.0, None));
    assert_eq!(run(find(), at(60)), (0.0, Some(391)), "expired at `exp`");
    assert_eq!(run(ping(), at(61)), (1.0, None));
    assert_eq!(run(login(120), at(61)), (1.0, None), "a new token");
    assert_eq!(run(find(), at(62)), (1.0, None));
    assert_eq!(run(find(), at(121)), (0.0, Some(391)));
    assert_eq!(run(login(180), at(122)), (1.0, None));
    let x509 = rawdoc! { "authenticate": 1, "mechanism": "MONGODB-X509", "$db": "$external" };
    assert_eq!(run(x509, at(123)), (1.0, None));
    assert_eq!(run(find(), at(150)), (1.0, None));
    assert_eq!(
        run(find(), at(180)),
        (0.0, Some(391)),
        "another user's login does not end the token's deadline"
    );
    assert_eq!(
        run(login(300), at(181)),
        (1.0, None),
        "the token's user again"
    );
    assert_eq!(run(find(), at(250)), (1.0, None));
}

/// The spec's speculative rule (E7): a `speculativeAuthenticate` reply that is not done is a
/// login that did not happen, not an error: the normal login follows, with the cached token
/// (rule E8), and no second callback call.
#[test]
fn a_speculative_reply_that_is_not_done_is_followed_by_the_normal_login() {
    use mongodb_auth::{Authenticator, Step};
    let issuer = TokenIssuer::generate("https://idp1.test").unwrap();
    let now = SystemTime::now();
    let token = issuer
        .issue(USER1, AUDIENCE, now, now + Duration::from_secs(3600))
        .unwrap();
    let callback = Callback::returning(token.clone());
    let cs = ConnectionString::parse_with_credential_options(
        "mongodb://localhost/?authMechanism=MONGODB-OIDC",
        CredentialOptions::new().oidc_callback(Flow::Machine),
    )
    .unwrap();
    let credential = cs.credential().unwrap().clone();
    let options = AuthOptions::default().oidc_callback(callback.as_oidc());
    let empty = bson::Binary {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes: Vec::new(),
    };
    let done = rawdoc! { "conversationId": 1, "done": true, "payload": empty.clone(), "ok": 1.0 };
    let jwt_of = |command: &Command| {
        let body = RawDocument::from_bytes(command.body()).unwrap();
        let payload = body.get_binary("payload").unwrap().bytes;
        let payload = RawDocument::from_bytes(payload).unwrap();
        payload.get_str("jwt").unwrap().to_owned()
    };

    // A first login fills the client cache.
    let mut auth = Authenticator::new(&credential, options.clone()).unwrap();
    let fields = auth.hello_fields().unwrap();
    assert!(RawDocument::from_bytes(&fields).unwrap().is_empty());
    let step = auth
        .handle_hello_reply(rawdoc! { "ok": 1.0 }.as_bytes())
        .unwrap();
    let Step::Callback(request) = step else {
        panic!("expected the callback, got {step:?}")
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let output = runtime.block_on(request.run(&mongodb_auth_io::tokio::Runtime::default()));
    let Step::Send(start) = auth.handle_callback(output).unwrap() else {
        panic!("expected saslStart")
    };
    assert_eq!(jwt_of(&start), token);
    assert!(matches!(
        auth.handle_reply(done.as_bytes()).unwrap(),
        Step::Done(_)
    ));

    // The next one speculates with the cached token; the server's reply is not done.
    let mut auth = Authenticator::new(&credential, options).unwrap();
    let fields = auth.hello_fields().unwrap();
    let fields = RawDocument::from_bytes(&fields).unwrap();
    assert!(fields.get_document("speculativeAuthenticate").is_ok());
    let reply = rawdoc! {
        "ok": 1.0,
        "speculativeAuthenticate": { "conversationId": 7, "done": false, "payload": empty },
    };
    let step = auth.handle_hello_reply(reply.as_bytes()).unwrap();
    let Step::Send(start) = step else {
        panic!("expected the normal login, got {step:?}")
    };
    assert_eq!(start.name(), "saslStart");
    assert_eq!(jwt_of(&start), token, "the cached token, tried again");
    let Step::Done(outcome) = auth.handle_reply(done.as_bytes()).unwrap() else {
        panic!("expected done")
    };
    assert!(!outcome.speculative);
    assert_eq!(outcome.round_trips, 1);
    assert_eq!(callback.calls(), 1);
}

#[test]
fn machine_1_2_callback_is_called_once_for_multiple_connections() {
    let idp = Idp::start(false);
    // A slow callback, so every connection asks for a token before the first one is cached:
    // the others wait their turn and take the cached token.
    let token = idp.token(USER1);
    let callback = Callback::new(move |_| {
        std::thread::sleep(Duration::from_millis(300));
        Ok(Token::new(token.as_str()))
    });
    let client = Client::machine(&idp.uri(None), &callback);
    let (cs, auth) = (&client.cs, client.auth());
    std::thread::scope(|scope| {
        for _ in 0..10 {
            scope.spawn(|| {
                let options = ConnectOptions::default().auth_options(auth.clone());
                let mut connection = blocking::connect(cs, options).unwrap();
                for _ in 0..100 {
                    let reply = connection
                        .run_command(&Command::new(
                            "test",
                            rawdoc! { "find": "coll" }.into_bytes(),
                        ))
                        .unwrap();
                    assert_eq!(ok(&reply), 1.0);
                }
            });
        }
    });
    assert_eq!(callback.calls(), 1);
}

#[test]
fn machine_2_1_valid_callback_inputs() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    let before = SystemTime::now();
    client.find().unwrap();
    let contexts = callback.contexts();
    assert_eq!(contexts.len(), 1);
    let context = &contexts[0];
    assert_eq!(context.version, 1);
    assert_eq!(context.timeout, Duration::from_secs(60));
    assert!(context.deadline >= before + Duration::from_secs(59));
    assert_eq!(context.username, None);
    assert!(context.idp_info.is_none() && context.refresh_token.is_none());
}

#[test]
fn machine_2_2_oidc_callback_returns_null() {
    let idp = Idp::start(false);
    // A Rust callback cannot return null: it returns an error.
    let callback = Callback::new(|_| Err("no token today".into()));
    let mut client = Client::machine(&idp.uri(None), &callback);
    let error = client.find().unwrap_err();
    assert!(matches!(error, Error::Oidc { .. }), "{error}");
    assert!(error.to_string().contains("no token today"));
}

#[test]
fn machine_2_3_oidc_callback_returns_missing_data() {
    let idp = Idp::start(false);
    let callback = Callback::new(|_| Ok(Token::new("")));
    let mut client = Client::machine(&idp.uri(None), &callback);
    let error = client.find().unwrap_err();
    assert!(matches!(error, Error::Oidc { .. }), "{error}");
}

#[test]
fn machine_2_4_invalid_client_configuration_with_callback() {
    assert_configuration_error(
        "mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test",
        CredentialOptions::new().oidc_callback(Flow::Machine),
    );
}

#[test]
fn machine_2_5_invalid_use_of_allowed_hosts() {
    assert_configuration_error(
        "mongodb://localhost/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:api",
        CredentialOptions::new().oidc_allowed_hosts(Vec::<String>::new()),
    );
}

#[test]
fn machine_3_1_authentication_failure_with_cached_tokens_fetch_a_new_token_and_retry() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    client.cache.seed(Token::new(idp.bad_token()));
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
}

#[test]
fn machine_3_2_authentication_failures_without_cached_tokens_return_an_error() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.bad_token());
    let mut client = Client::machine(&idp.uri(None), &callback);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
    assert_eq!(callback.calls(), 1);
}

#[test]
fn machine_3_3_unexpected_error_code_does_not_clear_the_cache() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    idp.fail(&["saslStart"], 20);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(20), "{error}");
    assert_eq!(callback.calls(), 1);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
}

#[test]
fn machine_4_1_reauthentication_succeeds() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    client.connection = Some(client.connect().unwrap());
    idp.fail(&["find"], 391);
    client.find().unwrap();
    assert_eq!(callback.calls(), 2);
    assert_eq!(client.connection.as_ref().unwrap().reauthentications(), 1);
}

#[test]
fn machine_4_1_with_the_tokio_adapter() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let client = Client::machine(&idp.uri(None), &callback);
    idp.embedded.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(&client.cs, client.options())
            .await
            .unwrap();
        idp.fail(&["find"], 391);
        let reply = connection
            .run_command(&Command::new("test", rawdoc! { "find": "c" }.into_bytes()))
            .await
            .unwrap();
        assert_eq!(ok(&reply), 1.0);
        assert_eq!(connection.reauthentications(), 1);
    });
    assert_eq!(callback.calls(), 2);
}

/// A good token on the first call, bad ones after.
fn good_then_bad(idp: &Idp) -> Arc<Callback> {
    let (good, bad) = (idp.token(USER1), idp.bad_token());
    Callback::new(move |call| {
        Ok(Token::new(if call == 0 {
            good.as_str()
        } else {
            bad.as_str()
        }))
    })
}

#[test]
fn machine_4_2_read_commands_fail_if_reauthentication_fails() {
    let idp = Idp::start(false);
    let callback = good_then_bad(&idp);
    let mut client = Client::machine(&idp.uri(None), &callback);
    client.find().unwrap();
    idp.fail(&["find"], 391);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
    assert_eq!(callback.calls(), 2);
}

#[test]
fn machine_4_3_write_commands_fail_if_reauthentication_fails() {
    let idp = Idp::start(false);
    let callback = good_then_bad(&idp);
    let mut client = Client::machine(&idp.uri(None), &callback);
    client.run("insert").unwrap();
    idp.fail(&["insert"], 391);
    let error = client.run("insert").unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
    assert_eq!(callback.calls(), 2);
}

#[test]
fn machine_4_4_speculative_authentication_should_be_ignored_on_reauthentication() {
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    client.cache.seed(Token::new(idp.token(USER1)));
    client.run("insert").unwrap();
    assert_eq!(callback.calls(), 0);
    assert_eq!(client.count_sent("saslStart"), 0);
    assert!(client.connection.as_ref().unwrap().outcome().speculative);
    idp.fail(&["insert"], 391);
    client.run("insert").unwrap();
    assert_eq!(callback.calls(), 1);
    assert!(client.count_sent("saslStart") > 0);
}

#[test]
fn a_provider_vouches_only_for_its_own_principals() {
    let idp = Idp::start(true);
    // The second provider signs a token for a principal of the first.
    let callback = Callback::returning(idp.token2(USER1));
    let mut client = Client::machine(&idp.uri(None), &callback);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
}

/// mongod's authNamePrefix: a principal logs in as `<prefix>/<principal>`, so a token whose
/// subject is an X.509 subject is not that X.509 user, and no provider logs in another's users;
/// providers that share a prefix do not start.
#[test]
fn each_provider_names_its_users_under_a_prefix_of_its_own() {
    let idp = Idp::start(false);
    let subject = "CN=client,OU=Drivers,O=MongoDB,C=IS";
    let callback = Callback::returning(idp.token(subject));
    let client = Client::machine(&idp.uri(None), &callback);
    let mut connection = client.connect().unwrap();
    let users = connection.authenticated_users().unwrap();
    assert_eq!(users, [(format!("idp1/{subject}"), "$external".to_owned())]);

    let issuer = TokenIssuer::generate("https://idp.test").unwrap();
    let keys = key_set(&issuer.jwks());
    let twins = ServerConfig::new(UserStore::new())
        .oidc(OidcSettings::new("https://a.test", AUDIENCE, keys.clone()))
        .oidc(OidcSettings::new("https://b.test", AUDIENCE, keys));
    let runtime = mongodb_auth_testkit::embedded::runtime();
    let refused = runtime
        .block_on(Server::bind("127.0.0.1:0", twins))
        .map(|_| ())
        .unwrap_err();
    assert!(refused.to_string().contains("authNamePrefix"), "{refused}");
}

#[test]
fn keys_published_for_another_use_or_algorithm_verify_nothing() {
    let issuer = TokenIssuer::generate("https://idp.test").unwrap();
    let token = issue(&issuer, USER1);
    let now = SystemTime::now();
    let jwks = issuer.jwks();
    let good = OidcSettings::new("https://idp.test", AUDIENCE, key_set(&jwks));
    assert_eq!(good.verify(&token, now), Ok(format!("oidc/{USER1}")));
    for (from, to, reason) in [
        (r#""use":"sig""#, r#""use":"enc""#, "not for signatures"),
        (r#""alg":"ES256""#, r#""alg":"ES384""#, "ES384"),
    ] {
        assert!(jwks.contains(from), "{jwks}");
        let changed = jwks.replace(from, to);
        let settings = OidcSettings::new("https://idp.test", AUDIENCE, key_set(&changed));
        let refusal = settings.verify(&token, now).unwrap_err();
        assert!(
            matches!(&refusal, TokenRefusal::Signature(why) if why.contains(reason)),
            "{refusal}"
        );
    }
}

/// Rule L12 over sockets: a callback that outlives its timeout fails the login with a timeout,
/// and a second login of the same client, which must wait its turn behind the hung call, times
/// out too instead of waiting for ever.
#[test]
fn a_callback_that_outlives_its_timeout_fails_the_login_and_the_next_one_waits_no_longer() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let callback = Callback::new(move |_| {
        std::thread::sleep(Duration::from_secs(3));
        Ok(Token::new(token.as_str()))
    });
    let client = Client::machine(&idp.uri(None), &callback);
    let options = || {
        ConnectOptions::default().auth_options(
            client
                .auth()
                .oidc_machine_timeout(Duration::from_millis(300)),
        )
    };
    for attempt in ["the hung call", "a call behind it"] {
        let started = std::time::Instant::now();
        let error = blocking::connect(&client.cs, options()).unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{attempt}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{attempt}: {:?}",
            started.elapsed()
        );
    }
    assert_eq!(
        callback.calls(),
        1,
        "the second login never reached the callback"
    );
    assert_eq!(callback.contexts()[0].timeout, Duration::from_millis(300));
}

/// `Duration::MAX` as "no timeout" for the machine callback: a century, with a deadline the clock
/// can hold, through both adapters; and the same for the HTTP exchange of a built-in
/// environment, which gets the callback's time (rule L8).
#[test]
fn a_machine_timeout_of_duration_max_is_a_century_not_a_panic() {
    use mongodb_auth::environment::LONGEST_WAIT;
    let idp = Idp::start(false);
    let callback = Callback::returning(idp.token(USER1));
    let client = Client::machine(&idp.uri(None), &callback);
    let options = || {
        ConnectOptions::default().auth_options(client.auth().oidc_machine_timeout(Duration::MAX))
    };
    let before = SystemTime::now();
    let mut blocking = blocking::connect(&client.cs, options()).unwrap();
    let expected = [(format!("idp1/{USER1}"), "$external".to_owned())];
    assert_eq!(blocking.authenticated_users().unwrap(), expected);
    let context = &callback.contexts()[0];
    assert_eq!(context.timeout, LONGEST_WAIT);
    assert!(
        context.deadline >= before + LONGEST_WAIT,
        "{:?}",
        context.deadline
    );
    // A fresh client, so the tokio login calls the callback again rather than using the cache.
    let fresh = Client::machine(&idp.uri(None), &callback);
    let users = idp.embedded.block_on(async {
        let options = ConnectOptions::default()
            .auth_options(fresh.auth().oidc_machine_timeout(Duration::MAX));
        let mut connection = mongodb_auth_io::tokio::connect(&fresh.cs, options)
            .await
            .unwrap();
        connection.authenticated_users().await.unwrap()
    });
    assert_eq!(users, expected);
    assert_eq!(callback.calls(), 2);

    let token = idp.token(USER1);
    let (server, _) = metadata_server(move |_| {
        (
            200,
            format!(r#"{{"access_token":"{token}","expires_in":"3599"}}"#),
        )
    });
    let mut azure = environment_login_with(
        &idp,
        "ENVIRONMENT:azure,TOKEN_RESOURCE:r",
        None,
        &format!("http://{}", server.address),
        AuthOptions::default().oidc_machine_timeout(Duration::MAX),
    )
    .unwrap();
    assert_eq!(azure.authenticated_users().unwrap(), expected);
}

// --- Human flow ------------------------------------------------------------------------------

/// A human callback returning a good access token for `user` and a refresh token.
fn human_callback(idp: &Idp, user: &str) -> Arc<Callback> {
    let token = idp.token(user);
    Callback::new(move |call| {
        Ok(Token::new(token.as_str()).with_refresh_token(format!("refresh-{call}")))
    })
}

#[test]
fn human_1_1_single_principal_implicit_username() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
    // The two-step conversation: a principal step, then the token.
    assert_eq!(client.count_sent("saslStart"), 1);
    assert_eq!(client.count_sent("saslContinue"), 1);
}

/// The auth specification gives the human callback five minutes, outside the client-side
/// operations timeout: with `timeoutMS=1000` in the connection string, a person who takes 1.5 s
/// still logs in, with both adapters, and the callback is told five minutes. The time the
/// person took is given back, not more: when the server then holds its reply 1.5 s, longer than
/// what `timeoutMS` had left before the callback, the login times out. (The machine callback
/// stays within `timeoutMS`: `a_client_side_operation_timeout_shortens_the_machine_callback`.)
#[test]
fn the_human_callback_is_outside_the_client_side_operation_timeout() {
    use std::sync::mpsc;
    const PERSON: Duration = Duration::from_millis(1500);
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let slow_person = Callback::new(move |_| {
        std::thread::sleep(PERSON);
        Ok(Token::new(token.as_str()))
    });
    let uri = format!("{}&timeoutMS=1000", idp.uri(None));
    let client = Client::human(&uri, &slow_person);
    let blocking_users = client.connect().unwrap().authenticated_users().unwrap();
    let client = Client::human(&uri, &slow_person);
    let tokio_users = idp.embedded.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(&client.cs, client.options())
            .await
            .unwrap();
        connection.authenticated_users().await.unwrap()
    });
    let user = [(format!("idp1/{USER1}"), "$external".to_owned())];
    assert_eq!(
        (blocking_users, tokio_users),
        (user.to_vec(), user.to_vec())
    );
    let told: Vec<Duration> = slow_person.contexts().iter().map(|c| c.timeout).collect();
    assert_eq!(told, [Duration::from_secs(300); 2]);

    // A command answered with a 391 waits for the person again, and is run again once the
    // person is done: the person's time is given back to the command's `timeoutMS` too.
    let reauthenticate = || {
        let once = FailCommand::new(["connectionStatus"], 391);
        let misbehavior = Some(Misbehavior::FailCommand(once));
        idp.embedded.server().dangerous().misbehave(misbehavior);
    };
    let client = Client::human(&uri, &slow_person);
    let mut connection = client.connect().unwrap();
    reauthenticate();
    let blocking_users = connection.authenticated_users();
    assert_eq!(connection.reauthentications(), 1);
    let client = Client::human(&uri, &slow_person);
    let tokio_users = idp.embedded.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(&client.cs, client.options())
            .await
            .unwrap();
        reauthenticate();
        let users = connection.authenticated_users().await;
        assert_eq!(connection.reauthentications(), 1);
        users
    });
    assert_eq!(
        (blocking_users.unwrap(), tokio_users.unwrap()),
        (user.to_vec(), user.to_vec())
    );
    // The person was asked again for each re-authentication (after each connect).
    assert_eq!(slow_person.contexts().len(), 6);

    // The person has the server hold its next reply (the `saslContinue` that carries the
    // token), through the test's thread, which arms the fail point.
    let (arm, armed) = (mpsc::channel::<()>(), mpsc::channel::<()>());
    let (ask_to_arm, wait_for_arm) = (arm.0, Mutex::new(armed.1));
    let token = idp.token(USER1);
    let person_then_slow_server = Callback::new(move |_| {
        ask_to_arm.send(()).unwrap();
        wait_for_arm.lock().unwrap().recv().unwrap();
        std::thread::sleep(PERSON);
        Ok(Token::new(token.as_str()))
    });
    let client = Client::human(&uri, &person_then_slow_server);
    let error = std::thread::scope(|scope| {
        let login = scope.spawn(move || client.connect().map(drop));
        arm.1.recv().unwrap();
        hold_next(idp.embedded.server(), "saslContinue", PERSON);
        armed.0.send(()).unwrap();
        login.join().unwrap().unwrap_err()
    });
    idp.embedded.server().dangerous().misbehave(None);
    assert_eq!(error.kind(), ErrorKind::Timeout, "{error}");
}

/// A person takes longer than the login deadline and the idle timeout before a login (a device
/// code, MFA): once the server has named its provider, the login has the human login's deadline
/// instead, silent as it is.
#[test]
fn a_person_may_take_longer_than_the_login_deadline() {
    // A login whose person takes 1.5 s, against a server with a 300 ms login deadline and this
    // human login deadline (and idle timeout before a login).
    let slow_person_login = |human_login_timeout: Duration, idle: Duration| {
        let idp = Idp::start_configured(false, Some("client-1"), |mut config| {
            config.login_timeout = Duration::from_millis(300);
            config.unauthenticated_idle_timeout = idle;
            config.human_login_timeout = human_login_timeout;
            config
        });
        let token = idp.token(USER1);
        let callback = Callback::new(move |_| {
            std::thread::sleep(Duration::from_millis(1500));
            Ok(Token::new(token.as_str()))
        });
        let mut client = Client::human(&idp.uri(None), &callback);
        let found = client.find();
        (found, callback, client)
    };
    let (found, callback, client) =
        slow_person_login(Duration::from_secs(30), Duration::from_millis(500));
    found.unwrap();
    assert_eq!(callback.calls(), 1);
    assert_eq!(client.count_sent("saslContinue"), 1);

    // A login that waits for nobody still ends at the login deadline.
    let (found, _, _) = slow_person_login(Duration::from_millis(300), Duration::from_secs(60));
    let error = found.expect_err("closed while the person was busy");
    assert_eq!(error.kind(), ErrorKind::Io, "{error}");
}

/// The same once logged in: a login again whose server has named its provider, and waits for
/// the person, may be as silent as a first one, whatever `idle_timeout` says.
#[test]
fn a_person_logging_in_again_may_be_silent_longer_than_the_idle_timeout() {
    let idp = Idp::start_configured(false, Some("client-1"), |mut config| {
        config.idle_timeout = Duration::from_millis(300);
        config.human_login_timeout = Duration::from_secs(30);
        config
    });
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    let connection = client.connection.as_mut().unwrap();
    // The principal step of a login again: the server names its provider, then waits.
    let mut start = rawdoc! { "saslStart": 1, "mechanism": "MONGODB-OIDC" };
    start.append(
        bson::raw::cstr!("payload"),
        bson::RawBinaryRef {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: rawdoc! { "n": USER1 }.as_bytes(),
        },
    );
    let named = connection
        .run_command(&Command::new("$external", start.into_bytes()))
        .unwrap();
    let named = RawDocument::from_bytes(&named).unwrap();
    assert_eq!(named.get_bool("done").ok(), Some(false), "{named:?}");
    // The person takes longer than the idle timeout.
    std::thread::sleep(Duration::from_millis(1000));
    let ping = Command::new("admin", rawdoc! { "ping": 1 }.into_bytes());
    connection
        .run_command(&ping)
        .expect("closed while the person was busy");
}

#[test]
fn human_1_2_single_principal_explicit_username() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(Some(USER1)), &callback);
    client.find().unwrap();
    assert_eq!(callback.contexts()[0].username.as_deref(), Some(USER1));
}

#[test]
fn human_1_3_multiple_principal_user_1() {
    let idp = Idp::start(true);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(Some(USER1)), &callback);
    client.find().unwrap();
    let info = callback.contexts()[0].idp_info.clone().unwrap();
    assert_eq!(info.issuer, "https://idp1.test");
}

#[test]
fn human_1_4_multiple_principal_user_2() {
    let idp = Idp::start(true);
    let token = idp.token2(USER2);
    let callback = Callback::new(move |_| Ok(Token::new(token.as_str())));
    let mut client = Client::human(&idp.uri(Some(USER2)), &callback);
    client.find().unwrap();
    let info = callback.contexts()[0].idp_info.clone().unwrap();
    assert_eq!(
        (info.issuer.as_str(), info.client_id.as_deref()),
        ("https://idp2.test", Some("client-2"))
    );
}

#[test]
fn human_1_5_multiple_principal_no_user() {
    let idp = Idp::start(true);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
    assert_eq!(callback.calls(), 0);
}

#[test]
fn human_1_6_allowed_hosts_blocked() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::with(
        &idp.uri(None),
        CredentialOptions::new()
            .oidc_callback(Flow::Human)
            .oidc_allowed_hosts(Vec::<String>::new()),
        &callback,
    );
    let error = client.find().unwrap_err();
    assert!(matches!(error, Error::Oidc { .. }), "{error}");
    assert_eq!(client.sent.lock().unwrap().len(), 1, "only hello was sent");
    // The host is matched, not a substring of the URI.
    let port = idp.server().local_addr().port();
    let mut client = Client::with(
        &format!("mongodb://localhost:{port}/?authMechanism=MONGODB-OIDC&ignored=example.com"),
        CredentialOptions::new()
            .oidc_callback(Flow::Human)
            .oidc_allowed_hosts(["example.com"]),
        &callback,
    );
    let error = client.find().unwrap_err();
    assert!(matches!(error, Error::Oidc { .. }), "{error}");
    assert_eq!(callback.calls(), 0);
}

#[test]
fn human_1_7_allowed_hosts_in_connection_string_ignored() {
    assert_configuration_error(
        "mongodb+srv://example.com/?authMechanism=MONGODB-OIDC&authMechanismProperties=ALLOWED_HOSTS:%5B%22example.com%22%5D",
        CredentialOptions::new().oidc_callback(Flow::Human),
    );
}

#[test]
fn human_1_8_machine_idp_with_human_callback() {
    let idp = Idp::start_with(false, None);
    let callback = human_callback(&idp, MACHINE);
    let mut client = Client::human(&idp.uri(Some(MACHINE)), &callback);
    client.find().unwrap();
    let info = callback.contexts()[0].idp_info.clone().unwrap();
    assert_eq!(info.client_id, None);
}

#[test]
fn human_2_1_valid_callback_inputs() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    let context = callback.contexts()[0].clone();
    assert_eq!(context.version, 1);
    assert_eq!(context.timeout, Duration::from_secs(300));
    let info = context.idp_info.unwrap();
    assert_eq!(info.issuer, "https://idp1.test");
    assert_eq!(info.client_id.as_deref(), Some("client-1"));
    assert_eq!(info.request_scopes, ["openid"]);
    assert!(context.refresh_token.is_none());
}

#[test]
fn human_2_2_human_callback_returns_missing_data() {
    let idp = Idp::start(false);
    let callback = Callback::new(|_| Ok(Token::new("")));
    let mut client = Client::human(&idp.uri(None), &callback);
    let error = client.find().unwrap_err();
    assert!(matches!(error, Error::Oidc { .. }), "{error}");
}

#[test]
fn human_2_3_refresh_token_is_passed_to_the_callback() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    idp.fail(&["find"], 391);
    client.find().unwrap();
    assert_eq!(callback.calls(), 2);
    let refresh: Vec<_> = callback
        .contexts()
        .iter()
        .map(|c| c.refresh_token.as_ref().map(|t| t.expose().to_owned()))
        .collect();
    assert_eq!(refresh, [None, Some("refresh-0".to_owned())]);
}

#[test]
fn human_3_1_uses_speculative_authentication_if_there_is_a_cached_token() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    // The spec closes the connection with a fail point; the client drops it here.
    client.connection = None;
    idp.fail(&["saslStart"], 18);
    client.find().unwrap();
    assert!(client.connection.as_ref().unwrap().outcome().speculative);
    assert_eq!(callback.calls(), 1);
}

#[test]
fn human_3_2_does_not_use_speculative_authentication_if_there_is_no_cached_token() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    idp.fail(&["saslStart"], 18);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
}

#[test]
fn human_4_1_succeeds() {
    let idp = Idp::start(false);
    let callback = human_callback(&idp, USER1);
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
    client.sent.lock().unwrap().clear();
    idp.fail(&["find"], 391);
    client.find().unwrap();
    assert_eq!(callback.calls(), 2);
    let started: Vec<String> = client
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|c| !c.starts_with("sasl"))
        .cloned()
        .collect();
    assert_eq!(started, ["find", "find"]);
    assert_eq!(client.connection.as_ref().unwrap().reauthentications(), 1);
}

#[test]
fn human_4_2_succeeds_no_refresh() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let callback = Callback::new(move |_| Ok(Token::new(token.as_str())));
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
    idp.fail(&["find"], 391);
    client.find().unwrap();
    assert_eq!(callback.calls(), 2);
    assert!(
        callback
            .contexts()
            .iter()
            .all(|c| c.refresh_token.is_none())
    );
}

#[test]
fn human_4_3_succeeds_after_refresh_fails() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let callback = Callback::new(move |_| {
        Ok(Token::new(token.as_str()).with_refresh_token("bad-refresh-token"))
    });
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
    idp.fail(&["find"], 391);
    client.find().unwrap();
    assert_eq!(callback.calls(), 2);
}

#[test]
fn human_4_4_fails() {
    let idp = Idp::start(false);
    let (good, bad) = (idp.token(USER1), idp.bad_token());
    let callback = Callback::new(move |call| {
        let access = if call == 0 {
            good.as_str()
        } else {
            bad.as_str()
        };
        Ok(Token::new(access).with_refresh_token("bad-refresh-token"))
    });
    let mut client = Client::human(&idp.uri(None), &callback);
    client.find().unwrap();
    assert_eq!(callback.calls(), 1);
    idp.fail(&["find"], 391);
    let error = client.find().unwrap_err();
    assert_eq!(server_code(&error), Some(18), "{error}");
    assert_eq!(callback.calls(), 3);
}

// --- Built-in environments -------------------------------------------------------------------

/// A login with `ENVIRONMENT:<environment>` whose metadata requests go to `endpoint`.
fn environment_login(
    idp: &Idp,
    properties: &str,
    user: Option<&str>,
    endpoint: &str,
) -> mongodb_auth::Result<blocking::Connection> {
    environment_login_with(idp, properties, user, endpoint, AuthOptions::default())
}

/// [`environment_login`] with these options (the metadata endpoint set on them).
fn environment_login_with(
    idp: &Idp,
    properties: &str,
    user: Option<&str>,
    endpoint: &str,
    mut auth: AuthOptions,
) -> mongodb_auth::Result<blocking::Connection> {
    let port = idp.server().local_addr().port();
    let userinfo = user.map(|u| format!("{u}@")).unwrap_or_default();
    let uri = format!(
        "mongodb://{userinfo}127.0.0.1:{port}/?authMechanism=MONGODB-OIDC&authMechanismProperties={properties}"
    );
    auth.dangerous().set_oidc_metadata_endpoint(endpoint);
    blocking::connect(uri.as_str(), ConnectOptions::default().auth_options(auth))
}

type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

fn metadata_server(
    reply: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
) -> (http::HttpServer, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let server = http::HttpServer::start(Box::new(move |_, path, headers| {
        log.lock()
            .unwrap()
            .push((path.to_owned(), headers.to_vec()));
        reply(path)
    }));
    (server, seen)
}

#[test]
fn azure_gets_its_token_from_the_metadata_endpoint_with_the_username_as_client_id() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let (server, seen) = metadata_server(move |_| {
        (
            200,
            format!(r#"{{"access_token":"{token}","expires_in":"3599"}}"#),
        )
    });
    let endpoint = format!("http://{}", server.address);
    let connection = environment_login(
        &idp,
        "ENVIRONMENT:azure,TOKEN_RESOURCE:api://mongodb",
        Some("client-42"),
        &endpoint,
    )
    .unwrap();
    assert_eq!(
        connection.outcome().mechanism.unwrap().as_str(),
        "MONGODB-OIDC"
    );
    let seen = seen.lock().unwrap();
    let (path, headers) = &seen[0];
    assert_eq!(
        path,
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api%3A%2F%2Fmongodb&client_id=client-42"
    );
    assert!(headers.contains(&("metadata".into(), "true".into())));
    assert!(headers.contains(&("accept".into(), "application/json".into())));
}

#[test]
fn azure_without_a_username_sends_no_client_id_and_a_refusal_shows_the_body() {
    let idp = Idp::start(false);
    let (server, seen) = metadata_server(|_| (400, r#"{"error":"invalid_resource"}"#.into()));
    let endpoint = format!("http://{}", server.address);
    let error = environment_login(&idp, "ENVIRONMENT:azure,TOKEN_RESOURCE:r", None, &endpoint)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("400") && error.contains("invalid_resource"),
        "{error}"
    );
    assert!(!seen.lock().unwrap()[0].0.contains("client_id"));
}

#[test]
fn gcp_gets_its_token_from_the_identity_endpoint() {
    let idp = Idp::start(false);
    let token = idp.token(USER1);
    let (server, seen) = metadata_server(move |_| (200, token.clone()));
    let endpoint = format!("http://{}", server.address);
    environment_login(
        &idp,
        "ENVIRONMENT:gcp,TOKEN_RESOURCE:aud-1",
        None,
        &endpoint,
    )
    .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].0,
        "/computeMetadata/v1/instance/service-accounts/default/identity?audience=aud-1"
    );
    assert!(
        seen[0]
            .1
            .contains(&("metadata-flavor".into(), "Google".into()))
    );
}

#[test]
fn gcp_refusal_shows_the_body() {
    let idp = Idp::start(false);
    let (server, _) = metadata_server(|_| (404, "no such service account".into()));
    let endpoint = format!("http://{}", server.address);
    let error = environment_login(&idp, "ENVIRONMENT:gcp,TOKEN_RESOURCE:a", None, &endpoint)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("404") && error.contains("no such service account"),
        "{error}"
    );
}

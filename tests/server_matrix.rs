//! Our blocking and tokio clients against the embedded server, over real loopback sockets: every
//! mechanism, and the failure matrix of the auth spec's test plan.

use std::sync::Arc;

use mongodb_auth::handshake::HelloStyle;
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::UserStore;
use mongodb_auth::server::danger::Misbehavior;
use mongodb_auth::{
    AuthMechanism, AuthOptions, ConnectionString, CredentialOptions, Error, ErrorKind,
    ScramKeyCache, ScramVariant,
};
use mongodb_auth_io::ConnectOptions;
use mongodb_auth_io::blocking;
use mongodb_auth_server::ServerConfig;
use mongodb_auth_testkit::embedded::{self, Login, TestServer, options, scram_users};

fn users() -> UserStore {
    scram_users(&[
        (
            "admin",
            "both",
            "pencil",
            &[ScramVariant::Sha1, ScramVariant::Sha256],
        ),
        ("admin", "sha1", "sha1pw", &[ScramVariant::Sha1]),
        ("admin", "sha256", "sha256pw", &[ScramVariant::Sha256]),
        ("admin", "IX", "IX", &[ScramVariant::Sha256]),
        ("admin", "\u{2168}", "IV", &[ScramVariant::Sha256]),
        ("app", "appuser", "apppw", &[ScramVariant::Sha256]),
        ("$external", "ldap", "ldappw", &[ScramVariant::Sha256]),
    ])
}

/// The embedded server with the users above, misbehaving as told.
fn start(misbehavior: Option<Misbehavior>) -> TestServer {
    let mut config = ServerConfig::new(users());
    config.dangerous().misbehave(misbehavior);
    TestServer::start(config)
}

/// A login with both adapters, which must agree.
fn login(h: &TestServer, uri: &str, options: impl Fn() -> ConnectOptions) -> Result<Login, Error> {
    embedded::login_with_both(h.runtime(), uri, options)
}

fn admin(user: &str) -> Vec<(String, String)> {
    vec![(user.to_owned(), "admin".to_owned())]
}

#[test]
fn each_mechanism_logs_in() {
    let h = start(None);
    /// userinfo, query, mechanism, speculative, round trips after hello, authenticated user
    type Case<'a> = (
        &'a str,
        &'a str,
        AuthMechanism,
        bool,
        u32,
        (&'a str, &'a str),
    );
    let cases: &[Case] = &[
        (
            "both:pencil@",
            "",
            AuthMechanism::ScramSha256,
            true,
            1,
            ("both", "admin"),
        ),
        (
            "both:pencil@",
            "?authMechanism=SCRAM-SHA-1",
            AuthMechanism::ScramSha1,
            true,
            1,
            ("both", "admin"),
        ),
        (
            "both:pencil@",
            "?authMechanism=SCRAM-SHA-256",
            AuthMechanism::ScramSha256,
            true,
            1,
            ("both", "admin"),
        ),
        (
            "sha256:sha256pw@",
            "",
            AuthMechanism::ScramSha256,
            true,
            1,
            ("sha256", "admin"),
        ),
        (
            "appuser:apppw@",
            "app",
            AuthMechanism::ScramSha256,
            true,
            1,
            ("appuser", "app"),
        ),
        (
            "ldap:ldappw@",
            "?authMechanism=PLAIN",
            AuthMechanism::Plain,
            false,
            1,
            ("ldap", "$external"),
        ),
    ];
    for &(userinfo, query, mechanism, speculative, round_trips, (user, db)) in cases {
        let login = login(&h, &h.uri(userinfo, query), options).unwrap();
        assert_eq!(
            login.outcome.mechanism,
            Some(mechanism),
            "{userinfo}{query}"
        );
        assert_eq!(
            (login.outcome.speculative, login.outcome.round_trips),
            (speculative, round_trips),
            "{userinfo}{query}"
        );
        assert_eq!(login.users, vec![(user.to_owned(), db.to_owned())]);
    }
}

#[test]
fn negotiation_picks_sha256_for_a_user_with_both_and_sha1_when_only_sha1_is_listed() {
    let h = start(None);
    let both = login(&h, &h.uri("both:pencil@", ""), options).unwrap();
    assert_eq!(both.outcome.mechanism, Some(AuthMechanism::ScramSha256));
    // The speculative SCRAM-SHA-256 attempt is not taken: the server lists only SCRAM-SHA-1.
    let sha1 = login(&h, &h.uri("sha1:sha1pw@", ""), options).unwrap();
    assert_eq!(sha1.outcome.mechanism, Some(AuthMechanism::ScramSha1));
    assert!(!sha1.outcome.speculative);
    assert_eq!(sha1.outcome.round_trips, 2);
    assert_eq!(sha1.users, admin("sha1"));
}

#[test]
fn speculative_authentication_taken_and_not_taken() {
    let h = start(None);
    let taken = login(&h, &h.uri("both:pencil@", ""), options).unwrap();
    assert!(taken.outcome.speculative);
    assert_eq!(taken.outcome.round_trips, 1);
    let not_taken = login(&h, &h.uri("both:pencil@", ""), || {
        options().auth_options(
            AuthOptions::default()
                .speculative(false)
                .key_cache(Some(Arc::new(ScramKeyCache::new(4, &mut SystemRandom)))),
        )
    })
    .unwrap();
    assert!(!not_taken.outcome.speculative);
    assert_eq!(not_taken.outcome.round_trips, 2);
    assert_eq!(
        not_taken.outcome.mechanism,
        Some(AuthMechanism::ScramSha256)
    );
}

#[test]
fn failure_matrix() {
    let h = start(None);
    let refused = |userinfo: &str, query: &str| {
        let err = login(&h, &h.uri(userinfo, query), options).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::AuthenticationFailed,
            "{userinfo}{query}: {err}"
        );
        err.to_string()
    };
    let wrong_password = refused("both:wrong@", "");
    // An unknown user fails exactly like a wrong password (auth spec test plan, step 3).
    let unknown_user = refused("nobody:pencil@", "");
    assert_eq!(unknown_user, wrong_password);
    // A mechanism the user lacks.
    refused("sha1:sha1pw@", "?authMechanism=SCRAM-SHA-256");
    refused("sha256:sha256pw@", "?authMechanism=SCRAM-SHA-1");
    // The right user in the wrong database.
    refused("appuser:apppw@", "");
    refused("ldap:wrong@", "?authMechanism=PLAIN");
}

#[test]
fn saslprep_users_of_the_auth_test_plan() {
    let h = start(None);
    // URI forms from the test plan.
    for (userinfo, user) in [
        ("IX:IX@", "IX"),
        ("IX:I%C2%ADX@", "IX"),
        ("%E2%85%A8:IV@", "\u{2168}"),
        ("%E2%85%A8:I%C2%ADV@", "\u{2168}"),
    ] {
        for query in ["admin", "admin?authMechanism=SCRAM-SHA-256"] {
            let login = login(&h, &h.uri(userinfo, query), options).unwrap();
            assert_eq!(login.outcome.mechanism, Some(AuthMechanism::ScramSha256));
            assert_eq!(login.users, admin(user), "{userinfo}{query}");
        }
    }
    // In-code configuration, not percent-decoded.
    for (user, password) in [("IX", "I\u{00AD}X"), ("\u{2168}", "I\u{00AD}V")] {
        let cs = ConnectionString::parse(&h.uri("", ""))
            .unwrap()
            .with_credential_options(CredentialOptions::new().username(user).password(password))
            .unwrap();
        let mut connection = blocking::connect(&cs, options()).unwrap();
        assert_eq!(connection.authenticated_users().unwrap(), admin(user));
    }
}

#[test]
fn second_login_uses_the_key_cache() {
    let h = start(None);
    let cache = Arc::new(ScramKeyCache::new(4, &mut SystemRandom));
    let shared = || {
        ConnectOptions::default()
            .auth_options(AuthOptions::default().key_cache(Some(cache.clone())))
    };
    let first = blocking::connect(h.uri("both:pencil@", "").as_str(), shared()).unwrap();
    assert!(!first.outcome().key_cache_hit);
    let second = blocking::connect(h.uri("both:pencil@", "").as_str(), shared()).unwrap();
    assert!(second.outcome().key_cache_hit);
}

/// Each opening the adapters can send logs in: the legacy `isMaster` over OP_MSG (the default),
/// `hello` over OP_MSG, and the legacy `isMaster` over OP_QUERY.
#[test]
fn every_hello_style_logs_in() {
    let h = start(None);
    for style in [
        HelloStyle::LegacyOpMsg,
        HelloStyle::OpMsg,
        HelloStyle::LegacyOpQuery,
    ] {
        let login = login(&h, &h.uri("both:pencil@", ""), || {
            let mut options = options();
            options.hello_style = Some(style);
            options
        })
        .unwrap_or_else(|e| panic!("{style:?}: {e}"));
        assert_eq!(
            login.outcome.mechanism,
            Some(AuthMechanism::ScramSha256),
            "{style:?}"
        );
    }
}

#[test]
fn no_credential_means_no_authentication() {
    let h = start(None);
    let login = login(&h, &h.uri("", ""), options).unwrap();
    assert_eq!(
        (login.outcome.mechanism, login.outcome.round_trips),
        (None, 0)
    );
    assert!(login.users.is_empty());
}

#[test]
fn commands_need_authentication() {
    use bson::rawdoc;
    let h = start(None);
    let find = mongodb_auth::Command::new("test", rawdoc! { "find": "things" }.into_bytes());
    let code = |reply: Vec<u8>| {
        bson::RawDocument::from_bytes(&reply)
            .unwrap()
            .get_i32("code")
            .unwrap()
    };
    let mut anonymous = blocking::connect(h.uri("", "").as_str(), options()).unwrap();
    assert_eq!(
        code(anonymous.run_command(&find).unwrap()),
        13,
        "Unauthorized before authentication"
    );
    let mut authenticated =
        blocking::connect(h.uri("both:pencil@", "").as_str(), options()).unwrap();
    let reply = authenticated.run_command(&find).unwrap();
    let cursor = bson::RawDocument::from_bytes(&reply)
        .unwrap()
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .into_iter()
        .count();
    assert_eq!(cursor, 0, "find after authentication: an empty cursor");
    let aggregate =
        mongodb_auth::Command::new("test", rawdoc! { "aggregate": "things" }.into_bytes());
    assert_eq!(
        code(authenticated.run_command(&aggregate).unwrap()),
        59,
        "CommandNotFound after"
    );
}

#[test]
fn a_wrong_server_signature_fails_mutual_authentication() {
    let h = start(Some(Misbehavior::WrongServerSignature));
    for query in ["", "?authMechanism=SCRAM-SHA-1"] {
        let err = login(&h, &h.uri("both:pencil@", query), options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MutualAuthenticationFailed, "{err}");
    }
}

#[test]
fn a_dns_failure_names_the_name_that_did_not_resolve() {
    // The other connection failures are cases of tests/adapters.rs, run against both adapters.
    // Here: a resolver that is not there.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut opts = options();
    opts.dns_server = Some(closed.local_addr().unwrap());
    opts.connect_timeout = Some(std::time::Duration::from_millis(500));
    drop(closed);
    let resolver = opts.dns_server;
    match blocking::connect("mongodb+srv://u:p@cluster.example.com/", opts) {
        Err(Error::Dns { name, .. }) => assert_eq!(name, "_mongodb._tcp.cluster.example.com"),
        other => panic!("expected a DNS error, got {other:?}"),
    }
    // The same from inside an async runtime: an error, not a panic.
    let mut opts = options();
    opts.dns_server = resolver;
    opts.connect_timeout = Some(std::time::Duration::from_millis(500));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let inside = runtime.block_on(async {
        blocking::connect("mongodb+srv://u:p@cluster.example.com/", opts).map(|_| ())
    });
    assert!(matches!(inside, Err(Error::Dns { .. })), "{inside:?}");
}

#[test]
fn authenticate_an_existing_stream() {
    let h = start(None);
    let mut stream = std::net::TcpStream::connect(h.address()).unwrap();
    let cs = ConnectionString::parse("mongodb://both:pencil@ignored/").unwrap();
    let done = blocking::authenticate(&mut stream, cs.credential(), options()).unwrap();
    assert_eq!(done.outcome.mechanism, Some(AuthMechanism::ScramSha256));
    let tokio_done = h.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(h.address()).await.unwrap();
        mongodb_auth_io::tokio::authenticate(&mut stream, cs.credential(), options()).await
    });
    assert_eq!(
        tokio_done.unwrap().outcome.mechanism,
        Some(AuthMechanism::ScramSha256)
    );
}

/// A driver's `insert` of several documents comes as an OP_MSG document sequence (section kind
/// 1): the server reads it as the inline array, keeps the documents, and `find` returns them.
#[test]
fn an_insert_as_a_document_sequence_is_kept_and_found() {
    use std::io::{Read, Write};
    let h = start(None);
    let mut stream = std::net::TcpStream::connect(h.address()).unwrap();
    let cs = ConnectionString::parse("mongodb://both:pencil@ignored/").unwrap();
    blocking::authenticate(&mut stream, cs.credential(), options()).unwrap();
    let mut round_trip = |sections: Vec<u8>, request_id: i32| {
        let mut message = Vec::new();
        message.extend_from_slice(&0i32.to_le_bytes());
        message.extend_from_slice(&request_id.to_le_bytes());
        message.extend_from_slice(&0i32.to_le_bytes());
        message.extend_from_slice(&mongodb_auth::wire::OP_MSG.to_le_bytes());
        message.extend_from_slice(&0u32.to_le_bytes());
        message.extend_from_slice(&sections);
        let length = i32::try_from(message.len()).unwrap().to_le_bytes();
        message[..4].copy_from_slice(&length);
        stream.write_all(&message).unwrap();
        let mut decoder = mongodb_auth::wire::ReplyDecoder::new(request_id);
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).unwrap();
            assert!(n > 0, "the server closed the connection");
            if let Some(reply) = decoder.push(&buffer[..n]).unwrap() {
                return bson::Document::try_from(
                    bson::RawDocument::from_bytes(reply.body()).unwrap(),
                )
                .unwrap();
            }
        }
    };
    let body = |doc: bson::RawDocumentBuf| {
        let mut section = vec![0u8];
        section.extend_from_slice(doc.as_bytes());
        section
    };
    let mut insert = body(bson::rawdoc! { "insert": "things", "$db": "app" });
    let mut payload = b"documents\0".to_vec();
    for i in 1..=3 {
        payload
            .extend_from_slice(bson::rawdoc! { "_id": i, "name": format!("thing {i}") }.as_bytes());
    }
    insert.push(1);
    insert.extend_from_slice(&i32::try_from(4 + payload.len()).unwrap().to_le_bytes());
    insert.extend_from_slice(&payload);
    let inserted = round_trip(insert, 1);
    assert_eq!(inserted.get_i32("n").unwrap(), 3, "{inserted}");
    let found = round_trip(
        body(bson::rawdoc! { "find": "things", "filter": {}, "$db": "app" }),
        2,
    );
    let batch = found
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap();
    let ids: Vec<i32> = batch
        .iter()
        .map(|d| d.as_document().unwrap().get_i32("_id").unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
}

//! TLS and MONGODB-X509 over loopback sockets: our blocking and tokio clients against the
//! embedded server, with certificates from rcgen (`devpki`) and, separately, from the `openssl`
//! command; each failure its own typed error; RFC 2253 subjects as openssl prints them.

use mongodb_auth_testkit::{TempDir, openssl};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mongodb_auth::x509::certificate_subject;
use mongodb_auth::{
    AuthMechanism, CertificateProblem, Error, ErrorKind, Outcome, ScramVariant, Secret, TlsError,
};
use mongodb_auth_io::blocking;
use mongodb_auth_io::tls::{self, Identity, TlsInfo};
use mongodb_auth_server::ServerConfig;
use mongodb_auth_server::devpki::{DevPki, Subject};
use mongodb_auth_testkit::embedded::{self, TestServer, options, scram_users};
use openssl::OpensslCa;

struct TlsServer {
    embedded: TestServer,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    /// A server with user alice (SCRAM) and `x509_users`, over TLS with `cert` and `key`,
    /// verifying client certificates against `client_ca`.
    fn start(cert: &Path, key: &Path, client_ca: &Path, x509_users: &[&str]) -> TlsServer {
        let mut users = scram_users(&[("admin", "alice", "pencil", &[ScramVariant::Sha256])]);
        for subject in x509_users {
            users.insert_x509(subject);
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let config = ServerConfig::new(users)
            .auth_log(move |event| sink.lock().unwrap().push(event.to_string()))
            .tls(tls::server_config(cert, key, None, Some(client_ca)).unwrap());
        let embedded = TestServer::start(config);
        let port = embedded.address().port();
        TlsServer {
            embedded,
            port,
            log,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

#[derive(Debug)]
struct Login {
    outcome: Outcome,
    users: Vec<(String, String)>,
    tls: TlsInfo,
}

/// Logs in with both adapters; they must agree. Returns the blocking one's result.
fn login(server: &TlsServer, uri: &str) -> Result<Login, Error> {
    let login = embedded::login_with_both(server.embedded.runtime(), uri, options)?;
    Ok(Login {
        outcome: login.outcome,
        users: login.users,
        tls: login.tls.expect("a TLS connection"),
    })
}

fn query(pairs: &[(&str, &Path)]) -> String {
    pairs
        .iter()
        .map(|(key, path)| format!("&{key}={}", path.display()))
        .collect()
}

#[test]
fn scram_and_x509_over_tls_with_rcgen_certificates() {
    let dir = TempDir::new("tls-rcgen");
    let pki = DevPki::new(&dir).unwrap();
    let (cert, key) = pki.server("server", &["localhost", "127.0.0.1"]).unwrap();
    let client = pki
        .client(
            "client",
            &Subject::new()
                .country("IS")
                .organization("MongoDB")
                .organizational_unit("Drivers")
                .common_name("client"),
        )
        .unwrap();
    let subject = "CN=client,OU=Drivers,O=MongoDB,C=IS";
    let server = TlsServer::start(&cert, &key, &pki.ca_file(), &[subject]);
    let ca = pki.ca_file();
    let port = server.port;

    // SCRAM over TLS, no client certificate.
    let scram = login(
        &server,
        &format!(
            "mongodb://alice:pencil@localhost:{port}/?tls=true{}",
            query(&[("tlsCAFile", &ca)])
        ),
    )
    .unwrap();
    assert_eq!(scram.outcome.mechanism, Some(AuthMechanism::ScramSha256));
    assert_eq!(scram.tls.peer_subject.as_deref(), Some("CN=server"));
    assert_eq!(scram.tls.client_subject, None);
    assert!(scram.tls.protocol_version.starts_with("TLSv1."));

    // The same with the TLS options given in code.
    let in_code =
        mongodb_auth::ConnectionString::parse(&format!("mongodb://alice:pencil@localhost:{port}/"))
            .unwrap()
            .with_tls_options(mongodb_auth::TlsOptions::new().enabled(true).ca_file(&ca))
            .unwrap();
    let mut connection = blocking::connect(&in_code, options()).unwrap();
    assert_eq!(
        connection.authenticated_users().unwrap(),
        [("alice".to_owned(), "admin".to_owned())]
    );
    assert!(connection.tls().is_some());

    // X.509 without a username (H1, H2): the server takes the subject from the certificate,
    // inside hello.
    let x509 = format!(
        "mongodb://localhost:{port}/?authMechanism=MONGODB-X509{}",
        query(&[("tlsCAFile", &ca), ("tlsCertificateKeyFile", &client)])
    );
    let anonymous = login(&server, &x509).unwrap();
    assert_eq!(
        anonymous.outcome.mechanism,
        Some(AuthMechanism::MongoDbX509)
    );
    assert!(anonymous.outcome.speculative);
    assert_eq!(
        anonymous.outcome.round_trips, 0,
        "no round trip after hello"
    );
    assert_eq!(
        anonymous.users,
        [(subject.to_owned(), "$external".to_owned())]
    );
    assert_eq!(anonymous.tls.client_subject.as_deref(), Some(subject));

    // X.509 with the username, without speculation: one authenticate.
    let named = format!(
        "mongodb://{}@localhost:{port}/?authMechanism=MONGODB-X509{}",
        "CN%3Dclient%2COU%3DDrivers%2CO%3DMongoDB%2CC%3DIS",
        query(&[("tlsCAFile", &ca), ("tlsCertificateKeyFile", &client)])
    );
    let named = login(&server, &named).unwrap();
    assert_eq!(named.users, [(subject.to_owned(), "$external".to_owned())]);
}

#[test]
fn every_key_format_and_an_encrypted_key_with_openssl_certificates() {
    let dir = TempDir::new("tls-openssl");
    let ca = OpensslCa::new(&dir);
    let (cert, key) = ca.server();
    let clients = [
        ("pkcs8", "/C=IS/O=MongoDB/CN=pkcs8"),
        ("rsa-pkcs1", "/C=IS/O=MongoDB/CN=rsa"),
        ("ec-sec1", "/C=IS/O=MongoDB/CN=sec1"),
        ("encrypted", "/C=IS/O=MongoDB/CN=encrypted"),
    ];
    let files: Vec<(PathBuf, String)> = clients
        .iter()
        .map(|(kind, subject)| {
            let file = ca.client(kind, subject, kind, "key password");
            let subject = openssl::subject_of(&dir, &dir.join(format!("{kind}.crt")));
            (file, subject)
        })
        .collect();
    let subjects: Vec<&str> = files.iter().map(|(_, s)| s.as_str()).collect();
    let server = TlsServer::start(&cert, &key, &ca.ca_file(), &subjects);
    let port = server.port;
    for (file, subject) in &files {
        let mut uri = format!(
            "mongodb://127.0.0.1:{port}/?authMechanism=MONGODB-X509{}",
            query(&[
                ("tlsCAFile", &ca.ca_file()),
                ("tlsCertificateKeyFile", file)
            ])
        );
        if file.ends_with("encrypted.pem") {
            uri.push_str("&tlsCertificateKeyFilePassword=key%20password");
        }
        let login = login(&server, &uri).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        assert_eq!(login.users, [(subject.clone(), "$external".to_owned())]);
    }
    // The encrypted key without its password, and with a wrong one.
    let encrypted = &files[3].0;
    let base = format!(
        "mongodb://127.0.0.1:{port}/?authMechanism=MONGODB-X509{}",
        query(&[
            ("tlsCAFile", &ca.ca_file()),
            ("tlsCertificateKeyFile", encrypted)
        ])
    );
    assert!(matches!(
        blocking::connect(base.as_str(), options()),
        Err(Error::Tls(TlsError::KeyPasswordRequired))
    ));
    assert!(matches!(
        blocking::connect(
            format!("{base}&tlsCertificateKeyFilePassword=wrong").as_str(),
            options()
        ),
        Err(Error::Tls(TlsError::WrongKeyPassword))
    ));
    // A key that asks for too much work is refused before any of it is done: PBKDF2 iterations,
    // or scrypt work (OpenSSL will not write such a key, so its own scrypt key is patched from
    // p = 1 to p = 127: 127 passes over 16 MiB). OpenSSL's scrypt key as written reads.
    let pkcs8_cert = std::fs::read_to_string(dir.join("pkcs8.crt")).unwrap();
    let encrypted_with = |how: &[&str]| {
        let mut args = vec!["pkcs8", "-topk8"];
        args.extend_from_slice(how);
        args.extend_from_slice(&["-in", "pkcs8.key", "-passout", "pass:x"]);
        openssl::openssl(&dir, &args)
    };
    let read = |name: &str, key: &str| {
        let file = dir.join(format!("{name}.pem"));
        std::fs::write(&file, format!("{pkcs8_cert}{key}")).unwrap();
        Identity::from_pem_file("tlsCertificateKeyFile", &file, Some(&Secret::new("x")))
    };
    let scrypt = encrypted_with(&["-scrypt"]);
    read("scrypt", &scrypt).expect("an scrypt key with OpenSSL's parameters reads");
    // N = 16384, r = 8, p = 1, as DER integers.
    let (scrypt_parameters, costly_parameters) = (
        [2, 2, 0x40, 0, 2, 1, 8, 2, 1, 1],
        [2, 2, 0x40, 0, 2, 1, 8, 2, 1, 127],
    );
    let mut der = pem_body(&scrypt);
    let at = der
        .windows(scrypt_parameters.len())
        .position(|window| window == scrypt_parameters)
        .expect("OpenSSL's scrypt parameters");
    der[at..at + costly_parameters.len()].copy_from_slice(&costly_parameters);
    let costly = [
        (
            "pbkdf2",
            encrypted_with(&["-v2", "aes-256-cbc", "-iter", "5000000"]),
            "PBKDF2 iterations",
        ),
        (
            "scrypt",
            pem("ENCRYPTED PRIVATE KEY", &der),
            "too much memory or work",
        ),
    ];
    for (kdf, key, refusal) in costly {
        match read(&format!("costly-{kdf}"), &key) {
            Err(Error::Tls(TlsError::UnusableKey { rule, .. })) => {
                assert!(rule.contains(refusal), "{kdf}: {rule}")
            }
            other => panic!("expected the {kdf} key to be refused, got {other:?}"),
        }
    }
    // SCRAM over a TLS connection to openssl's certificate.
    let scram = login(
        &server,
        &format!(
            "mongodb://alice:pencil@localhost:{port}/?tls=true{}",
            query(&[("tlsCAFile", &ca.ca_file())])
        ),
    )
    .unwrap();
    assert_eq!(scram.users, [("alice".to_owned(), "admin".to_owned())]);
}

#[test]
fn a_tls_file_is_read_up_to_16_mib_and_no_further() {
    let dir = TempDir::new("tls-large");
    // Sparse files of zeros: one at the cap, one a byte over it.
    let sized = |name: &str, length: usize| {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .set_len(u64::try_from(length).unwrap())
            .unwrap();
        path
    };
    let at_cap = sized("at-cap.pem", tls::MAX_TLS_FILE_SIZE);
    let over = sized("over.pem", tls::MAX_TLS_FILE_SIZE + 1);
    fn too_large<T>(result: mongodb_auth::Result<T>, option: &str) -> bool {
        match result {
            Err(Error::Tls(TlsError::File {
                option: named,
                source,
                ..
            })) => named == option && source.kind() == std::io::ErrorKind::FileTooLarge,
            _ => false,
        }
    }
    let ca_file = |path: &Path| {
        tls::client_config(
            mongodb_auth::ConnectionString::parse(&format!(
                "mongodb://h/?tlsCAFile={}",
                path.display()
            ))
            .unwrap()
            .tls(),
        )
    };
    assert!(too_large(ca_file(&over), "tlsCAFile"));
    assert!(too_large(
        Identity::from_pem_file("tlsCertificateKeyFile", &over, None),
        "tlsCertificateKeyFile"
    ));
    // At the cap the file is read, and found to hold no PEM.
    assert!(matches!(
        Identity::from_pem_file("tlsCertificateKeyFile", &at_cap, None),
        Err(Error::Tls(TlsError::NoCertificate { .. }))
    ));
}

#[test]
fn each_failure_is_its_own_error() {
    let dir = TempDir::new("tls-failures");
    let pki = DevPki::new(&dir.join("good")).unwrap();
    let other = DevPki::new(&dir.join("other")).unwrap();
    let (cert, key) = pki.server("server", &["localhost"]).unwrap();
    let client = pki
        .client("client", &Subject::new().common_name("client"))
        .unwrap();
    let expired = pki
        .client_with(
            "expired",
            &Subject::new().common_name("expired"),
            |params| {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            },
        )
        .unwrap();
    let server = TlsServer::start(&cert, &key, &pki.ca_file(), &["CN=client", "CN=expired"]);
    let port = server.port;
    let ca = pki.ca_file();

    // Wrong CA: the server's certificate has an unknown issuer.
    let err = login(
        &server,
        &format!(
            "mongodb://alice:pencil@localhost:{port}/?tls=true{}",
            query(&[("tlsCAFile", &other.ca_file())])
        ),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls(TlsError::UntrustedServer(
                CertificateProblem::UnknownIssuer { .. }
            ))
        ),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Tls);

    // ...which tlsAllowInvalidCertificates lets through.
    let any = login(
        &server,
        &format!(
            "mongodb://alice:pencil@localhost:{port}/?tlsAllowInvalidCertificates=true{}",
            query(&[("tlsCAFile", &other.ca_file())])
        ),
    )
    .unwrap();
    assert_eq!(any.users, [("alice".to_owned(), "admin".to_owned())]);

    // Host name mismatch: the certificate is for localhost, not 127.0.0.1...
    let by_ip = format!(
        "mongodb://alice:pencil@127.0.0.1:{port}/?tls=true{}",
        query(&[("tlsCAFile", &ca)])
    );
    match login(&server, &by_ip).unwrap_err() {
        Error::Tls(TlsError::UntrustedServer(CertificateProblem::NameMismatch {
            expected,
            presented,
        })) => {
            assert_eq!(expected, "127.0.0.1");
            assert_eq!(presented, ["localhost"]);
        }
        other => panic!("expected a name mismatch, got {other}"),
    }
    // ...which tlsAllowInvalidHostnames lets through, the chain still checked.
    let login_ok = login(&server, &format!("{by_ip}&tlsAllowInvalidHostnames=true")).unwrap();
    assert_eq!(login_ok.users, [("alice".to_owned(), "admin".to_owned())]);

    // An expired client certificate: the server refuses the handshake.
    let err = login(
        &server,
        &format!(
            "mongodb://localhost:{port}/?authMechanism=MONGODB-X509{}",
            query(&[("tlsCAFile", &ca), ("tlsCertificateKeyFile", &expired)])
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::Tls(TlsError::RefusedByPeer { alert }) if alert == "CertificateExpired"),
        "{err}"
    );
    assert!(server.log().contains("expired"), "{}", server.log());

    // A user that is not the certificate's subject, and X.509 without a certificate: 18.
    for (userinfo, certificate) in [("CN%3Dsomeone-else@", Some(&client)), ("", None)] {
        let mut pairs = vec![("tlsCAFile", ca.as_path())];
        if let Some(file) = certificate {
            pairs.push(("tlsCertificateKeyFile", file.as_path()));
        }
        let uri = format!(
            "mongodb://{userinfo}localhost:{port}/?authMechanism=MONGODB-X509&tls=true{}",
            query(&pairs)
        );
        let err = login(&server, &uri).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AuthenticationFailed, "{uri}: {err}");
    }
    let log = server.log();
    assert!(
        log.contains("the user is not the certificate's subject"),
        "{log}"
    );
    assert!(log.contains("no verified client certificate"), "{log}");

    // An expired server certificate.
    let (old_cert, old_key) = pki
        .server_with("old-server", &["localhost"], |params| {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        })
        .unwrap();
    let expired_server = TlsServer::start(&old_cert, &old_key, &pki.ca_file(), &[]);
    let err = login(
        &expired_server,
        &format!(
            "mongodb://alice:pencil@localhost:{}/?tls=true{}",
            expired_server.port,
            query(&[("tlsCAFile", &ca)])
        ),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls(TlsError::UntrustedServer(CertificateProblem::Expired))
        ),
        "{err}"
    );

    // Configuration errors name what is wrong.
    let missing = dir.join("missing.pem");
    assert!(matches!(
        tls::client_config(
            mongodb_auth::ConnectionString::parse(&format!(
                "mongodb://h/?tlsCAFile={}",
                missing.display()
            ))
            .unwrap()
            .tls()
        ),
        Err(Error::Tls(TlsError::File {
            option: "tlsCAFile",
            ..
        }))
    ));
    let only_cert = dir.join("only-cert.pem");
    std::fs::copy(&cert, &only_cert).unwrap();
    assert!(matches!(
        Identity::from_pem_file("tlsCertificateKeyFile", &only_cert, None),
        Err(Error::Tls(TlsError::NoPrivateKey { .. }))
    ));
    assert!(matches!(
        Identity::from_pem_file("tlsCertificateKeyFile", &key, None),
        Err(Error::Tls(TlsError::NoCertificate { .. }))
    ));
    // The server's certificate with the client's key: they do not match.
    let mismatched = dir.join("mismatched.pem");
    let client_pem = std::fs::read_to_string(&client).unwrap();
    let client_key = &client_pem[client_pem.find("-----BEGIN PRIVATE KEY").unwrap()..];
    std::fs::write(
        &mismatched,
        format!("{}{client_key}", std::fs::read_to_string(&cert).unwrap()),
    )
    .unwrap();
    assert!(matches!(
        Identity::from_pem_file("tlsCertificateKeyFile", &mismatched, None),
        Err(Error::Tls(TlsError::KeyDoesNotMatchCertificate { .. }))
    ));
}

#[test]
fn authenticate_works_on_a_tls_stream_the_caller_opened() {
    let dir = TempDir::new("tls-own-stream");
    let pki = DevPki::new(&dir).unwrap();
    let (cert, key) = pki.server("server", &["localhost"]).unwrap();
    let server = TlsServer::start(&cert, &key, &pki.ca_file(), &[]);
    let cs = mongodb_auth::ConnectionString::parse(&format!(
        "mongodb://alice:pencil@localhost:{}/?tlsCAFile={}",
        server.port,
        pki.ca_file().display()
    ))
    .unwrap();
    let (config, _) = tls::client_config(cs.tls()).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let connection =
        rustls::ClientConnection::new(config, tls::server_name("localhost").unwrap()).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let done = blocking::authenticate(&mut stream, cs.credential(), options()).unwrap();
    assert_eq!(done.outcome.mechanism, Some(AuthMechanism::ScramSha256));
}

#[test]
fn subjects_match_openssl() {
    let dir = TempDir::new("tls-subjects");
    let ca = OpensslCa::new(&dir);
    let subjects = [
        "/C=IS/ST=Reykjavik/L=Reykjavik/O=MongoDB/OU=Drivers/CN=client",
        "/CN=a\\, b+c=d/O=x\\;y/OU=quote\"s <and> back\\\\slash",
        "/CN=#leading hash/O= spaces around /emailAddress=user@example.com",
        "/DC=com/DC=example/UID=jdoe/CN=John Doe+serialNumber=42",
        "/title=Dr/GN=Ada/SN=Lovelace/CN=ada",
    ];
    for (i, subject) in subjects.iter().enumerate() {
        let name = format!("subject{i}");
        ca.client(&name, subject, "pkcs8", "");
        let certificate = dir.join(format!("{name}.crt"));
        let expected = openssl::subject_of(&dir, &certificate);
        let pem = std::fs::read(&certificate).unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(certificate_subject(&der).unwrap(), expected, "{subject}");
    }
}

use rustls::pki_types::pem::PemObject as _;

/// A self-signed `CA:TRUE` certificate for `names`, valid from `from` to `until` (years):
/// written to `NAME.crt` and `NAME.key` in `dir`.
fn self_signed_ca_cert(
    dir: &Path,
    name: &str,
    names: &[&str],
    years: (i32, i32),
) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let certificate = params.self_signed(&key).unwrap();
    let (crt, key_file) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&crt, pem("CERTIFICATE", certificate.der())).unwrap();
    std::fs::write(&key_file, pem("PRIVATE KEY", &key.serialize_der())).unwrap();
    (crt, key_file)
}

/// The DER inside a PEM file's one block.
fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn a_certificate_in_the_ca_file_is_trusted_as_itself_and_nothing_else_loosens() {
    let dir = TempDir::new("tls-pinned");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The current year, near enough for validity periods of whole years around it.
    let now = 1970 + i32::try_from(now / 31_556_952).unwrap();
    let (good, good_key) = self_signed_ca_cert(&dir, "good", &["localhost"], (now - 1, now + 5));
    let (old, old_key) = self_signed_ca_cert(&dir, "old", &["localhost"], (2020, 2021));
    let (other, _) = self_signed_ca_cert(&dir, "other", &["localhost"], (now - 1, now + 5));
    let (far, far_key) = self_signed_ca_cert(&dir, "far", &["far.example"], (now - 1, now + 5));
    let uri = |server: &TlsServer, ca: &Path, extra: &str| {
        format!(
            "mongodb://alice:pencil@localhost:{}/?tls=true{}{extra}",
            server.port,
            query(&[("tlsCAFile", ca)])
        )
    };
    let problem = |result: Result<Login, Error>| match result {
        Err(Error::Tls(TlsError::UntrustedServer(problem))) => problem,
        other => panic!("expected an untrusted server, got {other:?}"),
    };

    // The very certificate in tlsCAFile: trusted as itself, in both adapters.
    let server = TlsServer::start(&good, &good_key, &good, &[]);
    let login_ok = login(&server, &uri(&server, &good, "")).unwrap();
    assert_eq!(login_ok.users, [("alice".to_owned(), "admin".to_owned())]);
    assert_eq!(login_ok.tls.trust, tls::Trust::CaFile(good.clone()));
    // Another self-signed certificate in tlsCAFile is no trust in this one.
    assert_eq!(
        problem(login(&server, &uri(&server, &other, ""))),
        CertificateProblem::CaUsedAsEndEntity
    );

    // Trusted as itself, its dates are still checked...
    let expired = TlsServer::start(&old, &old_key, &old, &[]);
    assert_eq!(
        problem(login(&expired, &uri(&expired, &old, ""))),
        CertificateProblem::Expired
    );
    // ...and its name, unless tlsAllowInvalidHostnames says not to.
    let elsewhere = TlsServer::start(&far, &far_key, &far, &[]);
    match problem(login(&elsewhere, &uri(&elsewhere, &far, ""))) {
        CertificateProblem::NameMismatch {
            expected,
            presented,
        } => assert_eq!(
            (expected.as_str(), presented),
            ("localhost", vec!["far.example".to_owned()])
        ),
        other => panic!("expected a name mismatch, got {other}"),
    }
    login(
        &elsewhere,
        &uri(&elsewhere, &far, "&tlsAllowInvalidHostnames=true"),
    )
    .unwrap();
}

#[test]
fn connections_through_one_connector_resume_the_tls_session() {
    let dir = TempDir::new("tls-resume");
    let pki = DevPki::new(&dir).unwrap();
    let (cert, key) = pki.server("server", &["localhost"]).unwrap();
    let server = TlsServer::start(&cert, &key, &pki.ca_file(), &[]);
    let uri = format!(
        "mongodb://alice:pencil@localhost:{}/?tls=true{}",
        server.port,
        query(&[("tlsCAFile", &pki.ca_file())])
    );
    let resumed = |tls: Option<&TlsInfo>| tls.map(|tls| tls.resumed);

    // The blocking adapter: the first handshake is a full one, the next ones resume it.
    let connector = mongodb_auth_io::Connector::new(uri.as_str(), options()).unwrap();
    let mut handshakes = Vec::new();
    for _ in 0..3 {
        let mut connection = blocking::connect_with(&connector).unwrap();
        assert_eq!(
            connection.authenticated_users().unwrap(),
            [("alice".to_owned(), "admin".to_owned())]
        );
        handshakes.push(resumed(connection.tls()));
    }
    assert_eq!(handshakes, [Some(false), Some(true), Some(true)]);

    // The tokio adapter, with a connector of its own.
    let connector = mongodb_auth_io::Connector::new(uri.as_str(), options()).unwrap();
    let handshakes: Vec<Option<bool>> = server.embedded.block_on(async {
        let mut handshakes = Vec::new();
        for _ in 0..2 {
            let mut connection = mongodb_auth_io::tokio::connect_with(&connector)
                .await
                .unwrap();
            assert_eq!(
                connection.authenticated_users().await.unwrap(),
                [("alice".to_owned(), "admin".to_owned())]
            );
            handshakes.push(resumed(connection.tls()));
        }
        handshakes
    });
    assert_eq!(handshakes, [Some(false), Some(true)]);

    // Without a connector, each connection builds its own configuration and cannot resume.
    let alone = blocking::connect(uri.as_str(), options()).unwrap();
    assert_eq!(resumed(alone.tls()), Some(false));
}

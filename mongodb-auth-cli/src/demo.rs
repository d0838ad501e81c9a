//! `demo`: the embedded server, and a login with every mechanism against it, step by step.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb_auth::credential::Flow;
use mongodb_auth::oidc::{Callback, CallbackContext, OidcClient, Token};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::aws::{LocalSts, StsVerifier};
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth::server::{AwsSettings, User, UserStore};
use mongodb_auth::{
    AuthOptions, ConnectionString, CredentialOptions, ErrorKind, ScramVariant, Secret,
};
use mongodb_auth_io::{ConnectOptions, Connector, blocking, tls};
use mongodb_auth_server::jwks::Jwks;
use mongodb_auth_server::{Server, ServerConfig};

use crate::connect::{describe_users, print_event};
use crate::runtime;

/// What the demo's setup steps fail with: any error, shown to the person running it.
type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

struct Login {
    title: &'static str,
    user: &'static str,
    password: &'static str,
    query: &'static str,
    /// The mechanism the login must end with; `None`: the server must refuse it.
    expect: Option<&'static str>,
}

const DEMO_LOGINS: &[Login] = &[
    Login {
        title: "negotiated default (speculative SCRAM-SHA-256 inside hello)",
        user: "alice",
        password: "pencil",
        query: "",
        expect: Some("SCRAM-SHA-256"),
    },
    Login {
        title: "SCRAM-SHA-1",
        user: "alice",
        password: "pencil",
        query: "?authMechanism=SCRAM-SHA-1",
        expect: Some("SCRAM-SHA-1"),
    },
    Login {
        title: "SCRAM-SHA-256 (keys from the cache: no PBKDF2)",
        user: "alice",
        password: "pencil",
        query: "?authMechanism=SCRAM-SHA-256",
        expect: Some("SCRAM-SHA-256"),
    },
    Login {
        title: "negotiated for a SCRAM-SHA-1-only user (the server drops the speculative attempt)",
        user: "bob",
        password: "hunter2",
        query: "",
        expect: Some("SCRAM-SHA-1"),
    },
    Login {
        title: "PLAIN (LDAP-style, against $external)",
        user: "carol",
        password: "s3cret",
        query: "?authMechanism=PLAIN&authSource=$external",
        expect: Some("PLAIN"),
    },
    Login {
        title: "SASLprep: user \u{2168} with password I\u{00AD}V (prepared to IV)",
        user: "%E2%85%A8",
        password: "I%C2%ADV",
        query: "?authMechanism=SCRAM-SHA-256",
        expect: Some("SCRAM-SHA-256"),
    },
    Login {
        title: "MONGODB-AWS: a SigV4-signed GetCallerIdentity, checked by the server's local STS",
        user: DEMO_AWS_KEY_ID,
        password: DEMO_AWS_SECRET,
        query: "?authMechanism=MONGODB-AWS",
        expect: Some("MONGODB-AWS"),
    },
    Login {
        title: "MONGODB-AWS with a wrong secret (must be refused)",
        user: DEMO_AWS_KEY_ID,
        password: "not-the-secret",
        query: "?authMechanism=MONGODB-AWS",
        expect: None,
    },
    Login {
        title: "wrong password (must be refused)",
        user: "alice",
        password: "not-pencil",
        query: "",
        expect: None,
    },
];

const DEMO_AWS_ARN: &str = "arn:aws:iam::123456789012:user/demo";
const DEMO_AWS_KEY_ID: &str = "AKIADEMODEMODEMO";
const DEMO_AWS_SECRET: &str = "demo-secret-access-key";

/// The demo's MONGODB-AWS: a local STS that knows one key.
fn demo_aws(users: &mut UserStore) -> AwsSettings {
    let mut sts = LocalSts::new();
    sts.insert(DEMO_AWS_ARN, DEMO_AWS_KEY_ID, Secret::new(DEMO_AWS_SECRET));
    users.insert_aws(DEMO_AWS_ARN);
    AwsSettings::new(StsVerifier::Local(Arc::new(sts)))
}

fn demo_users() -> mongodb_auth::Result<UserStore> {
    let mut rng = SystemRandom;
    let both = [ScramVariant::Sha1, ScramVariant::Sha256];
    let mut users = UserStore::new();
    users.insert(User::new(
        "admin",
        "alice",
        &Secret::new("pencil"),
        &both,
        &mut rng,
    )?);
    users.insert(User::new(
        "admin",
        "bob",
        &Secret::new("hunter2"),
        &[ScramVariant::Sha1],
        &mut rng,
    )?);
    users.insert(User::new(
        "$external",
        "carol",
        &Secret::new("s3cret"),
        &[ScramVariant::Sha256],
        &mut rng,
    )?);
    users.insert(User::new(
        "admin",
        "\u{2168}",
        &Secret::new("IV"),
        &[ScramVariant::Sha256],
        &mut rng,
    )?);
    Ok(users)
}

pub(crate) fn demo() -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let users = match demo_users() {
        Ok(users) => users,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut users = users;
    let aws = demo_aws(&mut users);
    let oidc = match DemoOidc::new() {
        Ok(oidc) => oidc,
        Err(e) => {
            eprintln!("error: cannot make the demo's OIDC identity provider: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match runtime.block_on(Server::bind(
        "127.0.0.1:0",
        ServerConfig::new(users)
            .aws(aws)
            .oidc(oidc.settings.clone()),
    )) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot start the embedded server: {e}");
            return ExitCode::from(2);
        }
    };
    let address = server.local_addr();
    say!("embedded server listening on {address}");
    say!(
        "users: alice (SCRAM-SHA-1, SCRAM-SHA-256), bob (SCRAM-SHA-1), carol in $external, \u{2168} (SCRAM-SHA-256), the AWS user {DEMO_AWS_ARN} (key {DEMO_AWS_KEY_ID}, checked by a local STS), and the OIDC principal {DEMO_OIDC_PRINCIPAL} (tokens signed now by a key made for this run)\n"
    );

    // GSSAPI runs only where a KDC was given.
    let gssapi = gssapi_principal();
    let total = DEMO_LOGINS.len() + OIDC_LOGINS + TLS_LOGINS + usize::from(gssapi.is_ok());
    let mut failures = 0;
    for (index, login) in DEMO_LOGINS.iter().enumerate() {
        let uri = format!(
            "mongodb://{}:{}@{address}/{}",
            login.user, login.password, login.query
        );
        let title = format!("[{}/{total}] {}", index + 1, login.title);
        if !demo_login(&title, &uri, login.expect) {
            failures += 1;
        }
    }
    failures += oidc.logins(&address.to_string(), DEMO_LOGINS.len(), total);
    match demo_tls(&runtime, DEMO_LOGINS.len() + OIDC_LOGINS, total) {
        Ok(failed) => failures += failed,
        Err(e) => {
            failures += TLS_LOGINS;
            say!("FAILED: the TLS part of the demo could not start: {e}\n");
        }
    }
    match &gssapi {
        Ok(principal) => {
            let title = format!(
                "[{total}/{total}] GSSAPI: Kerberos, the credential acquired from the password (no kinit)"
            );
            match demo_gssapi(&runtime, principal, &title) {
                Ok(good) => failures += usize::from(!good),
                Err(e) => {
                    failures += 1;
                    say!("{title}\n    FAILED: {e}\n");
                }
            }
        }
        Err(skipped) => say!("GSSAPI: skipped: {skipped}\n"),
    }
    runtime.block_on(server.shutdown());
    if failures == 0 {
        say!("all {total} logins behaved as expected");
        ExitCode::SUCCESS
    } else {
        say!("{failures} of {total} logins went wrong");
        ExitCode::FAILURE
    }
}

/// One login of the demo: prints what happens; returns whether it went as `expect` says (the
/// mechanism it must end with, or `None`: it must be refused).
fn demo_login(title: &str, uri: &str, expect: Option<&str>) -> bool {
    match ConnectionString::parse(uri) {
        Ok(cs) => demo_login_with(title, cs, ConnectOptions::default(), expect),
        Err(error) => {
            say!("{title}\n    FAILED: {error}\n");
            false
        }
    }
}

/// [`demo_login`] with a parsed connection string (in-code credential options merged) and
/// options of its own.
fn demo_login_with(
    title: &str,
    cs: ConnectionString,
    options: ConnectOptions,
    expect: Option<&str>,
) -> bool {
    say!("{title}");
    say!("    {cs}");
    let started = Instant::now();
    let result = blocking::connect(cs, options.observe(print_event))
        .and_then(|mut connection| Ok((connection.authenticated_users()?, connection)));
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    match (result, expect) {
        (Ok((users, connection)), Some(expected)) => {
            let outcome = connection.outcome();
            let mechanism = outcome.mechanism.map_or("none", |m| m.as_str());
            let good = mechanism == expected && !users.is_empty();
            say!(
                "    {} {mechanism}{}, {} round trip(s) after hello, {elapsed:.1} ms; connectionStatus: {}\n",
                if good { "ok" } else { "FAILED, expected" },
                if outcome.speculative {
                    " (speculative)"
                } else {
                    ""
                },
                outcome.round_trips,
                describe_users(&users),
            );
            good
        }
        (Err(error), None) if error.kind() == ErrorKind::AuthenticationFailed => {
            say!("    ok, refused as it should be: {error} ({elapsed:.1} ms)\n");
            true
        }
        (Ok(_), None) => {
            say!("    FAILED: the server accepted a wrong password\n");
            false
        }
        (Err(error), _) => {
            say!("    FAILED: {error}\n");
            false
        }
    }
}

/// Two logins to `uri` through one [`Connector`], as a client's pool makes them: the second
/// must resume the first one's TLS session.
fn demo_resumption(title: &str, uri: &str) -> bool {
    say!("{title}");
    let connector = match Connector::new(uri, ConnectOptions::default()) {
        Ok(connector) => connector,
        Err(error) => {
            say!("    FAILED: {error}\n");
            return false;
        }
    };
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let started = Instant::now();
        match blocking::connect_with(&connector) {
            Ok(connection) => {
                let again = connection.tls().is_some_and(|tls| tls.resumed);
                say!(
                    "    {} in {:.1} ms",
                    if again {
                        "TLS session resumed"
                    } else {
                        "full TLS handshake"
                    },
                    started.elapsed().as_secs_f64() * 1000.0
                );
                resumed.push(again);
            }
            Err(error) => {
                say!("    FAILED: {error}\n");
                return false;
            }
        }
    }
    let good = resumed == [false, true];
    say!(
        "    {}\n",
        if good {
            "ok"
        } else {
            "FAILED: the second handshake was not resumed"
        }
    );
    good
}

/// Where the demo's GSSAPI login gets its principal and password.
const DEMO_GSSAPI_VARIABLE: &str = "MONGODB_AUTH_DEMO_GSSAPI";

/// A GSSAPI login needs a KDC, which the demo cannot make: with feature `gssapi` and
/// `MONGODB_AUTH_DEMO_GSSAPI=PRINCIPAL:PASSWORD` (the realm in `KRB5_CONFIG`, a keytab with
/// `mongodb/localhost` in `KRB5_KTNAME`), the principal and password to log in with; `Err` says
/// why the GSSAPI login is skipped.
fn gssapi_principal() -> Result<(String, Secret), String> {
    if !cfg!(feature = "gssapi") {
        return Err("this build has no feature `gssapi` (cargo run -p mongodb-auth-cli --features gssapi -- demo)".into());
    }
    // The password stays in wiped buffers: the variable's text and the `Secret` taken from it.
    let setting = zeroize::Zeroizing::new(std::env::var(DEMO_GSSAPI_VARIABLE).map_err(|_| {
        format!(
            "no KDC given: set {DEMO_GSSAPI_VARIABLE}=PRINCIPAL:PASSWORD, KRB5_CONFIG (the \
             realm) and KRB5_KTNAME (a keytab with mongodb/localhost)"
        )
    })?);
    let (principal, password) = setting
        .split_once(':')
        .ok_or_else(|| format!("{DEMO_GSSAPI_VARIABLE} must be PRINCIPAL:PASSWORD"))?;
    Ok((principal.to_owned(), Secret::new(password)))
}

/// Starts a server that accepts `principal` and logs in with its password (no ticket cache);
/// whether the login went as expected.
#[cfg(feature = "gssapi")]
fn demo_gssapi(
    runtime: &tokio::runtime::Runtime,
    (principal, password): &(String, Secret),
    title: &str,
) -> Result<bool, String> {
    let settings = mongodb_auth::server::gssapi::GssapiSettings::new(
        Arc::new(mongodb_auth_io::kerberos::KerberosAcceptor),
        "mongodb",
    )
    .user(principal.as_str());
    let server = runtime
        .block_on(Server::bind(
            "127.0.0.1:0",
            ServerConfig::new(UserStore::new()).gssapi(settings),
        ))
        .map_err(|e| format!("cannot start the GSSAPI server: {e}"))?;
    let port = server.local_addr().port();
    say!("embedded GSSAPI server listening on localhost:{port}, accepting {principal}\n");
    let encode = |s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC);
    // The connection string holds the password: written once, at its size, and wiped.
    let uri = mongodb_auth::write_at_final_size(|out| {
        write!(
            out,
            "mongodb://{}:{}@localhost:{port}/?authMechanism=GSSAPI",
            encode(principal),
            encode(password.expose())
        )
    })
    .map_err(|e| format!("cannot write the GSSAPI connection string: {e}"))?;
    let uri = std::str::from_utf8(&uri).map_err(|e| e.to_string())?;
    let good = demo_login(title, uri, Some("GSSAPI"));
    runtime.block_on(server.shutdown());
    Ok(good)
}

#[cfg(not(feature = "gssapi"))]
fn demo_gssapi(_: &tokio::runtime::Runtime, _: &(String, Secret), _: &str) -> Result<bool, String> {
    Err("this build has no feature `gssapi`".into())
}

/// How many logins [`DemoOidc::logins`] runs.
const OIDC_LOGINS: usize = 3;

const DEMO_OIDC_PRINCIPAL: &str = "demo-workload";
const DEMO_OIDC_AUDIENCE: &str = "mongodb-auth-demo";

/// The demo's identity provider: a key made at run time, and tokens signed with it.
struct DemoOidc {
    issuer: mongodb_auth_server::devpki::TokenIssuer,
    settings: OidcSettings,
}

impl DemoOidc {
    fn new() -> DemoResult<Self> {
        let issuer =
            mongodb_auth_server::devpki::TokenIssuer::generate("https://issuer.demo.invalid")?;
        let keys = Arc::new(Jwks::from_json(issuer.jwks().as_bytes())?);
        let settings =
            OidcSettings::new(issuer.issuer(), DEMO_OIDC_AUDIENCE, keys).user(DEMO_OIDC_PRINCIPAL);
        Ok(DemoOidc { issuer, settings })
    }

    /// A machine callback that signs a token valid from now for `lifetime` (an expired one for
    /// a zero lifetime: it ended a minute ago).
    fn callback(&self, lifetime: Duration) -> DemoResult<Callback> {
        let now = std::time::SystemTime::now();
        let (from, until) = if lifetime.is_zero() {
            (
                now - Duration::from_secs(600),
                now - Duration::from_secs(60),
            )
        } else {
            (now, now + lifetime)
        };
        let token = self
            .issuer
            .issue(DEMO_OIDC_PRINCIPAL, DEMO_OIDC_AUDIENCE, from, until)?;
        Ok(Callback::blocking(move |_: &CallbackContext| {
            Ok(Token::new(token.as_str()))
        }))
    }

    /// Two logins of one client (the second takes the cached token inside hello), then one with
    /// an expired token; returns how many went wrong.
    fn logins(&self, address: &str, done: usize, total: usize) -> usize {
        let uri = format!("mongodb://{address}/?authMechanism=MONGODB-OIDC");
        let client = OidcClient::new();
        let plans = [
            (
                "MONGODB-OIDC, a machine callback: a token signed now",
                Duration::from_secs(300),
                Some("MONGODB-OIDC"),
            ),
            (
                "MONGODB-OIDC again, same client: the cached token, inside hello",
                Duration::from_secs(300),
                Some("MONGODB-OIDC"),
            ),
            (
                "MONGODB-OIDC with an expired token (must be refused)",
                Duration::ZERO,
                None,
            ),
        ];
        let mut failures = 0;
        for (index, (title, lifetime, expect)) in plans.into_iter().enumerate() {
            let title = format!("[{}/{total}] {title}", done + index + 1);
            let cs = self.callback(lifetime).and_then(|callback| {
                let cs = ConnectionString::parse_with_credential_options(
                    &uri,
                    CredentialOptions::new().oidc_callback(Flow::Machine),
                )?;
                Ok((cs, callback))
            });
            let shared = if expect.is_some() {
                client.clone()
            } else {
                OidcClient::new()
            };
            let good = match cs {
                Ok((cs, callback)) => {
                    let auth = AuthOptions::default()
                        .oidc_client(shared)
                        .oidc_callback(callback);
                    let options = ConnectOptions::default().auth_options(auth);
                    demo_login_with(&title, cs, options, expect)
                }
                Err(error) => {
                    say!("{title}\n    FAILED: {error}\n");
                    false
                }
            };
            failures += usize::from(!good);
        }
        failures
    }
}

/// How many logins [`demo_tls`] runs.
const TLS_LOGINS: usize = 3;

/// A second embedded server, over TLS, with certificates made now in a temporary directory: a
/// SCRAM login over TLS, and an X.509 login (speculative, inside hello).
fn demo_tls(runtime: &tokio::runtime::Runtime, done: usize, total: usize) -> DemoResult<usize> {
    use mongodb_auth_server::devpki::{DevPki, Subject};
    let dir = PrivateDir::new("mongodb-auth-demo").map_err(|e| mongodb_auth::Error::Io {
        operation: "creating the certificates' directory",
        source: e,
    })?;
    let pki = DevPki::new(&dir.0)?;
    let (cert, key) = pki.server("server", &["localhost", "127.0.0.1"])?;
    let subject = Subject::new()
        .country("IS")
        .organization("MongoDB")
        .organizational_unit("Drivers")
        .common_name("demo-client");
    let client = pki.client("client", &subject)?;
    let client_subject = tls::Identity::from_pem_file("tlsCertificateKeyFile", &client, None)?
        .subject()
        .to_owned();
    let mut users = demo_users()?;
    users.insert_x509(&client_subject);
    let config =
        ServerConfig::new(users).tls(tls::server_config(&cert, &key, None, Some(&pki.ca_file()))?);
    let server = runtime
        .block_on(Server::bind("127.0.0.1:0", config))
        .map_err(|e| mongodb_auth::Error::Io {
            operation: "starting the TLS server",
            source: e,
        })?;
    let port = server.local_addr().port();
    say!(
        "embedded TLS server listening on localhost:{port} (certificates in {})",
        dir.0.display()
    );
    say!("X.509 user: {client_subject}\n");
    let ca = pki.ca_file();
    let logins = [
        (
            "SCRAM-SHA-256 over TLS",
            format!(
                "mongodb://alice:pencil@localhost:{port}/?tls=true&tlsCAFile={}",
                ca.display()
            ),
            "SCRAM-SHA-256",
        ),
        (
            "MONGODB-X509: the client certificate is the user (speculative, inside hello)",
            format!(
                "mongodb://localhost:{port}/?authMechanism=MONGODB-X509&tls=true&tlsCAFile={}&tlsCertificateKeyFile={}",
                ca.display(),
                client.display()
            ),
            "MONGODB-X509",
        ),
    ];
    let mut failures = 0;
    for (index, (title, uri, expect)) in logins.iter().enumerate() {
        let title = format!("[{}/{total}] {title}", done + index + 1);
        if !demo_login(&title, uri, Some(expect)) {
            failures += 1;
        }
    }
    let title = format!(
        "[{}/{total}] two SCRAM logins through one connector: the second resumes the TLS session",
        done + logins.len() + 1
    );
    if !demo_resumption(&title, &logins[0].1) {
        failures += 1;
    }
    runtime.block_on(server.shutdown());
    Ok(failures)
}

/// A directory of the temporary directory that this process made and only its user may enter
/// (the private keys of the TLS part go there), removed when dropped. Its name is new: a
/// directory or link of that name made beforehand by someone else is not used.
struct PrivateDir(std::path::PathBuf);

impl PrivateDir {
    fn new(prefix: &str) -> std::io::Result<PrivateDir> {
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        let mut attempt = 0;
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos());
            let dir = std::env::temp_dir().join(format!(
                "{prefix}-{}-{nanos:09}-{attempt}",
                std::process::id()
            ));
            // Not `create_dir_all`: only a directory made here and now will do.
            match builder.create(&dir) {
                Ok(()) => return Ok(PrivateDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::PrivateDir;

    #[test]
    fn the_certificates_directory_is_new_private_and_removed() {
        let first = PrivateDir::new("mongodb-auth-demo-test").unwrap();
        let second = PrivateDir::new("mongodb-auth-demo-test").unwrap();
        assert_ne!(first.0, second.0, "a new directory each time");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&first.0).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let path = first.0.clone();
        std::fs::write(path.join("key"), "secret").unwrap();
        drop(first);
        assert!(!path.exists());
    }
}

//! `mongodb-auth`: demo, serve, connect and parse, for a person debugging a login.

mod users;

/// What the demo's setup steps fail with: any error, shown to the person running it.
type DemoResult<T> = Result<T, Box<dyn std::error::Error>>;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use mongodb_auth::oidc::{CallbackContext, OidcCallback, OidcClient, Token};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::aws::{LocalSts, StsVerifier};
use mongodb_auth::server::oidc::OidcSettings;
use mongodb_auth::server::{AwsSettings, User, UserStore};
use mongodb_auth::{
    AuthOptions, ConnectionString, CredentialOptions, Error, ErrorKind, ParseOptions, REDACTED,
    ScramVariant, Secret,
};
use mongodb_auth_io::adapter::{ConnectOptions, Event};
use mongodb_auth_io::blocking;
use mongodb_auth_io::tls::{self, TlsInfo};
use mongodb_auth_server::jwks::Jwks;
use mongodb_auth_server::sts::HttpSts;
use mongodb_auth_server::{Server, ServerConfig};
use serde_json::{Value, json};
use users::{parse_user_spec, read_users_file};

#[derive(Parser)]
#[command(
    name = "mongodb-auth",
    version,
    about = "MongoDB authentication, step by step"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the `serve` variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Start the embedded server with demo users and log in with every mechanism, printing each
    /// step (secrets redacted). Exits non-zero if any login goes wrong.
    Demo,
    /// Run the embedded server.
    Serve {
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:27017")]
        listen: String,
        /// A user: NAME:PASSWORD[:MECH[,MECH...]]; NAME may be db.name (default db admin); NAME
        /// and PASSWORD are percent-decoded; MECH is SCRAM-SHA-1 or SCRAM-SHA-256 (default both).
        /// Other processes can read a command line: prefer --users-file for real passwords.
        #[cfg_attr(
            feature = "gssapi",
            arg(
                long = "user",
                required_unless_present_any = ["users_file", "x509_users", "aws_users", "aws_keys", "oidc_issuer", "gssapi_keytab"]
            )
        )]
        #[cfg_attr(
            not(feature = "gssapi"),
            arg(
                long = "user",
                required_unless_present_any = ["users_file", "x509_users", "aws_users", "aws_keys", "oidc_issuer"]
            )
        )]
        users: Vec<String>,
        /// A file of users, one NAME:PASSWORD[:MECH,...] a line (blank lines and # comments
        /// skipped).
        #[arg(long)]
        users_file: Option<std::path::PathBuf>,
        /// Close connections idle for this many seconds.
        #[arg(long, default_value_t = 300)]
        idle_timeout: u64,
        /// Close connections that have not logged in after this many seconds.
        #[arg(long, default_value_t = 20)]
        login_timeout: u64,
        /// Serve at most this many connections at once.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// Serve at most this many connections from one peer address.
        #[arg(long, default_value_t = 64)]
        max_connections_per_peer: usize,
        /// Serve TLS with this PEM certificate chain (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Ask TLS clients for a certificate and verify it against this PEM CA (a client without
        /// one can still log in with SCRAM or PLAIN).
        #[arg(long, requires = "tls_cert")]
        tls_ca: Option<PathBuf>,
        /// A MONGODB-X509 user in $external: a client certificate subject in RFC 2253 form, as
        /// `openssl x509 -noout -subject -nameopt RFC2253` prints it. Needs --tls-ca.
        #[arg(long = "x509-user", requires = "tls_ca")]
        x509_users: Vec<String>,
        /// A MONGODB-AWS user in $external: an IAM user or role ARN
        /// (arn:aws:iam::ACCOUNT:user/NAME or ...:role/NAME). Needs --aws-sts-endpoint or
        /// --aws-key.
        #[arg(long = "aws-user")]
        aws_users: Vec<String>,
        /// Forward MONGODB-AWS logins to this STS endpoint (e.g. https://sts.amazonaws.com/, or
        /// a moto server): STS accepting the signature is the login.
        #[arg(long, conflicts_with = "aws_keys")]
        aws_sts_endpoint: Option<String>,
        /// A key the server checks MONGODB-AWS signatures of itself, with no STS:
        /// ARN=ACCESS_KEY_ID:SECRET (the ARN becomes a user).
        #[arg(long = "aws-key")]
        aws_keys: Vec<String>,
        /// The STS host clients sign for (server-first's `h`).
        #[arg(long, default_value = "sts.amazonaws.com")]
        aws_sts_host: String,
        /// Accept MONGODB-OIDC access tokens from this issuer (their `iss`).
        #[arg(long, requires_all = ["oidc_jwks", "oidc_audience"])]
        oidc_issuer: Option<String>,
        /// The issuer's JSON Web Key Set, whose keys sign the tokens.
        #[arg(long, requires = "oidc_issuer")]
        oidc_jwks: Option<PathBuf>,
        /// The audience tokens must be for (one of their `aud`).
        #[arg(long, requires = "oidc_issuer")]
        oidc_audience: Option<String>,
        /// The client id the two-step (human) flow's IdpInfo names.
        #[arg(long, requires = "oidc_issuer")]
        oidc_client_id: Option<String>,
        /// A principal (the token's `sub`) that may log in, as a user of $external; repeat it.
        /// With none, every principal with a valid token may.
        #[arg(long = "oidc-user", requires = "oidc_issuer")]
        oidc_users: Vec<String>,
        /// Accept GSSAPI (Kerberos) tickets for the service principals of this keytab (feature
        /// `gssapi`; the server restarts itself with KRB5_KTNAME pointing at it).
        #[cfg(feature = "gssapi")]
        #[arg(long)]
        gssapi_keytab: Option<PathBuf>,
        /// The service whose tickets are accepted (`mongodb` in mongodb/HOST@REALM).
        #[cfg(feature = "gssapi")]
        #[arg(long, default_value = "mongodb", requires = "gssapi_keytab")]
        gssapi_service: String,
        /// A Kerberos principal (user@REALM) that may log in, as a user of $external; repeat it.
        #[cfg(feature = "gssapi")]
        #[arg(long = "gssapi-user", requires = "gssapi_keytab")]
        gssapi_users: Vec<String>,
    },
    /// Log in to a server. Exit status: 0 logged in; 1 the server refused the login, or failed
    /// to prove it knows the password; 2 usage or connection error.
    Connect {
        /// The connection string.
        uri: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Seconds allowed for connecting and for each read and write.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Do not start the conversation inside hello.
        #[arg(long)]
        no_speculative: bool,
        /// Send every DNS query (the SRV and TXT records of mongodb+srv, then the host names) to
        /// this server instead of the system's resolver.
        #[arg(long, value_name = "HOST:PORT")]
        dns_server: Option<SocketAddr>,
        /// Log in with the tokio adapter instead of the blocking one.
        #[arg(long)]
        tokio: bool,
    },
    /// Find MONGODB-AWS credentials as a login would (the order boto3 uses) and say where they
    /// came from and which sources were tried. Never prints the secret or the token.
    AwsCredentials {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Use this profile, as boto3's Session(profile_name=...): the environment's keys are
        /// then not used.
        #[arg(long)]
        profile: Option<String>,
        /// A connection string whose MONGODB-AWS credentials (if any) are the explicit ones.
        #[arg(long)]
        uri: Option<String>,
    },
    /// Parse a connection string and print what it configures, secrets redacted.
    Parse {
        /// The connection string.
        uri: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Reject MONGODB-AWS credentials in the URI (the 2025 auth spec) instead of warning.
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => demo(),
        Command::Serve {
            listen,
            users,
            users_file,
            idle_timeout,
            login_timeout,
            max_connections,
            max_connections_per_peer,
            tls_cert,
            tls_key,
            tls_ca,
            x509_users,
            aws_users,
            aws_sts_endpoint,
            aws_keys,
            aws_sts_host,
            oidc_issuer,
            oidc_jwks,
            oidc_audience,
            oidc_client_id,
            oidc_users,
            #[cfg(feature = "gssapi")]
            gssapi_keytab,
            #[cfg(feature = "gssapi")]
            gssapi_service,
            #[cfg(feature = "gssapi")]
            gssapi_users,
        } => {
            #[cfg(feature = "gssapi")]
            if let Some(keytab) = &gssapi_keytab
                && let Err(code) = with_keytab_in_environment(keytab)
            {
                return code;
            }
            let settings = ServeSettings {
                users_file,
                x509_users,
                aws: AwsServe {
                    users: aws_users,
                    sts_endpoint: aws_sts_endpoint,
                    keys: aws_keys,
                    sts_host: aws_sts_host,
                },
                #[cfg(feature = "gssapi")]
                gssapi: gssapi_keytab.map(|_| (gssapi_service, gssapi_users)),
                oidc: OidcServe {
                    issuer: oidc_issuer,
                    jwks: oidc_jwks,
                    audience: oidc_audience,
                    client_id: oidc_client_id,
                    users: oidc_users,
                },
                tls: tls_cert.zip(tls_key).map(|(cert, key)| (cert, key, tls_ca)),
                idle_timeout: Duration::from_secs(idle_timeout),
                login_timeout: Duration::from_secs(login_timeout),
                max_connections,
                max_connections_per_peer,
            };
            serve(&listen, &users, &settings)
        }
        Command::Connect {
            uri,
            json,
            timeout,
            no_speculative,
            dns_server,
            tokio,
        } => connect(&uri, json, timeout, no_speculative, dns_server, tokio),
        Command::Parse { uri, json, strict } => parse(&uri, json, strict),
        Command::AwsCredentials { json, profile, uri } => {
            aws_credentials(json, profile, uri.as_deref())
        }
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

// --- serve -----------------------------------------------------------------------------------

struct AwsServe {
    users: Vec<String>,
    sts_endpoint: Option<String>,
    keys: Vec<String>,
    sts_host: String,
}

impl AwsServe {
    /// The server's MONGODB-AWS settings (and the users they add), if any were given.
    fn settings(
        &self,
        users: &mut UserStore,
        file_keys: &[Secret],
    ) -> mongodb_auth::Result<Option<AwsSettings>> {
        for arn in &self.users {
            users.insert_aws(arn);
        }
        let keys: Vec<&str> = self
            .keys
            .iter()
            .map(String::as_str)
            .chain(file_keys.iter().map(Secret::expose))
            .collect();
        let verifier: Arc<dyn StsVerifier> = match (&self.sts_endpoint, keys.is_empty()) {
            (Some(endpoint), _) => Arc::new(HttpSts::new(endpoint)),
            (None, false) => {
                let mut sts = LocalSts::new();
                for spec in keys {
                    let invalid = || Error::InvalidOption {
                        option: "--aws-key".into(),
                        rule: "expected ARN=ACCESS_KEY_ID:SECRET".into(),
                    };
                    let (arn, key) = spec.split_once('=').ok_or_else(invalid)?;
                    let (access_key_id, secret) = key.split_once(':').ok_or_else(invalid)?;
                    sts.insert(arn, access_key_id, Secret::new(secret));
                    users.insert_aws(arn);
                }
                Arc::new(sts)
            }
            (None, true) if self.users.is_empty() => return Ok(None),
            (None, true) => {
                return Err(Error::InvalidOption {
                    option: "--aws-user".into(),
                    rule: "needs --aws-sts-endpoint or --aws-key to check signatures".into(),
                });
            }
        };
        Ok(Some(AwsSettings {
            sts_host: self.sts_host.clone(),
            verifier,
        }))
    }
}

struct OidcServe {
    issuer: Option<String>,
    jwks: Option<PathBuf>,
    audience: Option<String>,
    client_id: Option<String>,
    users: Vec<String>,
}

impl OidcServe {
    fn settings(&self) -> mongodb_auth::Result<Option<OidcSettings>> {
        let (Some(issuer), Some(jwks), Some(audience)) = (&self.issuer, &self.jwks, &self.audience)
        else {
            return Ok(None);
        };
        let keys = std::fs::read(jwks).map_err(|e| Error::InvalidOption {
            option: "--oidc-jwks".into(),
            rule: format!("cannot read {}: {e}", jwks.display()),
        })?;
        let keys = Arc::new(Jwks::from_json(&keys)?);
        let mut settings = OidcSettings::new(issuer.as_str(), audience.as_str(), keys);
        if let Some(client_id) = &self.client_id {
            settings = settings.client_id(client_id.as_str());
        }
        for user in &self.users {
            settings = settings.user(user.as_str());
        }
        Ok(Some(settings))
    }
}

/// The system's Kerberos reads the acceptor keytab from KRB5_KTNAME, which a running process
/// cannot safely change: the server starts itself again with it set (before any thread exists).
#[cfg(feature = "gssapi")]
fn with_keytab_in_environment(keytab: &std::path::Path) -> Result<(), ExitCode> {
    use std::os::unix::process::CommandExt;
    let wanted = format!("FILE:{}", keytab.display());
    if std::env::var("KRB5_KTNAME").ok().as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => {
            eprintln!("error: cannot find this program to restart it with KRB5_KTNAME: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let error = std::process::Command::new(program)
        .args(std::env::args_os().skip(1))
        .env("KRB5_KTNAME", &wanted)
        .exec();
    eprintln!("error: cannot restart with KRB5_KTNAME={wanted}: {error}");
    Err(ExitCode::from(2))
}

struct ServeSettings {
    /// GSSAPI: the service and the principals that may log in.
    #[cfg(feature = "gssapi")]
    gssapi: Option<(String, Vec<String>)>,
    users_file: Option<PathBuf>,
    x509_users: Vec<String>,
    aws: AwsServe,
    oidc: OidcServe,
    /// Certificate chain, key, and the CA of client certificates.
    tls: Option<(PathBuf, PathBuf, Option<PathBuf>)>,
    idle_timeout: Duration,
    login_timeout: Duration,
    max_connections: usize,
    max_connections_per_peer: usize,
}

fn server_config(specs: &[String], settings: &ServeSettings) -> mongodb_auth::Result<ServerConfig> {
    let mut users = UserStore::new();
    let mut aws_keys: Vec<Secret> = Vec::new();
    if let Some(path) = &settings.users_file {
        let file = read_users_file(path, &mut SystemRandom)?;
        for user in file.users {
            users.insert(user);
        }
        aws_keys = file.aws_keys;
    }
    for spec in specs {
        users.insert(parse_user_spec(spec, &mut SystemRandom)?);
    }
    for subject in &settings.x509_users {
        users.insert_x509(subject);
    }
    let aws = settings.aws.settings(&mut users, &aws_keys)?;
    // The auth log goes to stderr, so stdout stays the address line alone.
    let mut config = ServerConfig::new(users).auth_log(|event| eprintln!("{event}"));
    if let Some(aws) = aws {
        config = config.aws(aws);
    }
    if let Some(oidc) = settings.oidc.settings()? {
        config = config.oidc(oidc);
    }
    #[cfg(feature = "gssapi")]
    if let Some((service, principals)) = &settings.gssapi {
        let mut gssapi = mongodb_auth::server::gssapi::GssapiSettings::new(
            Arc::new(mongodb_auth_io::kerberos::KerberosAcceptor),
            service.as_str(),
        );
        for principal in principals {
            gssapi = gssapi.user(principal.as_str());
        }
        config = config.gssapi(gssapi);
    }
    if let Some((certificate, key, client_ca)) = &settings.tls {
        config = config.tls(tls::server_config(
            certificate,
            key,
            None,
            client_ca.as_deref(),
        )?);
    }
    config.idle_timeout = settings.idle_timeout;
    config.login_timeout = settings.login_timeout;
    config.max_connections = settings.max_connections;
    config.max_connections_per_peer = settings.max_connections_per_peer;
    Ok(config)
}

fn serve(listen: &str, specs: &[String], settings: &ServeSettings) -> ExitCode {
    let config = match server_config(specs, settings) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match Server::bind(listen, config).await {
            Ok(server) => {
                // The first line is the address, for scripts that wait for it.
                println!("listening on {}", server.local_addr());
                server.run_forever().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                ExitCode::from(2)
            }
        }
    })
}

// --- connect ---------------------------------------------------------------------------------

/// 1 for a login the server refused or a server that failed mutual authentication, 2 otherwise.
fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::AuthenticationFailed
        | ErrorKind::MutualAuthenticationFailed
        | ErrorKind::Server => 1,
        _ => 2,
    }
}

fn error_json(error: &Error) -> Value {
    let code = match error {
        Error::Server { code, .. } => json!(code),
        _ => Value::Null,
    };
    // `detail` names the error's variant (a GSSAPI credential problem, an unknown service...):
    // errors carry no secrets.
    json!({
        "kind": format!("{:?}", error.kind()),
        "code": code,
        "message": error.to_string(),
        "detail": format!("{error:?}"),
    })
}

fn connect(
    uri: &str,
    as_json: bool,
    timeout: u64,
    no_speculative: bool,
    dns_server: Option<SocketAddr>,
    use_tokio: bool,
) -> ExitCode {
    let timeout = Duration::from_secs(timeout);
    let mut options =
        ConnectOptions::default().auth_options(AuthOptions::default().speculative(!no_speculative));
    options.connect_timeout = timeout;
    options.read_timeout = timeout;
    options.write_timeout = timeout;
    options.dns_server = dns_server;
    // Which source gave the MONGODB-OIDC token, for the report.
    let token_source: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = token_source.clone();
    options = options.observe(move |event| {
        if let Event::OidcToken { environment, .. } = event {
            let source = environment.map_or("callback".to_owned(), |e| format!("ENVIRONMENT:{e}"));
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(source);
        }
        if !as_json {
            print_event(event);
        }
    });
    let started = Instant::now();
    let login = if use_tokio {
        runtime()
            .map_err(|source| Error::Io {
                operation: "starting the runtime",
                source,
            })
            .and_then(|rt| {
                rt.block_on(async {
                    let mut connection = mongodb_auth_io::tokio::connect(uri, options).await?;
                    let users = connection.authenticated_users().await;
                    Ok((
                        connection.outcome().clone(),
                        connection.tls().cloned(),
                        users,
                    ))
                })
            })
    } else {
        blocking::connect(uri, options).map(|mut connection| {
            let users = connection.authenticated_users();
            (
                connection.outcome().clone(),
                connection.tls().cloned(),
                users,
            )
        })
    };
    let (outcome, tls_info, users) = match login {
        Ok(login) => login,
        Err(error) => {
            if as_json {
                println!("{}", json!({ "ok": false, "error": error_json(&error) }));
            } else {
                eprintln!("error: {error}");
            }
            return ExitCode::from(exit_code(&error));
        }
    };
    let elapsed = started.elapsed();
    // The verdict is the login's: a server without connectionStatus (some proxies) only means
    // nobody can say which users the login authenticated.
    let (users, note) = match users {
        Ok(users) => (Some(users), None),
        Err(error) => (
            None,
            Some(format!(
                "the login succeeded; connectionStatus, which would list the authenticated users, failed: {error}"
            )),
        ),
    };
    let mechanism = outcome.mechanism.map(|m| m.as_str());
    if as_json {
        let mut report = json!({
            "ok": true,
            "mechanism": mechanism,
            "roundTrips": outcome.round_trips,
            "speculative": outcome.speculative,
            "tls": tls_info.as_ref().map(tls_json),
        });
        if let Some(source) = token_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            report["oidcTokenSource"] = json!(source);
        }
        if let Some(users) = &users {
            report["authenticatedUsers"] = users
                .iter()
                .map(|(user, db)| json!({ "user": user, "db": db }))
                .collect();
        }
        if let Some(note) = &note {
            report["notes"] = json!([note]);
        }
        println!("{report}");
    } else {
        println!(
            "ok: {} in {} round trip(s) after hello{}, {:.1} ms; {}",
            mechanism.unwrap_or("no authentication"),
            outcome.round_trips,
            if outcome.speculative {
                " (speculative)"
            } else {
                ""
            },
            elapsed.as_secs_f64() * 1000.0,
            match &users {
                Some(users) => format!("the server reports {}", describe_users(users)),
                None => "the server cannot say which users are authenticated".to_owned(),
            },
        );
        if let Some(note) = note {
            println!("note: {note}");
        }
    }
    ExitCode::SUCCESS
}

fn tls_json(info: &TlsInfo) -> Value {
    json!({
        "version": info.protocol_version,
        "peerSubject": info.peer_subject,
        "clientSubject": info.client_subject,
    })
}

fn describe_tls(info: &TlsInfo) -> String {
    format!(
        "TLS {}; server certificate: {}; client certificate: {}",
        info.protocol_version,
        info.peer_subject.as_deref().unwrap_or("none"),
        info.client_subject.as_deref().unwrap_or("none"),
    )
}

fn describe_users(users: &[(String, String)]) -> String {
    if users.is_empty() {
        return "no authenticated user".into();
    }
    users
        .iter()
        .map(|(user, db)| format!("{user}@{db}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_event(event: &Event<'_>) {
    match event {
        Event::Connected { address } => println!("    connected to {address}"),
        Event::TlsEstablished { info } => println!("    {}", describe_tls(info)),
        Event::Sent {
            command,
            db,
            op,
            auth_fields,
            bytes,
        } => {
            let extra = if auth_fields.is_empty() {
                String::new()
            } else {
                format!(" + {}", auth_fields.join(", "))
            };
            println!("    -> {command} on {db} via {op} ({bytes} bytes){extra}");
        }
        Event::Received { bytes, speculative } => {
            let extra = if *speculative {
                ", speculativeAuthenticate answered"
            } else {
                ""
            };
            println!("    <- reply ({bytes} bytes){extra}");
        }
        Event::OidcToken {
            environment,
            from_cache,
        } => {
            let source =
                environment.map_or("the callback".to_owned(), |e| format!("ENVIRONMENT:{e}"));
            let cached = if *from_cache {
                " (cached by another connection)"
            } else {
                ""
            };
            println!("    .. OIDC access token from {source}{cached}");
        }
        Event::Reauthenticating { command } => {
            println!("    !! {command} needs re-authentication (391): logging in again");
        }
        Event::DerivedKey {
            iterations,
            elapsed,
        } => {
            println!(
                "    .. PBKDF2, {iterations} iterations: {:.1} ms",
                elapsed.as_secs_f64() * 1000.0
            );
        }
        _ => {}
    }
}

// --- aws-credentials -------------------------------------------------------------------------

fn aws_credentials(as_json: bool, profile: Option<String>, uri: Option<&str>) -> ExitCode {
    use mongodb_auth::aws::Credentials;
    use mongodb_auth::aws::chain::{ChainStep, CredentialChain};
    use mongodb_auth::environment::SystemEnvironment;
    let mut chain = CredentialChain::new(Arc::new(SystemEnvironment));
    if let Some(profile) = profile {
        chain = chain.profile(profile);
    }
    let resolved = (|| {
        if let Some(uri) = uri {
            let cs = ConnectionString::parse(uri)?;
            let explicit = cs.credential().and_then(Credentials::from_credential);
            chain = std::mem::replace(
                &mut chain,
                CredentialChain::new(Arc::new(SystemEnvironment)),
            )
            .explicit(explicit);
        }
        let mut step = chain.step()?;
        loop {
            step = match step {
                ChainStep::Ask(ask) => chain.answer(mongodb_auth_io::adapter::answer_ask(&ask))?,
                ChainStep::Done(resolved) => return Ok(resolved),
                other => {
                    return Err(Error::Unsupported {
                        what: format!("{other:?}"),
                    });
                }
            };
        }
    })();
    match resolved {
        Ok(resolved) => {
            let credentials = &resolved.credentials;
            let expiration = credentials
                .expiration()
                .map(mongodb_auth::aws::time::format_rfc3339);
            let tried: Vec<Value> = resolved
                .tried
                .iter()
                .map(|t| json!({ "source": t.source.as_str(), "outcome": t.outcome }))
                .collect();
            if as_json {
                println!(
                    "{}",
                    json!({
                        "ok": true,
                        "source": resolved.source.as_str(),
                        "accessKeyId": credentials.access_key_id(),
                        "expiration": expiration,
                        "sessionToken": credentials.session_token().is_some(),
                        "tried": tried,
                    })
                );
            } else {
                for t in &resolved.tried {
                    println!("    {:<24} {}", t.source.as_str(), t.outcome);
                }
                println!(
                    "source: {}; access key id: {}; session token: {}; expires: {}",
                    resolved.source,
                    credentials.access_key_id(),
                    if credentials.session_token().is_some() {
                        "yes"
                    } else {
                        "no"
                    },
                    expiration.as_deref().unwrap_or("never"),
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            if as_json {
                println!("{}", json!({ "ok": false, "error": error_json(&error) }));
            } else {
                eprintln!("error: {error}");
            }
            ExitCode::from(1)
        }
    }
}

// --- parse -----------------------------------------------------------------------------------

fn parse(uri: &str, as_json: bool, strict: bool) -> ExitCode {
    let options = if strict {
        ParseOptions::strict()
    } else {
        ParseOptions::default()
    };
    let cs = match ConnectionString::parse_with(uri, options) {
        Ok(cs) => cs,
        Err(error) => {
            if as_json {
                println!("{}", json!({ "ok": false, "error": error_json(&error) }));
            } else {
                eprintln!("error: {error}");
            }
            return ExitCode::from(2);
        }
    };
    let credential = cs.credential().map(|c| {
        let properties: serde_json::Map<String, Value> = c
            .mechanism_properties()
            .iter()
            .map(|(k, v)| {
                let shown = if k == "AWS_SESSION_TOKEN" {
                    REDACTED
                } else {
                    v
                };
                (k.to_owned(), json!(shown))
            })
            .collect();
        json!({
            "username": c.username(),
            "password": c.password().map(|_| REDACTED),
            "source": c.source(),
            "mechanism": c.mechanism().map(|m| m.as_str()),
            "mechanismProperties": properties,
        })
    });
    let options: Vec<Value> = cs
        .options()
        .iter()
        .map(|o| json!({ "key": o.key(), "value": if o.is_sensitive() { REDACTED } else { o.value() } }))
        .collect();
    let report = json!({
        "ok": true,
        "uri": cs.to_string(),
        "srv": cs.is_srv(),
        "hosts": cs.hosts().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "database": cs.database(),
        "credential": credential,
        "tls": cs.tls_enabled(),
        "options": options,
        "warnings": cs.warnings().iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    if as_json {
        println!("{report}");
    } else {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    ExitCode::SUCCESS
}

// --- demo ------------------------------------------------------------------------------------

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
    AwsSettings {
        sts_host: "sts.amazonaws.com".into(),
        verifier: Arc::new(sts),
    }
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

fn demo() -> ExitCode {
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
    println!("embedded server listening on {address}");
    println!(
        "users: alice (SCRAM-SHA-1, SCRAM-SHA-256), bob (SCRAM-SHA-1), carol in $external, \u{2168} (SCRAM-SHA-256), the AWS user {DEMO_AWS_ARN} (key {DEMO_AWS_KEY_ID}, checked by a local STS), and the OIDC principal {DEMO_OIDC_PRINCIPAL} (tokens signed now by a key made for this run)\n"
    );

    let total = DEMO_LOGINS.len() + OIDC_LOGINS + TLS_LOGINS;
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
            println!("FAILED: the TLS part of the demo could not start: {e}\n");
        }
    }
    match demo_gssapi(&runtime) {
        Ok(true) => {}
        Ok(false) => failures += 1,
        Err(skipped) => println!("GSSAPI: skipped: {skipped}\n"),
    }
    runtime.block_on(server.shutdown());
    if failures == 0 {
        println!("all {total} logins behaved as expected");
        ExitCode::SUCCESS
    } else {
        println!("{failures} of {total} logins went wrong");
        ExitCode::FAILURE
    }
}

/// One login of the demo: prints what happens; returns whether it went as `expect` says (the
/// mechanism it must end with, or `None`: it must be refused).
fn demo_login(title: &str, uri: &str, expect: Option<&str>) -> bool {
    match ConnectionString::parse(uri) {
        Ok(cs) => demo_login_with(title, cs, ConnectOptions::default(), expect),
        Err(error) => {
            println!("{title}\n    FAILED: {error}\n");
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
    println!("{title}");
    println!("    {cs}");
    let started = Instant::now();
    let result = blocking::connect(cs, options.observe(print_event))
        .and_then(|mut connection| Ok((connection.authenticated_users()?, connection)));
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    match (result, expect) {
        (Ok((users, connection)), Some(expected)) => {
            let outcome = connection.outcome();
            let mechanism = outcome.mechanism.map_or("none", |m| m.as_str());
            let good = mechanism == expected && !users.is_empty();
            println!(
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
            println!("    ok, refused as it should be: {error} ({elapsed:.1} ms)\n");
            true
        }
        (Ok(_), None) => {
            println!("    FAILED: the server accepted a wrong password\n");
            false
        }
        (Err(error), _) => {
            println!("    FAILED: {error}\n");
            false
        }
    }
}

/// Where the demo's GSSAPI login gets its principal and password.
#[cfg(feature = "gssapi")]
const DEMO_GSSAPI_VARIABLE: &str = "MONGODB_AUTH_DEMO_GSSAPI";

/// A GSSAPI login needs a KDC, which the demo cannot make: with feature `gssapi` and
/// `MONGODB_AUTH_DEMO_GSSAPI=PRINCIPAL:PASSWORD` (the realm in `KRB5_CONFIG`, a keytab with
/// `mongodb/localhost` in `KRB5_KTNAME`), it starts a server that accepts the principal and logs
/// in with the password (no ticket cache). `Err` says why it was skipped.
fn demo_gssapi(runtime: &tokio::runtime::Runtime) -> Result<bool, String> {
    #[cfg(not(feature = "gssapi"))]
    {
        let _ = runtime;
        Err("this build has no feature `gssapi` (cargo run -p mongodb-auth-cli --features gssapi -- demo)".into())
    }
    #[cfg(feature = "gssapi")]
    {
        let setting = std::env::var(DEMO_GSSAPI_VARIABLE).map_err(|_| {
            format!(
                "no KDC given: set {DEMO_GSSAPI_VARIABLE}=PRINCIPAL:PASSWORD, KRB5_CONFIG (the \
                 realm) and KRB5_KTNAME (a keytab with mongodb/localhost)"
            )
        })?;
        let (principal, password) = setting
            .split_once(':')
            .ok_or_else(|| format!("{DEMO_GSSAPI_VARIABLE} must be PRINCIPAL:PASSWORD"))?;
        let settings = mongodb_auth::server::gssapi::GssapiSettings::new(
            Arc::new(mongodb_auth_io::kerberos::KerberosAcceptor),
            "mongodb",
        )
        .user(principal);
        let server = runtime
            .block_on(Server::bind(
                "127.0.0.1:0",
                ServerConfig::new(UserStore::new()).gssapi(settings),
            ))
            .map_err(|e| format!("cannot start the GSSAPI server: {e}"))?;
        let port = server.local_addr().port();
        println!("embedded GSSAPI server listening on localhost:{port}, accepting {principal}\n");
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let uri = format!(
            "mongodb://{}:{}@localhost:{port}/?authMechanism=GSSAPI",
            encode(principal),
            encode(password)
        );
        let good = demo_login(
            "[GSSAPI] Kerberos, the credential acquired from the password (no kinit)",
            &uri,
            Some("GSSAPI"),
        );
        runtime.block_on(server.shutdown());
        Ok(good)
    }
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
    fn callback(&self, lifetime: Duration) -> DemoResult<Arc<dyn OidcCallback>> {
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
        Ok(Arc::new(move |_: &CallbackContext| {
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
                Ok(ConnectionString::parse_with_credential_options(
                    &uri,
                    CredentialOptions::new().oidc_callback(callback),
                )?)
            });
            let shared = if expect.is_some() {
                client.clone()
            } else {
                OidcClient::new()
            };
            let options =
                ConnectOptions::default().auth_options(AuthOptions::default().oidc_client(shared));
            let good = match cs {
                Ok(cs) => demo_login_with(&title, cs, options, expect),
                Err(error) => {
                    println!("{title}\n    FAILED: {error}\n");
                    false
                }
            };
            failures += usize::from(!good);
        }
        failures
    }
}

/// How many logins [`demo_tls`] runs.
const TLS_LOGINS: usize = 2;

/// A second embedded server, over TLS, with certificates made now in a temporary directory: a
/// SCRAM login over TLS, and an X.509 login (speculative, inside hello).
fn demo_tls(runtime: &tokio::runtime::Runtime, done: usize, total: usize) -> DemoResult<usize> {
    use mongodb_auth_server::devpki::{DevPki, Subject};
    let dir = std::env::temp_dir().join(format!("mongodb-auth-demo-{}", std::process::id()));
    let pki = DevPki::new(&dir)?;
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
    println!(
        "embedded TLS server listening on localhost:{port} (certificates in {})",
        dir.display()
    );
    println!("X.509 user: {client_subject}\n");
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
    runtime.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(failures)
}

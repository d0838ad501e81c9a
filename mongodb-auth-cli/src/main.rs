//! `mongodb-auth`: demo, serve, connect, parse and aws-credentials, for a person debugging a
//! login. Each command is a module; this one is the command line.

/// `println!` for a tool whose output may go to `head`: once nobody reads it, the process ends
/// quietly, as a SIGPIPE ends a C tool, instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say_line(format_args!($($arg)*))
    };
}

mod aws_credentials;
mod connect;
mod demo;
mod parse;
mod serve;
mod token_cache;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mongodb_auth::{Error, ErrorKind};
use serde_json::{Value, json};
use zeroize::Zeroizing;

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
        /// Listen on this UNIX domain socket too, as mongod does on /tmp/mongodb-PORT.sock
        /// (clients connect to mongodb://%2Ftmp%2Fmongodb-27017.sock), for this user only
        /// (mode 0700). A socket an earlier server left there is replaced (one a server still
        /// listens on is not): `serve` ends by a signal and leaves its socket behind.
        #[arg(long)]
        unix_socket: Option<PathBuf>,
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
        /// A file of users, one NAME:PASSWORD[:MECH,...] a line, or `aws-key
        /// ARN=ACCESS_KEY_ID:SECRET` for a MONGODB-AWS key of the local STS (blank lines and #
        /// comments skipped).
        #[arg(long)]
        users_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        limits: serve::Limits,
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
        /// (arn:aws:iam::ACCOUNT:user/NAME or ...:role/NAME). Needs --aws-sts-endpoint, or
        /// keys from --aws-key or the users file's aws-key lines.
        #[arg(long = "aws-user")]
        aws_users: Vec<String>,
        /// Forward MONGODB-AWS logins to this STS endpoint (e.g. https://sts.amazonaws.com/, or
        /// a moto server): STS accepting the signature is the login.
        #[arg(long, conflicts_with = "aws_keys")]
        aws_sts_endpoint: Option<String>,
        /// A key the server checks MONGODB-AWS signatures of itself, with no STS:
        /// ARN=ACCESS_KEY_ID:SECRET, or ARN=ACCESS_KEY_ID:SECRET:SESSION_TOKEN for temporary
        /// credentials (an assumed or SSO role's). The ARN becomes a user. Other processes can
        /// read a command line: prefer the users file's aws-key lines for real keys.
        #[arg(long = "aws-key")]
        aws_keys: Vec<String>,
        /// The STS host clients sign for (server-first's `h`).
        #[arg(long, default_value = "sts.amazonaws.com")]
        aws_sts_host: String,
        /// Accept MONGODB-OIDC access tokens from this issuer (their `iss`). Without
        /// --oidc-jwks, its keys are found as mongod finds them: from its discovery document
        /// (ISSUER/.well-known/openid-configuration) and `jwks_uri`, fetched again when a token
        /// names a key it does not have (at most every 30 s). https, or http to loopback.
        #[arg(long, requires = "oidc_audience")]
        oidc_issuer: Option<String>,
        /// The issuer's JSON Web Key Set, whose keys sign the tokens, from a file.
        #[arg(long, requires = "oidc_issuer")]
        oidc_jwks: Option<PathBuf>,
        /// The audience tokens must be for (one of their `aud`).
        #[arg(long, requires = "oidc_issuer")]
        oidc_audience: Option<String>,
        /// The client id the two-step (human) flow's IdpInfo names.
        #[arg(long, requires = "oidc_issuer")]
        oidc_client_id: Option<String>,
        /// A scope the human flow's IdpInfo asks clients to request (`requestScopes`); repeat it.
        #[arg(long = "oidc-request-scope", requires = "oidc_issuer")]
        oidc_request_scopes: Vec<String>,
        /// A principal (the token's `sub`) that may log in, as a user of $external; repeat it.
        /// With none, every principal with a valid token may.
        #[arg(long = "oidc-user", requires = "oidc_issuer")]
        oidc_users: Vec<String>,
        /// The prefix of the provider's users in $external: a principal logs in as
        /// PREFIX/PRINCIPAL, as mongod's authNamePrefix names it.
        #[arg(long, default_value = "oidc", requires = "oidc_issuer")]
        oidc_auth_name_prefix: String,
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
        /// The connection string, or - to read it from standard input: other processes can
        /// read a command line, and a password in it.
        uri: String,
        #[command(flatten)]
        flags: connect::Flags,
    },
    /// Find MONGODB-AWS credentials as a login would (the order boto3 uses) and say where they
    /// came from and which sources were tried. Never prints the secret or the token. Exit
    /// status: 0 found; 1 none found, or a source failed; 2 usage error.
    AwsCredentials {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Use this profile, as boto3's Session(profile_name=...): the environment's keys are
        /// then not used.
        #[arg(long)]
        profile: Option<String>,
        /// A connection string whose MONGODB-AWS credentials (if any) are the explicit ones, or
        /// - to read it from standard input.
        #[arg(long)]
        uri: Option<String>,
    },
    /// Parse a connection string and print what it configures, secrets redacted.
    Parse {
        /// The connection string, or - to read it from standard input.
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
    // A stdout nobody reads ends the command by unwinding to here (see `say_line`), so what
    // the command holds is dropped on the way: the demo's directory of keys, wiped buffers.
    CATCHES_STDOUT_GONE.set(true);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli))) {
        Ok(code) => code,
        Err(payload) => match payload.downcast::<StdoutGone>() {
            Ok(gone) => ExitCode::from(gone.0),
            Err(panic) => std::panic::resume_unwind(panic),
        },
    }
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Demo => demo::demo(),
        Command::Serve {
            listen,
            unix_socket,
            users,
            users_file,
            limits,
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
            oidc_request_scopes,
            oidc_users,
            oidc_auth_name_prefix,
            #[cfg(feature = "gssapi")]
            gssapi_keytab,
            #[cfg(feature = "gssapi")]
            gssapi_service,
            #[cfg(feature = "gssapi")]
            gssapi_users,
        } => {
            #[cfg(feature = "gssapi")]
            if let Some(keytab) = &gssapi_keytab
                && let Err(code) = serve::with_keytab_in_environment(keytab)
            {
                return code;
            }
            let settings = serve::ServeSettings {
                users_file,
                x509_users,
                aws: serve::AwsServe {
                    users: aws_users,
                    sts_endpoint: aws_sts_endpoint,
                    keys: aws_keys,
                    sts_host: aws_sts_host,
                },
                #[cfg(feature = "gssapi")]
                gssapi: gssapi_keytab.map(|_| (gssapi_service, gssapi_users)),
                oidc: serve::OidcServe {
                    issuer: oidc_issuer,
                    jwks: oidc_jwks,
                    audience: oidc_audience,
                    client_id: oidc_client_id,
                    request_scopes: oidc_request_scopes,
                    users: oidc_users,
                    auth_name_prefix: oidc_auth_name_prefix,
                },
                tls: tls_cert.zip(tls_key).map(|(cert, key)| (cert, key, tls_ca)),
                unix_socket,
                limits,
            };
            serve::serve(&listen, &users, &settings)
        }
        Command::Connect { uri, flags } => match connection_string_argument(uri) {
            Ok(uri) => connect::connect(&uri, &flags),
            Err(code) => code,
        },
        Command::Parse { uri, json, strict } => match connection_string_argument(uri) {
            Ok(uri) => parse::parse(&uri, json, strict),
            Err(code) => code,
        },
        Command::AwsCredentials { json, profile, uri } => {
            match uri.map(connection_string_argument).transpose() {
                Ok(uri) => aws_credentials::aws_credentials(
                    json,
                    profile,
                    uri.as_deref().map(|u| u.as_str()),
                ),
                Err(code) => code,
            }
        }
    }
}

/// The largest connection string read from standard input.
const MAX_URI_SIZE: usize = 64 * 1024;

/// A connection string as given, or, for `-`, read from standard input (trailing whitespace
/// dropped), where no other process sees it. Wiped when dropped: it may hold a password.
fn connection_string_argument(uri: String) -> Result<Zeroizing<String>, ExitCode> {
    if uri != "-" {
        return Ok(Zeroizing::new(uri));
    }
    let mut bytes =
        match mongodb_auth_io::answer::read_capped(std::io::stdin().lock(), u64::MAX, MAX_URI_SIZE)
        {
            Ok(bytes) if bytes.len() <= MAX_URI_SIZE => bytes,
            Ok(_) => {
                eprintln!("error: standard input holds more than {MAX_URI_SIZE} bytes");
                return Err(ExitCode::from(2));
            }
            Err(e) => {
                eprintln!("error: cannot read the connection string from standard input: {e}");
                return Err(ExitCode::from(2));
            }
        };
    // Taken, not copied, so that the one buffer read into is the one wiped.
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => {
            let mut text = Zeroizing::new(text);
            let len = text.trim_end().len();
            text.truncate(len);
            Ok(text)
        }
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            eprintln!("error: standard input holds no UTF-8 text");
            Err(ExitCode::from(2))
        }
    }
}

/// Why stdout could not be written, as the status to end with: 141 (128 + 13, what a shell
/// reports for SIGPIPE) when its reader has gone, 2 for any other failure.
struct StdoutGone(u8);

thread_local! {
    /// Whether `main` catches [`StdoutGone`] on this thread: on its own thread only.
    static CATCHES_STDOUT_GONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Writes a line of `say!` to stdout. When that fails on the thread `main` catches it on, and
/// not while a panic already unwinds (a second one would abort), the thread unwinds to `main`
/// with [`StdoutGone`] (no panic message: `resume_unwind` skips the hook); elsewhere the
/// process ends at once.
pub(crate) fn say_line(text: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.write_all(b"\n")) {
        drop(out);
        let status = if e.kind() == std::io::ErrorKind::BrokenPipe {
            141
        } else {
            eprintln!("error: cannot write to stdout: {e}");
            2
        };
        if CATCHES_STDOUT_GONE.get() && !std::thread::panicking() {
            std::panic::resume_unwind(Box::new(StdoutGone(status)));
        }
        std::process::exit(status.into());
    }
}

/// A runtime for the commands that serve or use the tokio adapter.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// Reports `error` on stderr, or as `{"ok": false, "error", "warnings"}` on stdout with `--json`.
pub(crate) fn report_error(error: &Error, warnings: &[String], as_json: bool) {
    if as_json {
        let mut report = json!({ "ok": false, "error": error_json(error) });
        if !warnings.is_empty() {
            report["warnings"] = json!(warnings);
        }
        say!("{report}");
    } else {
        eprintln!("error: {error}");
    }
}

/// 1 for a login the server refused or a server that failed mutual authentication, 2 otherwise.
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::AuthenticationFailed
        | ErrorKind::MutualAuthenticationFailed
        | ErrorKind::Server => 1,
        _ => 2,
    }
}

pub(crate) fn error_json(error: &Error) -> Value {
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

//! `serve`: the embedded server, configured from the command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mongodb_auth::Error;
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::aws::{LocalSts, StsVerifier};
use mongodb_auth::server::oidc::{OidcSettings, SigningKeys};
use mongodb_auth::server::{AwsSettings, UserStore};
use mongodb_auth_io::tls;
use mongodb_auth_server::jwks::{IssuerKeys, Jwks, MAX_JWKS_SIZE};
use mongodb_auth_server::users_file::{AwsKey, UserSpec, UsersFile, UsersFileError};
use mongodb_auth_server::{Server, ServerConfig};

use crate::runtime;

/// An option's value refused, and why.
fn invalid(option: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidOption {
        option: option.to_owned(),
        rule: why.to_string(),
    }
}

pub(crate) struct AwsServe {
    pub(crate) users: Vec<String>,
    pub(crate) sts_endpoint: Option<String>,
    pub(crate) keys: Vec<String>,
    pub(crate) sts_host: String,
}

impl AwsServe {
    /// The server's MONGODB-AWS settings (and the users they add), if any were given.
    fn settings(
        &self,
        users: &mut UserStore,
        file_keys: &[AwsKey],
    ) -> mongodb_auth::Result<Option<AwsSettings>> {
        for arn in &self.users {
            users.insert_aws(arn);
        }
        let flag_keys = self
            .keys
            .iter()
            .map(|spec| AwsKey::parse(spec).map_err(|refused| invalid("--aws-key", refused)))
            .collect::<mongodb_auth::Result<Vec<_>>>()?;
        let keys: Vec<&AwsKey> = flag_keys.iter().chain(file_keys).collect();
        let verifier = match (&self.sts_endpoint, keys.is_empty()) {
            (Some(endpoint), true) => StsVerifier::Endpoint(endpoint.clone()),
            // `--aws-key` and the endpoint are refused together by the command line; keys from
            // the users file would be dropped without a word, and their users never log in.
            (Some(_), false) => {
                return Err(invalid(
                    "--users-file",
                    "its aws-key lines are for the server's own check: with \
                     --aws-sts-endpoint, STS checks every signature",
                ));
            }
            (None, false) => {
                let mut sts = LocalSts::new();
                for key in keys {
                    key.insert_into(&mut sts);
                    users.insert_aws(&key.arn);
                }
                StsVerifier::Local(Arc::new(sts))
            }
            (None, true) if self.users.is_empty() => return Ok(None),
            (None, true) => {
                return Err(invalid(
                    "--aws-user",
                    "needs --aws-sts-endpoint or --aws-key to check signatures",
                ));
            }
        };
        let mut settings = AwsSettings::new(verifier);
        settings.sts_host.clone_from(&self.sts_host);
        Ok(Some(settings))
    }
}

pub(crate) struct OidcServe {
    pub(crate) issuer: Option<String>,
    pub(crate) jwks: Option<PathBuf>,
    pub(crate) audience: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) request_scopes: Vec<String>,
    pub(crate) users: Vec<String>,
    pub(crate) auth_name_prefix: String,
}

impl OidcServe {
    fn settings(&self) -> mongodb_auth::Result<Option<OidcSettings>> {
        let (Some(issuer), Some(audience)) = (&self.issuer, &self.audience) else {
            return Ok(None);
        };
        let keys: Arc<dyn SigningKeys> = match &self.jwks {
            Some(jwks) => {
                let keys =
                    mongodb_auth_io::answer::read_within(jwks, MAX_JWKS_SIZE).map_err(|e| {
                        invalid(
                            "--oidc-jwks",
                            format!("cannot read `{}`: {e}", jwks.display()),
                        )
                    })?;
                Arc::new(Jwks::from_json(&keys)?)
            }
            None => Arc::new(IssuerKeys::discover(issuer)?),
        };
        let mut settings = OidcSettings::new(issuer.as_str(), audience.as_str(), keys)
            .auth_name_prefix(self.auth_name_prefix.as_str());
        if let Some(client_id) = &self.client_id {
            settings = settings.client_id(client_id.as_str());
        }
        if !self.request_scopes.is_empty() {
            settings = settings.request_scopes(self.request_scopes.iter().map(String::as_str));
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
pub(crate) fn with_keytab_in_environment(keytab: &std::path::Path) -> Result<(), ExitCode> {
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

pub(crate) struct ServeSettings {
    /// GSSAPI: the service and the principals that may log in.
    #[cfg(feature = "gssapi")]
    pub(crate) gssapi: Option<(String, Vec<String>)>,
    pub(crate) users_file: Option<PathBuf>,
    pub(crate) x509_users: Vec<String>,
    pub(crate) aws: AwsServe,
    pub(crate) oidc: OidcServe,
    /// Certificate chain, key, and the CA of client certificates.
    pub(crate) tls: Option<(PathBuf, PathBuf, Option<PathBuf>)>,
    /// A UNIX socket to listen on too.
    pub(crate) unix_socket: Option<PathBuf>,
    pub(crate) limits: Limits,
}

/// The deadlines and limits of `serve`: what tells a slow or greedy client from a quiet one.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Limits {
    /// Close an authenticated connection that sends nothing for this many seconds.
    #[arg(long, default_value_t = 300, value_parser = positive_u64())]
    idle_timeout: u64,
    /// Close a connection that has not logged in and sends nothing for this many seconds (a
    /// driver's monitor, which never logs in, talks every few seconds and stays).
    #[arg(long, default_value_t = 60, value_parser = positive_u64())]
    unauthenticated_idle_timeout: u64,
    /// Close a connection whose login, from its first authentication command, is not done
    /// within this many seconds.
    #[arg(long, default_value_t = 20, value_parser = positive_u64())]
    login_timeout: u64,
    /// Close a connection whose login waits for a person (MONGODB-OIDC's human flow: a browser
    /// or a device code) and is not done within this many seconds.
    #[arg(long, default_value_t = 360, value_parser = positive_u64())]
    human_login_timeout: u64,
    /// Close a connection that has not logged in and sends more requests a second than this
    /// (bursts of twice that allowed), or one that has and begins more logins a second.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    unauthenticated_requests_per_second: u32,
    /// Close a connection that leaves a request unfinished for this many seconds.
    #[arg(long, default_value_t = 30, value_parser = positive_u64())]
    message_timeout: u64,
    /// Refuse requests larger than this many bytes, from 1024 to 48000000 (hello advertises
    /// it, so drivers split their batches to fit).
    #[arg(long, default_value_t = 1024 * 1024, value_parser = usize_in(1024..=mongodb_auth::wire::MAX_MESSAGE_SIZE as u64))]
    max_message_size: usize,
    /// Serve at most this many connections at once.
    #[arg(long, default_value_t = 256, value_parser = usize_in(1..))]
    max_connections: usize,
    /// Serve at most this many connections from one peer address.
    #[arg(long, default_value_t = 128, value_parser = usize_in(1..))]
    max_connections_per_peer: usize,
    /// Run at most this many PLAIN derivations, GSS calls and STS exchanges at once (default:
    /// the cores).
    #[arg(long, value_parser = usize_in(1..))]
    max_concurrent_jobs: Option<usize>,
    /// Run at most this many of them at once for one peer address.
    #[arg(long, default_value_t = 1, value_parser = usize_in(1..))]
    max_concurrent_jobs_per_peer: usize,
    /// Let authenticated clients run configureFailPoint (failCommand), as mongod's
    /// enableTestCommands: for test fixtures only.
    #[arg(long)]
    enable_test_commands: bool,
    /// Refuse every command that declares no stable API version (apiVersion), as mongod's
    /// requireApiVersion: for testing that clients declare one.
    #[arg(long)]
    require_api_version: bool,
}

/// Seconds or a count of at least 1: a limit of 0 would refuse everything (or, for counts,
/// was silently taken as 1).
fn positive_u64() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..)
}

/// A `usize` within `range`.
fn usize_in(range: impl std::ops::RangeBounds<u64>) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(range)
}

impl Limits {
    fn apply(&self, config: &mut ServerConfig) {
        config.idle_timeout = Duration::from_secs(self.idle_timeout);
        config.unauthenticated_idle_timeout =
            Duration::from_secs(self.unauthenticated_idle_timeout);
        config.login_timeout = Duration::from_secs(self.login_timeout);
        config.human_login_timeout = Duration::from_secs(self.human_login_timeout);
        config.unauthenticated_requests_per_second = self.unauthenticated_requests_per_second;
        config.message_timeout = Duration::from_secs(self.message_timeout);
        config.max_message_size = self.max_message_size;
        config.max_connections = self.max_connections;
        config.max_connections_per_peer = self.max_connections_per_peer;
        if let Some(jobs) = self.max_concurrent_jobs {
            config.max_concurrent_jobs = jobs;
        }
        config.max_concurrent_jobs_per_peer = self.max_concurrent_jobs_per_peer;
        config.enable_test_commands = self.enable_test_commands;
        config.require_api_version = self.require_api_version;
    }
}

pub(crate) fn server_config(
    specs: &[String],
    settings: &ServeSettings,
) -> mongodb_auth::Result<ServerConfig> {
    let mut users = UserStore::new();
    let file_error = |e: UsersFileError| invalid("--users-file", e);
    let file = match &settings.users_file {
        Some(path) => UsersFile::read(path).map_err(file_error)?,
        None => UsersFile::default(),
    };
    // Every line of the file and every `--user` is read before any key is derived: a typo is told
    // at once, not after seconds of PBKDF2 for a large file.
    let specs = specs
        .iter()
        .map(|spec| UserSpec::parse(spec).map_err(|refused| invalid("--user", refused)))
        .collect::<mongodb_auth::Result<Vec<_>>>()?;
    users.extend(file.derive_users(&mut SystemRandom).map_err(file_error)?);
    for spec in specs {
        users.insert(
            spec.to_user(&mut SystemRandom)
                .map_err(|e| invalid("--user", e))?,
        );
    }
    for subject in &settings.x509_users {
        users.insert_x509(subject);
    }
    let aws = settings.aws.settings(&mut users, file.aws_keys())?;
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
    if let Some(path) = &settings.unix_socket {
        config = config.unix_socket(path);
    }
    settings.limits.apply(&mut config);
    Ok(config)
}

pub(crate) fn serve(listen: &str, specs: &[String], settings: &ServeSettings) -> ExitCode {
    let config = match server_config(specs, settings) {
        Ok(config) => config,
        // The options here are the command line's, not a connection string's, whatever the
        // error's own wording says.
        Err(Error::InvalidOption { option, rule }) => {
            eprintln!("error: {option}: {rule}");
            return ExitCode::from(2);
        }
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
                say!("listening on {}", server.local_addr());
                // On stderr, with the log: a script may stop reading stdout after its line.
                if let Some(path) = &settings.unix_socket {
                    eprintln!("also listening on {}", path.display());
                }
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

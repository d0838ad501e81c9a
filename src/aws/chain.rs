//! The credential chain (see [`CredentialChain`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::Credentials;
use super::ini::Ini;
use super::provider::{CredentialProvider, ProviderOutput, ProviderRequest};
use crate::ask::{Answer, Ask, HttpRequest, Reply};
use crate::environment::{Clock, Environment, SystemClock};
use crate::error::{AwsError, Error, Result};
use crate::secret::Secret;

/// Where credentials came from (or were looked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// A [`CredentialProvider`] of the embedder.
    Custom,
    /// The connection string or in-code options.
    Explicit,
    /// `AWS_ACCESS_KEY_ID` and friends.
    Environment,
    /// A profile's `role_arn`.
    AssumeRole,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` or a profile's `web_identity_token_file`.
    WebIdentity,
    /// A profile configured for IAM Identity Center.
    Sso,
    /// `~/.aws/credentials`.
    SharedCredentialsFile,
    /// A profile's `credential_process`.
    Process,
    /// `~/.aws/config`.
    ConfigFile,
    /// ECS or a full container credentials URI.
    Container,
    /// EC2 instance metadata.
    Ec2,
}

impl Source {
    /// The name `mongodb-auth aws-credentials` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Custom => "custom",
            Source::Explicit => "explicit",
            Source::Environment => "environment",
            Source::AssumeRole => "assume-role",
            Source::WebIdentity => "web-identity",
            Source::Sso => "sso",
            Source::SharedCredentialsFile => "shared-credentials-file",
            Source::Process => "process",
            Source::ConfigFile => "config-file",
            Source::Container => "container",
            Source::Ec2 => "ec2",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One source the chain looked at, and what it found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tried {
    /// The source.
    pub source: Source,
    /// What happened, for the person reading why a login failed.
    pub outcome: String,
}

/// What the caller does next.
#[derive(Debug)]
#[non_exhaustive]
pub enum ChainStep {
    /// Do this and pass the answer to [`CredentialChain::answer`].
    Ask(Ask),
    /// Run the custom provider and pass its output to [`CredentialChain::provided`].
    Callback(ProviderRequest),
    /// The credentials, where they came from, and every source tried.
    Done(Resolved),
}

/// Credentials found.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The credentials.
    pub credentials: Credentials,
    /// Their source.
    pub source: Source,
    /// Every source looked at, in order, the one that answered last.
    pub tried: Vec<Tried>,
}

/// Where MONGODB-AWS credentials come from, in the order boto3 (and so PyMongo) tries them, as a
/// machine that does no I/O: it reads environment variables through [`Environment`] and asks its
/// caller for the rest ([`Ask`]: a file, a process run, an HTTP exchange), each source recorded
/// as tried.
///
/// ```
/// use mongodb_auth::ask::Ask;
/// use mongodb_auth::aws::{ChainStep, CredentialChain, Source};
/// use mongodb_auth::environment::MapEnvironment;
///
/// let env = MapEnvironment::from([("HOME", "/home/ada")]);
/// let mut chain = CredentialChain::new(std::sync::Arc::new(env));
/// let mut step = chain.step()?;
/// let resolved = loop {
///     step = match step {
///         ChainStep::Ask(Ask::ReadFile(file)) if file.path().ends_with(".aws/credentials") => {
///             chain.answer(file.answer(Some(b"[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n".to_vec().into())))?
///         }
///         ChainStep::Ask(Ask::ReadFile(file)) => chain.answer(file.answer(None))?,
///         ChainStep::Done(resolved) => break resolved,
///         other => panic!("unexpected {other:?}"),
///     };
/// };
/// assert_eq!(resolved.source, Source::SharedCredentialsFile);
/// assert_eq!(resolved.credentials.access_key_id(), "AKID");
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
///
/// Sources, in order: a custom provider; explicit credentials (the connection string); the
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, or the legacy
/// `AWS_SECURITY_TOKEN`); a profile's `role_arn` (a signed STS `AssumeRole`, its source a
/// `source_profile` chain or a `credential_source`); web identity (`AssumeRoleWithWebIdentity`);
/// an SSO profile (not resolved, and said so: use `credential_process` or a custom provider); the
/// shared credentials file; `credential_process`; the config file; containers (ECS, full URIs);
/// EC2 instance metadata (IMDSv2). The profile is `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE`, else
/// `default`; STS is global unless `AWS_STS_REGIONAL_ENDPOINTS=regional` with a region, and
/// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` and `AWS_EC2_METADATA_SERVICE_ENDPOINT` override
/// the endpoints.
///
/// The machine is straight-line code run again from the start with the answers given so far,
/// which is how it waits for its caller without a hand-written state per source. Each answer
/// is recorded with the ask it answers, and a run that asks something else at that point (the
/// environment changed between two steps) is an error, never an answer to the wrong ask.
pub struct CredentialChain {
    env: Arc<dyn Environment>,
    clock: Arc<dyn Clock>,
    /// The time of the first step: request dates and session names use it, so every replay
    /// builds the same requests.
    started: Option<std::time::SystemTime>,
    custom: Option<CredentialProvider>,
    explicit: Option<Credentials>,
    profile: Option<String>,
    /// The answers so far, each carrying the ask it answers.
    answers: Vec<Answer>,
    /// The ask that is out, which the next answer must answer.
    pending: Option<Ask>,
}

impl fmt::Debug for CredentialChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialChain")
            .field("custom", &self.custom.is_some())
            .field("explicit", &self.explicit.is_some())
            .field("profile", &self.profile)
            .field("answers", &self.answers.len())
            .finish()
    }
}

/// Why a run of the resolution stopped: it needs an answer, or it failed.
enum Stop {
    Ask(Ask),
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Stop::Fail(error)
    }
}

impl From<AwsError> for Stop {
    fn from(error: AwsError) -> Self {
        Stop::Fail(error.into())
    }
}

/// The answers given so far, handed out in order as the resolution runs again from the start:
/// the resolution is straight-line code, and replaying it is how it waits for its caller.
struct Replay<'a> {
    answers: &'a [Answer],
    next: usize,
}

impl Replay<'_> {
    /// The reply to `ask`: the recorded answer at this point of the run, which must answer this
    /// very ask, or a stop that asks it.
    fn ask(&mut self, ask: Ask) -> std::result::Result<&Reply, Stop> {
        let Some(answer) = self.answers.get(self.next) else {
            return Err(Stop::Ask(ask));
        };
        if *answer.ask() != ask {
            return Err(Stop::Fail(
                AwsError::ChangedDuringResolution {
                    recorded: answer.ask().describe(),
                    asked: ask.describe(),
                }
                .into(),
            ));
        }
        self.next += 1;
        Ok(answer.reply())
    }

    /// A file's text, `None` when it does not exist.
    fn file(&mut self, path: PathBuf) -> std::result::Result<Option<String>, Stop> {
        let shown = path.display().to_string();
        match self.ask(Ask::read_file(path))? {
            Reply::File(None) => Ok(None),
            Reply::File(Some(bytes)) => {
                if bytes.len() > super::ini::MAX_FILE_SIZE {
                    return Err(AwsError::MalformedFile {
                        line: 0,
                        rule: "the file is larger than 1 MiB",
                    }
                    .into());
                }
                Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
            }
            Reply::Failed(reason) => Err(unavailable(format!("`{shown}`"), reason.clone())),
            _ => Err(unexpected()),
        }
    }
}

/// A source that could not be read: `what`, and why.
fn unavailable(what: impl Into<String>, reason: impl Into<String>) -> Stop {
    Stop::Fail(
        AwsError::Unavailable {
            what: what.into(),
            reason: reason.into(),
        }
        .into(),
    )
}

/// An answer whose kind is not its ask's: answers are made by the ask's own methods, so this
/// does not happen.
fn unexpected() -> Stop {
    Stop::Fail(Error::InvalidInput {
        rule: "the answer is not of the kind its ask takes",
    })
}

impl CredentialChain {
    /// A chain reading variables from `env`.
    pub fn new(env: Arc<dyn Environment>) -> Self {
        CredentialChain {
            env,
            clock: Arc::new(SystemClock),
            started: None,
            custom: None,
            explicit: None,
            profile: None,
            answers: Vec::new(),
            pending: None,
        }
    }

    /// Takes the time (STS request dates, default session names) from `clock`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A custom provider, tried first: the chain asks for it with [`ChainStep::Callback`].
    pub fn custom(mut self, provider: CredentialProvider) -> Self {
        self.custom = Some(provider);
        self
    }

    /// Credentials from the connection string or in-code options, tried after a custom provider.
    pub fn explicit(mut self, credentials: Option<Credentials>) -> Self {
        self.explicit = credentials;
        self
    }

    /// A profile chosen in code (boto3's `Session(profile_name=...)`): the environment's keys are
    /// then not used, and `AWS_PROFILE` is ignored.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The next step: the custom provider, an ask, or the result.
    pub fn step(&mut self) -> Result<ChainStep> {
        if self.started.is_none() {
            self.started = Some(self.clock.now());
        }
        if let Some(provider) = &self.custom {
            return Ok(ChainStep::Callback(ProviderRequest {
                provider: provider.clone(),
            }));
        }
        let mut replay = Replay {
            answers: &self.answers,
            next: 0,
        };
        match self.resolve(&mut replay) {
            Ok(resolved) => Ok(ChainStep::Done(resolved)),
            Err(Stop::Ask(ask)) => {
                self.pending = Some(ask.clone());
                Ok(ChainStep::Ask(ask))
            }
            Err(Stop::Fail(error)) => Err(error),
        }
    }

    /// Takes the answer to the ask that is out and returns the next step. An answer to another
    /// ask is refused.
    pub fn answer(&mut self, answer: Answer) -> Result<ChainStep> {
        if self.pending.as_ref() != Some(answer.ask()) {
            return Err(Error::InvalidInput {
                rule: "the answer is not to the ask the credential chain made",
            });
        }
        self.pending = None;
        self.answers.push(answer);
        self.step()
    }

    /// Takes what the custom provider gave: the result.
    pub fn provided(&mut self, output: ProviderOutput) -> Result<ChainStep> {
        if self.custom.take().is_none() {
            return Err(Error::OutOfOrder {
                call: "CredentialChain::provided",
                state: "not waiting for a custom provider",
            });
        }
        Ok(ChainStep::Done(Resolved {
            credentials: output.0?,
            source: Source::Custom,
            tried: vec![Tried {
                source: Source::Custom,
                outcome: "found".into(),
            }],
        }))
    }

    fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).filter(|v| !v.is_empty())
    }

    /// Runs every source in order until one answers.
    fn resolve(&self, io: &mut Replay<'_>) -> std::result::Result<Resolved, Stop> {
        let mut tried = Vec::new();
        let mut unreachable = false;
        let mut record = |source, outcome: &str| {
            tried.push(Tried {
                source,
                outcome: outcome.to_owned(),
            })
        };
        let done = |credentials, source, mut tried: Vec<Tried>| {
            tried.push(Tried {
                source,
                outcome: "found".into(),
            });
            Ok(Resolved {
                credentials,
                source,
                tried,
            })
        };

        record(Source::Custom, "no custom provider");
        if let Some(credentials) = &self.explicit {
            return done(credentials.clone(), Source::Explicit, tried);
        }
        record(Source::Explicit, "none in the connection string");

        // A profile chosen in code shuts the environment's keys out, as in boto3.
        if self.profile.is_none() {
            match self.environment_keys()? {
                Some(credentials) => return done(credentials, Source::Environment, tried),
                None => record(Source::Environment, "AWS_ACCESS_KEY_ID is not set"),
            }
        } else {
            record(Source::Environment, "skipped: a profile was chosen");
        }

        let profile = self
            .profile
            .clone()
            .or_else(|| self.var("AWS_DEFAULT_PROFILE"))
            .or_else(|| self.var("AWS_PROFILE"))
            .unwrap_or_else(|| "default".to_owned());
        let config = self.config_file(io)?;
        let config_section = config_section(&profile);
        let setting = |key: &str| {
            config
                .as_ref()
                .and_then(|ini| ini.get(&config_section, key))
                .map(str::to_owned)
        };

        let credentials_file = self.credentials_file(io)?;
        let sts = super::sts::endpoint(|name| self.var(name), setting("region").as_deref());
        let files = Files {
            config: config.as_ref(),
            credentials: credentials_file.as_ref(),
        };
        match self.assume_role(io, &files, &profile, &sts, &mut Vec::new())? {
            Some(credentials) => return done(credentials, Source::AssumeRole, tried),
            None => record(Source::AssumeRole, "the profile has no role_arn"),
        }
        // Each setting of web identity on its own: a variable beats the profile's setting.
        let token_file = self
            .var("AWS_WEB_IDENTITY_TOKEN_FILE")
            .or_else(|| setting("web_identity_token_file"));
        let role_arn = self.var("AWS_ROLE_ARN").or_else(|| setting("role_arn"));
        match (token_file, role_arn) {
            (Some(token_file), Some(role_arn)) => {
                let session = self
                    .var("AWS_ROLE_SESSION_NAME")
                    .or_else(|| setting("role_session_name"))
                    .unwrap_or_else(|| self.session_name());
                let credentials = self.web_identity(io, &sts, &token_file, &role_arn, &session)?;
                return done(credentials, Source::WebIdentity, tried);
            }
            _ => record(
                Source::WebIdentity,
                "no web identity token and role configured",
            ),
        }
        if setting("sso_session").is_some() || setting("sso_start_url").is_some() {
            record(
                Source::Sso,
                "the profile uses SSO, which this crate does not resolve: use credential_process (`aws configure export-credentials --format process`) or a custom provider",
            );
        }

        match credentials_file {
            Some(ini) => match static_keys(&ini, &profile, "shared credentials file")? {
                Some(credentials) => {
                    return done(credentials, Source::SharedCredentialsFile, tried);
                }
                None => record(
                    Source::SharedCredentialsFile,
                    &format!("no keys for profile `{profile}`"),
                ),
            },
            None => record(Source::SharedCredentialsFile, "no file"),
        }

        match setting("credential_process") {
            Some(command) => {
                let credentials = run_process(io, &command)?;
                return done(credentials, Source::Process, tried);
            }
            None => record(Source::Process, "the profile has no credential_process"),
        }

        match config
            .as_ref()
            .map(|ini| static_keys(ini, &config_section, "config file"))
            .transpose()?
            .flatten()
        {
            Some(credentials) => return done(credentials, Source::ConfigFile, tried),
            None => record(
                Source::ConfigFile,
                &format!("no keys in section `{config_section}`"),
            ),
        }

        match self.container(io)? {
            Some(credentials) => return done(credentials, Source::Container, tried),
            None => record(Source::Container, "no container credentials URI"),
        }
        if self
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            record(Source::Ec2, "AWS_EC2_METADATA_DISABLED is true");
        } else {
            match ec2(io, &self.metadata_endpoint())? {
                Ok(credentials) => return done(credentials, Source::Ec2, tried),
                Err(failure) => {
                    unreachable |= failure.transient;
                    record(Source::Ec2, &failure.reason);
                }
            }
        }

        let tried = tried
            .iter()
            .map(|t| format!("{}: {}", t.source, t.outcome))
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::Aws(AwsError::NoCredentials { tried, unreachable }).into())
    }

    /// `mongodb-auth-<seconds>`, as boto3 names sessions `botocore-session-<seconds>`.
    fn session_name(&self) -> String {
        let seconds = self
            .started
            .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        format!("mongodb-auth-{seconds}")
    }

    /// `AssumeRoleWithWebIdentity`: the token file's content, unsigned, to STS.
    fn web_identity(
        &self,
        io: &mut Replay<'_>,
        sts: &super::sts::StsEndpoint,
        token_file: &str,
        role_arn: &str,
        session: &str,
    ) -> std::result::Result<Credentials, Stop> {
        let token = io.file(PathBuf::from(token_file))?.ok_or_else(|| {
            unavailable(
                format!("the web identity token file `{token_file}`"),
                "it does not exist",
            )
        })?;
        let body = super::sts::form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session),
            ("Version", "2011-06-15"),
            ("WebIdentityToken", token.trim()),
        ]);
        let reply = sts_post(io, Source::WebIdentity, &sts.url, Vec::new(), body)?;
        Ok(super::sts::credentials_from_reply(
            &String::from_utf8_lossy(&reply),
        )?)
    }

    /// A profile's `role_arn`: the source credentials (`source_profile`, followed with a loop
    /// check, or `credential_source`), then a signed `AssumeRole`.
    fn assume_role(
        &self,
        io: &mut Replay<'_>,
        files: &Files<'_>,
        profile: &str,
        sts: &super::sts::StsEndpoint,
        visited: &mut Vec<String>,
    ) -> std::result::Result<Option<Credentials>, Stop> {
        let section = config_section(profile);
        let setting = |key: &str| files.config.and_then(|c| c.get(&section, key));
        let Some(role_arn) = setting("role_arn") else {
            return Ok(None);
        };
        if visited.iter().any(|p| p == profile) {
            return Err(unavailable(
                format!("profile `{profile}`"),
                "its source_profile chain loops",
            ));
        }
        visited.push(profile.to_owned());
        let source = match (setting("source_profile"), setting("credential_source")) {
            (Some(source_profile), _) => {
                // A profile may name itself as its source: its own static keys.
                let nested = if source_profile == profile {
                    None
                } else {
                    self.assume_role(io, files, source_profile, sts, visited)?
                };
                match nested {
                    Some(credentials) => credentials,
                    None => self.profile_keys(io, files, source_profile)?,
                }
            }
            (None, Some("Environment")) => self.environment_keys()?.ok_or_else(|| {
                unavailable(
                    "credential_source Environment",
                    "AWS_ACCESS_KEY_ID is not set",
                )
            })?,
            (None, Some("EcsContainer")) => self.container(io)?.ok_or_else(|| {
                unavailable(
                    "credential_source EcsContainer",
                    "no container credentials URI",
                )
            })?,
            (None, Some("Ec2InstanceMetadata")) => {
                ec2(io, &self.metadata_endpoint())?.map_err(|failure| {
                    unavailable("credential_source Ec2InstanceMetadata", failure.reason)
                })?
            }
            (None, other) => {
                return Err(unavailable(
                    format!("profile `{profile}`"),
                    match other {
                        Some(_) => "an unknown credential_source",
                        None => "role_arn without source_profile or credential_source",
                    },
                ));
            }
        };
        let session = setting("role_session_name")
            .map(str::to_owned)
            .unwrap_or_else(|| self.session_name());
        let mut pairs = vec![
            ("Action", "AssumeRole"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session.as_str()),
            ("Version", "2011-06-15"),
        ];
        if let Some(external_id) = setting("external_id") {
            pairs.push(("ExternalId", external_id));
        }
        if let Some(duration) = setting("duration_seconds") {
            pairs.push(("DurationSeconds", duration));
        }
        let body = super::sts::form(&pairs);
        let content_type = (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        );
        let signed = super::request::sign_sts_post(
            &sts.url,
            std::slice::from_ref(&content_type),
            body.as_bytes(),
            &source,
            &sts.region,
            self.started.unwrap_or(std::time::SystemTime::UNIX_EPOCH),
        )?;
        let headers = signed
            .into_iter()
            .map(|(name, value)| (name, Secret::new(value)))
            .collect();
        let reply = sts_post(io, Source::AssumeRole, &sts.url, headers, body)?;
        Ok(Some(super::sts::credentials_from_reply(
            &String::from_utf8_lossy(&reply),
        )?))
    }

    /// A profile's own keys, as a `source_profile`: the credentials file, its
    /// `credential_process`, then the config file.
    fn profile_keys(
        &self,
        io: &mut Replay<'_>,
        files: &Files<'_>,
        profile: &str,
    ) -> std::result::Result<Credentials, Stop> {
        if let Some(credentials) = files
            .credentials
            .map(|ini| static_keys(ini, profile, "shared credentials file"))
            .transpose()?
            .flatten()
        {
            return Ok(credentials);
        }
        let section = config_section(profile);
        if let Some(command) = files
            .config
            .and_then(|c| c.get(&section, "credential_process"))
        {
            return run_process(io, command);
        }
        files
            .config
            .map(|ini| static_keys(ini, &section, "config file"))
            .transpose()?
            .flatten()
            .ok_or_else(|| unavailable(format!("source_profile `{profile}`"), "it has no keys"))
    }

    /// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS) or `_FULL_URI` (EKS Pod Identity and
    /// others), with its authorization token; plain HTTP only to the addresses the AWS SDKs allow.
    fn container(&self, io: &mut Replay<'_>) -> std::result::Result<Option<Credentials>, Stop> {
        let url = match (
            self.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            self.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(relative), _) => format!("http://169.254.170.2{relative}"),
            (None, Some(full)) => {
                if !allowed_container_url(&full) {
                    return Err(unavailable(
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                        "plain HTTP is allowed only to loopback and the ECS and EKS addresses",
                    ));
                }
                full
            }
            (None, None) => return Ok(None),
        };
        let mut headers = Vec::new();
        // The token file wins over the token variable, as in boto3.
        let token = match self.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            Some(path) => io.file(PathBuf::from(path))?.map(|t| t.trim().to_owned()),
            None => self.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        };
        if let Some(token) = token {
            headers.push(("Authorization".to_owned(), Secret::new(token)));
        }
        let body = http_ok(io, Source::Container, "GET", &url, headers)?;
        Ok(Some(super::json::credentials_object(&body, "Token")?))
    }

    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the link-local address.
    fn metadata_endpoint(&self) -> String {
        self.var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .map(|e| e.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| "http://169.254.169.254".to_owned())
    }

    fn environment_keys(&self) -> std::result::Result<Option<Credentials>, Stop> {
        Ok(Credentials::from_environment(self.env.as_ref())?)
    }

    fn home(&self) -> Option<PathBuf> {
        self.var("HOME")
            .or_else(|| self.var("USERPROFILE"))
            .map(PathBuf::from)
    }

    /// `AWS_SHARED_CREDENTIALS_FILE` (empty: no file), else `~/.aws/credentials`.
    fn credentials_file(&self, io: &mut Replay<'_>) -> std::result::Result<Option<Ini>, Stop> {
        self.read_ini(io, "AWS_SHARED_CREDENTIALS_FILE", "credentials")
    }

    /// `AWS_CONFIG_FILE`, else `~/.aws/config`.
    fn config_file(&self, io: &mut Replay<'_>) -> std::result::Result<Option<Ini>, Stop> {
        self.read_ini(io, "AWS_CONFIG_FILE", "config")
    }

    fn read_ini(
        &self,
        io: &mut Replay<'_>,
        variable: &str,
        name: &str,
    ) -> std::result::Result<Option<Ini>, Stop> {
        let path = match self.env.var(variable) {
            Some(path) if path.is_empty() => return Ok(None),
            Some(path) => PathBuf::from(path),
            None => match self.home() {
                Some(home) => home.join(".aws").join(name),
                None => return Ok(None),
            },
        };
        match io.file(path)? {
            Some(text) => Ok(Some(Ini::parse(&text)?)),
            None => Ok(None),
        }
    }
}

/// `aws_access_key_id` and `aws_secret_access_key` (and a session token) of a section.
fn static_keys(
    ini: &Ini,
    section: &str,
    origin: &'static str,
) -> std::result::Result<Option<Credentials>, Stop> {
    let Some(access_key_id) = ini
        .get(section, "aws_access_key_id")
        .filter(|k| !k.is_empty())
    else {
        return Ok(None);
    };
    let secret =
        ini.get(section, "aws_secret_access_key")
            .ok_or(AwsError::IncompleteCredentials {
                origin,
                rule: "aws_access_key_id without aws_secret_access_key",
            })?;
    let token = ini
        .get(section, "aws_session_token")
        .or_else(|| ini.get(section, "aws_security_token"))
        .map(Secret::new);
    Ok(Some(Credentials::new(
        access_key_id,
        Secret::new(secret),
        token,
    )))
}

/// The config and credentials files, as read once per resolution.
struct Files<'a> {
    config: Option<&'a Ini>,
    credentials: Option<&'a Ini>,
}

/// The config file's section of a profile: `[default]`, else `[profile NAME]`.
fn config_section(profile: &str) -> String {
    if profile == "default" {
        "default".to_owned()
    } else {
        format!("profile {profile}")
    }
}

/// A form POST to STS; the reply body when STS answers 200.
fn sts_post(
    io: &mut Replay<'_>,
    source: Source,
    url: &str,
    mut headers: Vec<(String, Secret)>,
    body: String,
) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, Stop> {
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".to_owned(),
            Secret::new("application/x-www-form-urlencoded; charset=utf-8"),
        ));
    }
    http_exchange(io, source, "POST", url, headers, body.into_bytes())
}

/// Whether a full container credentials URI may be used: HTTPS, or plain HTTP to loopback, the
/// ECS address or the EKS Pod Identity addresses.
fn allowed_container_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            ip.is_loopback()
                || ip == std::net::IpAddr::from([169, 254, 170, 2])
                || ip == std::net::IpAddr::from([169, 254, 170, 23])
                || host.eq_ignore_ascii_case("fd00:ec2::23")
        }
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// An HTTP exchange without a body that must answer 200; its body.
fn http_ok(
    io: &mut Replay<'_>,
    source: Source,
    method: &'static str,
    url: &str,
    headers: Vec<(String, Secret)>,
) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, Stop> {
    http_exchange(io, source, method, url, headers, Vec::new())
}

/// An HTTP exchange that must answer 200; its body.
fn http_exchange(
    io: &mut Replay<'_>,
    source: Source,
    method: &'static str,
    url: &str,
    headers: Vec<(String, Secret)>,
    body: Vec<u8>,
) -> std::result::Result<zeroize::Zeroizing<Vec<u8>>, Stop> {
    let unavailable =
        |reason: String| unavailable(format!("{source} credentials at {url}"), reason);
    match io.ask(Ask::Http(HttpRequest::new(method, url, headers, body)))? {
        Reply::Http { status: 200, body } => Ok(body.clone()),
        Reply::Http { status, body } => Err(unavailable(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(body.get(..body.len().min(200)).unwrap_or_default())
        ))),
        Reply::Failed(reason) => Err(unavailable(reason.clone())),
        _ => Err(unexpected()),
    }
}

/// Why EC2 instance metadata gave no credentials, and whether trying again may help (the
/// endpoint answered with a server error: it is there, and failing).
struct NoInstanceCredentials {
    reason: String,
    transient: bool,
}

/// EC2 instance metadata, IMDSv2 only: a session token, the role name, the role's credentials.
/// `Ok(Err(..))` when the endpoint does not answer (not on EC2): the chain ends there.
fn ec2(
    io: &mut Replay<'_>,
    endpoint: &str,
) -> std::result::Result<std::result::Result<Credentials, NoInstanceCredentials>, Stop> {
    let ttl = vec![(
        "X-aws-ec2-metadata-token-ttl-seconds".to_owned(),
        Secret::new("21600"),
    )];
    let url = format!("{endpoint}/latest/api/token");
    let token = match io.ask(Ask::Http(HttpRequest::new("PUT", url, ttl, Vec::new())))? {
        Reply::Http { status: 200, body } => Secret::new(String::from_utf8_lossy(body).trim()),
        Reply::Http { status, .. } => {
            return Ok(Err(NoInstanceCredentials {
                reason: format!("the metadata token request answered HTTP {status}"),
                transient: *status >= 500,
            }));
        }
        Reply::Failed(reason) => {
            return Ok(Err(NoInstanceCredentials {
                reason: format!("no instance metadata at {endpoint}: {reason}"),
                transient: false,
            }));
        }
        _ => return Err(unexpected()),
    };
    let header = || vec![("X-aws-ec2-metadata-token".to_owned(), token.clone())];
    let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
    let roles = http_ok(io, Source::Ec2, "GET", &base, header())?;
    let role = String::from_utf8_lossy(&roles)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if role.is_empty() || role.contains(['/', '?', '#']) {
        return Ok(Err(NoInstanceCredentials {
            reason: "the instance has no usable IAM role".to_owned(),
            transient: false,
        }));
    }
    let body = http_ok(io, Source::Ec2, "GET", &format!("{base}{role}"), header())?;
    Ok(Ok(super::json::credentials_object(&body, "Token")?))
}

/// Runs `credential_process` and reads its JSON (version 1).
fn run_process(io: &mut Replay<'_>, command: &str) -> std::result::Result<Credentials, Stop> {
    let unusable = |reason: String| unavailable("credential_process", reason);
    let stdout = match io.ask(Ask::run_process(command))? {
        Reply::Process {
            success: true,
            stdout,
        } => stdout,
        Reply::Process { success: false, .. } => {
            return Err(unusable("the command failed".into()));
        }
        Reply::Failed(reason) => return Err(unusable(reason.clone())),
        _ => return Err(unexpected()),
    };
    super::json::process_credentials(stdout).map_err(|e| Stop::Fail(e.into()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::environment::MapEnvironment;

    /// Runs the chain with `files` (path to content) and `process` (command to output).
    fn resolve(
        chain: &mut CredentialChain,
        files: &HashMap<&str, &str>,
        process: Option<(&str, &str)>,
    ) -> Result<Resolved> {
        let mut step = chain.step()?;
        loop {
            step = match step {
                ChainStep::Done(resolved) => return Ok(resolved),
                ChainStep::Ask(ask) => {
                    let answer = match &ask {
                        Ask::ReadFile(file) => {
                            let content = files.get(file.path().to_str().unwrap_or_default());
                            file.answer(content.map(|c| c.as_bytes().to_vec().into()))
                        }
                        Ask::RunProcess(run) => match process {
                            Some((expected, output)) if expected == run.command_line() => run
                                .answer(true, zeroize::Zeroizing::new(output.as_bytes().to_vec())),
                            _ => ask.fail("no such command"),
                        },
                        Ask::Http(request) => ask.fail(format!("no endpoint at {}", request.url())),
                        other => panic!("the chain asked for {other:?}"),
                    };
                    chain.answer(answer)?
                }
                ChainStep::Callback(_) => panic!("no custom provider here"),
            };
        }
    }

    fn chain<const N: usize>(vars: [(&str, &str); N]) -> CredentialChain {
        CredentialChain::new(Arc::new(MapEnvironment::from(vars)))
    }

    const CREDENTIALS: &str = "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = s\n[dev]\naws_access_key_id = DEVKEY\naws_secret_access_key = s\naws_session_token = t\n";
    const CONFIG: &str = "[default]\nregion = us-east-1\n[profile cfg]\naws_access_key_id = CFGKEY\naws_secret_access_key = s\n[profile proc]\ncredential_process = /bin/creds --json\n[profile sso]\nsso_session = corp\n[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n";

    fn files() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("/home/u/.aws/credentials", CREDENTIALS),
            ("/home/u/.aws/config", CONFIG),
        ])
    }

    #[test]
    fn each_source_in_its_turn() {
        let files = files();
        let env_keys = [
            ("HOME", "/home/u"),
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ];
        let r = resolve(&mut chain(env_keys), &files, None).unwrap();
        assert_eq!(
            (r.source, r.credentials.access_key_id()),
            (Source::Environment, "ENVKEY")
        );
        // Explicit credentials win over the environment, a custom provider over both.
        let explicit = Credentials::new("EXPLICIT", "s", None);
        let r = resolve(
            &mut chain(env_keys).explicit(Some(explicit.clone())),
            &files,
            None,
        )
        .unwrap();
        assert_eq!(r.source, Source::Explicit);
        let mut with_custom =
            chain(env_keys)
                .explicit(Some(explicit))
                .custom(CredentialProvider::blocking(|| {
                    Ok(Credentials::new("CUSTOM", "s", None))
                }));
        let ChainStep::Callback(request) = with_custom.step().unwrap() else {
            panic!("the custom provider comes first");
        };
        let output = ProviderOutput(Ok(Credentials::new("CUSTOM", "s", None)));
        let _ = request;
        let ChainStep::Done(r) = with_custom.provided(output).unwrap() else {
            panic!("the provider's credentials are the result");
        };
        assert_eq!(
            (r.source, r.credentials.access_key_id()),
            (Source::Custom, "CUSTOM")
        );

        let home = [("HOME", "/home/u")];
        let r = resolve(&mut chain(home), &files, None).unwrap();
        assert_eq!(
            (r.source, r.credentials.access_key_id()),
            (Source::SharedCredentialsFile, "FILEKEY")
        );
        let r = resolve(
            &mut chain([("HOME", "/home/u"), ("AWS_PROFILE", "dev")]),
            &files,
            None,
        )
        .unwrap();
        assert_eq!(r.credentials.session_token().unwrap().expose(), "t");
        let r = resolve(
            &mut chain([("HOME", "/home/u"), ("AWS_PROFILE", "cfg")]),
            &files,
            None,
        )
        .unwrap();
        assert_eq!(
            (r.source, r.credentials.access_key_id()),
            (Source::ConfigFile, "CFGKEY")
        );
        let output = r#"{"Version": 1, "AccessKeyId": "PROCKEY", "SecretAccessKey": "s"}"#;
        let r = resolve(
            &mut chain([("HOME", "/home/u"), ("AWS_PROFILE", "proc")]),
            &files,
            Some(("/bin/creds --json", output)),
        )
        .unwrap();
        assert_eq!(
            (r.source, r.credentials.access_key_id()),
            (Source::Process, "PROCKEY")
        );
        // Every source before the one that answered is in the tried list, in order.
        let sources: Vec<Source> = r.tried.iter().map(|t| t.source).collect();
        assert_eq!(
            sources,
            [
                Source::Custom,
                Source::Explicit,
                Source::Environment,
                Source::AssumeRole,
                Source::WebIdentity,
                Source::SharedCredentialsFile,
                Source::Process
            ]
        );
    }

    #[test]
    fn boto3_details() {
        let files = files();
        // AWS_DEFAULT_PROFILE before AWS_PROFILE.
        let r = resolve(
            &mut chain([
                ("HOME", "/home/u"),
                ("AWS_DEFAULT_PROFILE", "dev"),
                ("AWS_PROFILE", "cfg"),
            ]),
            &files,
            None,
        )
        .unwrap();
        assert_eq!(r.credentials.access_key_id(), "DEVKEY");
        // A profile chosen in code shuts the environment's keys out.
        let mut by_name = chain([
            ("HOME", "/home/u"),
            ("AWS_ACCESS_KEY_ID", "ENVKEY"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ])
        .profile("dev");
        assert_eq!(
            resolve(&mut by_name, &files, None)
                .unwrap()
                .credentials
                .access_key_id(),
            "DEVKEY"
        );
        // The legacy token name; an empty key id is unset; a key without its secret is an error.
        let r = resolve(
            &mut chain([
                ("AWS_ACCESS_KEY_ID", "K"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
                ("AWS_SECURITY_TOKEN", "legacy"),
            ]),
            &files,
            None,
        )
        .unwrap();
        assert_eq!(r.credentials.session_token().unwrap().expose(), "legacy");
        let r = resolve(
            &mut chain([("HOME", "/home/u"), ("AWS_ACCESS_KEY_ID", "")]),
            &files,
            None,
        )
        .unwrap();
        assert_eq!(r.source, Source::SharedCredentialsFile);
        assert!(resolve(&mut chain([("AWS_ACCESS_KEY_ID", "K")]), &files, None).is_err());
        // An empty AWS_SHARED_CREDENTIALS_FILE disables the file.
        let err = resolve(
            &mut chain([("HOME", "/home/u"), ("AWS_SHARED_CREDENTIALS_FILE", "")]),
            &files,
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("shared-credentials-file: no file"),
            "{err}"
        );
    }

    #[test]
    fn what_is_not_resolved_says_so() {
        let files = files();
        let sso = resolve(
            &mut chain([
                ("HOME", "/home/u"),
                ("AWS_PROFILE", "sso"),
                ("AWS_SHARED_CREDENTIALS_FILE", ""),
            ]),
            &files,
            None,
        )
        .unwrap_err();
        assert!(
            sso.to_string().contains("sso: the profile uses SSO"),
            "{sso}"
        );
        assert!(sso.to_string().contains("credential_process"), "{sso}");
        // A role whose source profile has no keys (the credentials file is off) says so.
        let role = resolve(
            &mut chain([
                ("HOME", "/home/u"),
                ("AWS_PROFILE", "role"),
                ("AWS_SHARED_CREDENTIALS_FILE", ""),
            ]),
            &files,
            None,
        )
        .unwrap_err();
        assert!(
            role.to_string().contains("source_profile `default`"),
            "{role}"
        );
        // With its keys, the chain asks STS for the role, signed with them.
        let mut with_keys = chain([("HOME", "/home/u"), ("AWS_PROFILE", "role")]);
        let mut step = with_keys.step().unwrap();
        let request = loop {
            step = match step {
                ChainStep::Ask(Ask::ReadFile(file)) => with_keys
                    .answer(
                        file.answer(
                            files
                                .get(file.path().to_str().unwrap())
                                .map(|c| c.as_bytes().to_vec().into()),
                        ),
                    )
                    .unwrap(),
                ChainStep::Ask(Ask::Http(request)) => break request,
                other => panic!("unexpected {other:?}"),
            };
        };
        assert_eq!(
            (request.method(), request.url()),
            ("POST", "https://sts.amazonaws.com/")
        );
        let body = String::from_utf8_lossy(request.body()).into_owned();
        assert!(
            body.starts_with("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"),
            "{body}"
        );
        let (_, authorization) = request
            .headers()
            .iter()
            .find(|(n, _)| n == "Authorization")
            .unwrap();
        assert!(
            authorization.expose().contains("Credential=FILEKEY/"),
            "signed with the source profile's key"
        );
        let nothing = resolve(&mut chain([]), &HashMap::new(), None).unwrap_err();
        assert!(
            matches!(nothing, Error::Aws(AwsError::NoCredentials { .. })),
            "{nothing}"
        );
        let broken = HashMap::from([("/home/u/.aws/credentials", "garbage line\n")]);
        assert!(matches!(
            resolve(&mut chain([("HOME", "/home/u")]), &broken, None),
            Err(Error::Aws(AwsError::MalformedFile { .. }))
        ));
    }

    /// An environment whose variables a test changes while the chain waits for an answer.
    struct Changing(std::sync::Mutex<HashMap<String, String>>);

    impl Environment for Changing {
        fn var(&self, name: &str) -> Option<String> {
            self.0.lock().unwrap().get(name).cloned()
        }
    }

    #[test]
    fn an_answer_goes_only_to_the_ask_it_answers() {
        let env = Arc::new(Changing(std::sync::Mutex::new(HashMap::from([(
            "HOME".to_owned(),
            "/home/a".to_owned(),
        )]))));
        let mut chain = CredentialChain::new(env.clone());
        let ChainStep::Ask(Ask::ReadFile(first)) = chain.step().unwrap() else {
            panic!("the chain reads the config file first");
        };
        assert_eq!(first.path(), std::path::Path::new("/home/a/.aws/config"));
        // The environment changes while the file is read: the next run of the chain asks for
        // another file where this answer was recorded, and says so rather than taking it.
        env.0
            .lock()
            .unwrap()
            .insert("HOME".to_owned(), "/home/b".to_owned());
        let error = chain
            .answer(first.answer(Some(CONFIG.as_bytes().to_vec().into())))
            .unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Aws(AwsError::ChangedDuringResolution { recorded, asked })
                    if recorded.contains("/home/a/") && asked.contains("/home/b/")
            ),
            "{error:?}"
        );
        assert_eq!(error.kind(), crate::ErrorKind::CredentialUnavailable);
        // An answer to an ask the chain did not make is refused too.
        let mut chain = CredentialChain::new(Arc::new(MapEnvironment::from([("HOME", "/h")])));
        chain.step().unwrap();
        let stranger = Ask::read_file("/etc/passwd");
        let Ask::ReadFile(stranger) = &stranger else {
            unreachable!()
        };
        assert!(matches!(
            chain.answer(stranger.answer(None)),
            Err(Error::InvalidInput { .. })
        ));
    }
}

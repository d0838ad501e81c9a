//! The credential chain (see [`CredentialChain`]).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

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
/// `AWS_SECURITY_TOKEN`); a profile's `role_arn` with a `source_profile` chain or a
/// `credential_source` (a signed STS `AssumeRole`); web identity (`AssumeRoleWithWebIdentity`),
/// from `AWS_WEB_IDENTITY_TOKEN_FILE` or a profile's `role_arn` with `web_identity_token_file`;
/// an IAM Identity Center (SSO) profile, either form, from the token `aws sso login` cached (the
/// `sso_session` form refreshed with its refresh token when it nears expiry); the shared
/// credentials file; `credential_process`; the config file; containers (ECS, full URIs); EC2
/// instance metadata (IMDSv2). The profile is `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE`, else
/// `default`; STS is global unless `AWS_STS_REGIONAL_ENDPOINTS=regional` with a region, and
/// `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL_SSO_OIDC`,
/// `AWS_ENDPOINT_URL` and `AWS_EC2_METADATA_SERVICE_ENDPOINT` override the endpoints.
///
/// A source that is configured but fails (a role STS refuses, an SSO token that expired) ends
/// the search, as in boto3: the error is [`AwsError::SourceFailed`], which names it and every
/// source passed over before it. An SSO token that needs a person to sign in again is
/// [`AwsError::SsoLoginRequired`] inside it.
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

    /// A file's text, `None` when it does not exist; wiped when dropped (keys, tokens).
    fn file(&mut self, path: PathBuf) -> std::result::Result<Option<Zeroizing<String>>, Stop> {
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
                Ok(Some(crate::secret::lossy_secret_text(bytes)))
            }
            Reply::Failed(reason) => Err(unavailable(format!("`{shown}`"), reason.clone())),
            _ => Err(unexpected()),
        }
    }
}

/// The sources a run has passed over, and the one it is trying: a failure names both.
#[derive(Default)]
struct Trail {
    tried: Vec<Tried>,
    trying: Option<Source>,
}

impl Trail {
    /// `source` is being tried: a failure from here on is its failure.
    fn trying(&mut self, source: Source) {
        self.trying = Some(source);
    }

    /// `source` had nothing, and why.
    fn passed(&mut self, source: Source, outcome: impl Into<String>) {
        self.trying = None;
        self.tried.push(Tried {
            source,
            outcome: outcome.into(),
        });
    }

    fn describe(&self) -> String {
        self.tried
            .iter()
            .map(|t| format!("{}: {}", t.source, t.outcome))
            .collect::<Vec<_>>()
            .join("; ")
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

/// The STS endpoint, worked out before any source needs it and checked only by the ones that
/// do: a region that is not one fails a role, not a profile with static keys (as in boto3).
type StsResult = std::result::Result<super::sts::StsEndpoint, AwsError>;

fn checked(sts: &StsResult) -> std::result::Result<&super::sts::StsEndpoint, Stop> {
    sts.as_ref()
        .map_err(|error| Stop::Fail(error.clone().into()))
}

/// A source set up in a way that cannot work: retrying changes nothing until the files or
/// variables change.
fn misconfigured(what: impl Into<String>, rule: impl Into<String>) -> Stop {
    Stop::Fail(
        AwsError::Misconfigured {
            what: what.into(),
            rule: rule.into(),
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
        self.env.populated(name)
    }

    /// Runs every source in order until one answers. A source that is configured but fails
    /// stops the chain, as in boto3, and its error names it and every source passed over.
    fn resolve(&self, io: &mut Replay<'_>) -> std::result::Result<Resolved, Stop> {
        let mut trail = Trail::default();
        match self.search(io, &mut trail) {
            Ok((credentials, source)) => {
                trail.passed(source, "found");
                Ok(Resolved {
                    credentials,
                    source,
                    tried: trail.tried,
                })
            }
            Err(Stop::Fail(Error::Aws(failed)))
                if trail.trying.is_some()
                    && !matches!(failed, AwsError::ChangedDuringResolution { .. }) =>
            {
                let at = trail.trying.map_or("", Source::as_str);
                Err(AwsError::SourceFailed {
                    at,
                    tried: trail.describe(),
                    failed: Box::new(failed),
                }
                .into())
            }
            Err(other) => Err(other),
        }
    }

    fn search(
        &self,
        io: &mut Replay<'_>,
        trail: &mut Trail,
    ) -> std::result::Result<(Credentials, Source), Stop> {
        trail.passed(Source::Custom, "no custom provider");
        if let Some(credentials) = &self.explicit {
            return Ok((credentials.clone(), Source::Explicit));
        }
        trail.passed(Source::Explicit, "none in the connection string");

        let named = self
            .profile
            .clone()
            .or_else(|| self.var("AWS_DEFAULT_PROFILE"))
            .or_else(|| self.var("AWS_PROFILE"));
        let profile = named.clone().unwrap_or_else(|| "default".to_owned());
        let config = self.config_file(io)?.map(ConfigFile::new);
        let credentials_file = self.credentials_file(io)?;
        let profiles = Profiles {
            config: config.as_ref(),
            credentials: credentials_file.as_ref(),
        };
        // A profile named (in code, or by AWS_DEFAULT_PROFILE or AWS_PROFILE) must exist in one
        // of the files, or boto3 refuses before it looks at any source, the environment's too.
        if let Some(named) = &named
            && !profiles.exists(named)
        {
            return Err(misconfigured(
                format!("profile `{named}`"),
                "it is in neither the config nor the credentials file",
            ));
        }

        // A profile chosen in code shuts the environment's keys out, as in boto3.
        if self.profile.is_none() {
            trail.trying(Source::Environment);
            match self.environment_keys()? {
                Some(credentials) => return Ok((credentials, Source::Environment)),
                None => trail.passed(Source::Environment, "AWS_ACCESS_KEY_ID is not set"),
            }
        } else {
            trail.passed(Source::Environment, "skipped: a profile was chosen");
        }

        let setting = |key: &str| profiles.get(&profile, key).map(str::to_owned);
        let sts = super::sts::endpoint(|name| self.env.var(name), setting);
        if profiles.assumes_role(&profile) {
            trail.trying(Source::AssumeRole);
            let mut visited = vec![profile.clone()];
            let credentials = self.assume_role(io, &profiles, &profile, &sts, &mut visited)?;
            return Ok((credentials, Source::AssumeRole));
        }
        trail.passed(
            Source::AssumeRole,
            if profiles.get(&profile, "role_arn").is_some() {
                "the profile's role is for web identity"
            } else {
                "the profile has no role_arn"
            },
        );
        // A profile chosen in code shuts the environment's web identity out too.
        let use_environment = self.profile.is_none();
        if let Some(found) =
            self.profile_sources(io, &profiles, &profile, use_environment, &sts, Some(trail))?
        {
            return Ok(found);
        }
        trail.trying(Source::Container);
        match self.container(io)? {
            Some(credentials) => return Ok((credentials, Source::Container)),
            None => trail.passed(Source::Container, "no container credentials URI"),
        }
        trail.trying(Source::Ec2);
        let unreachable = match self.instance_metadata(io)? {
            Ok(credentials) => return Ok((credentials, Source::Ec2)),
            Err(failure) => {
                trail.passed(Source::Ec2, failure.reason);
                failure.transient
            }
        };
        Err(Error::Aws(AwsError::NoCredentials {
            tried: trail.describe(),
            unreachable,
        })
        .into())
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
        sts: &StsResult,
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
        let sts = checked(sts)?;
        let reply = sts_post(io, Source::WebIdentity, &sts.url, Vec::new(), body)?;
        Ok(super::sts::credentials_from_reply(
            &crate::secret::lossy_secret_text(&reply),
        )?)
    }

    /// The sources that read a profile, in botocore's order: web identity, SSO, the shared
    /// credentials file, `credential_process`, the config file. With `use_environment` the
    /// web identity variables count (the main chain, no profile chosen in code); a source
    /// profile's chain reads the profile alone. `Ok(None)` when none has credentials; each one
    /// passed over is recorded in `tried` when given.
    fn profile_sources(
        &self,
        io: &mut Replay<'_>,
        profiles: &Profiles<'_>,
        profile: &str,
        use_environment: bool,
        sts: &StsResult,
        mut trail: Option<&mut Trail>,
    ) -> std::result::Result<Option<(Credentials, Source)>, Stop> {
        let mut record = |source, outcome: Option<String>| {
            if let Some(trail) = trail.as_deref_mut() {
                match outcome {
                    Some(outcome) => trail.passed(source, outcome),
                    None => trail.trying(source),
                }
            }
        };
        record(Source::WebIdentity, None);
        // Each setting of web identity on its own: a variable beats the profile's setting.
        let web_identity = |key: &str, variable: &str| {
            use_environment
                .then(|| self.var(variable))
                .flatten()
                .or_else(|| profiles.get(profile, key).map(str::to_owned))
        };
        match web_identity("web_identity_token_file", "AWS_WEB_IDENTITY_TOKEN_FILE") {
            Some(token_file) => {
                let role_arn = web_identity("role_arn", "AWS_ROLE_ARN").ok_or_else(|| {
                    misconfigured(
                        format!("web identity of profile `{profile}`"),
                        "a web identity token is configured but no role: set role_arn in the profile or AWS_ROLE_ARN",
                    )
                })?;
                let session = web_identity("role_session_name", "AWS_ROLE_SESSION_NAME")
                    .unwrap_or_else(|| self.session_name());
                let credentials = self.web_identity(io, sts, &token_file, &role_arn, &session)?;
                return Ok(Some((credentials, Source::WebIdentity)));
            }
            None => record(
                Source::WebIdentity,
                Some("no web identity token file".into()),
            ),
        }
        record(Source::Sso, None);
        match self.sso(io, profiles, profile)? {
            Some(credentials) => return Ok(Some((credentials, Source::Sso))),
            None => record(
                Source::Sso,
                Some("the profile has no sso_account_id or sso_role_name".into()),
            ),
        }
        record(Source::SharedCredentialsFile, None);
        match profiles.credentials {
            Some(ini) => match static_keys(ini, profile, "shared credentials file")? {
                Some(credentials) => {
                    return Ok(Some((credentials, Source::SharedCredentialsFile)));
                }
                None => record(
                    Source::SharedCredentialsFile,
                    Some(format!("no keys for profile `{profile}`")),
                ),
            },
            None => record(Source::SharedCredentialsFile, Some("no file".into())),
        }
        record(Source::Process, None);
        match profiles.get(profile, "credential_process") {
            Some(command) => {
                let credentials = run_process(io, command)?;
                return Ok(Some((credentials, Source::Process)));
            }
            None => record(
                Source::Process,
                Some("the profile has no credential_process".into()),
            ),
        }
        record(Source::ConfigFile, None);
        let found = profiles
            .config
            .and_then(|config| Some((config, config.profile_section(profile)?)));
        match found
            .map(|(config, section)| static_keys(&config.ini, section, "config file"))
            .transpose()?
            .flatten()
        {
            Some(credentials) => Ok(Some((credentials, Source::ConfigFile))),
            None => {
                record(
                    Source::ConfigFile,
                    Some(format!(
                        "no keys in the config file for profile `{profile}`"
                    )),
                );
                Ok(None)
            }
        }
    }

    /// A profile's `role_arn` (botocore's AssumeRole provider): the source credentials (a
    /// `source_profile`, followed through the profiles it names with botocore's loop rules, or
    /// a `credential_source`), then a signed `AssumeRole`. `visited` holds the profiles on the
    /// way here, the first one included.
    fn assume_role(
        &self,
        io: &mut Replay<'_>,
        profiles: &Profiles<'_>,
        profile: &str,
        sts: &StsResult,
        visited: &mut Vec<String>,
    ) -> std::result::Result<Credentials, Stop> {
        let setting = |key: &str| profiles.get(profile, key);
        let what = || format!("the role of profile `{profile}`");
        let role_arn = setting("role_arn").ok_or_else(|| misconfigured(what(), "no role_arn"))?;
        let source = match (setting("source_profile"), setting("credential_source")) {
            (Some(_), Some(_)) => {
                return Err(misconfigured(
                    what(),
                    "the profile has both source_profile and credential_source",
                ));
            }
            (None, None) => {
                return Err(misconfigured(
                    what(),
                    "role_arn without source_profile or credential_source",
                ));
            }
            (None, Some(named)) => {
                let found = match named {
                    "Environment" => self.environment_keys()?,
                    "EcsContainer" => self.container(io)?,
                    "Ec2InstanceMetadata" => self.instance_metadata(io)?.ok(),
                    _ => {
                        return Err(misconfigured(
                            what(),
                            format!(
                                "the credential_source `{named}` is not valid (Environment, EcsContainer or Ec2InstanceMetadata)"
                            ),
                        ));
                    }
                };
                found.ok_or_else(|| {
                    unavailable(
                        what(),
                        format!("no credentials in credential_source `{named}`"),
                    )
                })?
            }
            (Some(source_profile), None) => {
                if !profiles.exists(source_profile) {
                    return Err(misconfigured(
                        what(),
                        format!("the source_profile `{source_profile}` does not exist"),
                    ));
                }
                // A profile may name itself, to use its own static keys; any other return to a
                // profile on the way is a loop.
                if visited.iter().any(|v| v == source_profile)
                    && (source_profile != profile || !profiles.has_static_keys(source_profile))
                {
                    return Err(misconfigured(what(), "its source_profile chain loops"));
                }
                // Each profile on the way is a frame of this recursion and an AssumeRole
                // signed again at every replay: a config file of thousands of chained profiles
                // would overflow the stack.
                if visited.len() > MAX_CHAINED_ROLES {
                    return Err(misconfigured(
                        what(),
                        format!(
                            "its source_profile chain assumes more than {MAX_CHAINED_ROLES} roles"
                        ),
                    ));
                }
                visited.push(source_profile.to_owned());
                if profiles.has_static_keys(source_profile)
                    || !profiles.assumes_role(source_profile)
                {
                    self.profile_sources(io, profiles, source_profile, false, sts, None)?
                        .map(|(credentials, _)| credentials)
                        .ok_or_else(|| {
                            misconfigured(
                                what(),
                                format!("the source profile `{source_profile}` has no credentials"),
                            )
                        })?
                } else {
                    self.assume_role(io, profiles, source_profile, sts, visited)?
                }
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
        if setting("mfa_serial").is_some() {
            return Err(misconfigured(
                what(),
                "the role asks for an MFA code (mfa_serial), which a login cannot prompt for: use credential_process or a custom provider",
            ));
        }
        // botocore sends a duration only when it reads as a whole number.
        let duration = setting("duration_seconds").and_then(|d| d.trim().parse::<i64>().ok());
        let duration = duration.map(|d| d.to_string());
        if let Some(duration) = &duration {
            pairs.push(("DurationSeconds", duration.as_str()));
        }
        let body = super::sts::form(&pairs);
        let content_type = (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        );
        let sts = checked(sts)?;
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
        Ok(super::sts::credentials_from_reply(
            &crate::secret::lossy_secret_text(&reply),
        )?)
    }

    /// A profile's IAM Identity Center role (see [`super::sso`]): `Ok(None)` when the profile
    /// names no SSO account or role.
    fn sso(
        &self,
        io: &mut Replay<'_>,
        profiles: &Profiles<'_>,
        profile: &str,
    ) -> std::result::Result<Option<Credentials>, Stop> {
        let what = || format!("the SSO role of profile `{profile}`");
        if profiles.get(profile, "sso_account_id").is_none()
            && profiles.get(profile, "sso_role_name").is_none()
        {
            return Ok(None);
        }
        let session_name = profiles.get(profile, "sso_session");
        // The profile's settings, with those of its sso-session, which must agree.
        let mut settings: Vec<(String, String)> = SSO_SETTINGS
            .iter()
            .filter_map(|key| {
                profiles
                    .get(profile, key)
                    .map(|v| ((*key).to_owned(), v.to_owned()))
            })
            .collect();
        if let Some(name) = session_name {
            let (session, section) = profiles
                .config
                .and_then(|config| Some((&config.ini, config.sso_session_section(name)?)))
                .ok_or_else(|| {
                    misconfigured(what(), format!("the sso-session `{name}` does not exist"))
                })?;
            for (key, value) in session.entries(section) {
                if let Some(mine) = profiles.get(profile, key).filter(|mine| *mine != value) {
                    return Err(misconfigured(
                        what(),
                        format!("its {key} ({mine}) and the sso-session's ({value}) differ"),
                    ));
                }
                // Only the four are read: keeping every key of a large session made this
                // loop quadratic.
                if SSO_SETTINGS.contains(&key) {
                    settings.retain(|(k, _)| k != key);
                    settings.push((key.to_owned(), value.to_owned()));
                }
            }
        }
        let get = |key: &str| {
            settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let missing: Vec<&str> = SSO_SETTINGS
            .into_iter()
            .filter(|key| get(key).is_none())
            .collect();
        let (Some(role), Some(account), Some(start_url), Some(region)) = (
            get("sso_role_name"),
            get("sso_account_id"),
            get("sso_start_url"),
            get("sso_region"),
        ) else {
            return Err(misconfigured(
                what(),
                format!("the profile uses SSO but lacks {}", missing.join(", ")),
            ));
        };
        // The region names the portal's host: it must not be able to name another host.
        if !super::sts::valid_region(region) {
            return Err(misconfigured(
                what(),
                format!(
                    "sso_region `{}` is not a region name",
                    region.chars().take(64).collect::<String>()
                ),
            ));
        }
        let login_required = |reason| AwsError::SsoLoginRequired {
            profile: profile.to_owned(),
            reason,
        };
        let home = self
            .home()
            .ok_or_else(|| misconfigured(what(), "no home directory"))?;
        let file = home
            .join(".aws")
            .join("sso")
            .join("cache")
            .join(super::sso::token_file_name(start_url, session_name));
        let shown = file.display().to_string();
        let token = match io.ask(Ask::read_file(file))? {
            Reply::File(Some(bytes)) => super::sso::read_token(bytes)?,
            Reply::File(None) => return Err(login_required("is not in the SSO cache").into()),
            Reply::Failed(reason) => return Err(unavailable(format!("`{shown}`"), reason.clone())),
            _ => return Err(unexpected()),
        };
        let now = self.started.unwrap_or_else(|| self.clock.now());
        let mut access_token = token.access_token.clone();
        let mut expires_at = token.expires_at;
        let expires_within = |at: std::time::SystemTime, window| {
            at.duration_since(now).map_or(true, |left| left < window)
        };
        if session_name.is_some() && expires_within(expires_at, super::sso::REFRESH_WINDOW) {
            // The session form refreshes a token close to expiry, as boto3's token provider
            // does; a refresh that fails leaves the token as it was.
            if let Some(refresh) = token
                .refresh
                .as_ref()
                .filter(|r| !expires_within(r.registration_expires_at, std::time::Duration::ZERO))
            {
                let url = format!(
                    "{}/token",
                    self.sso_endpoint("AWS_ENDPOINT_URL_SSO_OIDC", "oidc", region)
                );
                let headers = vec![("Content-Type".to_owned(), Secret::new("application/json"))];
                let request =
                    HttpRequest::new("POST", url, headers, super::sso::refresh_request(refresh));
                if let Reply::Http { status: 200, body } = io.ask(Ask::Http(request))?
                    && let Ok((fresh, at)) = super::sso::read_refreshed(body, now)
                {
                    access_token = fresh;
                    expires_at = at;
                }
            }
        }
        if expires_within(expires_at, std::time::Duration::ZERO) {
            return Err(login_required("expired and could not be refreshed").into());
        }
        let url = format!(
            "{}/federation/credentials?role_name={}&account_id={}",
            self.sso_endpoint("AWS_ENDPOINT_URL_SSO", "portal.sso", region),
            super::sso::query_escape(role),
            super::sso::query_escape(account),
        );
        let headers = vec![("x-amz-sso_bearer_token".to_owned(), access_token)];
        match io.ask(Ask::Http(HttpRequest::new("GET", url, headers, Vec::new())))? {
            Reply::Http { status: 200, body } => Ok(Some(super::sso::read_role_credentials(body)?)),
            Reply::Http {
                status: 401 | 403, ..
            } => Err(login_required("was refused by the SSO portal").into()),
            Reply::Http { status, .. } => Err(unavailable(
                what(),
                format!("the SSO portal answered HTTP {status}"),
            )),
            Reply::Failed(reason) => Err(unavailable(what(), reason.clone())),
            _ => Err(unexpected()),
        }
    }

    /// EC2 instance metadata, unless `AWS_EC2_METADATA_DISABLED` is true.
    fn instance_metadata(
        &self,
        io: &mut Replay<'_>,
    ) -> std::result::Result<std::result::Result<Credentials, NoInstanceCredentials>, Stop> {
        if self
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Ok(Err(NoInstanceCredentials {
                reason: "AWS_EC2_METADATA_DISABLED is true".to_owned(),
                transient: false,
            }));
        }
        ec2(io, &self.metadata_endpoint())
    }

    /// An SSO service's endpoint: `variable` (`AWS_ENDPOINT_URL_SSO`, `_SSO_OIDC`), else
    /// `AWS_ENDPOINT_URL`, else `https://<host>.<region>.<the partition's domain>`.
    fn sso_endpoint(&self, variable: &str, host: &str, region: &str) -> String {
        self.var(variable)
            .or_else(|| self.var("AWS_ENDPOINT_URL"))
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| {
                let domain = super::sts::dns_suffix(region);
                format!("https://{host}.{region}.{domain}")
            })
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
                    return Err(misconfigured(
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

    /// A file's path as botocore expands it on a POSIX system (`os.path.expandvars`, then
    /// `expanduser`): `$NAME` and `${NAME}` of variables that are set (one that is not stays as
    /// written, whole), then a leading `~` or `~/` as `HOME`. `~user` stays as written: finding
    /// another user's home directory is I/O this crate does not ask for. (On Windows botocore
    /// also expands `%NAME%` and `~\`; this does not.)
    fn expanded(&self, path: &str) -> String {
        let mut out = String::with_capacity(path.len());
        let mut rest = path;
        while let Some(dollar) = rest.find('$') {
            out.push_str(rest.get(..dollar).unwrap_or_default());
            let after = rest.get(dollar + 1..).unwrap_or_default();
            // The name, and how many bytes after the `$` the reference takes.
            let reference = match after.strip_prefix('{') {
                Some(braced) => braced.find('}').map(|end| (braced.get(..end), end + 2)),
                None => {
                    let end = after
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(after.len());
                    (end > 0).then(|| (after.get(..end), end))
                }
            };
            let Some((name, length)) = reference else {
                out.push('$');
                rest = after;
                continue;
            };
            match name.and_then(|name| self.env.var(name)) {
                Some(value) => out.push_str(&value),
                None => {
                    out.push('$');
                    out.push_str(after.get(..length).unwrap_or_default());
                }
            }
            rest = after.get(length..).unwrap_or_default();
        }
        out.push_str(rest);
        let home_relative = match out.strip_prefix('~') {
            Some(tail) if tail.is_empty() || tail.starts_with('/') => Some(tail),
            _ => None,
        };
        // `HOME` as it is set, even empty, as Python reads it; else the chain's home.
        let home = self
            .env
            .var("HOME")
            .or_else(|| self.home().map(|home| home.to_string_lossy().into_owned()));
        match (home_relative, home) {
            (Some(tail), Some(home)) => {
                let joined = format!("{}{tail}", home.trim_end_matches('/'));
                if joined.is_empty() {
                    "/".to_owned()
                } else {
                    joined
                }
            }
            _ => out,
        }
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
            Some(path) => PathBuf::from(self.expanded(&path)),
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

/// The profiles of the config and credentials files, as botocore's full configuration holds
/// them: a profile's settings are those of its config-file section, with the credentials
/// file's section of the same name over them.
struct Profiles<'a> {
    config: Option<&'a ConfigFile>,
    credentials: Option<&'a Ini>,
}

impl Profiles<'_> {
    fn get(&self, profile: &str, key: &str) -> Option<&str> {
        self.credentials
            .and_then(|ini| ini.get(profile, key))
            .or_else(|| {
                let config = self.config?;
                config.ini.get(config.profile_section(profile)?, key)
            })
    }

    fn exists(&self, profile: &str) -> bool {
        self.credentials.is_some_and(|ini| ini.has_section(profile))
            || self
                .config
                .is_some_and(|config| config.profile_section(profile).is_some())
    }

    /// botocore's "has static credentials": either key, anywhere in the profile.
    fn has_static_keys(&self, profile: &str) -> bool {
        self.get(profile, "aws_access_key_id").is_some()
            || self.get(profile, "aws_secret_access_key").is_some()
    }

    /// Whether the profile is for AssumeRole: a `role_arn`, and no web identity token file
    /// (that role is for web identity).
    fn assumes_role(&self, profile: &str) -> bool {
        self.get(profile, "role_arn").is_some()
            && self.get(profile, "web_identity_token_file").is_none()
    }
}

/// The config file, its sections named as botocore names them: `[default]` is the profile
/// `default`; a section whose name starts with `profile` (or `sso-session`) and splits, by
/// `shlex.split`, into exactly two words is the profile (the session) named by the second, so
/// `[profile "my dev"]`, `[profile  dev]` and `[profile default]` all count; of two sections for
/// one name, the later.
pub(crate) struct ConfigFile {
    ini: Ini,
    /// A profile's section.
    profiles: HashMap<String, String>,
    /// An sso-session's section.
    sso_sessions: HashMap<String, String>,
}

impl ConfigFile {
    pub(crate) fn new(ini: Ini) -> Self {
        let mut profiles = HashMap::new();
        let mut sso_sessions = HashMap::new();
        let named = |section: &str| match super::command_line::split_posix(section) {
            Ok(words) => match <[String; 2]>::try_from(words) {
                Ok([_, name]) => Some(name),
                Err(_) => None,
            },
            Err(_) => None,
        };
        for section in ini.section_names() {
            let (map, name) = if section.starts_with("profile") {
                (&mut profiles, named(section))
            } else if section.starts_with("sso-session") {
                (&mut sso_sessions, named(section))
            } else if section == "default" {
                (&mut profiles, Some(section.to_owned()))
            } else {
                continue;
            };
            if let Some(name) = name {
                map.insert(name, section.to_owned());
            }
        }
        ConfigFile {
            ini,
            profiles,
            sso_sessions,
        }
    }

    fn profile_section(&self, profile: &str) -> Option<&str> {
        self.profiles.get(profile).map(String::as_str)
    }

    /// Each profile and its settings, sorted: what botocore's `build_profile_map` makes of the
    /// file, for the fuzz target and the peer test that compares the two.
    pub(crate) fn profiles(&self) -> Vec<(&str, Vec<(&str, &str)>)> {
        let mut profiles: Vec<_> = self
            .profiles
            .iter()
            .map(|(name, section)| (name.as_str(), self.ini.entries(section).collect()))
            .collect();
        profiles.sort();
        profiles
    }

    fn sso_session_section(&self, name: &str) -> Option<&str> {
        self.sso_sessions.get(name).map(String::as_str)
    }
}

/// A form POST to STS; the reply body when STS answers 200.
/// What a profile that uses SSO needs, from itself or its sso-session.
const SSO_SETTINGS: [&str; 4] = [
    "sso_role_name",
    "sso_account_id",
    "sso_start_url",
    "sso_region",
];

/// The most roles one `source_profile` chain may assume; real chains assume two or three.
const MAX_CHAINED_ROLES: usize = 32;

fn sts_post(
    io: &mut Replay<'_>,
    source: Source,
    url: &str,
    mut headers: Vec<(String, Secret)>,
    mut body: Zeroizing<String>,
) -> std::result::Result<Zeroizing<Vec<u8>>, Stop> {
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push((
            "Content-Type".to_owned(),
            Secret::new("application/x-www-form-urlencoded; charset=utf-8"),
        ));
    }
    http_exchange(
        io,
        source,
        "POST",
        url,
        headers,
        std::mem::take(&mut *body).into_bytes(),
    )
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
) -> std::result::Result<Zeroizing<Vec<u8>>, Stop> {
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
) -> std::result::Result<Zeroizing<Vec<u8>>, Stop> {
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
        Reply::Http { status: 200, body } => {
            Secret::new(crate::secret::lossy_secret_text(body).trim())
        }
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
    let words = super::command_line::split(command)
        .map_err(|rule| misconfigured("credential_process", rule))?;
    let stdout = match io.ask(Ask::run_process(command, words))? {
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

    /// What the tests' HTTP endpoints answer: (method, URL, headers, body) to (status, body).
    type Endpoint<'a> = &'a dyn Fn(&str, &str, &[(String, Secret)], &[u8]) -> (u16, String);

    /// Runs the chain with `files` and `endpoint` answering its HTTP exchanges; the requests it
    /// made, as `METHOD URL`.
    fn resolve_http(
        chain: &mut CredentialChain,
        files: &HashMap<String, String>,
        endpoint: Endpoint<'_>,
    ) -> (Result<Resolved>, Vec<String>) {
        let mut requests = Vec::new();
        let mut step = match chain.step() {
            Ok(step) => step,
            Err(e) => return (Err(e), requests),
        };
        loop {
            let answer = match step {
                ChainStep::Done(resolved) => return (Ok(resolved), requests),
                ChainStep::Ask(Ask::ReadFile(file)) => {
                    let content = files.get(file.path().to_str().unwrap_or_default());
                    file.answer(content.map(|c| c.as_bytes().to_vec().into()))
                }
                ChainStep::Ask(Ask::Http(request)) => {
                    requests.push(format!("{} {}", request.method(), request.url()));
                    let (status, body) = endpoint(
                        request.method(),
                        request.url(),
                        request.headers(),
                        request.body(),
                    );
                    request.answer(status, zeroize::Zeroizing::new(body.into_bytes()))
                }
                ChainStep::Ask(other) => panic!("the chain asked for {other:?}"),
                ChainStep::Callback(_) => panic!("no custom provider here"),
            };
            step = match chain.answer(answer) {
                Ok(step) => step,
                Err(e) => return (Err(e), requests),
            };
        }
    }

    /// STS as the tests see it: an AssumeRole (signed) or AssumeRoleWithWebIdentity answered
    /// with a key that names the action and the role.
    fn sts(_: &str, url: &str, headers: &[(String, Secret)], body: &[u8]) -> (u16, String) {
        let body = String::from_utf8_lossy(body);
        if !url.starts_with("https://sts.") {
            return (404, String::new());
        }
        let action = if body.contains("Action=AssumeRoleWithWebIdentity") {
            "WEBID"
        } else if headers.iter().any(|(n, _)| n == "Authorization") {
            "ROLE"
        } else {
            return (403, "unsigned".into());
        };
        let role = body
            .split('&')
            .find_map(|pair| pair.strip_prefix("RoleArn="))
            .unwrap_or_default()
            .rsplit("%2F")
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = format!(
            "<R><Credentials><AccessKeyId>{action}{role}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></R>"
        );
        (200, reply)
    }

    fn home_files(credentials: &str, config: &str) -> HashMap<String, String> {
        HashMap::from([
            ("/h/.aws/credentials".to_owned(), credentials.to_owned()),
            ("/h/.aws/config".to_owned(), config.to_owned()),
            ("/h/token".to_owned(), "a-web-identity-token".to_owned()),
        ])
    }

    /// A row's pseudo-variable for a profile chosen in code.
    const IN_CODE: &str = "(profile in code)";

    /// botocore's rules for profiles, one row each: the profile's files, the environment, and
    /// what the chain must come to (the source and the key, or an error containing a phrase).
    #[test]
    fn profiles_as_botocore_reads_them() {
        type Row<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a [(&'a str, &'a str)],
            Result<(Source, &'a str), &'a str>,
        );
        let rows: &[Row] = &[
            (
                "role_arn with web_identity_token_file is web identity, not AssumeRole",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/ci\nweb_identity_token_file = /h/token\n",
                &[],
                Ok((Source::WebIdentity, "WEBIDCI")),
            ),
            (
                "a web identity token without a role is an error, not the next source",
                "[default]\naws_access_key_id = FILE\naws_secret_access_key = s\n",
                "[default]\nweb_identity_token_file = /h/token\n",
                &[],
                Err("no role"),
            ),
            (
                "the variables' token with the profile's role",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/mixed\nweb_identity_token_file = /elsewhere\n",
                &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/h/token")],
                Ok((Source::WebIdentity, "WEBIDMIXED")),
            ),
            (
                "role_arn in the credentials file is AssumeRole too",
                "[default]\naws_access_key_id = FILE\naws_secret_access_key = s\n[r]\nrole_arn = arn:aws:iam::1:role/fromcreds\nsource_profile = default\n",
                "",
                &[("AWS_PROFILE", "r")],
                Ok((Source::AssumeRole, "ROLEFROMCREDS")),
            ),
            (
                "both source_profile and credential_source",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\ncredential_source = Environment\n",
                &[],
                Err("both source_profile and credential_source"),
            ),
            (
                "neither",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/r\n",
                &[],
                Err("role_arn without source_profile or credential_source"),
            ),
            (
                "an unknown credential_source",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/r\ncredential_source = Kerberos\n",
                &[],
                Err("is not valid"),
            ),
            (
                "the environment's keys come before any role",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/env\ncredential_source = Environment\n",
                &[("AWS_ACCESS_KEY_ID", "ENV"), ("AWS_SECRET_ACCESS_KEY", "s")],
                Ok((Source::Environment, "ENV")),
            ),
            (
                "credential_source Environment, the profile chosen in code",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/env\ncredential_source = Environment\n",
                &[
                    ("AWS_ACCESS_KEY_ID", "ENV"),
                    ("AWS_SECRET_ACCESS_KEY", "s"),
                    (IN_CODE, "default"),
                ],
                Ok((Source::AssumeRole, "ROLEENV")),
            ),
            (
                "a source_profile that does not exist",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = ghost\n",
                &[],
                Err("`ghost` does not exist"),
            ),
            (
                "a loop through two profiles",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = default\n",
                &[],
                Err("loops"),
            ),
            (
                "a profile that names itself uses its own keys",
                "[default]\naws_access_key_id = SELF\naws_secret_access_key = s\n",
                "[default]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = default\n",
                &[],
                Ok((Source::AssumeRole, "ROLESELF")),
            ),
            (
                "a profile that names itself without keys loops",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = default\n",
                &[],
                Err("loops"),
            ),
            (
                "a source profile with keys and a role of its own gives its keys",
                "[b]\naws_access_key_id = B\naws_secret_access_key = s\n",
                "[default]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/never\nsource_profile = default\n",
                &[],
                Ok((Source::AssumeRole, "ROLETOP")),
            ),
            (
                "a source profile of web identity",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = ci\n[profile ci]\nrole_arn = arn:aws:iam::1:role/ci\nweb_identity_token_file = /h/token\n",
                &[],
                Ok((Source::AssumeRole, "ROLETOP")),
            ),
            (
                "a source profile without credentials",
                "",
                "[default]\nrole_arn = arn:aws:iam::1:role/top\nsource_profile = empty\n[profile empty]\nregion = us-east-1\n",
                &[],
                Err("`empty` has no credentials"),
            ),
            (
                "an MFA role cannot be prompted for",
                "[k]\naws_access_key_id = K\naws_secret_access_key = s\n",
                "[default]\nrole_arn = arn:aws:iam::1:role/mfa\nsource_profile = k\nmfa_serial = arn:aws:iam::1:mfa/u\n",
                &[],
                Err("MFA"),
            ),
            (
                "a region that is not one does not stop static keys",
                "[default]\naws_access_key_id = K\naws_secret_access_key = s\n",
                "[default]\nregion = evil.example/x#\n",
                &[("AWS_STS_REGIONAL_ENDPOINTS", "regional")],
                Ok((Source::SharedCredentialsFile, "K")),
            ),
            (
                "...but fails a role before any request",
                "[k]\naws_access_key_id = K\naws_secret_access_key = s\n",
                "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = k\nregion = evil.example/x#\n",
                &[("AWS_STS_REGIONAL_ENDPOINTS", "regional")],
                Err("is not a region name"),
            ),
        ];
        for (rule, credentials, config, vars, expected) in rows {
            let mut env = vec![("HOME", "/h")];
            env.extend(vars.iter().filter(|(k, _)| *k != IN_CODE));
            let mut chain =
                CredentialChain::new(Arc::new(env.into_iter().collect::<MapEnvironment>()));
            if let Some((_, profile)) = vars.iter().find(|(k, _)| *k == IN_CODE) {
                chain = chain.profile(*profile);
            }
            let (result, _) = resolve_http(&mut chain, &home_files(credentials, config), &sts);
            match (expected, result) {
                (Ok((source, key)), Ok(resolved)) => assert_eq!(
                    (resolved.source, resolved.credentials.access_key_id()),
                    (*source, *key),
                    "{rule}"
                ),
                (Err(phrase), Err(error)) => {
                    assert!(error.to_string().contains(phrase), "{rule}: {error}")
                }
                (expected, got) => panic!("{rule}: expected {expected:?}, got {got:?}"),
            }
        }
        // A profile chosen in code shuts the environment's web identity out.
        let mut by_name = CredentialChain::new(Arc::new(MapEnvironment::from([
            ("HOME", "/h"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/h/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/env"),
        ])))
        .profile("k");
        let files = home_files(
            "[k]\naws_access_key_id = K\naws_secret_access_key = s\n",
            "",
        );
        let (result, _) = resolve_http(&mut by_name, &files, &sts);
        assert_eq!(result.unwrap().source, Source::SharedCredentialsFile);
    }

    /// A config file whose `default` profile reaches static keys through `hops` chained roles.
    fn role_chain(hops: usize) -> HashMap<String, String> {
        let mut config = String::new();
        for hop in 0..hops {
            let name = if hop == 0 {
                "default".to_owned()
            } else {
                format!("profile p{hop}")
            };
            config.push_str(&format!(
                "[{name}]\nrole_arn = arn:aws:iam::1:role/r{hop}\nsource_profile = p{}\n",
                hop + 1
            ));
        }
        let credentials = format!("[p{hops}]\naws_access_key_id = K\naws_secret_access_key = s\n");
        home_files(&credentials, &config)
    }

    #[test]
    fn config_sections_are_named_as_botocore_names_them() {
        let ini = Ini::parse(
            "[default]\nregion = a\n[profile \"my dev\"]\nregion = b\n[profile  spaced]\nregion = c\n[profile default]\nregion = d\n[profile a b]\nregion = e\n[profilex x]\nregion = f\n[profile 'open]\nregion = g\n[sso-session \"corp s\"]\nsso_region = h\n[ profile pad ]\nregion = i\n",
        )
        .unwrap();
        let config = ConfigFile::new(ini);
        let region = |profile: &str| {
            let section = config.profile_section(profile)?;
            config.ini.get(section, "region")
        };
        assert_eq!(region("my dev"), Some("b"));
        assert_eq!(region("spaced"), Some("c"));
        // Both `[default]` and `[profile default]`: the later.
        assert_eq!(region("default"), Some("d"));
        // A prefix with no space is still `profile`, as botocore's `startswith` reads it.
        assert_eq!(region("x"), Some("f"));
        // Three words, an open quote, or a space before `profile`: no profile.
        for none in ["a b", "a", "'open", "open", "pad", " profile pad "] {
            assert_eq!(region(none), None, "{none}");
        }
        assert_eq!(
            config.sso_session_section("corp s"),
            Some("sso-session \"corp s\"")
        );
    }

    #[test]
    fn file_paths_are_expanded_as_botocore_expands_them() {
        let chain = CredentialChain::new(Arc::new(MapEnvironment::from([
            ("HOME", "/h/"),
            ("DIR", "/d"),
            ("EMPTY", ""),
        ])));
        for (written, expanded) in [
            ("~/.aws/alt", "/h/.aws/alt"),
            ("~", "/h"),
            ("$DIR/config", "/d/config"),
            ("${DIR}/config", "/d/config"),
            ("$DIR$DIR", "/d/d"),
            ("x$EMPTY/y", "x/y"),
            ("$NOPE/config", "$NOPE/config"),
            ("${DIR/config", "${DIR/config"),
            ("a$/b$", "a$/b$"),
            ("~user/config", "~user/config"),
            ("/etc/~/config", "/etc/~/config"),
            ("$HOME_X/c", "$HOME_X/c"),
            // A reference to a variable that is not set is kept whole, `$` inside it too.
            ("${A$DIR}/c", "${A$DIR}/c"),
            ("${}/c", "${}/c"),
        ] {
            assert_eq!(chain.expanded(written), expanded, "{written}");
        }
    }

    #[test]
    fn a_source_profile_chain_is_bounded() {
        let resolve = |hops| {
            let mut chain = CredentialChain::new(Arc::new(MapEnvironment::from([("HOME", "/h")])));
            resolve_http(&mut chain, &role_chain(hops), &sts)
        };
        // As long as the cap allows: one AssumeRole per profile, the last one the default's.
        let (resolved, requests) = resolve(MAX_CHAINED_ROLES);
        let resolved = resolved.expect("a chain within the cap");
        assert_eq!(resolved.credentials.access_key_id(), "ROLER0");
        assert_eq!(requests.len(), MAX_CHAINED_ROLES);
        // One more is refused before any request; thousands overflowed the stack.
        for hops in [MAX_CHAINED_ROLES + 1, 10_000] {
            let (result, requests) = resolve(hops);
            let error = result.expect_err("a chain past the cap");
            assert!(
                error.to_string().contains("assumes more than 32 roles"),
                "{error}"
            );
            assert!(requests.is_empty(), "{requests:?}");
        }
    }

    /// An SSO portal for the tests: a role's credentials for a token it knows, a refreshed
    /// token for the refresh token it knows.
    fn portal(method: &str, url: &str, headers: &[(String, Secret)], body: &[u8]) -> (u16, String) {
        let token = headers
            .iter()
            .find(|(n, _)| n == "x-amz-sso_bearer_token")
            .map(|(_, v)| v.expose().to_owned());
        match (method, url.split('?').next().unwrap_or_default()) {
            ("GET", "https://portal.sso.eu-west-1.amazonaws.com/federation/credentials") => {
                match token.as_deref() {
                    Some("good" | "refreshed") => (
                        200,
                        r#"{"roleCredentials": {"accessKeyId": "ASIASSO", "secretAccessKey": "s", "sessionToken": "t", "expiration": 4070908800000}}"#.into(),
                    ),
                    _ => (401, "{}".into()),
                }
            }
            ("POST", "https://oidc.eu-west-1.amazonaws.com/token")
                if String::from_utf8_lossy(body).contains("\"refreshToken\":\"rt\"") =>
            {
                (200, r#"{"accessToken": "refreshed", "expiresIn": 3600}"#.into())
            }
            _ => (404, String::new()),
        }
    }

    #[test]
    fn a_megabyte_sso_session_is_read_in_linear_time() {
        // The four settings, then short keys up to the file cap: kept and searched one by one,
        // they cost about 10^10 comparisons at each replay. The watchdog only turns that hang
        // into a failure.
        let mut config = String::from(
            "[profile new]\nsso_session = corp\nsso_account_id = 111\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n",
        );
        super::super::ini::fill_with_short_keys(&mut config);
        let source =
            crate::test_support::finishes_within(std::time::Duration::from_secs(30), move || {
                let mut files = home_files("", &config);
                files.insert(
                    format!(
                        "/h/.aws/sso/cache/{}",
                        super::super::sso::token_file_name("", Some("corp"))
                    ),
                    r#"{"accessToken": "good", "expiresAt": "2099-01-01T00:00:00Z"}"#.to_owned(),
                );
                let mut chain =
                    CredentialChain::new(Arc::new(MapEnvironment::from([("HOME", "/h")])))
                        .profile("new");
                let (result, _) = resolve_http(&mut chain, &files, &portal);
                result.map(|resolved| resolved.source)
            });
        assert_eq!(source.expect("SSO credentials"), Source::Sso);
    }

    #[test]
    fn sso_profiles_of_both_forms() {
        let session_file = format!(
            "/h/.aws/sso/cache/{}",
            super::super::sso::token_file_name("", Some("corp"))
        );
        let legacy_file = format!(
            "/h/.aws/sso/cache/{}",
            super::super::sso::token_file_name("https://corp.awsapps.com/start", None)
        );
        let config = "[profile new]\nsso_session = corp\nsso_account_id = 111\nsso_role_name = Dev\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n[profile old]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 111\nsso_role_name = Dev\n[profile clash]\nsso_session = corp\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n[profile partial]\nsso_account_id = 1\n[profile evil]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = evil.example/x#\nsso_account_id = 1\nsso_role_name = R\n";
        let token = |access: &str, expires: &str, refresh: bool| {
            let mut json = format!(r#"{{"accessToken": "{access}", "expiresAt": "{expires}""#);
            if refresh {
                json.push_str(r#", "refreshToken": "rt", "clientId": "c", "clientSecret": "cs", "registrationExpiresAt": "2099-01-01T00:00:00Z""#);
            }
            json.push('}');
            json
        };
        let run = |profile: &str, tokens: &[(&str, String)]| {
            let mut files = home_files("", config);
            for (path, content) in tokens {
                files.insert((*path).to_owned(), content.clone());
            }
            let mut chain = CredentialChain::new(Arc::new(MapEnvironment::from([("HOME", "/h")])))
                .profile(profile);
            resolve_http(&mut chain, &files, &portal)
        };
        // A valid cached token, each form.
        for (profile, file) in [("new", &session_file), ("old", &legacy_file)] {
            let (result, requests) = run(
                profile,
                &[(file, token("good", "2099-01-01T00:00:00Z", false))],
            );
            let resolved = result.unwrap_or_else(|e| panic!("{profile}: {e}"));
            assert_eq!(
                (resolved.source, resolved.credentials.access_key_id()),
                (Source::Sso, "ASIASSO")
            );
            assert_eq!(
                requests,
                [
                    "GET https://portal.sso.eu-west-1.amazonaws.com/federation/credentials?role_name=Dev&account_id=111"
                ]
            );
        }
        // No token, or an expired one: the error says to log in again, and names the sources
        // passed over before SSO.
        let login_required = |result: Result<Resolved>, reason: &'static str| match result {
            Err(Error::Aws(AwsError::SourceFailed { at, tried, failed })) => {
                assert_eq!(at, "sso");
                assert!(
                    tried.contains("web-identity: no web identity token file"),
                    "{tried}"
                );
                assert_eq!(
                    *failed,
                    AwsError::SsoLoginRequired {
                        profile: "old".into(),
                        reason,
                    }
                );
                let shown = Error::Aws(AwsError::SourceFailed { at, tried, failed }).to_string();
                assert!(
                    shown.contains("run `aws sso login --profile old`"),
                    "{shown}"
                );
            }
            other => panic!("expected the SSO login error, got {other:?}"),
        };
        let (missing, _) = run("old", &[]);
        login_required(missing, "is not in the SSO cache");
        let (expired, requests) = run(
            "old",
            &[(&legacy_file, token("good", "2020-01-01T00:00:00Z", true))],
        );
        login_required(expired, "expired and could not be refreshed");
        assert!(
            requests.is_empty(),
            "the legacy form does not refresh: {requests:?}"
        );
        // The session form refreshes an expired token with its refresh token.
        let (refreshed, requests) = run(
            "new",
            &[(&session_file, token("stale", "2020-01-01T00:00:00Z", true))],
        );
        assert_eq!(refreshed.unwrap().credentials.access_key_id(), "ASIASSO");
        assert_eq!(
            requests.first().map(String::as_str),
            Some("POST https://oidc.eu-west-1.amazonaws.com/token")
        );
        // ...and without one, it cannot.
        let (stuck, _) = run(
            "new",
            &[(&session_file, token("stale", "2020-01-01T00:00:00Z", false))],
        );
        assert!(stuck.unwrap_err().to_string().contains("aws sso login"));
        // Settings that disagree with the session's, or are missing.
        assert!(
            run("clash", &[])
                .0
                .unwrap_err()
                .to_string()
                .contains("differ")
        );
        assert!(
            run("partial", &[])
                .0
                .unwrap_err()
                .to_string()
                .contains("lacks sso_role_name")
        );
        // A region that would name another host is refused before the token goes anywhere.
        let (evil, requests) = run(
            "evil",
            &[(&legacy_file, token("good", "2099-01-01T00:00:00Z", false))],
        );
        assert!(
            matches!(
                evil,
                Err(Error::Aws(AwsError::SourceFailed { ref failed, .. }))
                    if matches!(**failed, AwsError::Misconfigured { .. })
            ),
            "{evil:?}"
        );
        assert!(requests.is_empty(), "{requests:?}");
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
                Source::Sso,
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
        // A profile that names an sso-session but no account or role is not an SSO source (in
        // botocore, only a token provider): the chain goes on, and says so.
        assert!(
            sso.to_string()
                .contains("sso: the profile has no sso_account_id or sso_role_name"),
            "{sso}"
        );
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
            role.to_string()
                .contains("the source profile `default` has no credentials"),
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

//! The command-level machine: `hello` fields, mechanism negotiation, speculative authentication
//! and the SASL command flow, for every mechanism, as one enum-driven [`Authenticator`].
//!
//! Commands and replies cross this boundary as raw BSON bytes, so a driver on any version of the
//! `bson` crate can embed it.
//!
//! ```no_run
//! use mongodb_auth::{Authenticator, AuthOptions, ConnectionString, Step};
//!
//! // The driver's own I/O: send a hello / a command, return the reply document.
//! # fn send(_: &mongodb_auth::Command) -> Vec<u8> { Vec::new() }
//! # fn hello(_: &[u8]) -> Vec<u8> { Vec::new() }
//! # fn run() -> mongodb_auth::Result<()> {
//! let cs = ConnectionString::parse("mongodb://user:pencil@localhost/")?;
//! let mut auth = Authenticator::new(cs.credential().unwrap(), AuthOptions::default())?;
//! let hello_fields = auth.hello_fields()?; // merge into the hello the driver sends
//! let mut step = auth.handle_hello_reply(&hello(&hello_fields))?;
//! let outcome = loop {
//!     step = match step {
//!         Step::Send(command) => auth.handle_reply(&send(&command))?,
//!         Step::DeriveKey(job) => auth.handle_key(job.run())?, // or on a blocking pool
//!         Step::Done(outcome) => break outcome,
//!         // Steps a later version adds (or a feature this driver does not use) fail cleanly.
//!         other => return Err(other.unhandled()),
//!     };
//! };
//! println!("authenticated with {:?} in {} round trips", outcome.mechanism, outcome.round_trips);
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use bson::raw::cstr;
use bson::{RawBinaryRef, RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};
use zeroize::Zeroizing;

use crate::command::{Command, binary, check_ok, document_with_capacity, reply_document};
use crate::credential::{AuthMechanism, Credential};
use crate::environment::{Clock, Environment, SystemClock, SystemEnvironment};
use crate::error::{Error, ProtocolViolation, Result};
use crate::random::{BoxedRandom, SecureRandom, SystemRandom};
use crate::scram::{
    ClientFinal, ClientFirst, DEFAULT_MAX_ITERATIONS, KeyDerivation, ScramClient, ScramKeyCache,
    ScramKeys, ScramVariant, ServerFirst,
};
use crate::secret::Secret;
use crate::{plain, x509};

mod gssapi;
mod hello;
#[cfg(feature = "oidc")]
mod oidc;

pub use hello::{Hello, HelloStyle, field_names};

/// What the caller does next.
///
/// New mechanisms may add steps (an HTTP fetch for MONGODB-AWS credentials, a token callback for
/// MONGODB-OIDC), so the enum is `#[non_exhaustive]`: end the match with
/// `other => return Err(other.unhandled())`, which turns a step the caller does not know into
/// [`Error::UnhandledStep`] instead of a panic.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Send this command and pass the reply to [`Authenticator::handle_reply`].
    Send(Command),
    /// Run this PBKDF2 job (inline, or on a blocking pool in async code) and pass the keys to
    /// [`Authenticator::handle_key`]. Skipped when the key cache already has the keys.
    DeriveKey(KeyDerivation),
    /// Authentication is complete.
    Done(Outcome),
    /// The mechanism needs this from the caller: MONGODB-AWS to find its credentials (a file, a
    /// process run, an HTTP exchange), GSSAPI to canonicalize the host (a DNS lookup). Do it and
    /// pass the result to [`Authenticator::handle_answer`].
    Ask(crate::ask::Ask),
    /// GSSAPI: run this job on the GSS context (it may block on the KDC: on a blocking pool in
    /// async code) and pass the result to [`Authenticator::handle_gssapi`].
    Gssapi(crate::gssapi::GssJob),
    /// MONGODB-OIDC needs an access token: run [`TokenRequest::fetch`](crate::oidc::TokenRequest::fetch)
    /// (it calls the credential's callback, or has the caller do what a built-in environment
    /// asks) and pass the token to [`Authenticator::handle_token`].
    #[cfg(feature = "oidc")]
    Token(crate::oidc::TokenRequest),
}

impl Step {
    /// The error for a step the caller's loop does not handle.
    pub fn unhandled(&self) -> Error {
        Error::UnhandledStep {
            step: match self {
                Step::Send(_) => "Send",
                Step::DeriveKey(_) => "DeriveKey",
                Step::Done(_) => "Done",
                Step::Ask(_) => "Ask",
                Step::Gssapi(_) => "Gssapi",
                #[cfg(feature = "oidc")]
                Step::Token(_) => "Token",
            },
        }
    }
}

/// How authentication went.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The mechanism that authenticated; `None` when none was needed (the server is an arbiter).
    pub mechanism: Option<AuthMechanism>,
    /// Whether the conversation started inside `hello` (speculative authentication).
    pub speculative: bool,
    /// Commands sent after `hello`.
    pub round_trips: u32,
    /// Whether the SCRAM keys came from the cache (no PBKDF2 ran).
    pub key_cache_hit: bool,
    /// The server's last reply (the `hello` reply when nothing followed it), as BSON bytes.
    pub server_reply: Vec<u8>,
}

impl Outcome {
    /// A connection that needed no login (no credential): the `hello` reply is all there is.
    pub fn unauthenticated(hello_reply: Vec<u8>) -> Self {
        Outcome {
            mechanism: None,
            speculative: false,
            round_trips: 0,
            key_cache_hit: false,
            server_reply: hello_reply,
        }
    }
}

/// Settings of an [`Authenticator`].
pub struct AuthOptions {
    /// Start the conversation inside `hello` (default on; servers before 4.4 ignore it).
    pub speculative: bool,
    /// The SCRAM iteration-count ceiling (default [`DEFAULT_MAX_ITERATIONS`]).
    pub max_iterations: u32,
    /// Where SCRAM keys are cached; `None` derives them on every conversation. Default: the
    /// process-wide [`ScramKeyCache::global`].
    pub key_cache: Option<Arc<ScramKeyCache>>,
    random: Option<BoxedRandom>,
    pub(crate) forced_nonces: Option<crate::danger::NonceGenerator>,
    environment: Arc<dyn Environment>,
    clock: Arc<dyn Clock>,
    #[cfg(feature = "aws")]
    aws_provider: Option<Arc<dyn crate::aws::CredentialProvider>>,
    #[cfg(feature = "aws")]
    aws_cache: Option<Arc<crate::aws::CredentialCache>>,
    #[cfg(feature = "oidc")]
    oidc_client: Option<Arc<crate::oidc::OidcClient>>,
    #[cfg(feature = "oidc")]
    oidc_machine_timeout: Option<std::time::Duration>,
    host: Option<String>,
    gssapi_provider: Option<Arc<dyn crate::gssapi::GssProvider>>,
    /// Replaces the Azure and GCP metadata hosts (`danger`, for tests).
    #[cfg(feature = "oidc")]
    pub(crate) oidc_metadata_endpoint: Option<String>,
}

impl AuthOptions {
    /// Draws SCRAM nonces from `random` instead of [`SystemRandom`] (rule G6: it must be a
    /// CSPRNG; a seeded one makes tests deterministic). Any generator fits behind
    /// [`SecureRandom`], whatever version of `rand` the caller uses.
    pub fn with_random(mut self, random: impl SecureRandom + Send + Sync + 'static) -> Self {
        self.random = Some(Box::new(random));
        self
    }

    /// Reads environment variables (MONGODB-AWS credentials) from `environment` instead of the
    /// process's.
    pub fn with_environment(mut self, environment: impl Environment + 'static) -> Self {
        self.environment = Arc::new(environment);
        self
    }

    /// Takes the time (the MONGODB-AWS signature date) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// MONGODB-AWS credentials from `provider`, which wins over every other source.
    #[cfg(feature = "aws")]
    pub fn aws_credential_provider(
        mut self,
        provider: Arc<dyn crate::aws::CredentialProvider>,
    ) -> Self {
        self.aws_provider = Some(provider);
        self
    }

    /// Where fetched MONGODB-AWS credentials are cached (default: the process-wide
    /// [`CredentialCache::global`](crate::aws::CredentialCache::global)), or nowhere.
    #[cfg(feature = "aws")]
    pub fn aws_credential_cache(mut self, cache: Option<Arc<crate::aws::CredentialCache>>) -> Self {
        self.aws_cache = cache;
        self
    }

    /// The MONGODB-OIDC client cache to use (default: one of the authenticator's own). Share one
    /// across every connection of a client, so the callback runs once for all of them (rule
    /// L16).
    #[cfg(feature = "oidc")]
    pub fn oidc_client(mut self, client: Arc<crate::oidc::OidcClient>) -> Self {
        self.oidc_client = Some(client);
        self
    }

    /// Where GSSAPI contexts come from. The core has none of its own: the adapters of
    /// `mongodb-auth-io` (feature `gssapi`) give the system's Kerberos when this is not set.
    pub fn gssapi_provider(mut self, provider: Arc<dyn crate::gssapi::GssProvider>) -> Self {
        self.gssapi_provider = Some(provider);
        self
    }

    /// Whether a GSSAPI context provider was given.
    pub fn has_gssapi_provider(&self) -> bool {
        self.gssapi_provider.is_some()
    }

    /// How long a MONGODB-OIDC machine callback (or built-in environment) may take: the
    /// operation's remaining time, when the caller has a deadline (rule L12). Default
    /// [`MACHINE_CALLBACK_TIMEOUT`](crate::oidc::MACHINE_CALLBACK_TIMEOUT), one minute. The human
    /// flow's five minutes are not shortened (rule L12).
    #[cfg(feature = "oidc")]
    pub fn oidc_machine_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.oidc_machine_timeout = Some(timeout);
        self
    }

    /// The host of the server being authenticated to, as connected to (after `mongodb+srv`
    /// resolution, without port). The MONGODB-OIDC human flow refuses to run unless it is in
    /// `ALLOWED_HOSTS` (rule L6); the adapters set it.
    pub fn server_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    fn fill_random(&mut self, bytes: &mut [u8]) {
        match &mut self.random {
            Some(random) => random.fill(bytes),
            None => SystemRandom.fill(bytes),
        }
    }

    /// Turns speculative authentication on or off.
    pub fn speculative(mut self, enabled: bool) -> Self {
        self.speculative = enabled;
        self
    }

    /// Uses this key cache (or none).
    pub fn key_cache(mut self, cache: Option<Arc<ScramKeyCache>>) -> Self {
        self.key_cache = cache;
        self
    }

    fn start_scram(&mut self, client: ScramClient) -> Result<(Vec<u8>, ClientFirst)> {
        if let Some(generate) = &mut self.forced_nonces {
            return client.start_with_nonce(&generate());
        }
        Ok(
            client.start(&mut crate::random::from_fn(|bytes: &mut [u8]| {
                self.fill_random(bytes)
            })),
        )
    }
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            speculative: true,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            key_cache: Some(ScramKeyCache::global()),
            random: None,
            forced_nonces: None,
            environment: Arc::new(SystemEnvironment),
            clock: Arc::new(SystemClock),
            #[cfg(feature = "aws")]
            aws_provider: None,
            #[cfg(feature = "aws")]
            aws_cache: Some(crate::aws::CredentialCache::global()),
            #[cfg(feature = "oidc")]
            oidc_client: None,
            #[cfg(feature = "oidc")]
            oidc_machine_timeout: None,
            host: None,
            gssapi_provider: None,
            #[cfg(feature = "oidc")]
            oidc_metadata_endpoint: None,
        }
    }
}

impl fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthOptions")
            .field("speculative", &self.speculative)
            .field("max_iterations", &self.max_iterations)
            .field("key_cache", &self.key_cache)
            .field("custom_random", &self.random.is_some())
            .field("forced_nonces", &self.forced_nonces.is_some())
            .field("host", &self.host)
            .finish()
    }
}

/// The first command of the conversation, sent inside `hello`.
enum Speculative {
    Scram(ClientFirst),
    X509,
    /// A one-step OIDC `saslStart` with the cached token (rule E4).
    #[cfg(feature = "oidc")]
    Oidc,
}

enum State {
    Ready,
    HelloSent(Option<Speculative>),
    ScramStarted(ClientFirst),
    ScramDeriving(ServerFirst, KeyDerivation),
    /// The keys of the derivation are in use: if the server refuses them, the cache forgets them.
    ScramProving(ClientFinal, KeyDerivation),
    ScramClosing,
    PlainSent,
    X509Sent,
    #[cfg(feature = "aws")]
    AwsResolving(Box<crate::aws::CredentialChain>),
    #[cfg(feature = "aws")]
    AwsStarted(crate::aws::ClientFirst, crate::aws::Credentials),
    #[cfg(feature = "aws")]
    AwsSent,
    /// GSSAPI: a DNS lookup of the host is out.
    GssapiResolving(gssapi::Lookup),
    /// GSSAPI: a job on the context is out.
    GssapiWorking(gssapi::Phase),
    /// GSSAPI: a command is out; the context waits for the reply.
    GssapiSent(Box<dyn crate::gssapi::GssContext>),
    /// GSSAPI: the security-layer answer is out; the server ends the conversation next.
    GssapiFinal,
    #[cfg(feature = "oidc")]
    OidcFetching(oidc::AfterToken),
    /// A one-step `saslStart` with a token is out; what a refusal (18) leads to.
    #[cfg(feature = "oidc")]
    OidcJwtSent(oidc::OnRefusal),
    #[cfg(feature = "oidc")]
    OidcPrincipalSent,
    #[cfg(feature = "oidc")]
    OidcJwtContinued,
    Done,
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Ready => "ready for hello_fields",
            State::HelloSent(_) => "waiting for the hello reply",
            State::ScramStarted(_)
            | State::ScramProving(..)
            | State::ScramClosing
            | State::PlainSent
            | State::X509Sent => "waiting for a command reply",
            #[cfg(feature = "aws")]
            State::AwsStarted(..) | State::AwsSent => "waiting for a command reply",
            #[cfg(feature = "aws")]
            State::AwsResolving(_) => "waiting for an answer about AWS credentials",
            #[cfg(feature = "oidc")]
            State::OidcJwtSent(_) | State::OidcPrincipalSent | State::OidcJwtContinued => {
                "waiting for a command reply"
            }
            #[cfg(feature = "oidc")]
            State::OidcFetching(_) => "waiting for an OIDC access token",
            State::ScramDeriving(..) => "waiting for derived keys",
            State::GssapiResolving(_) => "waiting for a DNS answer about the host",
            State::GssapiWorking(_) => "waiting for a GSSAPI job",
            State::GssapiSent(_) | State::GssapiFinal => "waiting for a command reply",
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// `conversationId` as the server sent it, echoed back with the same BSON type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConversationId {
    Int32(i32),
    Int64(i64),
}

/// The authentication machine of one connection, for every mechanism.
///
/// It never does I/O: it returns [`Step`]s and takes replies back as BSON bytes. Any error leaves
/// it failed; build a new one for a new connection, or call
/// [`reauthenticate`](Self::reauthenticate) on the same connection when the server asks for it
/// (error 391).
pub struct Authenticator {
    credential: Credential,
    options: AuthOptions,
    state: State,
    mechanism: Option<AuthMechanism>,
    conversation_id: Option<ConversationId>,
    round_trips: u32,
    speculative_used: bool,
    key_cache_hit: bool,
    last_reply: Vec<u8>,
    #[cfg(feature = "oidc")]
    oidc: Option<oidc::OidcLogin>,
}

impl Authenticator {
    /// Prepares authentication for `credential`. Fails if the mechanism is not supported by this
    /// crate or the credential lacks what it needs (a negotiated credential without password).
    pub fn new(credential: &Credential, options: AuthOptions) -> Result<Self> {
        let mechanism = credential.mechanism();
        match mechanism {
            None
            | Some(AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 | AuthMechanism::Plain) => {
                if credential.password().is_none() {
                    return Err(Error::credential(
                        mechanism.map_or("default", AuthMechanism::as_str),
                        "a password is required to authenticate",
                    ));
                }
            }
            Some(AuthMechanism::MongoDbX509) => {}
            #[cfg(feature = "aws")]
            Some(AuthMechanism::MongoDbAws) => {}
            #[cfg(feature = "oidc")]
            Some(AuthMechanism::MongoDbOidc) => {}
            Some(AuthMechanism::Gssapi) => {}
            #[allow(unreachable_patterns)]
            Some(other) => {
                return Err(Error::UnsupportedMechanism {
                    mechanism: other.as_str(),
                });
            }
        }
        #[cfg(feature = "oidc")]
        let oidc = (mechanism == Some(AuthMechanism::MongoDbOidc))
            .then(|| oidc::OidcLogin::new(options.oidc_client.clone()));
        Ok(Authenticator {
            credential: credential.clone(),
            options,
            #[cfg(feature = "oidc")]
            oidc,
            state: State::Ready,
            mechanism,
            conversation_id: None,
            round_trips: 0,
            speculative_used: false,
            key_cache_hit: false,
            last_reply: Vec::new(),
        })
    }

    /// The fields to add to the connection's `hello`, as a BSON document:
    /// `saslSupportedMechs` when no mechanism was given (rule D6) and `speculativeAuthenticate`
    /// (SCRAM-SHA-256 when unspecified, rule E5; the X.509 `authenticate`; none for PLAIN).
    ///
    /// The speculative command may carry a secret (a MONGODB-OIDC access token): the bytes are
    /// built without reallocation and wiped when dropped.
    pub fn hello_fields(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        if !matches!(self.state, State::Ready) {
            return Err(self.out_of_order("hello_fields"));
        }
        let speculative = if self.options.speculative {
            self.speculative_command()?
        } else {
            None
        };
        let mechs_name = self
            .credential
            .mechanism()
            .is_none()
            .then(|| self.credential.sasl_supported_mechs_name())
            .flatten();
        let command =
            speculative.map(|(command, state)| (Zeroizing::new(command.into_bytes()), state));
        let room = 96
            + mechs_name.as_ref().map_or(0, String::len)
            + command.as_ref().map_or(0, |(bytes, _)| bytes.len());
        let mut fields = document_with_capacity(room);
        if let Some(name) = mechs_name {
            fields.append(cstr!("saslSupportedMechs"), name);
        }
        let speculative = match command {
            Some((bytes, state)) => {
                let document = RawDocument::from_bytes(&bytes)
                    .map_err(|_| Error::protocol(ProtocolViolation::ReplyNotBson))?;
                fields.append(cstr!("speculativeAuthenticate"), document);
                Some(state)
            }
            None => None,
        };
        self.state = State::HelloSent(speculative);
        Ok(Zeroizing::new(fields.into_bytes()))
    }

    fn speculative_command(&mut self) -> Result<Option<(RawDocumentBuf, Speculative)>> {
        let variant = match self.credential.mechanism() {
            None | Some(AuthMechanism::ScramSha256) => ScramVariant::Sha256,
            Some(AuthMechanism::ScramSha1) => ScramVariant::Sha1,
            Some(AuthMechanism::MongoDbX509) => {
                let command = x509::authenticate_command(self.credential.username());
                return Ok(Some((command, Speculative::X509)));
            }
            #[cfg(feature = "oidc")]
            Some(AuthMechanism::MongoDbOidc) => return Ok(self.oidc_speculative()),
            _ => return Ok(None),
        };
        let client = match self.scram_client(variant) {
            Ok(client) => client,
            // A password SASLprep rejects may still work with a negotiated SCRAM-SHA-1: skip the
            // speculative attempt and let negotiation decide.
            Err(_) if self.credential.mechanism().is_none() => return Ok(None),
            Err(e) => return Err(e),
        };
        let (payload, client_first) = self.options.start_scram(client)?;
        let mut command = sasl_start(variant.mechanism().as_str(), &payload, true);
        command.append(cstr!("db"), self.credential.source());
        Ok(Some((command, Speculative::Scram(client_first))))
    }

    /// Reads the `hello` reply: an arbiter needs no authentication (rule D3); a
    /// `speculativeAuthenticate` reply continues the conversation begun in `hello` (rule E6);
    /// otherwise the mechanism is negotiated (rule D8) and a fresh conversation starts (rule E7).
    pub fn handle_hello_reply(&mut self, reply: &[u8]) -> Result<Step> {
        let speculative = match std::mem::replace(&mut self.state, State::Failed) {
            State::HelloSent(speculative) => speculative,
            other => {
                self.state = other;
                return Err(self.out_of_order("handle_hello_reply"));
            }
        };
        let result = self.on_hello_reply(reply, speculative);
        self.fail_on_error(result)
    }

    fn on_hello_reply(&mut self, reply: &[u8], speculative: Option<Speculative>) -> Result<Step> {
        let doc = reply_document(reply)?;
        check_ok(doc)?;
        self.last_reply = reply.to_vec();
        if matches!(doc.get("arbiterOnly"), Ok(Some(RawBsonRef::Boolean(true)))) {
            self.mechanism = None;
            return Ok(self.done());
        }
        let speculative_reply = match doc.get("speculativeAuthenticate") {
            Ok(Some(RawBsonRef::Document(spec))) => Some(spec),
            Ok(None) => None,
            _ => {
                return Err(Error::protocol(ProtocolViolation::SpeculativeNotDocument));
            }
        };
        match (speculative, speculative_reply) {
            (Some(Speculative::Scram(client)), Some(spec)) => {
                // The server took the conversation begun in hello: it continues with the same
                // nonce, whatever the negotiation would have picked.
                self.mechanism = Some(client.variant().mechanism());
                self.speculative_used = true;
                let payload = self.read_sasl_reply(spec, false)?;
                self.on_server_first(client, payload)
            }
            (Some(Speculative::X509), Some(_)) => {
                self.speculative_used = true;
                Ok(self.done())
            }
            #[cfg(feature = "oidc")]
            (Some(Speculative::Oidc), Some(spec)) => {
                self.mechanism = Some(AuthMechanism::MongoDbOidc);
                self.speculative_used = true;
                self.read_sasl_reply(spec, true)?;
                Ok(self.done())
            }
            (None, Some(_)) => Err(Error::protocol(ProtocolViolation::UnsolicitedSpeculative)),
            (_, None) => {
                let mechanism = match self.credential.mechanism() {
                    Some(mechanism) => mechanism,
                    None => negotiate(doc),
                };
                self.mechanism = Some(mechanism);
                self.start_conversation(mechanism)
            }
        }
    }

    /// Reads the reply to the last [`Step::Send`] command.
    pub fn handle_reply(&mut self, reply: &[u8]) -> Result<Step> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let awaiting_reply = match &state {
            State::ScramStarted(_)
            | State::ScramProving(..)
            | State::ScramClosing
            | State::PlainSent
            | State::X509Sent => true,
            #[cfg(feature = "aws")]
            State::AwsStarted(..) | State::AwsSent => true,
            #[cfg(feature = "oidc")]
            State::OidcJwtSent(_) | State::OidcPrincipalSent | State::OidcJwtContinued => true,
            State::GssapiSent(_) | State::GssapiFinal => true,
            _ => false,
        };
        if !awaiting_reply {
            self.state = state;
            return Err(self.out_of_order("handle_reply"));
        }
        let in_use = match &state {
            State::ScramProving(_, derivation) => Some(derivation.clone()),
            _ => None,
        };
        #[cfg(feature = "aws")]
        let aws_login = matches!(state, State::AwsStarted(..) | State::AwsSent);
        let result = self.on_reply(reply, state);
        if let (Err(_), Some(derivation), Some(cache)) = (&result, in_use, &self.options.key_cache)
        {
            // Refused keys (a changed password, a wrong one) must not be offered again.
            cache.remove(&derivation);
        }
        #[cfg(feature = "aws")]
        if let (true, Err(_), Some(cache)) = (aws_login, &result, &self.options.aws_cache) {
            // Rule K16: any failure of a MONGODB-AWS login clears the cache.
            cache.clear();
        }
        self.fail_on_error(result)
    }

    fn on_reply(&mut self, reply: &[u8], state: State) -> Result<Step> {
        let doc = reply_document(reply)?;
        #[cfg(feature = "oidc")]
        let state = match state {
            // A refused token is not always the end: the flows retry (rules L19, L20).
            State::OidcJwtSent(on_refusal) => return self.on_oidc_jwt_reply(reply, on_refusal),
            other => other,
        };
        check_ok(doc)?;
        self.last_reply = reply.to_vec();
        match state {
            State::ScramStarted(client) => {
                let payload = self.read_sasl_reply(doc, false)?;
                self.on_server_first(client, payload)
            }
            State::ScramProving(client, _) => {
                let done = self.read_done(doc)?;
                let payload = self.read_sasl_reply(doc, done)?;
                // Checked whether or not the server says it is done (rule G9).
                client.handle_server_final(payload)?;
                if done {
                    return Ok(self.done());
                }
                // The long ending of servers before 4.4 (rule G11): one empty exchange.
                self.state = State::ScramClosing;
                Ok(self.send(self.sasl_continue(&[])))
            }
            State::ScramClosing => {
                let payload = self.read_sasl_reply(doc, true)?;
                if !payload.is_empty() {
                    return Err(Error::protocol(ProtocolViolation::NonEmptyFinalExchange));
                }
                Ok(self.done())
            }
            State::PlainSent => {
                self.read_sasl_reply(doc, true)?;
                Ok(self.done())
            }
            State::X509Sent => Ok(self.done()),
            #[cfg(feature = "aws")]
            State::AwsStarted(client, credentials) => {
                let server_first = self.read_sasl_reply(doc, false)?;
                let payload =
                    client.finish(server_first, &credentials, self.options.clock.now())?;
                self.state = State::AwsSent;
                Ok(self.send(self.sasl_continue(&payload)))
            }
            #[cfg(feature = "aws")]
            State::AwsSent => {
                self.read_sasl_reply(doc, true)?;
                Ok(self.done())
            }
            State::GssapiSent(context) => self.on_gssapi_reply(doc, context),
            State::GssapiFinal => {
                self.read_sasl_reply(doc, true)?;
                Ok(self.done())
            }
            #[cfg(feature = "oidc")]
            State::OidcPrincipalSent => {
                let payload = self.read_sasl_reply(doc, false)?;
                let idp_info = crate::oidc::IdpInfo::from_bson(payload)?;
                self.last_reply.clear();
                self.request_token(Some(idp_info), None, oidc::AfterToken::Continue)
            }
            #[cfg(feature = "oidc")]
            State::OidcJwtContinued => {
                self.read_sasl_reply(doc, true)?;
                Ok(self.done())
            }
            _ => Err(self.out_of_order("handle_reply")),
        }
    }

    /// Takes the keys of a [`Step::DeriveKey`] job (and caches them).
    pub fn handle_key(&mut self, keys: ScramKeys) -> Result<Step> {
        let (server_first, derivation) = match std::mem::replace(&mut self.state, State::Failed) {
            State::ScramDeriving(server_first, derivation) => (server_first, derivation),
            other => {
                self.state = other;
                return Err(self.out_of_order("handle_key"));
            }
        };
        if !keys.derived_by(&derivation) {
            return Err(Error::ForeignKeys);
        }
        if let Some(cache) = &self.options.key_cache {
            cache.insert(&derivation, keys.clone());
        }
        Ok(self.send_client_final(server_first, derivation, &keys))
    }

    /// Starts the conversation again on a connection whose `hello` is done: SASL commands only,
    /// no `hello` and no speculative attempt (rules M1, M2). Call it when a command fails with
    /// `ReauthenticationRequired` (391, see
    /// [`REAUTHENTICATION_REQUIRED`](crate::error::REAUTHENTICATION_REQUIRED)), then run the
    /// command once more; or on a fresh authenticator, to log in on a connection whose `hello`
    /// the driver already sent without this crate's fields.
    ///
    /// The mechanism is the one that authenticated before (or the negotiated one), else the
    /// credential's, else SCRAM-SHA-256: without a `hello` reply there is nothing to negotiate
    /// with.
    ///
    /// ```
    /// use mongodb_auth::{AuthOptions, Authenticator, ConnectionString, Step};
    ///
    /// let cs = ConnectionString::parse("mongodb://alice:pencil@db.example.com/")?;
    /// let mut auth = Authenticator::new(cs.credential().unwrap(), AuthOptions::default())?;
    /// let Step::Send(command) = auth.reauthenticate()? else { unreachable!() };
    /// assert_eq!((command.name(), command.db()), ("saslStart", "admin"));
    /// # Ok::<(), mongodb_auth::Error>(())
    /// ```
    pub fn reauthenticate(&mut self) -> Result<Step> {
        if !matches!(self.state, State::Ready | State::Done | State::Failed) {
            return Err(self.out_of_order("reauthenticate"));
        }
        let mechanism = self
            .mechanism
            .or(self.credential.mechanism())
            .unwrap_or(AuthMechanism::ScramSha256);
        self.mechanism = Some(mechanism);
        #[cfg(feature = "oidc")]
        self.invalidate_connection_token();
        self.conversation_id = None;
        self.round_trips = 0;
        self.speculative_used = false;
        self.key_cache_hit = false;
        self.last_reply.clear();
        self.state = State::Failed;
        let result = self.start_conversation(mechanism);
        self.fail_on_error(result)
    }

    /// The mechanism in use: the credential's, or the negotiated one once the hello reply is in.
    pub fn mechanism(&self) -> Option<AuthMechanism> {
        self.mechanism
    }

    /// Whether authentication has completed.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn start_conversation(&mut self, mechanism: AuthMechanism) -> Result<Step> {
        match mechanism {
            AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 => {
                let variant =
                    ScramVariant::from_mechanism(mechanism).unwrap_or(ScramVariant::Sha256);
                let client = self.scram_client(variant)?;
                let (payload, client_first) = self.options.start_scram(client)?;
                self.state = State::ScramStarted(client_first);
                Ok(self.send(sasl_start(mechanism.as_str(), &payload, true)))
            }
            AuthMechanism::Plain => {
                let username = self.credential.username().unwrap_or_default();
                let password = self.password()?;
                let payload = plain::payload(username, &password);
                self.state = State::PlainSent;
                Ok(self.send(sasl_start(mechanism.as_str(), &payload, false)))
            }
            AuthMechanism::MongoDbX509 => {
                self.state = State::X509Sent;
                Ok(self.send(x509::authenticate_command(self.credential.username())))
            }
            #[cfg(feature = "aws")]
            AuthMechanism::MongoDbAws => self.start_aws(),
            #[cfg(feature = "oidc")]
            AuthMechanism::MongoDbOidc => self.start_oidc(),
            AuthMechanism::Gssapi => self.start_gssapi(),
            #[allow(unreachable_patterns)]
            other => Err(Error::UnsupportedMechanism {
                mechanism: other.as_str(),
            }),
        }
    }

    fn on_server_first(&mut self, client: ClientFirst, server_first: &[u8]) -> Result<Step> {
        let server_first = client.receive_server_first(server_first)?;
        let derivation = server_first.key_derivation();
        if let Some(keys) = self
            .options
            .key_cache
            .as_ref()
            .and_then(|cache| cache.get(&derivation))
        {
            self.key_cache_hit = true;
            return Ok(self.send_client_final(server_first, derivation, &keys));
        }
        self.state = State::ScramDeriving(server_first, derivation.clone());
        Ok(Step::DeriveKey(derivation))
    }

    fn send_client_final(
        &mut self,
        server_first: ServerFirst,
        derivation: KeyDerivation,
        keys: &ScramKeys,
    ) -> Step {
        let (payload, client_final) = server_first.finish(keys);
        self.state = State::ScramProving(client_final, derivation);
        self.send(self.sasl_continue(&payload))
    }

    /// MONGODB-AWS: credentials from the cache (rule K10) or the chain, then client-first.
    #[cfg(feature = "aws")]
    fn start_aws(&mut self) -> Result<Step> {
        let explicit = crate::aws::Credentials::from_credential(&self.credential);
        let cached = match (
            &self.options.aws_provider,
            &explicit,
            &self.options.aws_cache,
        ) {
            (None, None, Some(cache)) => cache.get(self.options.clock.now()),
            _ => None,
        };
        if let Some((credentials, _)) = cached {
            return Ok(self.send_aws_client_first(credentials));
        }
        let mut chain =
            crate::aws::CredentialChain::new(self.options.environment.clone()).explicit(explicit);
        if let Some(provider) = &self.options.aws_provider {
            chain = chain.custom(provider.clone());
        }
        let step = chain.step()?;
        self.on_chain_step(chain, step)
    }

    #[cfg(feature = "aws")]
    fn on_chain_step(
        &mut self,
        chain: crate::aws::CredentialChain,
        step: crate::aws::chain::ChainStep,
    ) -> Result<Step> {
        use crate::aws::chain::ChainStep;
        match step {
            ChainStep::Ask(ask) => {
                self.state = State::AwsResolving(Box::new(chain));
                Ok(Step::Ask(ask))
            }
            ChainStep::Done(resolved) => {
                if let Some(cache) = &self.options.aws_cache {
                    cache.offer(&resolved.credentials, resolved.source);
                }
                Ok(self.send_aws_client_first(resolved.credentials))
            }
        }
    }

    #[cfg(feature = "aws")]
    fn send_aws_client_first(&mut self, credentials: crate::aws::Credentials) -> Step {
        let mut fill = crate::random::from_fn(|bytes: &mut [u8]| {
            self.options.fill_random(bytes);
        });
        let (payload, client) = crate::aws::ClientFirst::start(&mut fill);
        self.state = State::AwsStarted(client, credentials);
        self.send(sasl_start(crate::aws::MECHANISM, &payload, false))
    }

    /// Takes the answer to a [`Step::Ask`].
    pub fn handle_answer(&mut self, answer: crate::ask::Answer) -> Result<Step> {
        let result = match std::mem::replace(&mut self.state, State::Failed) {
            #[cfg(feature = "aws")]
            State::AwsResolving(mut chain) => chain
                .answer(answer)
                .and_then(|step| self.on_chain_step(*chain, step)),
            State::GssapiResolving(lookup) => self.on_gssapi_lookup(lookup, answer),
            other => {
                self.state = other;
                return Err(self.out_of_order("handle_answer"));
            }
        };
        self.fail_on_error(result)
    }

    fn scram_client(&self, variant: ScramVariant) -> Result<ScramClient> {
        let username = self.credential.username().unwrap_or_default();
        Ok(ScramClient::new(variant, username, &self.password()?)?
            .max_iterations(self.options.max_iterations))
    }

    fn password(&self) -> Result<Secret> {
        self.credential
            .password()
            .cloned()
            .ok_or_else(|| Error::credential("default", "a password is required to authenticate"))
    }

    fn sasl_continue(&self, payload: &[u8]) -> RawDocumentBuf {
        // Room for the payload up front: it may carry a session token, and a reallocation would
        // leave a copy behind.
        let mut command = document_with_capacity(96 + payload.len());
        command.append(cstr!("saslContinue"), 1);
        match self.conversation_id {
            Some(ConversationId::Int64(id)) => command.append(cstr!("conversationId"), id),
            Some(ConversationId::Int32(id)) => command.append(cstr!("conversationId"), id),
            None => command.append(cstr!("conversationId"), 1),
        }
        command.append(cstr!("payload"), binary(payload));
        command
    }

    fn send(&mut self, body: RawDocumentBuf) -> Step {
        self.round_trips += 1;
        // Validation already made the source `$external` where the mechanism requires it.
        Step::Send(Command::from_document(self.credential.source(), body))
    }

    fn done(&mut self) -> Step {
        self.state = State::Done;
        Step::Done(Outcome {
            mechanism: self.mechanism,
            speculative: self.speculative_used,
            round_trips: self.round_trips,
            key_cache_hit: self.key_cache_hit,
            server_reply: std::mem::take(&mut self.last_reply),
        })
    }

    /// `done`, as the server sent it.
    fn read_done(&self, doc: &RawDocument) -> Result<bool> {
        match doc.get("done") {
            Ok(Some(RawBsonRef::Boolean(done))) => Ok(done),
            _ => Err(Error::protocol(ProtocolViolation::MissingSaslField {
                field: "boolean `done`",
            })),
        }
    }

    /// Reads `conversationId`, `done` and `payload` of a SASL reply; `done` must be as expected.
    fn read_sasl_reply<'a>(&mut self, doc: &'a RawDocument, expect_done: bool) -> Result<&'a [u8]> {
        let id = match doc.get("conversationId") {
            Ok(Some(RawBsonRef::Int32(id))) => ConversationId::Int32(id),
            Ok(Some(RawBsonRef::Int64(id))) => ConversationId::Int64(id),
            _ => {
                return Err(Error::protocol(ProtocolViolation::MissingSaslField {
                    field: "integer `conversationId`",
                }));
            }
        };
        match self.conversation_id {
            None => self.conversation_id = Some(id),
            Some(known) if known != id => {
                return Err(Error::protocol(ProtocolViolation::ConversationIdChanged));
            }
            Some(_) => {}
        }
        let done = self.read_done(doc)?;
        if done != expect_done {
            return Err(Error::protocol(if done {
                ProtocolViolation::EndedEarly
            } else {
                ProtocolViolation::DidNotEnd
            }));
        }
        match doc.get("payload") {
            Ok(Some(RawBsonRef::Binary(RawBinaryRef { bytes, .. }))) => Ok(bytes),
            _ => Err(Error::protocol(ProtocolViolation::MissingSaslField {
                field: "binary `payload`",
            })),
        }
    }

    fn out_of_order(&self, call: &'static str) -> Error {
        Error::OutOfOrder {
            call,
            state: self.state.name(),
        }
    }

    fn fail_on_error(&mut self, result: Result<Step>) -> Result<Step> {
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("credential", &self.credential)
            .field("state", &self.state.name())
            .field("mechanism", &self.mechanism)
            .field("round_trips", &self.round_trips)
            .finish_non_exhaustive()
    }
}

/// A `saslStart`. The payload may be a password (PLAIN), so the document is built in a buffer
/// large enough never to reallocate (a reallocation would leave a copy behind in freed memory),
/// and the [`Command`] that takes it wipes it when dropped.
fn sasl_start(mechanism: &str, payload: &[u8], skip_empty_exchange: bool) -> RawDocumentBuf {
    let mut command = document_with_capacity(128 + payload.len());
    command.append(cstr!("saslStart"), 1);
    command.append(cstr!("mechanism"), mechanism);
    command.append(cstr!("payload"), binary(payload));
    if skip_empty_exchange {
        // Rule G10: servers 4.4+ then end SCRAM without the empty round trip.
        command.append(cstr!("options"), rawdoc! { "skipEmptyExchange": true });
    }
    command
}

/// Rule D8: SCRAM-SHA-256 if the server lists it for the user, else SCRAM-SHA-1 (even when the
/// list is missing or names neither). The list is not otherwise validated (rule D7).
fn negotiate(hello: &RawDocument) -> AuthMechanism {
    let lists_sha256 = match hello.get("saslSupportedMechs") {
        Ok(Some(RawBsonRef::Array(mechs))) => mechs
            .into_iter()
            .any(|m| matches!(m, Ok(RawBsonRef::String(name)) if name == "SCRAM-SHA-256")),
        _ => false,
    };
    if lists_sha256 {
        AuthMechanism::ScramSha256
    } else {
        AuthMechanism::ScramSha1
    }
}

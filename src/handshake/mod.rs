//! The command-level machine: `hello` fields, mechanism negotiation, speculative authentication,
//! re-authentication and the SASL framing, for every mechanism, as one [`Authenticator`] that
//! drives each mechanism's conversation (one module each, behind one boundary).
//!
//! Commands and replies cross this boundary as raw BSON bytes, so a driver on any version of the
//! `bson` crate can embed it. What is slow or needs the outside world comes out as a [`Step`]:
//! a [`Job`] to run where blocking is fine, an [`Ask`](crate::ask::Ask) to answer with the
//! driver's own I/O, or the caller's own code as a [`CallbackRequest`] to run on its runtime.
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
//!         Step::Job(job) => auth.handle_job(job.run())?, // or on a blocking pool
//!         Step::Done(outcome) => break outcome,
//!         // Asks and callbacks, for the mechanisms that need them; a step a later version adds
//!         // fails cleanly.
//!         other => return Err(other.unhandled()),
//!     };
//! };
//! println!("authenticated with {:?} in {} round trips", outcome.mechanism, outcome.round_trips);
//! # Ok(()) }
//! ```

#[cfg(feature = "aws")]
mod aws;
mod conversation;
mod gssapi;
mod hello;
mod job;
mod metadata;
#[cfg(feature = "oidc")]
mod oidc;
mod options;
mod plain;
mod requests;
mod scram;
mod x509;

use std::fmt;

use bson::raw::cstr;
use bson::{RawBsonRef, RawDocument, rawdoc};
use zeroize::Zeroizing;

use crate::ask::Answer;
use crate::command::{
    OK_FIELDS, check_ok, check_ok_fields, document_with_capacity, fields, reply_document,
};
use crate::credential::{AuthMechanism, Credential};
use crate::error::{Error, ProtocolViolation, Result};
use conversation::{Action, Context, Conversation, Shared};

pub use hello::{ConnectionIds, Hello, HelloStyle, check_load_balanced_reply, field_names};
pub use job::{Job, JobOutput};
pub use metadata::{
    ClientEnv, DriverInfo, MAX_APP_NAME_LEN, MAX_CLIENT_METADATA_LEN, check_app_name,
};
pub use options::{AuthOptions, DangerousAuthOptions};
pub use requests::{CallbackOutput, CallbackRequest};

/// What the caller does next.
///
/// New mechanisms may add steps, so the enum is `#[non_exhaustive]`: end the match with
/// `other => return Err(other.unhandled())`, which turns a step the caller does not know into
/// [`Error::UnhandledStep`] instead of a panic.
#[derive(Debug)]
#[non_exhaustive]
pub enum Step {
    /// Send this command and pass the reply to [`Authenticator::handle_reply`].
    Send(crate::command::Command),
    /// Run this job (PBKDF2, a GSS call: inline, or on a blocking pool in async code) and pass
    /// its output to [`Authenticator::handle_job`].
    Job(Job),
    /// The mechanism needs I/O it does not do (a file, a process, an HTTP exchange, a DNS
    /// lookup): answer with the ask's own method and pass the answer to
    /// [`Authenticator::handle_answer`].
    Ask(crate::ask::Ask),
    /// The caller's own code is needed (an OIDC callback or built-in environment, a custom AWS
    /// provider): run the request on the caller's [`Runtime`](crate::callback::Runtime) and pass
    /// the output to [`Authenticator::handle_callback`].
    Callback(CallbackRequest),
    /// Authentication is complete.
    Done(Outcome),
}

impl Step {
    /// The error for a step the caller's loop does not handle.
    pub fn unhandled(&self) -> Error {
        Error::UnhandledStep {
            step: match self {
                Step::Send(_) => "Send",
                Step::Job(_) => "Job",
                Step::Ask(_) => "Ask",
                Step::Callback(_) => "Callback",
                Step::Done(_) => "Done",
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

/// The conversation of `mechanism`: each mechanism registers here, and only here.
fn conversation_for(mechanism: AuthMechanism) -> Result<Box<dyn Conversation>> {
    Ok(match mechanism {
        AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 => {
            Box::new(scram::ScramLogin::new(mechanism))
        }
        AuthMechanism::Plain => Box::new(plain::PlainLogin),
        AuthMechanism::MongoDbX509 => Box::new(x509::X509Login),
        #[cfg(feature = "aws")]
        AuthMechanism::MongoDbAws => Box::new(aws::AwsLogin::default()),
        #[cfg(feature = "oidc")]
        AuthMechanism::MongoDbOidc => Box::new(oidc::OidcLogin::default()),
        AuthMechanism::Gssapi => Box::new(gssapi::GssapiLogin::default()),
        #[allow(unreachable_patterns)]
        other => {
            return Err(Error::UnsupportedMechanism {
                mechanism: other.as_str(),
            });
        }
    })
}

/// What the authenticator waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Awaiting {
    /// `hello_fields` has not been called.
    HelloFields,
    /// The reply to `hello`.
    HelloReply,
    /// The reply to a command.
    Reply,
    /// A job's output.
    Job,
    /// The answer to an ask.
    Answer,
    /// The output of a callback request.
    Callback,
    /// Nothing: the login is done (it may be started again).
    Nothing,
    /// Nothing: the login failed (it may be started again).
    Failed,
}

impl Awaiting {
    fn name(self) -> &'static str {
        match self {
            Awaiting::HelloFields => "ready for hello_fields",
            Awaiting::HelloReply => "waiting for the hello reply",
            Awaiting::Reply => "waiting for a command reply",
            Awaiting::Job => "waiting for a job's output",
            Awaiting::Answer => "waiting for an answer",
            Awaiting::Callback => "waiting for a callback's output",
            Awaiting::Nothing => "done",
            Awaiting::Failed => "failed",
        }
    }
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
    /// The mechanism of the credential, or the negotiated one once the hello reply is in.
    mechanism: Option<AuthMechanism>,
    conversation: Option<Box<dyn Conversation>>,
    awaiting: Awaiting,
    /// The ask that is out: only its answer is taken.
    pending_ask: Option<crate::ask::Ask>,
    shared: Shared,
    round_trips: u32,
    speculative_used: bool,
    last_reply: Vec<u8>,
}

impl Authenticator {
    /// Prepares authentication for `credential`. Fails if the mechanism is not supported by this
    /// build or the credential lacks what it needs (a password; an OIDC callback the credential
    /// names and the options do not hold).
    pub fn new(credential: &Credential, options: AuthOptions) -> Result<Self> {
        let mechanism = credential.mechanism();
        match mechanism {
            None
            | Some(AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256 | AuthMechanism::Plain) => {
                // An empty password (`alice:@host`, negotiated) is none: mongod keeps none.
                if credential.password().is_none_or(|p| p.expose().is_empty()) {
                    return Err(Error::credential(
                        mechanism.map_or("default", AuthMechanism::as_str),
                        "a password is required to authenticate",
                    ));
                }
            }
            #[cfg(feature = "oidc")]
            Some(AuthMechanism::MongoDbOidc) => oidc::check_callback(credential, &options)?,
            Some(other) => {
                conversation_for(other)?;
            }
        }
        Ok(Authenticator {
            credential: credential.clone(),
            options,
            mechanism,
            conversation: None,
            awaiting: Awaiting::HelloFields,
            pending_ask: None,
            shared: Shared::default(),
            round_trips: 0,
            speculative_used: false,
            last_reply: Vec::new(),
        })
    }

    /// The fields to add to the connection's `hello`, as a BSON document:
    /// `saslSupportedMechs` when no mechanism was given (rule D6) and `speculativeAuthenticate`
    /// (SCRAM-SHA-256 when unspecified, rule E5; the X.509 `authenticate`; OIDC with a cached
    /// token; none for PLAIN).
    ///
    /// The speculative command may carry a secret (a MONGODB-OIDC access token): the bytes are
    /// built without reallocation and wiped when dropped.
    pub fn hello_fields(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        if self.awaiting != Awaiting::HelloFields {
            return Err(self.out_of_order("hello_fields"));
        }
        let result = self.build_hello_fields();
        self.awaiting = match &result {
            Ok(_) => Awaiting::HelloReply,
            Err(_) => Awaiting::Failed,
        };
        result
    }

    fn build_hello_fields(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        // Negotiation starts with SCRAM-SHA-256 (rule E5).
        let mechanism = self
            .credential
            .mechanism()
            .unwrap_or(AuthMechanism::ScramSha256);
        let mut conversation = conversation_for(mechanism)?;
        let speculative = if self.options.speculative {
            let mut cx = Context {
                credential: &self.credential,
                options: &self.options,
                shared: &mut self.shared,
            };
            match conversation.speculative(&mut cx) {
                Ok(command) => command,
                // A password SASLprep rejects may still work with a negotiated SCRAM-SHA-1: skip
                // the speculative attempt and let negotiation decide.
                Err(_) if self.credential.mechanism().is_none() => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        if speculative.is_some() {
            self.conversation = Some(conversation);
        }
        let mechs_name = self
            .credential
            .mechanism()
            .is_none()
            .then(|| self.credential.sasl_supported_mechs_name())
            .flatten();
        let command = speculative.map(|command| Zeroizing::new(command.into_bytes()));
        let room = 96
            + mechs_name.as_ref().map_or(0, String::len)
            + command.as_ref().map_or(0, |bytes| bytes.len());
        let mut fields = document_with_capacity(room);
        if let Some(name) = mechs_name {
            fields.append(cstr!("saslSupportedMechs"), name);
        }
        if let Some(bytes) = command {
            let document = RawDocument::from_bytes(&bytes)
                .map_err(|_| Error::protocol(ProtocolViolation::ReplyNotBson))?;
            fields.append(cstr!("speculativeAuthenticate"), document);
        }
        Ok(Zeroizing::new(fields.into_bytes()))
    }

    /// Reads the `hello` reply: an arbiter needs no authentication (rule D3); a
    /// `speculativeAuthenticate` reply continues the conversation begun in `hello` (rule E6);
    /// otherwise the mechanism is negotiated (rule D8) and a fresh conversation starts (rule E7).
    pub fn handle_hello_reply(&mut self, reply: &[u8]) -> Result<Step> {
        self.expect(Awaiting::HelloReply, "handle_hello_reply")?;
        let result = self.on_hello_reply(reply);
        self.next(result)
    }

    fn on_hello_reply(&mut self, reply: &[u8]) -> Result<Action> {
        let doc = reply_document(reply)?;
        let [ok, legacy_error, arbiter_only, speculative] = fields(
            doc,
            [
                OK_FIELDS[0],
                OK_FIELDS[1],
                "arbiterOnly",
                "speculativeAuthenticate",
            ],
        );
        check_ok_fields(doc, ok, legacy_error)?;
        self.last_reply = reply.to_vec();
        if matches!(arbiter_only, Some(RawBsonRef::Boolean(true))) {
            self.mechanism = None;
            self.conversation = None;
            return Ok(Action::Done);
        }
        let speculative_reply = match speculative {
            // An empty document is no attempt taken, whatever the mechanism, as PyMongo reads it.
            Some(RawBsonRef::Document(spec)) if spec.is_empty() => None,
            Some(RawBsonRef::Document(spec)) => Some(spec),
            None => None,
            _ => return Err(Error::protocol(ProtocolViolation::SpeculativeNotDocument)),
        };
        let mut speculative = self.conversation.take();
        if let Some(spec) = speculative_reply {
            let Some(conversation) = speculative.as_mut() else {
                return Err(Error::protocol(ProtocolViolation::UnsolicitedSpeculative));
            };
            match conversation.on_speculative_reply(&mut self.context(), spec) {
                // The server took the conversation begun in hello: it continues with it,
                // whatever the negotiation would have picked.
                Ok(Some(action)) => {
                    self.mechanism = self.hello_mechanism();
                    self.speculative_used = true;
                    self.conversation = speculative;
                    return Ok(action);
                }
                // It did not: the login goes on as if the reply had no attempt (rule E7); its
                // `saslStart` opens a conversation of its own.
                Ok(None) => {}
                Err(error) => {
                    self.mechanism = self.hello_mechanism();
                    self.conversation = speculative;
                    return Err(error);
                }
            }
        }
        let mechanism = match self.credential.mechanism() {
            Some(mechanism) => mechanism,
            None => negotiate(doc),
        };
        self.mechanism = Some(mechanism);
        // A conversation of the mechanism that was tried inside hello starts again (rule E8:
        // OIDC tries its cached token once more); another is built.
        let mut conversation = match speculative {
            Some(conversation) if Some(mechanism) == self.hello_mechanism() => conversation,
            _ => conversation_for(mechanism)?,
        };
        let action = conversation.start(&mut self.context());
        self.conversation = Some(conversation);
        action
    }

    /// The mechanism of the conversation begun inside hello.
    fn hello_mechanism(&self) -> Option<AuthMechanism> {
        Some(
            self.credential
                .mechanism()
                .unwrap_or(AuthMechanism::ScramSha256),
        )
    }

    /// Reads the reply to the last [`Step::Send`] command.
    pub fn handle_reply(&mut self, reply: &[u8]) -> Result<Step> {
        self.expect(Awaiting::Reply, "handle_reply")?;
        let result = self.on_reply(reply);
        self.next(result)
    }

    fn on_reply(&mut self, reply: &[u8]) -> Result<Action> {
        let doc = reply_document(reply)?;
        if self.mechanism.is_none() {
            // Only `reauthenticate`'s negotiation sends a command before a mechanism is known.
            check_ok(doc)?;
            let mechanism = negotiate(doc);
            self.mechanism = Some(mechanism);
            let mut conversation = conversation_for(mechanism)?;
            let action = conversation.start(&mut self.context());
            self.conversation = Some(conversation);
            return action;
        }
        let mut conversation = self.take_conversation("handle_reply")?;
        let action = match check_ok(doc) {
            Ok(()) => {
                self.last_reply = reply.to_vec();
                conversation.on_reply(&mut self.context(), doc)
            }
            Err(error @ Error::Server { .. }) => {
                conversation.on_refusal(&mut self.context(), error)
            }
            Err(error) => Err(error),
        };
        self.conversation = Some(conversation);
        action
    }

    /// Takes the output of a [`Step::Job`].
    pub fn handle_job(&mut self, output: JobOutput) -> Result<Step> {
        self.expect(Awaiting::Job, "handle_job")?;
        let result = self.with_conversation("handle_job", |c, cx| c.on_job(cx, output));
        self.next(result)
    }

    /// Takes the answer to a [`Step::Ask`]. An answer to another ask is refused.
    pub fn handle_answer(&mut self, answer: Answer) -> Result<Step> {
        self.expect(Awaiting::Answer, "handle_answer")?;
        if self.pending_ask.as_ref() != Some(answer.ask()) {
            // The machine keeps waiting for the answer to its own ask.
            self.awaiting = Awaiting::Answer;
            return Err(Error::InvalidInput {
                rule: "the answer is not to the ask the authenticator made",
            });
        }
        self.pending_ask = None;
        let result = self.with_conversation("handle_answer", |c, cx| c.on_answer(cx, answer));
        self.next(result)
    }

    /// Takes the output of a [`Step::Callback`].
    pub fn handle_callback(&mut self, output: CallbackOutput) -> Result<Step> {
        self.expect(Awaiting::Callback, "handle_callback")?;
        let result = self.with_conversation("handle_callback", |c, cx| c.on_callback(cx, output));
        self.next(result)
    }

    /// Starts the conversation again on a connection whose `hello` is done: SASL commands only,
    /// no `hello` and no speculative attempt (rules M1, M2). Call it when a command fails with
    /// `ReauthenticationRequired` (391, see
    /// [`REAUTHENTICATION_REQUIRED`](crate::error::REAUTHENTICATION_REQUIRED)), then run the
    /// command once more; or on a fresh authenticator, to log in on a connection whose `hello`
    /// the driver already sent without this crate's fields.
    ///
    /// The mechanism is the one that authenticated before (or the negotiated one), else the
    /// credential's. With neither (a fresh authenticator, a credential that names no mechanism)
    /// the first command is a `hello` that asks for the user's `saslSupportedMechs` (rule D6), and
    /// its reply chooses the SCRAM variant as the handshake's would have (rule D8), as PyMongo
    /// does on a connection whose `hello` negotiated nothing.
    ///
    /// ```
    /// use mongodb_auth::{AuthOptions, Authenticator, ConnectionString, Step};
    ///
    /// let cs = ConnectionString::parse("mongodb://alice:pencil@db.example.com/")?;
    /// let mut auth = Authenticator::new(cs.credential().unwrap(), AuthOptions::default())?;
    /// let Step::Send(command) = auth.reauthenticate()? else { unreachable!() };
    /// assert_eq!((command.name(), command.db()), ("hello", "admin"));
    ///
    /// // The user has SCRAM-SHA-1 only.
    /// let reply = bson::rawdoc! { "saslSupportedMechs": ["SCRAM-SHA-1"], "ok": 1.0 };
    /// let Step::Send(command) = auth.handle_reply(reply.as_bytes())? else { unreachable!() };
    /// assert_eq!(command.name(), "saslStart");
    /// assert_eq!(auth.mechanism(), Some(mongodb_auth::AuthMechanism::ScramSha1));
    /// # Ok::<(), mongodb_auth::Error>(())
    /// ```
    pub fn reauthenticate(&mut self) -> Result<Step> {
        if !matches!(
            self.awaiting,
            Awaiting::HelloFields | Awaiting::Nothing | Awaiting::Failed
        ) {
            return Err(self.out_of_order("reauthenticate"));
        }
        self.round_trips = 0;
        self.speculative_used = false;
        self.shared.key_cache_hit = false;
        self.last_reply.clear();
        self.pending_ask = None;
        let Some(mechanism) = self.mechanism.or(self.credential.mechanism()) else {
            self.conversation = None;
            let mut hello = rawdoc! { "hello": 1 };
            if let Some(name) = self.credential.sasl_supported_mechs_name() {
                hello.append(cstr!("saslSupportedMechs"), name);
            }
            return self.next(Ok(Action::Send(hello)));
        };
        self.mechanism = Some(mechanism);
        let mut conversation = match self.conversation.take() {
            Some(conversation) => conversation,
            None => conversation_for(mechanism)?,
        };
        conversation.before_reauthentication(&mut self.context());
        let action = conversation.start(&mut self.context());
        self.conversation = Some(conversation);
        self.next(action)
    }

    /// The mechanism in use: the credential's, or the negotiated one once the hello reply is in.
    pub fn mechanism(&self) -> Option<AuthMechanism> {
        self.mechanism
    }

    /// Whether authentication has completed.
    pub fn is_done(&self) -> bool {
        self.awaiting == Awaiting::Nothing
    }

    fn context(&mut self) -> Context<'_> {
        Context {
            credential: &self.credential,
            options: &self.options,
            shared: &mut self.shared,
        }
    }

    fn take_conversation(&mut self, call: &'static str) -> Result<Box<dyn Conversation>> {
        self.conversation.take().ok_or(Error::OutOfOrder {
            call,
            state: "no conversation is running",
        })
    }

    fn with_conversation(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut dyn Conversation, &mut Context<'_>) -> Result<Action>,
    ) -> Result<Action> {
        let mut conversation = self.take_conversation(call)?;
        let action = f(conversation.as_mut(), &mut self.context());
        self.conversation = Some(conversation);
        action
    }

    /// Checks that the machine waits for `awaiting`; it then waits for nothing until the
    /// conversation says what comes next.
    fn expect(&mut self, awaiting: Awaiting, call: &'static str) -> Result<()> {
        if self.awaiting != awaiting {
            return Err(self.out_of_order(call));
        }
        self.awaiting = Awaiting::Failed;
        Ok(())
    }

    /// Turns the conversation's action into the caller's step, and an error into a failed
    /// login (the conversation forgets what must not be tried again).
    fn next(&mut self, action: Result<Action>) -> Result<Step> {
        let action = match action {
            Ok(action) => action,
            Err(error) => {
                self.awaiting = Awaiting::Failed;
                if let Some(mut conversation) = self.conversation.take() {
                    conversation.on_failure(&mut self.context());
                    self.conversation = Some(conversation);
                }
                return Err(error);
            }
        };
        self.awaiting = match &action {
            Action::Send(_) => {
                self.round_trips += 1;
                Awaiting::Reply
            }
            Action::Job(_) => Awaiting::Job,
            Action::Ask(ask) => {
                self.pending_ask = Some(ask.clone());
                Awaiting::Answer
            }
            Action::Callback(_) => Awaiting::Callback,
            Action::Done => Awaiting::Nothing,
        };
        let outcome = || {
            Step::Done(Outcome {
                mechanism: self.mechanism,
                speculative: self.speculative_used,
                round_trips: self.round_trips,
                key_cache_hit: self.shared.key_cache_hit,
                server_reply: std::mem::take(&mut self.last_reply),
            })
        };
        Ok(action.into_step(&self.credential, outcome))
    }

    fn out_of_order(&self, call: &'static str) -> Error {
        Error::OutOfOrder {
            call,
            state: self.awaiting.name(),
        }
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("credential", &self.credential)
            .field("state", &self.awaiting.name())
            .field("mechanism", &self.mechanism)
            .field("round_trips", &self.round_trips)
            .finish_non_exhaustive()
    }
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

/// What a driver shares with its threads and tasks: the options of a client, its login machines
/// and every step and job they hand out.
#[allow(dead_code)]
fn assert_send_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<AuthOptions>();
    send::<Authenticator>();
    send::<Step>();
    send::<Job>();
    send::<JobOutput>();
    send::<CallbackRequest>();
    send::<CallbackOutput>();
    send_sync::<crate::ask::Ask>();
    send_sync::<Answer>();
    send_sync::<Outcome>();
    send_sync::<Error>();
}

//! The one boundary between the [`Authenticator`](super::Authenticator) and a mechanism: each
//! mechanism's conversation is a [`Conversation`] in a module of its own, and the authenticator
//! drives it. Negotiation, speculative authentication, re-authentication and the checks every
//! reply gets (a BSON document, `ok: 1`) stay in the authenticator; the SASL framing every
//! mechanism shares (`conversationId`, `done`, `payload`) is written once here, in [`Context`].

use bson::raw::cstr;
use bson::{RawBinaryRef, RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};

use super::job::JobOutput;
use super::options::AuthOptions;
use super::requests::{CallbackOutput, CallbackRequest};
use super::{Job, Step};
use crate::ask::{Answer, Ask};
use crate::command::{binary, document_with_capacity, fields};
use crate::credential::Credential;
use crate::error::{Error, ProtocolViolation, Result};

/// What a conversation wants next.
pub(crate) enum Action {
    /// Send this command (its database is the credential's source).
    Send(RawDocumentBuf),
    /// Have the caller run this job.
    Job(Job),
    /// Have the caller answer this.
    Ask(Ask),
    /// Have the caller run its own code.
    #[cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(dead_code))]
    Callback(CallbackRequest),
    /// The login is done.
    Done,
}

/// One mechanism's side of a login. Each method takes what the caller brought back and says
/// what comes next; the defaults refuse what a mechanism never asks for.
pub(crate) trait Conversation: Send {
    /// The first command to send inside `hello` (rule E1), when this mechanism has one now.
    fn speculative(&mut self, _cx: &mut Context<'_>) -> Result<Option<RawDocumentBuf>> {
        Ok(None)
    }

    /// The `speculativeAuthenticate` document of the `hello` reply: what comes next, or `None`
    /// when it says the server did not take the attempt (an OIDC reply that is not done, an
    /// empty X.509 one), so the login goes on as if the reply had none (rule E7).
    fn on_speculative_reply(
        &mut self,
        _cx: &mut Context<'_>,
        _reply: &RawDocument,
    ) -> Result<Option<Action>> {
        Err(Error::protocol(ProtocolViolation::UnsolicitedSpeculative))
    }

    /// Starts (or starts again, for re-authentication) the conversation with SASL commands.
    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action>;

    /// The reply (`ok: 1`) to the last command.
    fn on_reply(&mut self, cx: &mut Context<'_>, reply: &RawDocument) -> Result<Action>;

    /// The server refused the last command (`ok: 0`): by default that is the error; a
    /// mechanism whose rules retry on a refusal (OIDC, rules L19 and L20) says what comes next.
    fn on_refusal(&mut self, _cx: &mut Context<'_>, error: Error) -> Result<Action> {
        Err(error)
    }

    /// The output of a [`Job`] this conversation asked for.
    fn on_job(&mut self, _cx: &mut Context<'_>, _output: JobOutput) -> Result<Action> {
        Err(not_asked("handle_job"))
    }

    /// The answer to an [`Ask`] this conversation made.
    fn on_answer(&mut self, _cx: &mut Context<'_>, _answer: Answer) -> Result<Action> {
        Err(not_asked("handle_answer"))
    }

    /// The output of a [`CallbackRequest`] this conversation made.
    fn on_callback(&mut self, _cx: &mut Context<'_>, _output: CallbackOutput) -> Result<Action> {
        Err(not_asked("handle_callback"))
    }

    /// The login failed: forget what must not be offered again (refused SCRAM keys, rule K16's
    /// AWS cache).
    fn on_failure(&mut self, _cx: &mut Context<'_>) {}

    /// The connection is about to log in again (rule M3: OIDC invalidates the token this
    /// connection used).
    fn before_reauthentication(&mut self, _cx: &mut Context<'_>) {}
}

fn not_asked(call: &'static str) -> Error {
    Error::OutOfOrder {
        call,
        state: "the mechanism did not ask for it",
    }
}

/// `conversationId` as the server sent it, echoed back with the same BSON type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConversationId {
    Int32(i32),
    Int64(i64),
}

/// What the conversations of a login share with the authenticator.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    conversation_id: Option<ConversationId>,
    /// Whether the SCRAM keys came from the cache (no PBKDF2 ran).
    pub(crate) key_cache_hit: bool,
}

/// What a conversation sees of its login: the credential, the options, and the SASL framing.
pub(crate) struct Context<'a> {
    pub(crate) credential: &'a Credential,
    pub(crate) options: &'a AuthOptions,
    pub(crate) shared: &'a mut Shared,
}

/// A SASL reply, read.
pub(crate) struct SaslReply<'a> {
    pub(crate) done: bool,
    pub(crate) payload: &'a [u8],
}

impl Context<'_> {
    /// A `saslStart`. The payload may be a password (PLAIN) or a token, so the document is built
    /// in a buffer large enough never to reallocate (a reallocation would leave a copy behind in
    /// freed memory), and the command that takes it wipes it when dropped. A new conversation
    /// starts: the server names its id in the reply.
    pub(crate) fn sasl_start(
        &mut self,
        mechanism: &str,
        payload: &[u8],
        skip_empty_exchange: bool,
    ) -> RawDocumentBuf {
        self.shared.conversation_id = None;
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

    /// A `saslStart` to send inside `hello`: with the credential's database in `db`.
    pub(crate) fn speculative_sasl_start(
        &mut self,
        mechanism: &str,
        payload: &[u8],
        skip_empty_exchange: bool,
    ) -> RawDocumentBuf {
        let mut command = self.sasl_start(mechanism, payload, skip_empty_exchange);
        command.append(cstr!("db"), self.credential.source());
        command
    }

    /// A `saslContinue` of the conversation in progress.
    pub(crate) fn sasl_continue(&self, payload: &[u8]) -> RawDocumentBuf {
        // Room for the payload up front: it may carry a session token.
        let mut command = document_with_capacity(96 + payload.len());
        command.append(cstr!("saslContinue"), 1);
        match self.shared.conversation_id {
            Some(ConversationId::Int64(id)) => command.append(cstr!("conversationId"), id),
            Some(ConversationId::Int32(id)) => command.append(cstr!("conversationId"), id),
            None => command.append(cstr!("conversationId"), 1),
        }
        command.append(cstr!("payload"), binary(payload));
        command
    }

    /// Reads `conversationId`, `done` and `payload` of a SASL reply. The id must stay the same
    /// for the whole conversation.
    pub(crate) fn read_sasl<'d>(&mut self, reply: &'d RawDocument) -> Result<SaslReply<'d>> {
        let [id, done, payload] = fields(reply, ["conversationId", "done", "payload"]);
        let id = match id {
            Some(RawBsonRef::Int32(id)) => ConversationId::Int32(id),
            Some(RawBsonRef::Int64(id)) => ConversationId::Int64(id),
            _ => return Err(missing("integer `conversationId`")),
        };
        match self.shared.conversation_id {
            None => self.shared.conversation_id = Some(id),
            Some(known) if known != id => {
                return Err(Error::protocol(ProtocolViolation::ConversationIdChanged));
            }
            Some(_) => {}
        }
        let done = match done {
            Some(RawBsonRef::Boolean(done)) => done,
            _ => return Err(missing("boolean `done`")),
        };
        let payload = match payload {
            Some(RawBsonRef::Binary(RawBinaryRef { bytes, .. })) => bytes,
            _ => return Err(missing("binary `payload`")),
        };
        Ok(SaslReply { done, payload })
    }

    /// [`read_sasl`](Self::read_sasl), with `done` as the mechanism says it must be.
    pub(crate) fn read_sasl_expecting<'d>(
        &mut self,
        reply: &'d RawDocument,
        done: bool,
    ) -> Result<&'d [u8]> {
        let sasl = self.read_sasl(reply)?;
        match (sasl.done, done) {
            (true, false) => Err(Error::protocol(ProtocolViolation::EndedEarly)),
            (false, true) => Err(Error::protocol(ProtocolViolation::DidNotEnd)),
            _ => Ok(sasl.payload),
        }
    }

    /// Fills `bytes` from the caller's generator.
    pub(crate) fn fill_random(&self, bytes: &mut [u8]) {
        self.options.fill_random(bytes);
    }
}

fn missing(field: &'static str) -> Error {
    Error::protocol(ProtocolViolation::MissingSaslField { field })
}

impl Action {
    /// The step this action is for the caller (a command goes to the credential's database).
    pub(crate) fn into_step(self, credential: &Credential, outcome: impl FnOnce() -> Step) -> Step {
        match self {
            Action::Send(body) => Step::Send(crate::command::Command::from_document(
                credential.source(),
                body,
            )),
            Action::Job(job) => Step::Job(job),
            Action::Ask(ask) => Step::Ask(ask),
            Action::Callback(request) => Step::Callback(request),
            Action::Done => outcome(),
        }
    }
}

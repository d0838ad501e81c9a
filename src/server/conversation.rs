//! The one boundary between a [`Session`](super::Session) and a mechanism's server side: each
//! mechanism's conversation is a [`ServerConversation`] in a module of its own, registered in
//! [`conversation_for`]. The session keeps the SASL framing (`saslStart`, `saslContinue`,
//! `conversationId`, speculative attempts inside `hello`), the log and the authenticated users.

use std::borrow::Cow;
use std::time::SystemTime;

use super::job::{Job, JobOutput};
use super::session::SessionConfig;
use crate::ask::{Answer, Ask};
use crate::scram::ScramVariant;

/// What a conversation says to the client's last message.
pub(crate) enum Verdict {
    /// Answer with this payload (`done: false`); the client's next message continues.
    Continue(Vec<u8>),
    /// The client proved who it is: answer with this payload and `done: true`. The user is one
    /// of the conversation's database, which every mechanism checks before it gets here.
    Authenticated {
        /// The user, as `connectionStatus` lists it.
        user: String,
        /// The last payload (SCRAM's server signature, or nothing).
        payload: Vec<u8>,
        /// When the login ends: an OIDC token's `exp`, after which commands that need a login
        /// are answered `ReauthenticationRequired` (391), as mongod answers them.
        expires: Option<SystemTime>,
    },
    /// Refused: the client hears `AuthenticationFailed` (or, inside `hello`, nothing); the log
    /// gets the user the client claimed and the reason.
    Refused {
        /// The user the client claimed, if it got that far.
        user: String,
        /// Why, for whoever runs the server.
        reason: Cow<'static, str>,
    },
    /// Run this job (blocking work: PBKDF2, a GSS call), then pass its output back.
    Job(Job),
    /// Answer this (an HTTP exchange with STS), then pass the answer back.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    Ask(Ask),
}

impl Verdict {
    pub(crate) fn refused(user: impl Into<String>, reason: impl Into<Cow<'static, str>>) -> Self {
        Verdict::Refused {
            user: user.into(),
            reason: reason.into(),
        }
    }
}

/// What a conversation sees of its session.
pub(crate) struct ServerContext<'a> {
    pub(crate) config: &'a SessionConfig,
    /// The database the conversation authenticates against.
    pub(crate) db: &'a str,
    /// The server's clock, which AWS signature dates and OIDC token lifetimes are checked by.
    #[cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(dead_code))]
    pub(crate) now: SystemTime,
    /// Whether the conversation started inside `hello`.
    pub(crate) speculative: bool,
    /// Whether the client asked SCRAM to end without the empty exchange (rule G10).
    pub(crate) skip_empty_exchange: bool,
}

/// One mechanism's server side of a conversation.
pub(crate) trait ServerConversation: Send {
    /// The mechanism, as the log names it.
    fn mechanism(&self) -> &'static str;

    /// The payload of the client's `saslStart`.
    fn start(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict;

    /// The payload of a `saslContinue`.
    fn next(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict;

    /// The output of a job this conversation asked for.
    fn on_job(&mut self, _cx: &ServerContext<'_>, _output: JobOutput) -> Verdict {
        Verdict::refused("", "a job output the conversation did not ask for")
    }

    /// Whether the client's next message waits for a person (MONGODB-OIDC's human flow, once the
    /// server has named its identity provider): the login may take minutes, not seconds.
    fn awaits_person(&self) -> bool {
        false
    }

    /// The answer to an ask this conversation made.
    fn on_answer(&mut self, _cx: &ServerContext<'_>, _answer: Answer) -> Verdict {
        Verdict::refused("", "an answer the conversation did not ask for")
    }
}

/// The conversation of `mechanism`, when this server has it (and, inside `hello`, when the
/// mechanism may start there). Each mechanism registers here, and only here.
pub(crate) fn conversation_for(
    mechanism: &str,
    config: &SessionConfig,
    speculative: bool,
) -> Option<Box<dyn ServerConversation>> {
    Some(match mechanism {
        "SCRAM-SHA-1" => Box::new(super::scram::ScramConversation::new(ScramVariant::Sha1)),
        "SCRAM-SHA-256" => Box::new(super::scram::ScramConversation::new(ScramVariant::Sha256)),
        "PLAIN" if !speculative => Box::new(super::plain::PlainConversation::new()),
        #[cfg(feature = "aws")]
        crate::aws::MECHANISM if !speculative && config.aws.is_some() => {
            Box::new(super::aws::AwsConversation::default())
        }
        crate::gssapi::MECHANISM if !speculative && config.gssapi.is_some() => {
            Box::new(super::gssapi::GssapiConversation::default())
        }
        #[cfg(feature = "oidc")]
        crate::oidc::MECHANISM if !config.oidc.is_empty() => {
            Box::new(super::oidc::OidcConversation::default())
        }
        _ => return None,
    })
}

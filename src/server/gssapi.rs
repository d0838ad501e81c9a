//! The server side of GSSAPI: the conversation mongod runs through Cyrus SASL (RFC 4752), over
//! an acceptor context: tokens until the context is established, then the security-layer offer
//! ("no security layer"), then the client's choice and authorization id. The principals that
//! may log in are users of `$external`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::conversation::{ServerContext, ServerConversation, Verdict};
use super::job::{Job, JobOutput, Output, Work};
use crate::error::Result;
use crate::gssapi::{GssContext, MECHANISM, SECURITY_LAYER_OFFER, read_security_layer_choice};

/// The acceptor side of one conversation.
pub trait AcceptorContext: GssContext {
    /// The client principal (`user@REALM`), once established.
    fn client_principal(&self) -> Result<String>;
    /// The service principal the client asked for, once established.
    fn service_principal(&self) -> Result<String>;
}

/// Makes acceptor contexts.
pub trait GssAcceptor: Send + Sync {
    /// A context for a new conversation.
    fn accept(&self) -> Result<Box<dyn AcceptorContext>>;
}

/// What the server accepts as GSSAPI.
#[derive(Clone)]
pub struct GssapiSettings {
    pub(crate) acceptor: Arc<dyn GssAcceptor>,
    pub(crate) service: String,
    pub(crate) users: BTreeSet<String>,
}

impl GssapiSettings {
    /// Accepts tickets for the service `service` (the first part of its principal, `mongodb`
    /// in `mongodb/host@REALM`) through `acceptor`.
    pub fn new(acceptor: Arc<dyn GssAcceptor>, service: impl Into<String>) -> Self {
        GssapiSettings {
            acceptor,
            service: service.into(),
            users: BTreeSet::new(),
        }
    }

    /// A principal (`user@REALM`) that may log in.
    pub fn user(mut self, principal: impl Into<String>) -> Self {
        self.users.insert(principal.into());
        self
    }

    /// Whether a service principal (`service/host@REALM`, or `service@host`) is for this
    /// service.
    pub(crate) fn serves(&self, service_principal: &str) -> bool {
        let service = service_principal
            .split(['/', '@'])
            .next()
            .unwrap_or_default();
        service == self.service
    }
}

impl fmt::Debug for GssapiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GssapiSettings")
            .field("service", &self.service)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// A call into an acceptor context, as a job: each may block in the GSS library.
pub(crate) enum GssWork {
    /// Make a context and feed the client's first token.
    Accept {
        acceptor: Arc<dyn GssAcceptor>,
        token: Vec<u8>,
    },
    /// Feed a token.
    Step {
        context: Box<dyn AcceptorContext>,
        token: Vec<u8>,
    },
    /// Wrap the security-layer offer.
    Offer { context: Box<dyn AcceptorContext> },
    /// Read the client's choice: unwrapped, with the principals of the context.
    Finish {
        context: Box<dyn AcceptorContext>,
        payload: Vec<u8>,
    },
}

/// What a [`GssWork`] produced: the context (when there is one) and the result, or the
/// principal it got to (if any) and why it failed.
pub(crate) struct GssDone {
    context: Option<Box<dyn AcceptorContext>>,
    result: std::result::Result<GssResult, (String, String)>,
}

pub(crate) enum GssResult {
    /// A token to send (empty when the context has none).
    Token(Vec<u8>),
    /// The wrapped security-layer offer.
    Offer(Vec<u8>),
    /// The client's choice, read.
    Finished {
        principal: String,
        authorization_id: String,
        service: String,
    },
}

impl GssWork {
    pub(crate) fn run(self) -> GssDone {
        let failed = |context, e: crate::Error| GssDone {
            context,
            result: Err((String::new(), e.to_string())),
        };
        match self {
            GssWork::Accept { acceptor, token } => match acceptor.accept() {
                Ok(context) => GssWork::Step { context, token }.run(),
                Err(e) => failed(None, e),
            },
            GssWork::Step { mut context, token } => match context.step(Some(&token)) {
                Ok(token) => GssDone {
                    context: Some(context),
                    result: Ok(GssResult::Token(token.unwrap_or_default())),
                },
                Err(e) => failed(Some(context), e),
            },
            GssWork::Offer { mut context } => match context.wrap(&SECURITY_LAYER_OFFER) {
                Ok(offer) => GssDone {
                    context: Some(context),
                    result: Ok(GssResult::Offer(offer)),
                },
                Err(e) => failed(Some(context), e),
            },
            GssWork::Finish {
                mut context,
                payload,
            } => {
                let result = (|| {
                    let principal = context
                        .client_principal()
                        .map_err(|e| (String::new(), e.to_string()))?;
                    let unwrapped = context
                        .unwrap(&payload)
                        .map_err(|e| (principal.clone(), e.to_string()))?;
                    let authorization_id = read_security_layer_choice(&unwrapped)
                        .map_err(|e| (principal.clone(), e.to_string()))?
                        .to_owned();
                    let service = context
                        .service_principal()
                        .map_err(|e| (principal.clone(), e.to_string()))?;
                    Ok(GssResult::Finished {
                        principal,
                        authorization_id,
                        service,
                    })
                })();
                GssDone {
                    context: Some(context),
                    result,
                }
            }
        }
    }
}

/// One GSSAPI conversation as the session drives it: tokens until the context is established,
/// then the security-layer offer, then the client's choice.
#[derive(Default)]
pub(crate) struct GssapiConversation {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    /// A job is out.
    Working,
    /// Context tokens are being exchanged.
    Negotiating(Box<dyn AcceptorContext>),
    /// The context is established and its last token sent; the client answers with an empty
    /// message.
    AwaitingEmpty(Box<dyn AcceptorContext>),
    /// The security-layer offer is out; the client's choice comes next.
    LayerOffered(Box<dyn AcceptorContext>),
}

fn job(work: GssWork) -> Verdict {
    Verdict::Job(Job::new(Work::Gssapi(work)))
}

impl ServerConversation for GssapiConversation {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn start(&mut self, cx: &ServerContext<'_>, token: &[u8]) -> Verdict {
        let Some(settings) = &cx.config.gssapi else {
            return Verdict::refused("", "GSSAPI is not enabled");
        };
        if cx.db != "$external" {
            return Verdict::refused("", "not $external");
        }
        self.state = State::Working;
        job(GssWork::Accept {
            acceptor: settings.acceptor.clone(),
            token: token.to_vec(),
        })
    }

    fn next(&mut self, _cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        match std::mem::replace(&mut self.state, State::Working) {
            State::Negotiating(context) => job(GssWork::Step {
                context,
                token: payload.to_vec(),
            }),
            State::AwaitingEmpty(context) if payload.is_empty() => job(GssWork::Offer { context }),
            State::AwaitingEmpty(_) => {
                Verdict::refused("", "data where the empty message after the context belongs")
            }
            State::LayerOffered(context) => job(GssWork::Finish {
                context,
                payload: payload.to_vec(),
            }),
            State::Idle | State::Working => Verdict::refused("", "no GSSAPI conversation"),
        }
    }

    fn on_job(&mut self, cx: &ServerContext<'_>, output: JobOutput) -> Verdict {
        let Output::Gssapi(done) = output.output else {
            return Verdict::refused("", "a job output GSSAPI did not ask for");
        };
        let (context, result) = match (done.context, done.result) {
            (_, Err((user, reason))) => return Verdict::refused(user, reason),
            (Some(context), Ok(result)) => (context, result),
            (None, Ok(_)) => return Verdict::refused("", "a GSS job without a context"),
        };
        match result {
            GssResult::Token(token) => match (context.is_complete(), token.is_empty()) {
                (false, _) => {
                    self.state = State::Negotiating(context);
                    Verdict::Continue(token)
                }
                (true, false) => {
                    self.state = State::AwaitingEmpty(context);
                    Verdict::Continue(token)
                }
                (true, true) => job(GssWork::Offer { context }),
            },
            GssResult::Offer(offer) => {
                self.state = State::LayerOffered(context);
                Verdict::Continue(offer)
            }
            GssResult::Finished {
                principal,
                authorization_id,
                service,
            } => {
                let Some(settings) = &cx.config.gssapi else {
                    return Verdict::refused(principal, "GSSAPI is not enabled");
                };
                if !authorization_id.is_empty() && authorization_id != principal {
                    return Verdict::refused(
                        principal,
                        format!("may not act as `{authorization_id}`"),
                    );
                }
                if !settings.serves(&service) {
                    return Verdict::refused(
                        principal,
                        format!("a ticket for another service, `{service}`"),
                    );
                }
                if !settings.users.contains(&principal) {
                    return Verdict::refused(principal, "unknown principal");
                }
                Verdict::Authenticated {
                    user: principal,
                    payload: Vec::new(),
                    expires: None,
                }
            }
        }
    }
}

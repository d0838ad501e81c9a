//! GSSAPI as the authenticator drives it: the service principal (with the DNS asks of host
//! canonicalization, rule J3), then the RFC 4752 conversation, each call into the GSS context
//! handed out as a [`Job`].

use std::sync::Arc;

use bson::RawDocument;
use bson::raw::cstr;

use super::Job;
use super::conversation::{Action, Context, Conversation};
use super::job::{JobOutput, Output};
use crate::ask::{Answer, Ask, Reply};
use crate::error::{Error, ProtocolViolation, Result};
use crate::gssapi::{
    Canonicalize, ContextRequest, DEFAULT_SERVICE_NAME, GssContext, GssJob, GssProvider, MECHANISM,
    Work, canonical_host,
};

#[derive(Default)]
pub(super) struct GssapiLogin {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    /// A DNS lookup of the host is out.
    Resolving(Lookup),
    /// A job on the context is out.
    Working(Phase),
    /// A command is out; the context waits for the reply.
    Sent(Box<dyn GssContext>),
    /// The security-layer answer is out; the server ends the conversation next.
    Final,
}

/// Where the host canonicalization is.
struct Lookup {
    host: String,
    mode: Canonicalize,
    reverse: bool,
}

/// What the job that is out is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Step,
    SecurityLayer,
}

impl GssapiLogin {
    /// Rule J3: the last CNAME target (`forward`) or the reverse name of the first address
    /// (`forwardAndReverse`); a lookup that fails or finds nothing leaves the host as it is.
    fn on_lookup(&mut self, cx: &Context<'_>, lookup: Lookup, answer: Answer) -> Result<Action> {
        let fallback = canonical_host(&lookup.host);
        match (answer.reply(), lookup.mode, lookup.reverse) {
            (Reply::Host { canonical_name, .. }, Canonicalize::Forward, false)
                if !canonical_name.is_empty() =>
            {
                self.start_context(cx, canonical_host(canonical_name))
            }
            (Reply::Host { addresses, .. }, Canonicalize::ForwardAndReverse, false) => {
                match addresses.first() {
                    Some(address) => {
                        let ask = Ask::reverse_lookup(*address);
                        self.state = State::Resolving(Lookup {
                            reverse: true,
                            ..lookup
                        });
                        Ok(Action::Ask(ask))
                    }
                    None => self.start_context(cx, fallback),
                }
            }
            (Reply::Names(names), _, true) => match names.first() {
                Some(name) if !name.is_empty() => self.start_context(cx, canonical_host(name)),
                _ => self.start_context(cx, fallback),
            },
            _ => self.start_context(cx, fallback),
        }
    }

    fn start_context(&mut self, cx: &Context<'_>, host: String) -> Result<Action> {
        let properties = cx.credential.mechanism_properties();
        let request = ContextRequest {
            service: properties
                .get("SERVICE_NAME")
                .unwrap_or(DEFAULT_SERVICE_NAME)
                .to_owned(),
            host,
            realm: properties.get("SERVICE_REALM").map(str::to_owned),
            user: cx.credential.username().unwrap_or_default().to_owned(),
            password: cx.credential.password().cloned(),
        };
        let provider = provider(cx)?;
        self.state = State::Working(Phase::Start);
        Ok(Action::Job(Job::Gssapi(GssJob {
            work: Work::Start { provider, request },
        })))
    }
}

fn provider(cx: &Context<'_>) -> Result<Arc<dyn GssProvider>> {
    cx.options.gssapi_provider.clone().ok_or(Error::UnsupportedMechanism {
        mechanism: "GSSAPI without a context provider (give AuthOptions::gssapi_provider, or use mongodb-auth-io with its feature `gssapi`)",
    })
}

impl Conversation for GssapiLogin {
    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        let properties = cx.credential.mechanism_properties();
        // SERVICE_HOST stands in for the server's host, and is canonicalised as it would be
        // (rule J3: every host used for authentication), as PyMongo does.
        let host = match properties.get("SERVICE_HOST") {
            Some(host) => host.to_owned(),
            None => cx.options.host.clone().ok_or_else(|| {
                Error::credential(
                    MECHANISM,
                    "the service principal needs the server's host (AuthOptions::server_host)",
                )
            })?,
        };
        let mode = Canonicalize::from_property(properties.get("CANONICALIZE_HOST_NAME"));
        if mode == Canonicalize::None {
            return self.start_context(cx, host);
        }
        let ask = Ask::lookup_host(host.clone());
        self.state = State::Resolving(Lookup {
            host,
            mode,
            reverse: false,
        });
        Ok(Action::Ask(ask))
    }

    fn on_answer(&mut self, cx: &mut Context<'_>, answer: Answer) -> Result<Action> {
        match std::mem::take(&mut self.state) {
            State::Resolving(lookup) => self.on_lookup(cx, lookup, answer),
            _ => Err(Error::OutOfOrder {
                call: "handle_answer",
                state: "GSSAPI asked nothing",
            }),
        }
    }

    fn on_job(&mut self, cx: &mut Context<'_>, output: JobOutput) -> Result<Action> {
        let (State::Working(phase), Output::Gss(done)) =
            (std::mem::take(&mut self.state), output.0)
        else {
            return Err(Error::OutOfOrder {
                call: "handle_job",
                state: "GSSAPI has no job out",
            });
        };
        let (context, token) = match (done.context, done.output) {
            (Some(context), Ok(token)) => (context, token),
            (_, Err(error)) => return Err(error),
            (None, Ok(_)) => {
                return Err(Error::OutOfOrder {
                    call: "handle_job",
                    state: "the GSS job gave no context",
                });
            }
        };
        Ok(Action::Send(match phase {
            Phase::Start => {
                let mut command = cx.sasl_start(MECHANISM, &token, false);
                // PyMongo sends it, mongod ignores it: kept for servers of the SASL era.
                command.append(cstr!("autoAuthorize"), 1);
                self.state = State::Sent(context);
                command
            }
            Phase::Step => {
                self.state = State::Sent(context);
                cx.sasl_continue(&token)
            }
            Phase::SecurityLayer => {
                self.state = State::Final;
                cx.sasl_continue(&token)
            }
        }))
    }

    /// A reply while the context is being established, or the security-layer message once it
    /// is.
    fn on_reply(&mut self, cx: &mut Context<'_>, reply: &RawDocument) -> Result<Action> {
        match std::mem::take(&mut self.state) {
            State::Sent(context) => {
                let sasl = cx.read_sasl(reply)?;
                if sasl.done {
                    return Err(Error::protocol(ProtocolViolation::EndedEarly));
                }
                let payload = sasl.payload.to_vec();
                let (work, phase) = if context.is_complete() {
                    let authorization_id = cx.credential.username().unwrap_or_default().to_owned();
                    (
                        Work::SecurityLayer {
                            context,
                            message: payload,
                            authorization_id,
                        },
                        Phase::SecurityLayer,
                    )
                } else {
                    (
                        Work::Step {
                            context,
                            token: payload,
                        },
                        Phase::Step,
                    )
                };
                self.state = State::Working(phase);
                Ok(Action::Job(Job::Gssapi(GssJob { work })))
            }
            State::Final => {
                cx.read_sasl_expecting(reply, true)?;
                Ok(Action::Done)
            }
            State::Idle | State::Resolving(_) | State::Working(_) => Err(Error::OutOfOrder {
                call: "handle_reply",
                state: "GSSAPI sent nothing",
            }),
        }
    }

    fn on_failure(&mut self, _cx: &mut Context<'_>) {
        self.state = State::Idle;
    }
}

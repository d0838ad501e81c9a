//! The GSSAPI part of the [`Authenticator`]: the service principal (with the DNS asks of host
//! canonicalization, rule J3) and the RFC 4752 conversation, each call into the GSS context
//! handed out as a [`GssJob`].

use std::sync::Arc;

use bson::raw::cstr;
use bson::{RawBsonRef, RawDocument};

use super::{Authenticator, State, Step, sasl_start};
use crate::ask::{Answer, Ask};
use crate::error::{Error, ProtocolViolation, Result};
use crate::gssapi::{
    Canonicalize, ContextRequest, DEFAULT_SERVICE_NAME, GssContext, GssDone, GssJob, GssProvider,
    MECHANISM, Work, canonical_host,
};

/// Where the host canonicalization is.
pub(crate) struct Lookup {
    host: String,
    mode: Canonicalize,
    reverse: bool,
}

/// What the job that is out was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Start,
    Step,
    SecurityLayer,
}

impl Authenticator {
    pub(super) fn start_gssapi(&mut self) -> Result<Step> {
        let properties = self.credential.mechanism_properties();
        if let Some(host) = properties.get("SERVICE_HOST") {
            let host = host.to_owned();
            return self.start_gss_context(host);
        }
        let host = self.options.host.clone().ok_or_else(|| {
            Error::credential(
                MECHANISM,
                "the service principal needs the server's host (AuthOptions::server_host)",
            )
        })?;
        let mode = Canonicalize::from_property(properties.get("CANONICALIZE_HOST_NAME"));
        if mode == Canonicalize::None {
            return self.start_gss_context(host);
        }
        let ask = Ask::LookupHost { name: host.clone() };
        self.state = State::GssapiResolving(Lookup {
            host,
            mode,
            reverse: false,
        });
        Ok(Step::Ask(ask))
    }

    /// Rule J3: the last CNAME target (`forward`) or the reverse name of the first address
    /// (`forwardAndReverse`); a lookup that fails or finds nothing leaves the host as it is.
    pub(super) fn on_gssapi_lookup(&mut self, lookup: Lookup, answer: Answer) -> Result<Step> {
        let fallback = canonical_host(&lookup.host);
        match (answer, lookup.mode, lookup.reverse) {
            (Answer::Host { canonical_name, .. }, Canonicalize::Forward, false)
                if !canonical_name.is_empty() =>
            {
                self.start_gss_context(canonical_host(&canonical_name))
            }
            (Answer::Host { addresses, .. }, Canonicalize::ForwardAndReverse, false) => {
                match addresses.first() {
                    Some(address) => {
                        let ask = Ask::ReverseLookup { address: *address };
                        self.state = State::GssapiResolving(Lookup {
                            reverse: true,
                            ..lookup
                        });
                        Ok(Step::Ask(ask))
                    }
                    None => self.start_gss_context(fallback),
                }
            }
            (Answer::Names(names), _, true) => match names.first() {
                Some(name) if !name.is_empty() => self.start_gss_context(canonical_host(name)),
                _ => self.start_gss_context(fallback),
            },
            _ => self.start_gss_context(fallback),
        }
    }

    fn gssapi_provider(&self) -> Result<Arc<dyn GssProvider>> {
        if let Some(provider) = &self.options.gssapi_provider {
            return Ok(provider.clone());
        }
        Err(Error::UnsupportedMechanism {
            mechanism: "GSSAPI without a context provider (give AuthOptions::gssapi_provider, or use mongodb-auth-io with its feature `gssapi`)",
        })
    }

    fn start_gss_context(&mut self, host: String) -> Result<Step> {
        let properties = self.credential.mechanism_properties();
        let request = ContextRequest {
            service: properties
                .get("SERVICE_NAME")
                .unwrap_or(DEFAULT_SERVICE_NAME)
                .to_owned(),
            host,
            realm: properties.get("SERVICE_REALM").map(str::to_owned),
            user: self.credential.username().unwrap_or_default().to_owned(),
            password: self.credential.password().cloned(),
        };
        let provider = self.gssapi_provider()?;
        self.state = State::GssapiWorking(Phase::Start);
        Ok(Step::Gssapi(GssJob {
            work: Work::Start { provider, request },
        }))
    }

    /// Takes the result of a [`Step::Gssapi`] job.
    pub fn handle_gssapi(&mut self, done: GssDone) -> Result<Step> {
        let phase = match std::mem::replace(&mut self.state, State::Failed) {
            State::GssapiWorking(phase) => phase,
            other => {
                self.state = other;
                return Err(self.out_of_order("handle_gssapi"));
            }
        };
        let (context, token) = match (done.context, done.output) {
            (Some(context), Ok(token)) => (context, token),
            (_, Err(error)) => return Err(error),
            (None, Ok(_)) => return Err(self.out_of_order("handle_gssapi")),
        };
        let step = match phase {
            Phase::Start => {
                self.conversation_id = None;
                let mut command = sasl_start(MECHANISM, &token, false);
                // PyMongo sends it, mongod ignores it: kept for servers of the SASL era.
                command.append(cstr!("autoAuthorize"), 1);
                self.state = State::GssapiSent(context);
                self.send(command)
            }
            Phase::Step => {
                self.state = State::GssapiSent(context);
                self.send(self.sasl_continue(&token))
            }
            Phase::SecurityLayer => {
                self.state = State::GssapiFinal;
                self.send(self.sasl_continue(&token))
            }
        };
        Ok(step)
    }

    /// A reply while the context is being established, or the security-layer message once it
    /// is.
    pub(super) fn on_gssapi_reply(
        &mut self,
        doc: &RawDocument,
        context: Box<dyn GssContext>,
    ) -> Result<Step> {
        if matches!(doc.get("done"), Ok(Some(RawBsonRef::Boolean(true)))) {
            return Err(Error::protocol(ProtocolViolation::EndedEarly));
        }
        let payload = self.read_sasl_reply(doc, false)?.to_vec();
        let (work, phase) = if context.is_complete() {
            let authorization_id = self.credential.username().unwrap_or_default().to_owned();
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
        self.state = State::GssapiWorking(phase);
        Ok(Step::Gssapi(GssJob { work }))
    }
}

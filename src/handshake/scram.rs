//! SCRAM-SHA-1 and SCRAM-SHA-256 as the authenticator drives them: client-first (inside `hello`
//! or in `saslStart`), the keys from the cache or a PBKDF2 job, client-final, the server's
//! signature checked whether or not the server says it is done (rule G9), and the long ending
//! of servers before 4.4 (rule G11).

use bson::RawDocument;

use super::Job;
use super::conversation::{Action, Context, Conversation};
use super::job::{JobOutput, Output};
use crate::credential::AuthMechanism;
use crate::error::{Error, ProtocolViolation, Result};
use crate::scram::{
    ClientFinal, ClientFirst, KeyDerivation, ScramClient, ScramKeys, ScramVariant, ServerFirst,
};

pub(super) struct ScramLogin {
    variant: ScramVariant,
    state: State,
    /// The keys of this derivation are in use: if the login fails, the cache forgets them.
    keys_in_use: Option<KeyDerivation>,
}

enum State {
    Idle,
    /// Client-first is out.
    Started(ClientFirst),
    /// The PBKDF2 job is out.
    Deriving(ServerFirst, KeyDerivation),
    /// Client-final is out.
    Proving(ClientFinal),
    /// The empty exchange of servers before 4.4 is out.
    Closing,
}

impl ScramLogin {
    pub(super) fn new(mechanism: AuthMechanism) -> Self {
        ScramLogin {
            variant: ScramVariant::from_mechanism(mechanism).unwrap_or(ScramVariant::Sha256),
            state: State::Idle,
            keys_in_use: None,
        }
    }

    fn client_first(&mut self, cx: &Context<'_>) -> Result<Vec<u8>> {
        let password = cx.credential.password().ok_or_else(|| {
            Error::credential("default", "a password is required to authenticate")
        })?;
        let username = cx.credential.username().unwrap_or_default();
        let client = ScramClient::new(self.variant, username, password)?
            .max_iterations(cx.options.max_iterations);
        let (payload, client_first) = match cx.options.forced_nonce() {
            Some(nonce) => client.start_with_nonce(&nonce)?,
            None => client.start(&mut crate::random::from_fn(|bytes: &mut [u8]| {
                cx.fill_random(bytes)
            })),
        };
        self.state = State::Started(client_first);
        Ok(payload)
    }

    fn on_server_first(
        &mut self,
        cx: &mut Context<'_>,
        client: ClientFirst,
        server_first: &[u8],
    ) -> Result<Action> {
        let server_first = client.receive_server_first(server_first)?;
        let derivation = server_first.key_derivation();
        if let Some(keys) = cx
            .options
            .key_cache
            .as_ref()
            .and_then(|cache| cache.get(&derivation))
        {
            cx.shared.key_cache_hit = true;
            return Ok(self.client_final(cx, server_first, derivation, &keys));
        }
        self.state = State::Deriving(server_first, derivation.clone());
        Ok(Action::Job(Job::DeriveKey(derivation)))
    }

    fn client_final(
        &mut self,
        cx: &Context<'_>,
        server_first: ServerFirst,
        derivation: KeyDerivation,
        keys: &ScramKeys,
    ) -> Action {
        let (payload, client_final) = server_first.finish(keys);
        self.state = State::Proving(client_final);
        self.keys_in_use = Some(derivation);
        Action::Send(cx.sasl_continue(&payload))
    }
}

impl Conversation for ScramLogin {
    fn speculative(&mut self, cx: &mut Context<'_>) -> Result<Option<bson::RawDocumentBuf>> {
        let payload = self.client_first(cx)?;
        let mechanism = self.variant.mechanism().as_str();
        Ok(Some(cx.speculative_sasl_start(mechanism, &payload, true)))
    }

    fn on_speculative_reply(
        &mut self,
        cx: &mut Context<'_>,
        reply: &RawDocument,
    ) -> Result<Option<Action>> {
        let State::Started(client) = std::mem::replace(&mut self.state, State::Idle) else {
            return Err(Error::protocol(ProtocolViolation::UnsolicitedSpeculative));
        };
        let server_first = cx.read_sasl_expecting(reply, false)?;
        self.on_server_first(cx, client, server_first).map(Some)
    }

    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        let payload = self.client_first(cx)?;
        let mechanism = self.variant.mechanism().as_str();
        Ok(Action::Send(cx.sasl_start(mechanism, &payload, true)))
    }

    fn on_reply(&mut self, cx: &mut Context<'_>, reply: &RawDocument) -> Result<Action> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Started(client) => {
                let server_first = cx.read_sasl_expecting(reply, false)?;
                self.on_server_first(cx, client, server_first)
            }
            State::Proving(client) => {
                let sasl = cx.read_sasl(reply)?;
                // Checked whether or not the server says it is done (rule G9).
                client.handle_server_final(sasl.payload)?;
                // The server proved it knows the keys: they are right, whatever follows.
                self.keys_in_use = None;
                if sasl.done {
                    return Ok(Action::Done);
                }
                // The long ending of servers before 4.4 (rule G11): one empty exchange.
                self.state = State::Closing;
                Ok(Action::Send(cx.sasl_continue(&[])))
            }
            State::Closing => {
                if !cx.read_sasl_expecting(reply, true)?.is_empty() {
                    return Err(Error::protocol(ProtocolViolation::NonEmptyFinalExchange));
                }
                Ok(Action::Done)
            }
            State::Idle | State::Deriving(..) => Err(Error::OutOfOrder {
                call: "handle_reply",
                state: "SCRAM sent nothing",
            }),
        }
    }

    fn on_job(&mut self, cx: &mut Context<'_>, output: JobOutput) -> Result<Action> {
        let (State::Deriving(server_first, derivation), Output::Keys(keys)) =
            (std::mem::replace(&mut self.state, State::Idle), output.0)
        else {
            return Err(Error::OutOfOrder {
                call: "handle_job",
                state: "SCRAM asked for no keys",
            });
        };
        if !keys.derived_by(&derivation) {
            return Err(Error::ForeignKeys);
        }
        if let Some(cache) = &cx.options.key_cache {
            cache.insert(&derivation, keys.clone());
        }
        Ok(self.client_final(cx, server_first, derivation, &keys))
    }

    fn on_failure(&mut self, cx: &mut Context<'_>) {
        // Refused keys (a changed password, a wrong one) must not be offered again.
        if let (Some(derivation), Some(cache)) = (self.keys_in_use.take(), &cx.options.key_cache) {
            cache.remove(&derivation);
        }
        self.state = State::Idle;
    }
}

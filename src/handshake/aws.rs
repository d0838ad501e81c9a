//! MONGODB-AWS as the authenticator drives it: credentials from the cache (rule K10) or the
//! chain (its asks and the custom provider go out as steps), then client-first with a fresh
//! nonce, the signed request in client-final, `done`. Any failure clears the cache (rule K16).

use bson::RawDocument;

use super::conversation::{Action, Context, Conversation};
use super::requests::{CallbackOutput, CallbackRequest, Output, Request};
use crate::ask::Answer;
use crate::aws::ChainStep;
use crate::aws::{ClientFirst, CredentialChain, Credentials, MECHANISM};
use crate::error::{Error, Result};

#[derive(Default)]
pub(super) struct AwsLogin {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    /// The chain waits for an answer or the custom provider.
    Resolving(Box<CredentialChain>),
    /// Client-first is out.
    Started(ClientFirst, Credentials),
    /// Client-final is out.
    Sent,
}

impl AwsLogin {
    fn on_chain_step(
        &mut self,
        cx: &mut Context<'_>,
        chain: Box<CredentialChain>,
        step: ChainStep,
    ) -> Result<Action> {
        match step {
            ChainStep::Ask(ask) => {
                self.state = State::Resolving(chain);
                Ok(Action::Ask(ask))
            }
            ChainStep::Callback(request) => {
                self.state = State::Resolving(chain);
                Ok(Action::Callback(CallbackRequest(Request::Provider(
                    request,
                ))))
            }
            ChainStep::Done(resolved) => {
                if let Some(cache) = &cx.options.aws_cache {
                    cache.offer(&resolved.credentials, resolved.source);
                }
                Ok(self.client_first(cx, resolved.credentials))
            }
        }
    }

    fn client_first(&mut self, cx: &mut Context<'_>, credentials: Credentials) -> Action {
        let mut fill = crate::random::from_fn(|bytes: &mut [u8]| cx.fill_random(bytes));
        let (payload, client) = ClientFirst::start(&mut fill);
        self.state = State::Started(client, credentials);
        Action::Send(cx.sasl_start(MECHANISM, &payload, false))
    }

    fn chain(&mut self) -> Result<Box<CredentialChain>> {
        match std::mem::take(&mut self.state) {
            State::Resolving(chain) => Ok(chain),
            _ => Err(Error::OutOfOrder {
                call: "handle_answer",
                state: "MONGODB-AWS is not resolving credentials",
            }),
        }
    }
}

impl Conversation for AwsLogin {
    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        let explicit = Credentials::from_credential(cx.credential);
        let cached = match (&cx.options.aws_provider, &explicit, &cx.options.aws_cache) {
            (None, None, Some(cache)) => cache.get(cx.options.clock.now()),
            _ => None,
        };
        if let Some((credentials, _)) = cached {
            return Ok(self.client_first(cx, credentials));
        }
        let mut chain = CredentialChain::new(cx.options.environment.clone())
            .clock(cx.options.clock.clone())
            .explicit(explicit);
        if let Some(provider) = &cx.options.aws_provider {
            chain = chain.custom(provider.clone());
        }
        let mut chain = Box::new(chain);
        let step = chain.step()?;
        self.on_chain_step(cx, chain, step)
    }

    fn on_answer(&mut self, cx: &mut Context<'_>, answer: Answer) -> Result<Action> {
        let mut chain = self.chain()?;
        let step = chain.answer(answer)?;
        self.on_chain_step(cx, chain, step)
    }

    fn on_callback(&mut self, cx: &mut Context<'_>, output: CallbackOutput) -> Result<Action> {
        let mut chain = self.chain()?;
        let output = match output.0 {
            Output::Provider(output) => output,
            #[allow(unreachable_patterns)]
            _ => {
                return Err(Error::OutOfOrder {
                    call: "handle_callback",
                    state: "MONGODB-AWS asked for its custom provider",
                });
            }
        };
        let step = chain.provided(output)?;
        self.on_chain_step(cx, chain, step)
    }

    fn on_reply(&mut self, cx: &mut Context<'_>, reply: &RawDocument) -> Result<Action> {
        match std::mem::take(&mut self.state) {
            State::Started(client, credentials) => {
                let server_first = cx.read_sasl_expecting(reply, false)?;
                let payload = client.finish(server_first, &credentials, cx.options.clock.now())?;
                self.state = State::Sent;
                Ok(Action::Send(cx.sasl_continue(&payload)))
            }
            State::Sent => {
                cx.read_sasl_expecting(reply, true)?;
                Ok(Action::Done)
            }
            State::Idle | State::Resolving(_) => Err(Error::OutOfOrder {
                call: "handle_reply",
                state: "MONGODB-AWS sent nothing",
            }),
        }
    }

    fn on_failure(&mut self, cx: &mut Context<'_>) {
        // Rule K16: any failure of a MONGODB-AWS login clears the cache.
        if let Some(cache) = &cx.options.aws_cache {
            cache.clear();
        }
        self.state = State::Idle;
    }
}

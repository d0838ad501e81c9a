//! MONGODB-OIDC as the authenticator drives it: the machine and human algorithms (rules L19,
//! L20), speculative authentication with a cached token (E4, E8) and re-authentication (M3).
//! Tokens come from the caller's callback or a built-in environment, through the client cache
//! ([`OidcClient`]), as [`CallbackRequest`]s the caller runs.

use std::sync::Arc;

use bson::{RawDocument, RawDocumentBuf};

use super::conversation::{Action, Context, Conversation};
use super::options::AuthOptions;
use super::requests::{CallbackOutput, CallbackRequest, Output, Request};
use crate::ask::Ask;
use crate::credential::{Credential, Flow};
use crate::error::{AUTHENTICATION_FAILED, Error, OidcError, Result};
use zeroize::Zeroizing;

use crate::oidc::{
    BuiltIn, CallbackContext, DEFAULT_ALLOWED_HOSTS, FLOW_RANDOM_BYTES, HUMAN_CALLBACK_TIMEOUT,
    IdpInfo, IssuedToken, MACHINE_CALLBACK_TIMEOUT, MECHANISM, OidcClient, Provider, TokenRequest,
    host_allowed, jwt_payload, principal_payload,
};
use crate::secret::Secret;

/// Rule L5 beside the credential's own validation: a credential that names a callback has one
/// in the options, and one with `ENVIRONMENT` has none.
pub(super) fn check_callback(credential: &Credential, options: &AuthOptions) -> Result<()> {
    let environment = credential.mechanism_properties().get("ENVIRONMENT");
    match (
        credential.oidc_callback(),
        &options.oidc_callback,
        environment,
    ) {
        (Some(Flow::Human), None, _) if options.oidc_human_flows.is_some() => Ok(()),
        (Some(flow), None, _) => Err(OidcError::CallbackMissing {
            flow: flow.as_str(),
        }
        .into()),
        (None, Some(_), Some(_)) => Err(Error::credential(
            MECHANISM,
            "ENVIRONMENT and a callback must not both give tokens (rule L5)",
        )),
        _ => Ok(()),
    }
}

/// One connection's side of MONGODB-OIDC. It lives as long as the connection: the token this
/// connection authenticated with (the Connection Cache of rule L16) outlives a login, so that
/// re-authentication invalidates that token and no newer one (rule L18).
#[derive(Default)]
pub(super) struct OidcLogin {
    /// The client cache: the options' (shared by a client's connections), else the
    /// connection's own.
    client: Option<Arc<OidcClient>>,
    /// The generation of the token this connection sent last.
    connection_token: Option<u64>,
    state: State,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Idle,
    /// A token is being fetched, for this.
    Fetching(AfterToken),
    /// A one-step `saslStart` with a token is out; what a refusal (18) leads to.
    JwtSent(OnRefusal),
    /// The principal step of the two-step conversation is out.
    PrincipalSent,
    /// The `saslContinue` with the token is out.
    JwtContinued,
    /// The one-step `saslStart` with the cached token went inside `hello`.
    Speculative,
}

/// What a refused token (error 18) leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnRefusal {
    /// The error is raised.
    Raise,
    /// Machine flow, a cached token: invalidate it, fetch a new one, try once more (L19).
    FetchAndRetry,
    /// Human flow, a cached access token: go on with the refresh token or the two-step
    /// conversation (L20 step 1).
    TryRefresh,
    /// Human flow, a token from the refresh token: forget it, run the two-step conversation (L20
    /// step 2).
    TryTwoStep,
}

/// What the token being fetched is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterToken {
    /// A one-step `saslStart`.
    OneStep(OnRefusal),
    /// The `saslContinue` of the two-step conversation.
    Continue,
}

impl OidcLogin {
    fn client(&mut self, options: &AuthOptions) -> Arc<OidcClient> {
        self.client
            .get_or_insert_with(|| options.oidc_client.clone())
            .clone()
    }

    /// Rule L6: the human flow sends tokens only to allowed hosts, and calls no callback for
    /// another.
    fn check_allowed_host(cx: &Context<'_>) -> Result<()> {
        if !human_flow(cx) {
            return Ok(());
        }
        let allowed: Vec<&str> = match cx.credential.oidc_allowed_hosts() {
            Some(hosts) => hosts.iter().map(String::as_str).collect(),
            None => DEFAULT_ALLOWED_HOSTS.to_vec(),
        };
        match &cx.options.host {
            Some(host) if host_allowed(host, &allowed) => Ok(()),
            Some(host) => Err(OidcError::HostNotAllowed {
                host: host.clone(),
                allowed: allowed.iter().map(|h| (*h).to_owned()).collect(),
            }
            .into()),
            None => Err(OidcError::NoServerHost.into()),
        }
    }

    /// Rule L20 steps 2 and 3.
    fn human_without_access_token(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        match self.client(cx.options).refresh_token() {
            Some((refresh_token, idp_info)) => self.request_token(
                cx,
                Some(idp_info),
                Some(refresh_token),
                AfterToken::OneStep(OnRefusal::TryTwoStep),
            ),
            None => Ok(self.start_two_step(cx)),
        }
    }

    fn start_two_step(&mut self, cx: &mut Context<'_>) -> Action {
        self.state = State::PrincipalSent;
        let payload = principal_payload(cx.credential.username());
        Action::Send(cx.sasl_start(MECHANISM, &payload, false))
    }

    fn request_token(
        &mut self,
        cx: &mut Context<'_>,
        idp_info: Option<IdpInfo>,
        refresh_token: Option<Secret>,
        then: AfterToken,
    ) -> Result<Action> {
        let client = self.client(cx.options);
        let timeout = if human_flow(cx) {
            HUMAN_CALLBACK_TIMEOUT
        } else {
            cx.options
                .oidc_machine_timeout
                .unwrap_or(MACHINE_CALLBACK_TIMEOUT)
        };
        let properties = cx.credential.mechanism_properties();
        let provider = match (&cx.options.oidc_callback, properties.get("ENVIRONMENT")) {
            (Some(callback), _) => Provider::Callback(callback.clone()),
            (None, _) if human_flow(cx) && cx.options.oidc_human_flows.is_some() => {
                let mut random = Zeroizing::new([0u8; FLOW_RANDOM_BYTES]);
                cx.options.fill_random(random.as_mut_slice());
                let flows = cx.options.oidc_human_flows.clone().unwrap_or_default();
                Provider::Human(flows, random)
            }
            (None, Some(environment)) => {
                let (builtin, ask) = BuiltIn::ask(
                    environment,
                    properties.get("TOKEN_RESOURCE"),
                    cx.credential.username(),
                    cx.options.environment.as_ref(),
                    cx.options.danger.oidc_metadata_endpoint.as_deref(),
                )?;
                // Rule L8: the metadata endpoint has the callback's time.
                let ask = match ask {
                    Ask::Http(request) => Ask::Http(request.with_timeout(timeout)),
                    other => other,
                };
                Provider::BuiltIn(builtin, ask)
            }
            (None, None) => return Err(OidcError::NoTokenSource.into()),
        };
        let mut context = CallbackContext::new(timeout, cx.options.clock.now());
        context.username = cx.credential.username().map(str::to_owned);
        context.idp_info = idp_info;
        context.refresh_token = refresh_token;
        self.state = State::Fetching(then);
        Ok(Action::Callback(CallbackRequest(Request::Token(Box::new(
            TokenRequest {
                client,
                provider,
                context,
                clock: cx.options.clock.clone(),
                human: human_flow(cx),
            },
        )))))
    }

    fn send_jwt(
        &mut self,
        cx: &mut Context<'_>,
        token: &Secret,
        generation: u64,
        on_refusal: OnRefusal,
    ) -> Action {
        self.connection_token = Some(generation);
        self.state = State::JwtSent(on_refusal);
        Action::Send(cx.sasl_start(MECHANISM, &jwt_payload(token), false))
    }

    /// Rule M3 (and L19, L20 on a refusal): the token this connection used leaves the client
    /// cache, unless another connection already replaced it (rule L18).
    fn invalidate_connection_token(&mut self, cx: &Context<'_>) {
        if let Some(generation) = self.connection_token.take() {
            self.client(cx.options).invalidate(generation);
        }
    }

    fn on_token(&mut self, cx: &mut Context<'_>, then: AfterToken, token: IssuedToken) -> Action {
        match then {
            AfterToken::OneStep(on_refusal) => {
                self.send_jwt(cx, &token.access_token, token.generation, on_refusal)
            }
            AfterToken::Continue => {
                self.connection_token = Some(token.generation);
                self.state = State::JwtContinued;
                Action::Send(cx.sasl_continue(&jwt_payload(&token.access_token)))
            }
        }
    }
}

fn human_flow(cx: &Context<'_>) -> bool {
    cx.credential.oidc_callback() == Some(Flow::Human)
}

impl Conversation for OidcLogin {
    /// Rule E4: a speculative one-step `saslStart` only with a cached token.
    fn speculative(&mut self, cx: &mut Context<'_>) -> Result<Option<RawDocumentBuf>> {
        if Self::check_allowed_host(cx).is_err() {
            return Ok(None);
        }
        let Some((token, generation)) = self.client(cx.options).access_token() else {
            return Ok(None);
        };
        self.connection_token = Some(generation);
        self.state = State::Speculative;
        Ok(Some(cx.speculative_sasl_start(
            MECHANISM,
            &jwt_payload(&token),
            false,
        )))
    }

    fn on_speculative_reply(
        &mut self,
        cx: &mut Context<'_>,
        reply: &RawDocument,
    ) -> Result<Option<Action>> {
        let sasl = cx.read_sasl(reply)?;
        self.state = State::Idle;
        if sasl.done {
            return Ok(Some(Action::Done));
        }
        // A reply that is not done is a login that did not happen: the spec clears the
        // Connection Cache and goes on with the normal login (which tries the cached token
        // again, rule E8).
        self.connection_token = None;
        Ok(None)
    }

    /// The start of rules L19 and L20 (and, after a speculative attempt the server did not
    /// take, rule E8: the cached token is tried again, not invalidated).
    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        Self::check_allowed_host(cx)?;
        let human = human_flow(cx);
        match self.client(cx.options).access_token() {
            Some((token, generation)) => {
                let on_refusal = if human {
                    OnRefusal::TryRefresh
                } else {
                    OnRefusal::FetchAndRetry
                };
                Ok(self.send_jwt(cx, &token, generation, on_refusal))
            }
            None if human => self.human_without_access_token(cx),
            None => self.request_token(cx, None, None, AfterToken::OneStep(OnRefusal::Raise)),
        }
    }

    fn on_reply(&mut self, cx: &mut Context<'_>, reply: &RawDocument) -> Result<Action> {
        match std::mem::take(&mut self.state) {
            State::JwtSent(_) | State::JwtContinued => {
                cx.read_sasl_expecting(reply, true)?;
                Ok(Action::Done)
            }
            State::PrincipalSent => {
                let payload = cx.read_sasl_expecting(reply, false)?;
                let idp_info = IdpInfo::from_bson(payload)?;
                self.request_token(cx, Some(idp_info), None, AfterToken::Continue)
            }
            State::Idle | State::Fetching(_) | State::Speculative => Err(Error::OutOfOrder {
                call: "handle_reply",
                state: "MONGODB-OIDC sent nothing",
            }),
        }
    }

    /// A refused token is not always the end: the flows retry once on 18 (rules L19, L20); any
    /// other error is raised as it is, the cache left alone (prose test 3.3).
    fn on_refusal(&mut self, cx: &mut Context<'_>, error: Error) -> Result<Action> {
        let refused = matches!(
            error,
            Error::Server {
                code: AUTHENTICATION_FAILED,
                ..
            }
        );
        let on_refusal = match self.state {
            State::JwtSent(on_refusal) if refused && on_refusal != OnRefusal::Raise => on_refusal,
            _ => return Err(error),
        };
        self.invalidate_connection_token(cx);
        match on_refusal {
            OnRefusal::FetchAndRetry => {
                self.request_token(cx, None, None, AfterToken::OneStep(OnRefusal::Raise))
            }
            OnRefusal::TryRefresh => self.human_without_access_token(cx),
            OnRefusal::TryTwoStep | OnRefusal::Raise => {
                self.client(cx.options).forget_refresh_token();
                Ok(self.start_two_step(cx))
            }
        }
    }

    fn on_callback(&mut self, cx: &mut Context<'_>, output: CallbackOutput) -> Result<Action> {
        let State::Fetching(then) = std::mem::take(&mut self.state) else {
            return Err(Error::OutOfOrder {
                call: "handle_callback",
                state: "MONGODB-OIDC asked for no token",
            });
        };
        match output.0 {
            Output::Token(output) => Ok(self.on_token(cx, then, output.0?)),
            #[allow(unreachable_patterns)]
            _ => Err(Error::OutOfOrder {
                call: "handle_callback",
                state: "MONGODB-OIDC asked for a token",
            }),
        }
    }

    fn on_failure(&mut self, _cx: &mut Context<'_>) {
        self.state = State::Idle;
    }

    fn before_reauthentication(&mut self, cx: &mut Context<'_>) {
        self.invalidate_connection_token(cx);
        self.state = State::Idle;
    }
}

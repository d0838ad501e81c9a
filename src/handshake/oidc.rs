//! The MONGODB-OIDC part of the [`Authenticator`]: the machine and human algorithms (rules L19,
//! L20), speculative authentication with a cached token (E4, E8) and re-authentication (M3).

use std::sync::Arc;

use bson::RawDocumentBuf;
use bson::raw::cstr;

use super::{Authenticator, Speculative, State, Step, sasl_start};
use crate::command::{check_ok, error_code, reply_document};
use crate::error::{AUTHENTICATION_FAILED, Error, OidcError, Result};
use crate::oidc::{
    BuiltIn, CALLBACK_VERSION, CallbackContext, Flow, HUMAN_CALLBACK_TIMEOUT, IdpInfo, IssuedToken,
    MACHINE_CALLBACK_TIMEOUT, MECHANISM, OidcClient, Provider, TokenRequest, host_allowed,
    jwt_payload, principal_payload,
};
use crate::secret::Secret;

/// The connection cache (rule L16): which cached token this connection authenticated with, by
/// generation, so re-authentication invalidates that one and no newer one (rule L18).
pub(super) struct OidcLogin {
    client: Arc<OidcClient>,
    connection_token: Option<u64>,
}

impl OidcLogin {
    pub(super) fn new(client: Option<Arc<OidcClient>>) -> Self {
        OidcLogin {
            client: client.unwrap_or_default(),
            connection_token: None,
        }
    }
}

/// What a refused token (error 18) leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnRefusal {
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

/// What the token the authenticator asked for is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterToken {
    /// A one-step `saslStart`.
    OneStep(OnRefusal),
    /// The `saslContinue` of the two-step conversation.
    Continue,
}

impl Authenticator {
    fn oidc_login(&self) -> Result<&OidcLogin> {
        self.oidc.as_ref().ok_or(Error::OutOfOrder {
            call: "handle_token",
            state: "not a MONGODB-OIDC login",
        })
    }

    fn human_flow(&self) -> bool {
        self.credential
            .oidc_callback()
            .is_some_and(|c| c.flow == Flow::Human)
    }

    /// Rule L6: the human flow sends tokens only to allowed hosts, and calls no callback for
    /// another.
    fn check_allowed_host(&self) -> Result<()> {
        if !self.human_flow() {
            return Ok(());
        }
        let allowed = self.credential.oidc_allowed_hosts();
        match &self.options.host {
            Some(host) if host_allowed(host, &allowed) => Ok(()),
            Some(host) => Err(OidcError::HostNotAllowed {
                host: host.clone(),
                allowed: allowed.iter().map(|h| (*h).to_owned()).collect(),
            }
            .into()),
            None => Err(OidcError::NoServerHost.into()),
        }
    }

    /// Rule E4: a speculative one-step `saslStart` only with a cached token.
    pub(super) fn oidc_speculative(&mut self) -> Option<(RawDocumentBuf, Speculative)> {
        if self.check_allowed_host().is_err() {
            return None;
        }
        let login = self.oidc.as_mut()?;
        let (token, generation) = login.client.access_token()?;
        login.connection_token = Some(generation);
        let mut command = sasl_start(MECHANISM, &jwt_payload(&token), false);
        command.append(cstr!("db"), self.credential.source());
        Some((command, Speculative::Oidc))
    }

    /// Rule M3: the token this connection used is invalidated before it logs in again.
    pub(super) fn invalidate_connection_token(&mut self) {
        if let Some(login) = &mut self.oidc
            && let Some(generation) = login.connection_token.take()
        {
            login.client.invalidate(generation);
        }
    }

    /// The start of rules L19 and L20 (and, after a speculative attempt the server did not take,
    /// rule E8: the cached token is tried again, not invalidated).
    pub(super) fn start_oidc(&mut self) -> Result<Step> {
        self.check_allowed_host()?;
        let cached = self.oidc_login()?.client.access_token();
        let human = self.human_flow();
        match cached {
            Some((token, generation)) => {
                let on_refusal = if human {
                    OnRefusal::TryRefresh
                } else {
                    OnRefusal::FetchAndRetry
                };
                Ok(self.send_jwt(&token, generation, on_refusal))
            }
            None if human => self.human_without_access_token(),
            None => self.request_token(None, None, AfterToken::OneStep(OnRefusal::Raise)),
        }
    }

    /// Rule L20 steps 2 and 3.
    fn human_without_access_token(&mut self) -> Result<Step> {
        match self.oidc_login()?.client.refresh_token() {
            Some((refresh_token, idp_info)) => self.request_token(
                Some(idp_info),
                Some(refresh_token),
                AfterToken::OneStep(OnRefusal::TryTwoStep),
            ),
            None => Ok(self.start_two_step()),
        }
    }

    fn start_two_step(&mut self) -> Step {
        self.conversation_id = None;
        self.state = State::OidcPrincipalSent;
        let payload = principal_payload(self.credential.username());
        self.send(sasl_start(MECHANISM, &payload, false))
    }

    pub(super) fn request_token(
        &mut self,
        idp_info: Option<IdpInfo>,
        refresh_token: Option<Secret>,
        then: AfterToken,
    ) -> Result<Step> {
        let client = self.oidc_login()?.client.clone();
        let properties = self.credential.mechanism_properties();
        let provider = match (
            self.credential.oidc_callback(),
            properties.get("ENVIRONMENT"),
        ) {
            (Some(setting), _) => Provider::Callback(setting.callback.clone()),
            (None, Some(environment)) => {
                let (builtin, ask) = BuiltIn::ask(
                    environment,
                    properties.get("TOKEN_RESOURCE"),
                    self.credential.username(),
                    self.options.environment.as_ref(),
                    self.options.oidc_metadata_endpoint.as_deref(),
                )?;
                Provider::BuiltIn(builtin, ask)
            }
            (None, None) => {
                return Err(OidcError::NoTokenSource.into());
            }
        };
        let timeout = if self.human_flow() {
            HUMAN_CALLBACK_TIMEOUT
        } else {
            self.options
                .oidc_machine_timeout
                .unwrap_or(MACHINE_CALLBACK_TIMEOUT)
        };
        let context = CallbackContext {
            timeout,
            deadline: self.options.clock.now() + timeout,
            version: CALLBACK_VERSION,
            username: self.credential.username().map(str::to_owned),
            idp_info,
            refresh_token,
        };
        self.state = State::OidcFetching(then);
        Ok(Step::Token(TokenRequest {
            client,
            provider,
            context,
            clock: self.options.clock.clone(),
        }))
    }

    /// Takes the token of a [`Step::Token`] request.
    pub fn handle_token(&mut self, token: IssuedToken) -> Result<Step> {
        let then = match std::mem::replace(&mut self.state, State::Failed) {
            State::OidcFetching(then) => then,
            other => {
                self.state = other;
                return Err(self.out_of_order("handle_token"));
            }
        };
        let step = match then {
            AfterToken::OneStep(on_refusal) => {
                self.send_jwt(&token.access_token, token.generation, on_refusal)
            }
            AfterToken::Continue => {
                if let Some(login) = &mut self.oidc {
                    login.connection_token = Some(token.generation);
                }
                self.state = State::OidcJwtContinued;
                self.send(self.sasl_continue(&jwt_payload(&token.access_token)))
            }
        };
        Ok(step)
    }

    fn send_jwt(&mut self, token: &Secret, generation: u64, on_refusal: OnRefusal) -> Step {
        if let Some(login) = &mut self.oidc {
            login.connection_token = Some(generation);
        }
        self.conversation_id = None;
        self.state = State::OidcJwtSent(on_refusal);
        self.send(sasl_start(MECHANISM, &jwt_payload(token), false))
    }

    /// The reply to a one-step `saslStart`: done, or refused and retried as the flow says, or an
    /// error raised as it is (rule L19: only 18 leads to a retry; prose test 3.3).
    pub(super) fn on_oidc_jwt_reply(
        &mut self,
        reply: &[u8],
        on_refusal: OnRefusal,
    ) -> Result<Step> {
        let doc = reply_document(reply)?;
        if on_refusal != OnRefusal::Raise && error_code(reply) == Some(AUTHENTICATION_FAILED) {
            self.invalidate_connection_token();
            return match on_refusal {
                OnRefusal::FetchAndRetry => {
                    self.request_token(None, None, AfterToken::OneStep(OnRefusal::Raise))
                }
                OnRefusal::TryRefresh => self.human_without_access_token(),
                _ => {
                    self.oidc_login()?.client.forget_refresh_token();
                    Ok(self.start_two_step())
                }
            };
        }
        check_ok(doc)?;
        self.last_reply = reply.to_vec();
        self.read_sasl_reply(doc, true)?;
        Ok(self.done())
    }
}

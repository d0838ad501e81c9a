//! MONGODB-X509 as the authenticator drives it: one `authenticate` command (rules H1 to H3),
//! inside `hello` when speculative authentication is on, so a login costs no round trip after
//! it. The identity is the client certificate of the TLS layer.

use bson::{RawDocument, RawDocumentBuf};

use super::conversation::{Action, Context, Conversation};
use crate::error::Result;
use crate::x509::authenticate_command;

pub(super) struct X509Login;

impl Conversation for X509Login {
    fn speculative(&mut self, cx: &mut Context<'_>) -> Result<Option<RawDocumentBuf>> {
        Ok(Some(authenticate_command(cx.credential.username())))
    }

    /// The server's `{dbname, user}` for the certificate (an empty document never gets here:
    /// the authenticator reads it as no attempt taken).
    fn on_speculative_reply(
        &mut self,
        _cx: &mut Context<'_>,
        _reply: &RawDocument,
    ) -> Result<Option<Action>> {
        Ok(Some(Action::Done))
    }

    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        Ok(Action::Send(authenticate_command(cx.credential.username())))
    }

    fn on_reply(&mut self, _cx: &mut Context<'_>, _reply: &RawDocument) -> Result<Action> {
        Ok(Action::Done)
    }
}

//! PLAIN as the authenticator drives it: one `saslStart` with the password, `done` in the reply
//! (rule I1). Never inside `hello`.

use bson::RawDocument;

use super::conversation::{Action, Context, Conversation};
use crate::error::{Error, Result};
use crate::plain;

pub(super) struct PlainLogin;

impl Conversation for PlainLogin {
    fn start(&mut self, cx: &mut Context<'_>) -> Result<Action> {
        let username = cx.credential.username().unwrap_or_default();
        let password = cx
            .credential
            .password()
            .ok_or_else(|| Error::credential("PLAIN", "a password is required to authenticate"))?;
        let payload = plain::payload(username, password);
        Ok(Action::Send(cx.sasl_start("PLAIN", &payload, false)))
    }

    fn on_reply(&mut self, cx: &mut Context<'_>, reply: &RawDocument) -> Result<Action> {
        cx.read_sasl_expecting(reply, true)?;
        Ok(Action::Done)
    }
}

//! The server side of PLAIN (RFC 4616): `[authzid] NUL user NUL password` in one `saslStart`,
//! checked against the user's SCRAM verifiers by a job (two PBKDF2 derivations: one per
//! variant, the decoy's standing in for what the user lacks, so every refusal costs the same).
//! As mongod takes it, only on `$external`: anywhere else it is refused before any derivation,
//! so PLAIN is no cheaper way than SCRAM to make the server work.

use super::conversation::{ServerContext, ServerConversation, Verdict};
use super::job::{Job, JobOutput, Output, Work};
use crate::secret::Secret;

/// The mechanism name.
pub(crate) const MECHANISM: &str = "PLAIN";

/// Splits a PLAIN payload, `[authzid] NUL user NUL password` (RFC 4616), into the user and the
/// password. An authzid, if any, must name the user. `None` for anything else.
pub fn split_plain_payload(payload: &[u8]) -> Option<(&str, Secret)> {
    let mut parts = payload.split(|&b| b == 0);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(authzid), Some(user), Some(password), None) => {
            let user = std::str::from_utf8(user).ok()?;
            let password = std::str::from_utf8(password).ok()?;
            (authzid.is_empty() || authzid == user.as_bytes())
                .then(|| (user, Secret::new(password)))
        }
        _ => None,
    }
}

/// One PLAIN conversation: the user it checks, once the job is out.
pub(crate) struct PlainConversation {
    user: Option<(String, bool)>,
}

impl PlainConversation {
    pub(crate) fn new() -> Self {
        PlainConversation { user: None }
    }
}

impl ServerConversation for PlainConversation {
    fn mechanism(&self) -> &'static str {
        MECHANISM
    }

    fn start(&mut self, cx: &ServerContext<'_>, payload: &[u8]) -> Verdict {
        let Some((user, password)) = split_plain_payload(payload) else {
            return Verdict::refused("", "malformed PLAIN payload");
        };
        if cx.db != "$external" {
            return Verdict::refused(user, "PLAIN is taken only on $external");
        }
        let decoy = cx.config.decoy_user();
        let known = cx.config.users.get(cx.db, user);
        self.user = Some((user.to_owned(), known.is_some()));
        Verdict::Job(Job::new(Work::Plain {
            user: known.cloned().map(Box::new),
            decoy: Box::new(decoy),
            password,
        }))
    }

    fn next(&mut self, _cx: &ServerContext<'_>, _payload: &[u8]) -> Verdict {
        Verdict::refused("", "PLAIN is one step")
    }

    fn on_job(&mut self, _cx: &ServerContext<'_>, output: JobOutput) -> Verdict {
        let (Some((user, known)), Output::Plain(verified)) = (self.user.take(), output.output)
        else {
            return Verdict::refused("", "a job output PLAIN did not ask for");
        };
        match (known, verified) {
            (true, true) => Verdict::Authenticated {
                user,
                payload: Vec::new(),
                expires: None,
            },
            (true, false) => Verdict::refused(user, "wrong password"),
            (false, _) => Verdict::refused(user, "unknown user"),
        }
    }
}

//! Ways to make the embedded server misbehave, for tests of clients only: each one breaks a
//! promise a real server keeps. Fenced off here, as rustls fences its `danger` module.
//!
//! ```
//! use mongodb_auth::server::danger::{FailCommand, Misbehavior};
//!
//! // The next `ping`, on whichever connection, gets ReauthenticationRequired.
//! let misbehavior = Misbehavior::FailCommand(FailCommand::new(["ping"], 391).times(1));
//! # let _ = misbehavior;
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

/// Ways the server can be told to misbehave, to test that clients notice.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehavior {
    /// Send a wrong SCRAM server signature (`v=`) after accepting the client's proof: a client
    /// must fail mutual authentication.
    WrongServerSignature,
    /// Answer chosen commands with a chosen error, as mongod's `failCommand` fail point does.
    FailCommand(FailCommand),
}

/// Which commands fail, with which code, how many times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailCommand {
    commands: Vec<String>,
    code: i32,
    times: u32,
}

impl FailCommand {
    /// Every command named in `commands` is answered with error `code`, until
    /// [`times`](Self::times) runs out (default: once).
    pub fn new<S: Into<String>>(commands: impl IntoIterator<Item = S>, code: i32) -> Self {
        FailCommand {
            commands: commands.into_iter().map(Into::into).collect(),
            code,
            times: 1,
        }
    }

    /// How many failures in all, across every connection of the server.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }
}

/// A [`FailCommand`] as a running server counts it down.
#[derive(Debug)]
pub(crate) struct ArmedFailPoint {
    rule: FailCommand,
    remaining: AtomicU32,
}

impl ArmedFailPoint {
    pub(crate) fn new(rule: FailCommand) -> Self {
        let remaining = AtomicU32::new(rule.times);
        ArmedFailPoint { rule, remaining }
    }

    /// The code and name to answer `command` with, if it is to fail now.
    pub(crate) fn fire(&self, command: &str) -> Option<(i32, &'static str)> {
        if !self.rule.commands.iter().any(|c| c == command) {
            return None;
        }
        self.remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()?;
        Some((self.rule.code, code_name(self.rule.code)))
    }
}

fn code_name(code: i32) -> &'static str {
    match code {
        18 => "AuthenticationFailed",
        20 => "IllegalOperation",
        391 => "ReauthenticationRequired",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_the_given_number_of_times_for_the_named_commands() {
        let armed = ArmedFailPoint::new(FailCommand::new(["find", "ping"], 391).times(2));
        assert_eq!(armed.fire("hello"), None);
        assert_eq!(armed.fire("ping"), Some((391, "ReauthenticationRequired")));
        assert_eq!(armed.fire("find"), Some((391, "ReauthenticationRequired")));
        assert_eq!(armed.fire("ping"), None);
    }
}

//! Blocking work of the server's conversations: the two PBKDF2 derivations of a PLAIN check, the
//! calls into a GSS acceptor. The session hands each one out; the embedding server runs it where
//! blocking is allowed (its blocking pool) and passes the output back.

use std::fmt;

use super::gssapi::{GssDone, GssWork};
use super::users::{User, verify_plain};
use crate::secret::Secret;

/// Blocking work for the embedding server: [`run`](Self::run) it, then pass the output to
/// [`Session::handle_job`](super::Session::handle_job).
pub struct Job(pub(crate) Work);

pub(crate) enum Work {
    /// A PLAIN password against the user's verifiers (or the decoy's, for what it lacks).
    Plain {
        user: Option<Box<User>>,
        decoy: Box<User>,
        password: Secret,
    },
    /// A call into a GSS acceptor context.
    Gssapi(GssWork),
}

impl Job {
    /// Does the work.
    pub fn run(self) -> JobOutput {
        JobOutput(match self.0 {
            Work::Plain {
                user,
                decoy,
                password,
            } => Output::Plain(verify_plain(user.as_deref(), &password, &decoy)),
            Work::Gssapi(work) => Output::Gssapi(work.run()),
        })
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Work::Plain { .. } => f.write_str("Job(PLAIN check)"),
            Work::Gssapi(_) => f.write_str("Job(GSS acceptor call)"),
        }
    }
}

/// What a [`Job`] produced.
pub struct JobOutput(pub(crate) Output);

pub(crate) enum Output {
    /// Whether the PLAIN password is right.
    Plain(bool),
    Gssapi(GssDone),
}

impl fmt::Debug for JobOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Output::Plain(_) => f.write_str("JobOutput(PLAIN verdict)"),
            Output::Gssapi(_) => f.write_str("JobOutput(GSS)"),
        }
    }
}

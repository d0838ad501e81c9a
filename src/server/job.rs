//! Blocking work of the server's conversations: the two PBKDF2 derivations of a PLAIN check, the
//! calls into a GSS acceptor. The session hands each one out; the embedding server runs it where
//! blocking is allowed (its blocking pool) and passes the output back.

use std::fmt;

use super::gssapi::{GssDone, GssWork};
use super::users::{User, verify_plain};
use crate::secret::Secret;

/// Blocking work for the embedding server: [`run`](Self::run) it, then pass the output to
/// [`Session::handle_job`](super::Session::handle_job) of the session that handed it out.
pub struct Job {
    work: Work,
    ticket: Ticket,
}

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

/// Which job an output is of, unique in the process: a PLAIN verdict or a GSS context says
/// nothing of the login that asked for it, so a session refuses an output whose ticket is not
/// the pending job's (one of an earlier conversation, or of another session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl Job {
    pub(crate) fn new(work: Work) -> Job {
        Job {
            work,
            ticket: Ticket(crate::scram::next_job()),
        }
    }

    pub(crate) fn ticket(&self) -> Ticket {
        self.ticket
    }

    /// Does the work.
    pub fn run(self) -> JobOutput {
        let output = match self.work {
            Work::Plain {
                user,
                decoy,
                password,
            } => Output::Plain(verify_plain(user.as_deref(), &password, &decoy)),
            Work::Gssapi(work) => Output::Gssapi(work.run()),
        };
        JobOutput {
            output,
            ticket: self.ticket,
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.work {
            Work::Plain { .. } => f.write_str("Job(PLAIN check)"),
            Work::Gssapi(_) => f.write_str("Job(GSS acceptor call)"),
        }
    }
}

/// What a [`Job`] produced.
pub struct JobOutput {
    pub(crate) output: Output,
    pub(crate) ticket: Ticket,
}

pub(crate) enum Output {
    /// Whether the PLAIN password is right.
    Plain(bool),
    Gssapi(GssDone),
}

impl fmt::Debug for JobOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.output {
            Output::Plain(_) => f.write_str("JobOutput(PLAIN verdict)"),
            Output::Gssapi(_) => f.write_str("JobOutput(GSS)"),
        }
    }
}

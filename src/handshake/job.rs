//! Work a login needs that may take a while on a CPU or in a library: PBKDF2, a call into the
//! GSS context (which may talk to the KDC). The caller runs it where slow work belongs (inline,
//! or on a blocking pool in async code) and passes the output back.

use std::fmt;

use crate::gssapi::{GssDone, GssJob};
use crate::scram::{KeyDerivation, ScramKeys};

/// Blocking work for the caller to run: [`run`](Self::run) it, then pass the output to
/// [`Authenticator::handle_job`](super::Authenticator::handle_job).
#[non_exhaustive]
pub enum Job {
    /// SCRAM's PBKDF2 (skipped when the key cache has the keys).
    DeriveKey(KeyDerivation),
    /// A call into the GSS context.
    Gssapi(GssJob),
}

impl Job {
    /// Does the work.
    pub fn run(self) -> JobOutput {
        JobOutput(match self {
            Job::DeriveKey(derivation) => Output::Keys(derivation.run()),
            Job::Gssapi(job) => Output::Gss(job.run()),
        })
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Job::DeriveKey(derivation) => f.debug_tuple("DeriveKey").field(derivation).finish(),
            Job::Gssapi(job) => f.debug_tuple("Gssapi").field(job).finish(),
        }
    }
}

/// What a [`Job`] produced.
pub struct JobOutput(pub(crate) Output);

pub(crate) enum Output {
    Keys(ScramKeys),
    Gss(GssDone),
}

impl From<ScramKeys> for JobOutput {
    /// Keys a caller derived itself (from its own cache, say): the authenticator checks they
    /// come from the derivation it asked for.
    fn from(keys: ScramKeys) -> Self {
        JobOutput(Output::Keys(keys))
    }
}

impl fmt::Debug for JobOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Output::Keys(_) => f.write_str("JobOutput(keys)"),
            Output::Gss(done) => f.debug_tuple("JobOutput").field(done).finish(),
        }
    }
}

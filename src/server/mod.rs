//! The server side of the conversations (feature `server`), without I/O: what the embedded
//! server of `mongodb-auth-server` verifies, and what a proxy can embed the same way.
//!
//! [`StoredCredential`] and [`User`] hold SCRAM verifiers (never passwords), and [`Session`]
//! turns one connection's commands into replies.
//!
//! A session answers `hello`/`isMaster` (OP_MSG, and OP_QUERY for the legacy handshake) as a
//! MongoDB 7.0 standalone, checking the client metadata as mongod does, with a
//! `topologyVersion` that never changes (an awaitable `hello` waits its `maxAwaitTimeMS`, and
//! streams to a monitor that allows exhaust, as [`SessionStep::Stream`]);
//! `saslStart`/`saslContinue`
//! (SCRAM-SHA-1, SCRAM-SHA-256, and PLAIN on `$external`) with `speculativeAuthenticate` and
//! `saslSupportedMechs`, `ping`, `buildInfo`, `endSessions` and `connectionStatus`;
//! MONGODB-X509, MONGODB-AWS, MONGODB-OIDC and GSSAPI when configured. An authenticated client
//! may `insert` documents, which are kept in memory ([`StoreLimits`]), `find` them with an empty
//! filter and `drop` them; with test commands enabled, `configureFailPoint` arms
//! [`danger::FailCommand`]. Any other command is `Unauthorized` (13) before authentication and
//! `CommandNotFound` (59) after.

#[cfg(feature = "aws")]
pub mod aws;
mod conversation;
pub mod danger;
pub mod gssapi;
mod job;
#[cfg(feature = "oidc")]
pub mod oidc;
mod plain;
mod scram;
mod session;
mod store;
mod users;
mod x509;

/// What the fuzz targets reach of the server (see `crate::fuzzing`).
pub(crate) mod fuzzing {
    #[cfg(feature = "aws")]
    pub use super::aws::{ClientRequest, read_client_final};
    #[cfg(feature = "oidc")]
    pub use super::oidc::{ClientStep, read_client_step};
    pub use super::plain::split_plain_payload;
    pub use super::scram::{
        AwaitingClientFinal, ClientFirstMessage, Refusal, receive_client_first,
    };
    pub use super::session::settle_inline;
}

#[cfg(feature = "aws")]
pub use aws::AwsSettings;
pub use job::{Job, JobOutput};
pub use session::{
    AuthEvent, AuthLog, AuthenticatedUser, DangerousSessionConfig, MAX_WIRE_VERSION,
    SERVER_VERSION, Session, SessionConfig, SessionStep,
};
pub use store::StoreLimits;
pub use users::{
    DEFAULT_SHA1_ITERATIONS, DEFAULT_SHA256_ITERATIONS, StoredCredential, User, UserStore,
};

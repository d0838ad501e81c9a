//! MongoDB authentication as sans-IO state machines.
//!
//! The crate turns a connection string into a validated [`Credential`] and runs the
//! authentication conversations as pure state machines: server bytes in, client bytes and the
//! next state out. Nothing below the adapters does I/O, reads the clock or draws randomness that
//! the caller cannot replace.
//!
//! ```
//! use mongodb_auth::{AuthMechanism, ConnectionString};
//!
//! let cs = ConnectionString::parse(
//!     "mongodb://alice:pencil@db.example.com/?authMechanism=SCRAM-SHA-256&authSource=admin",
//! )?;
//! let credential = cs.credential().expect("userinfo configures a credential");
//! assert_eq!(credential.mechanism(), Some(AuthMechanism::ScramSha256));
//! assert_eq!(credential.source(), "admin");
//! // Secrets never print.
//! assert!(!format!("{cs:?} {cs}").contains("pencil"));
//! # Ok::<(), mongodb_auth::Error>(())
//! ```
//!
//! This crate is the core a driver embeds: it does no I/O under any of its features, never
//! blocks or sleeps, and reads no clock and draws no randomness that the caller cannot replace.
//! What is slow or needs the outside world is handed to the caller: a job to run (PBKDF2, a
//! GSS call), an ask to answer (a file, a process, an HTTP exchange, a DNS lookup), or the
//! caller's own callback. The crates above it do the I/O, and depend on it, never the reverse:
//!
//! | crate | what it adds |
//! | --- | --- |
//! | `mongodb-auth-cli` | the `mongodb-auth` command: demo, serve, connect, parse, aws-credentials |
//! | `mongodb-auth-server` | the embedded server: listener, TLS, STS over HTTP, an identity provider's keys |
//! | `mongodb-auth-io` | the blocking and tokio adapters: TCP, TLS (rustls), DNS (hickory), HTTP, processes, Kerberos |
//! | **`mongodb-auth`** (this crate) | everything below, without I/O |
//!
//! Inside this crate, from the bottom (each layer uses only those below it):
//!
//! | layer | modules |
//! | --- | --- |
//! | server side of the conversations (feature `server`) | `server` |
//! | negotiation, speculative auth, SASL flow, re-authentication | [`handshake`] |
//! | mechanisms | [`scram`], [`plain`], [`x509`], `aws`, `oidc`, [`gssapi`] |
//! | what the machines ask their callers (files, processes, HTTP, DNS) | [`ask`] |
//! | one command, one message | [`command`], [`wire`] |
//! | connection strings and credentials | [`uri`], [`credential`] |
//! | foundations | [`error`], [`Secret`], [`random`], [`environment`] (variables, clock) |
//!
//! Knobs that exist only for tests (forced nonces, a misbehaving server) are fenced off behind
//! [`AuthOptions::dangerous`] and the server's `dangerous()` accessors.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ask;
#[cfg(feature = "aws")]
pub mod aws;
pub mod callback;
pub mod command;
pub mod credential;
pub mod environment;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gssapi;
pub mod handshake;
#[cfg(feature = "oidc")]
pub mod oidc;
pub mod plain;
pub mod random;
pub mod scram;
mod secret;
#[cfg(feature = "server")]
pub mod server;
pub mod uri;
pub mod wire;
pub mod x509;

pub use command::Command;
pub use credential::{
    AuthMechanism, Credential, CredentialOptions, ExplicitAwsCredentials, MechanismProperties,
};
pub use error::{
    AwsError, CertificateProblem, Error, ErrorKind, GssapiError, OidcError, ProtocolViolation,
    Result, ScramError, TlsError, WireError,
};
pub use handshake::{
    AuthOptions, Authenticator, CallbackOutput, CallbackRequest, Job, JobOutput, Outcome, Step,
};
pub use scram::{KeyDerivation, ScramKeyCache, ScramKeys, ScramVariant};
pub use secret::{REDACTED, Secret};
pub use uri::{
    ConnectionString, Host, ParseOptions, SrvQuery, SrvRecord, TlsOptions, TxtRecord, UriOption,
    Warning,
};

/// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

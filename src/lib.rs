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
//! # What a driver uses
//!
//! A driver with its own sockets, framing and runtime needs these, and nothing else:
//!
//! - **Configuration.** [`ConnectionString`] (`mongodb://` and `mongodb+srv://`; for the latter,
//!   [`SrvQuery`], [`SrvRecord`] and [`TxtRecord`] carry the lookups the driver does),
//!   [`CredentialOptions`] for what is set in code, and the validated [`Credential`] with its
//!   [`AuthMechanism`] and [`MechanismProperties`]. Passwords and tokens are [`Secret`]s.
//! - **The login.** [`AuthOptions`] (one per client, `Clone + Send + Sync`, cloned into each
//!   connection) and an [`Authenticator`] per connection: its `hello` fields, then a [`Step`]
//!   per reply until [`Outcome`]. A step is a [`Command`] to send (BSON bytes, for any `bson`
//!   version), a [`Job`] to run and hand back as [`JobOutput`], an [`Ask`](ask::Ask) to answer
//!   with an [`Answer`](ask::Answer), or a [`CallbackRequest`] to run on the driver's
//!   [`Runtime`](callback::Runtime) and hand back as [`CallbackOutput`]. The loop is in
//!   [`handshake`]'s example.
//! - **What connections share.** [`ScramKeyCache`], and with features `oidc` and `aws`:
//!   `oidc::OidcClient` with the caller's `oidc::Callback` returning `oidc::Token`s, and
//!   `aws::CredentialCache` with an optional `aws::CredentialProvider` returning
//!   `aws::Credentials`.
//! - **Errors.** [`Error`] and [`ErrorKind`] ([`Error::kind`] says whether a retry may help;
//!   [`Error::has_label`] reads the server's labels); [`error::REAUTHENTICATION_REQUIRED`] (391)
//!   is the code after which the driver runs the same authenticator again.
//! - **What it replaces, if it wants to.** [`environment::Environment`] and
//!   [`environment::Clock`] (variables and time), [`random::SecureRandom`], and for GSSAPI a
//!   [`gssapi::GssProvider`].
//!
//! # What a tool uses
//!
//! Everything else is for tools, tests and proxies: [`wire`] (framing of whole messages),
//! [`command`] (building and checking commands and replies), the mechanisms' own machines
//! ([`scram::ScramClient`], [`plain`], [`x509`], `aws::ClientFirst` and the credential chain
//! `aws::CredentialChain` that says where credentials come from, the OIDC flows), the
//! connection-string details of [`uri`] (each option, warnings), and with feature `server` the
//! server side of every conversation (`server::Session`, `server::UserStore`), which the
//! embedded server of `mongodb-auth-server` runs and a proxy can embed the same way.
//!
//! Inside this crate, from the bottom (each layer uses only those below it):
//!
//! | layer | modules |
//! | --- | --- |
//! | server side of the conversations (feature `server`) | `server` |
//! | negotiation, speculative auth, SASL flow, re-authentication | [`handshake`] |
//! | mechanisms | [`scram`], [`plain`], [`x509`], `aws`, `oidc`, [`gssapi`] |
//! | what the machines ask their callers (files, processes, HTTP, DNS), and run of theirs | [`ask`], [`callback`] |
//! | one command, one message | [`command`], [`wire`] |
//! | connection strings and credentials | [`uri`], [`credential`] |
//! | foundations | [`error`], [`Secret`], [`random`], [`environment`] (variables, clock) |
//!
//! Knobs that exist only for tests (forced nonces, a misbehaving server) are fenced off behind
//! [`AuthOptions::dangerous`] and the server's `dangerous()` accessors.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
// Nothing a peer, a file or a caller sends may panic this crate: no indexing, slicing or
// unwrapping outside tests. An invariant that holds whatever the input says so with
// `unreachable!` and why.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

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

#[cfg(test)]
mod test_support;

pub use command::{Command, GenericArguments, ServerApi, ServerApiVersion};
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
pub use secret::{REDACTED, Secret, write_at_final_size};
pub use uri::{
    ConnectionString, Host, ParseOptions, SrvQuery, SrvRecord, TlsOptions, TxtRecord, UriOption,
    Warning,
};

/// The README's example is compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

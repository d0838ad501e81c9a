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
//! Layers, from the bottom (each one uses only those below it):
//!
//! | layer | modules |
//! | --- | --- |
//! | the command (feature `cli`) | `src/bin` |
//! | adapters (features `blocking`, `tokio`) | [`adapter`] (what both share), `blocking`, `tokio` |
//! | embedded server (feature `server`) | `server` |
//! | TLS configuration and certificates (feature `tls`) | `tls`, `devpki` |
//! | *no I/O below this line* | |
//! | negotiation, speculative auth, SASL flow, re-authentication | [`handshake`] |
//! | mechanisms | [`scram`], [`plain`], [`x509`] (with `tls`: certificate subjects), `aws`, `oidc`, [`gssapi`] |
//! | what the machines ask their callers (files, processes, HTTP, DNS) | [`ask`] |
//! | one command, one message | [`command`], [`wire`] |
//! | connection strings and credentials | [`uri`], [`credential`] |
//! | foundations | [`error`], [`Secret`], [`random`], [`environment`] (variables, clock) |
//!
//! Knobs that exist only for tests (forced nonces, a misbehaving server) are fenced off in
//! [`danger`] and `server::danger`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(feature = "blocking", feature = "tokio"))]
pub mod adapter;
pub mod ask;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod command;
pub mod credential;
pub mod danger;
#[cfg(feature = "devpki")]
pub mod devpki;
pub mod environment;
pub mod error;
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
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod uri;
pub mod wire;
pub mod x509;

pub use command::Command;
pub use credential::{
    AuthMechanism, Credential, CredentialOptions, ExplicitAwsCredentials, MechanismProperties,
};
pub use error::{
    AwsError, CertificateProblem, Error, ErrorKind, Result, ScramError, TlsError, WireError,
};
pub use handshake::{AuthOptions, Authenticator, Outcome, Step};
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

//! The embedded MongoDB authentication server: a tokio listener (TLS with rustls) around the
//! server-side machines of [`mongodb_auth::server`], with the I/O they need: the blocking pool
//! for their jobs, HTTP for their asks (STS for MONGODB-AWS), an identity provider's keys for
//! MONGODB-OIDC ([`jwks`]), the users file `mongodb-auth serve` reads ([`users_file`]), and,
//! with feature `devpki`, a throwaway certificate authority and token issuer for demos and
//! tests.
//!
//! A server on a free port of this machine, and a login to it with the blocking adapter:
//!
//! ```
//! use mongodb_auth::random::SystemRandom;
//! use mongodb_auth::server::{User, UserStore};
//! use mongodb_auth::{ScramVariant, Secret};
//! use mongodb_auth_io::ConnectOptions;
//! use mongodb_auth_server::{Server, ServerConfig};
//!
//! let mut users = UserStore::new();
//! users.insert(User::new("admin", "alice", &Secret::new("pencil"), &[ScramVariant::Sha256], &mut SystemRandom)?);
//! let runtime = tokio::runtime::Runtime::new()?;
//! let server = runtime.block_on(Server::bind("127.0.0.1:0", ServerConfig::new(users)))?;
//!
//! let uri = format!("mongodb://alice:pencil@{}/", server.local_addr());
//! let mut connection = mongodb_auth_io::blocking::connect(uri.as_str(), ConnectOptions::default())?;
//! assert_eq!(connection.authenticated_users()?, [("alice".to_owned(), "admin".to_owned())]);
//! runtime.block_on(server.shutdown());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
// As in the core: no input may panic this crate.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

#[cfg(feature = "devpki")]
pub mod devpki;
pub mod jwks;
mod net;
pub mod users_file;

/// The rustls of [`ServerConfig::tls`]'s configuration (the same as `mongodb_auth_io::rustls`).
pub use mongodb_auth_io::rustls;
pub use net::{DangerousServerConfig, Server, ServerConfig};

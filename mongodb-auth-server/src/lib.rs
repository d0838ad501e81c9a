//! The embedded MongoDB authentication server: a tokio listener (TLS with rustls) around the
//! server-side machines of [`mongodb_auth::server`], with the I/O they need: the blocking pool
//! for their jobs, HTTP for their asks (STS for MONGODB-AWS), an identity provider's keys for
//! MONGODB-OIDC ([`jwks`]), and, with feature `devpki`, a throwaway certificate authority and
//! token issuer for demos and tests.
//!
//! ```
//! # async fn run() -> std::io::Result<()> {
//! use mongodb_auth::random::SystemRandom;
//! use mongodb_auth::server::{User, UserStore};
//! use mongodb_auth::{ScramVariant, Secret};
//! use mongodb_auth_server::{Server, ServerConfig};
//!
//! let mut users = UserStore::new();
//! users.insert(User::new("admin", "alice", &Secret::new("pencil"), &[ScramVariant::Sha256], &mut SystemRandom).unwrap());
//! let server = Server::bind("127.0.0.1:0", ServerConfig::new(users)).await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]
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

pub use net::{DangerousServerConfig, Server, ServerConfig};

//! The I/O half of [`mongodb_auth`]: adapters that drive its sans-IO machines over real sockets,
//! and answer what the machines ask for.
//!
//! ```no_run
//! use mongodb_auth_io::{ConnectOptions, blocking};
//!
//! let mut connection = blocking::connect("mongodb://alice:pencil@127.0.0.1:27017/", ConnectOptions::default())?;
//! println!("authenticated as {:?}", connection.authenticated_users()?);
//! # Ok::<(), mongodb_auth::Error>(())
//! ```
//!
//! | module | what it does |
//! | --- | --- |
//! | [`blocking`], [`tokio`] | each adapter's I/O: sockets, the TLS handshake, where jobs and callbacks run |
//! | [`Connector`] | what a client keeps between connections: TLS (and its sessions), seeds, caches |
//! | `shell` | what both do, written once: hosts in order, TLS, the next host, the login loop, re-authentication |
//! | `login` | the I/O-free login of a connection: the `hello`, the authenticator, events |
//! | [`answer`] | the machines' asks answered with blocking I/O: files, processes, HTTP |
//! | [`tls`] | the connection string's TLS options as rustls configurations, rustls errors as [`mongodb_auth::TlsError`] |
//! | `dns` | hickory for `mongodb+srv` and GSSAPI's host canonicalization |
//! | `unix_socket` | writes to a UNIX domain socket that raise no `SIGPIPE` when the peer has gone |
//! | `kerberos` (feature `gssapi`) | the system's Kerberos as a GSSAPI context provider and acceptor |

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

pub mod answer;
pub mod blocking;
mod connection;
mod connector;
mod dns;
mod executor;
#[cfg(feature = "gssapi")]
pub mod kerberos;
mod login;
mod options;
mod person;
mod shell;
pub mod tls;
pub mod tokio;
#[cfg(unix)]
mod unix_socket;

/// The rustls this crate builds on: its configurations, certificates and errors appear in this
/// crate's API (`tls`), so a caller names them through this re-export and needs no version of
/// its own in step.
pub use rustls;
/// The tokio-rustls whose client stream the tokio adapter's [`tokio::Stream`] holds.
pub use tokio_rustls;

pub use connection::Connection;
pub use connector::Connector;
pub use login::Authenticated;
pub use options::{
    ConnectOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_SERVER_SELECTION_TIMEOUT,
    DEFAULT_SOCKET_TIMEOUT, Event, IntoConnectionString, MAX_AUTH_REPLY_SIZE,
    MIN_HEARTBEAT_FREQUENCY,
};

use std::time::Duration;

use mongodb_auth::Error;

/// An I/O error as the crate's error: the TLS error inside it, a timeout when the socket timed
/// out, else the error itself.
pub(crate) fn io_error(
    operation: &'static str,
    source: std::io::Error,
    timeout: Duration,
) -> Error {
    if let Some(tls) = tls::from_io_error(&source, true) {
        return Error::Tls(tls);
    }
    match source.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            timed_out(operation, timeout)
        }
        _ => Error::Io { operation, source },
    }
}

/// A step that ran out of time itself: nothing failed beneath it, and no host is named.
pub(crate) fn timed_out(operation: &'static str, after: Duration) -> Error {
    Error::Timeout {
        operation,
        after,
        host: None,
        cause: None,
    }
}

//! An authenticated connection: its stream, and what it knows besides (where it is, what TLS
//! and the login negotiated, the login itself, kept for re-authentication). Both adapters'
//! connections are this type over their own streams, each with its own I/O methods.

use std::fmt;

use crate::login::{Authenticated, Login};
use crate::options::ConnectOptions;
use crate::tls::TlsInfo;
use mongodb_auth::Outcome;

/// An authenticated connection over a stream `S`: [`crate::blocking::Connection`] and
/// [`crate::tokio::Connection`] are this type over their streams, each with its own
/// `run_command`.
pub struct Connection<S> {
    pub(crate) stream: S,
    pub(crate) state: ConnectionState,
}

/// What a connection knows besides its stream.
pub(crate) struct ConnectionState {
    address: String,
    tls: Option<TlsInfo>,
    authenticated: Authenticated,
    pub(crate) options: ConnectOptions,
    pub(crate) login: Login,
    reauthentications: u32,
}

impl ConnectionState {
    pub(crate) fn new(
        address: String,
        tls: Option<TlsInfo>,
        authenticated: Authenticated,
        options: ConnectOptions,
        login: Login,
    ) -> Self {
        ConnectionState {
            address,
            tls,
            authenticated,
            options,
            login,
            reauthentications: 0,
        }
    }

    /// Records a completed re-authentication.
    pub(crate) fn reauthenticated(&mut self, authenticated: Authenticated) {
        self.authenticated = authenticated;
        self.reauthentications += 1;
    }
}

impl<S> Connection<S> {
    /// How authentication went (the last time, after a re-authentication).
    pub fn outcome(&self) -> &Outcome {
        &self.state.authenticated.outcome
    }

    /// The server's `hello` reply, as BSON bytes.
    pub fn hello_reply(&self) -> &[u8] {
        &self.state.authenticated.hello_reply
    }

    /// The address connected to, as `host:port`, or a UNIX socket's path.
    pub fn address(&self) -> &str {
        &self.state.address
    }

    /// What TLS negotiated, when the connection uses it.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.state.tls.as_ref()
    }

    /// How many times the server asked this connection to authenticate again (and it did).
    pub fn reauthentications(&self) -> u32 {
        self.state.reauthentications
    }

    /// The authenticated stream, for the caller's own commands.
    pub fn into_stream(self) -> S {
        self.stream
    }
}

impl<S> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.state.address)
            .field("tls", &self.state.tls)
            .field("authenticated", &self.state.authenticated)
            .field("reauthentications", &self.state.reauthentications)
            .finish_non_exhaustive()
    }
}

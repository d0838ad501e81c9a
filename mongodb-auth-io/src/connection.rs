//! An authenticated connection: its stream, and what it knows besides (where it is, what TLS
//! and the login negotiated, the login itself, kept for re-authentication). Both adapters'
//! connections are this type over their own streams, each with its own I/O methods.

use std::borrow::Cow;
use std::fmt;

use crate::login::{Authenticated, Login, Outgoing};
use crate::options::ConnectOptions;
use crate::tls::TlsInfo;
use mongodb_auth::handshake::ConnectionIds;
use mongodb_auth::wire::MAX_MESSAGE_SIZE;
use mongodb_auth::{Command, Error, Outcome, Result};

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
    /// The largest message the server takes: its `hello` reply's `maxMessageSizeBytes`, which
    /// the OP_MSG specification forbids a client to exceed.
    max_message_size: usize,
    /// The server's ids of the connection (`connectionId`, `serviceId`), for command
    /// monitoring.
    ids: ConnectionIds,
    /// What left the stream unusable, once a command's exchange or a re-authentication failed
    /// on it, or was cut short (its future dropped): after a reply read in part, or one that
    /// said more was to come, the next bytes could be the rest of it, so no command runs on
    /// the stream again (the OP_MSG specification: close the connection).
    broken_by: Option<Cow<'static, str>>,
}

impl ConnectionState {
    pub(crate) fn new(
        address: String,
        tls: Option<TlsInfo>,
        authenticated: Authenticated,
        options: ConnectOptions,
        login: Login,
    ) -> Self {
        let hello_reply = bson::RawDocument::from_bytes(&authenticated.hello_reply).ok();
        let max_message_size = hello_reply
            .and_then(|reply| reply.get_i32("maxMessageSizeBytes").ok())
            .and_then(|size| usize::try_from(size).ok())
            .filter(|size| *size > 0)
            .map_or(MAX_MESSAGE_SIZE, |size| size.min(MAX_MESSAGE_SIZE));
        let mut ids = ConnectionIds::of_hello_reply(&authenticated.hello_reply);
        // The load balancer specification's events name a service only in that mode.
        if !login.is_load_balanced() {
            ids.service_id = None;
        }
        ConnectionState {
            address,
            tls,
            authenticated,
            options,
            login,
            reauthentications: 0,
            max_message_size,
            ids,
            broken_by: None,
        }
    }

    /// The address connected to.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The server's ids of the connection, from its `hello` reply.
    pub(crate) fn ids(&self) -> ConnectionIds {
        self.ids
    }

    /// The message of `command`, refused before anything is written when the server would not
    /// take it, or when an earlier failure left the stream unusable.
    pub(crate) fn message_for(&self, command: &Command) -> Result<Outgoing> {
        if let Some(broken_by) = &self.broken_by {
            return Err(Error::Io {
                operation: "running a command",
                source: std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!("the connection is unusable since a failure on it: {broken_by}"),
                ),
            });
        }
        let arguments = self.options.command_arguments()?;
        let message = Outgoing::caller_command(command, arguments, &self.options)?;
        if message.bytes.len() > self.max_message_size {
            return Err(Error::InvalidInput {
                rule: "a command's message may not be larger than the server's \
                       maxMessageSizeBytes (the OP_MSG specification)",
            });
        }
        Ok(message)
    }

    /// Marks the stream unusable while an exchange is under way: a future dropped part way
    /// (by a caller's own timeout) leaves it so. [`exchanged`](Self::exchanged) says how it
    /// ended. Begun only on a usable stream (after [`message_for`](Self::message_for), or a
    /// successful exchange).
    pub(crate) fn exchanging(&mut self) {
        debug_assert!(
            self.broken_by.is_none(),
            "an exchange on an unusable stream"
        );
        self.broken_by = Some(Cow::Borrowed(
            "a command or re-authentication was cut short part way",
        ));
    }

    /// `result`, the end of the exchange [`exchanging`](Self::exchanging) began: a failure
    /// leaves the stream unusable; success leaves it usable, as it was when the exchange began.
    pub(crate) fn exchanged<T>(&mut self, result: Result<T>) -> Result<T> {
        self.broken_by = result
            .as_ref()
            .err()
            .map(|failure| Cow::Owned(failure.to_string()));
        result
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

    /// Whether commands can run on it: not after an exchange or a re-authentication failed
    /// or was cut short, which may have left a reply read in part.
    pub fn is_usable(&self) -> bool {
        self.state.broken_by.is_none()
    }

    /// The authenticated stream, for the caller's own commands; in step with the server only
    /// while [`is_usable`](Self::is_usable).
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
            .field("broken_by", &self.state.broken_by)
            .finish_non_exhaustive()
    }
}

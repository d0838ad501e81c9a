//! The server side of GSSAPI: the conversation mongod runs through Cyrus SASL (RFC 4752), over
//! an acceptor context: tokens until the context is established, then the security-layer offer
//! ("no security layer"), then the client's choice and authorization id. The principals that
//! may log in are users of `$external`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use crate::error::Result;
use crate::gssapi::GssContext;

/// The acceptor side of one conversation.
pub trait AcceptorContext: GssContext {
    /// The client principal (`user@REALM`), once established.
    fn client_principal(&self) -> Result<String>;
    /// The service principal the client asked for, once established.
    fn service_principal(&self) -> Result<String>;
}

/// Makes acceptor contexts.
pub trait GssAcceptor: Send + Sync {
    /// A context for a new conversation.
    fn accept(&self) -> Result<Box<dyn AcceptorContext>>;
}

/// What the server accepts as GSSAPI.
#[derive(Clone)]
pub struct GssapiSettings {
    pub(crate) acceptor: Arc<dyn GssAcceptor>,
    pub(crate) service: String,
    pub(crate) users: BTreeSet<String>,
}

impl GssapiSettings {
    /// Accepts tickets for the service `service` (the first part of its principal, `mongodb`
    /// in `mongodb/host@REALM`) through `acceptor`.
    pub fn new(acceptor: Arc<dyn GssAcceptor>, service: impl Into<String>) -> Self {
        GssapiSettings {
            acceptor,
            service: service.into(),
            users: BTreeSet::new(),
        }
    }

    /// A principal (`user@REALM`) that may log in.
    pub fn user(mut self, principal: impl Into<String>) -> Self {
        self.users.insert(principal.into());
        self
    }

    /// Whether a service principal (`service/host@REALM`, or `service@host`) is for this
    /// service.
    pub(crate) fn serves(&self, service_principal: &str) -> bool {
        let service = service_principal
            .split(['/', '@'])
            .next()
            .unwrap_or_default();
        service == self.service
    }
}

impl fmt::Debug for GssapiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GssapiSettings")
            .field("service", &self.service)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// Where a conversation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Context tokens are being exchanged.
    Negotiating,
    /// The context is established and its last token sent; the client answers with an empty
    /// message.
    AwaitingEmpty,
    /// The security-layer offer is out; the client's choice comes next.
    LayerOffered,
}

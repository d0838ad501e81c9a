//! GSSAPI (Kerberos), the SASL conversation of RFC 4752, without I/O: context tokens go through
//! `saslStart` and `saslContinue` until the GSS context is established; then the server's
//! security-layer message is unwrapped, checked, and answered (wrapped) with "no security layer"
//! and the authorization id.
//!
//! The GSS context itself is behind [`GssContext`], made by a [`GssProvider`]: the system's
//! Kerberos (`mongodb-auth-io` with its feature `gssapi`), or a scripted one in tests. Every call into the
//! context may block (it talks to the KDC), so the [`Authenticator`](crate::Authenticator) hands
//! it out as a job ([`Step::Job`](crate::Step::Job) holding a [`GssJob`]), which the caller runs
//! (on a blocking pool in async code) and returns with
//! [`handle_job`](crate::Authenticator::handle_job).
//!
//! The service principal is `SERVICE_NAME@host` (host-based, default service `mongodb`), or
//! `SERVICE_NAME/host@SERVICE_REALM` when a realm is given; the host is `SERVICE_HOST`, else the
//! host connected to, either canonicalized as `CANONICALIZE_HOST_NAME` says (rule J3) through DNS
//! asks the adapters answer.

use std::fmt;
use std::sync::Arc;

use crate::error::{GssapiError, Result};
use crate::secret::Secret;

/// The mechanism name.
pub const MECHANISM: &str = "GSSAPI";

/// The service name when `SERVICE_NAME` is not given.
pub const DEFAULT_SERVICE_NAME: &str = "mongodb";

/// The security layer "none" of RFC 4752 section 3.1, the only one MongoDB uses.
pub const NO_SECURITY_LAYER: u8 = 0x01;

/// One side's GSS security context, as the conversation needs it.
pub trait GssContext: Send {
    /// Feeds the peer's token (`None` to start, as the initiator) and returns the token to send,
    /// if any.
    fn step(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>>;
    /// Whether the context is established.
    fn is_complete(&self) -> bool;
    /// Wraps a message, integrity only (no encryption).
    fn wrap(&mut self, message: &[u8]) -> Result<Vec<u8>>;
    /// Unwraps a message of the peer.
    fn unwrap(&mut self, message: &[u8]) -> Result<Vec<u8>>;
}

/// What a client context is made for.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContextRequest {
    /// The service (`SERVICE_NAME`).
    pub service: String,
    /// The service's host, canonicalized as asked.
    pub host: String,
    /// `SERVICE_REALM`, if given.
    pub realm: Option<String>,
    /// The client principal (the username).
    pub user: String,
    /// The password, when the connection string has one: the credential is acquired with it,
    /// without a ticket cache.
    pub password: Option<Secret>,
}

impl ContextRequest {
    /// The service principal: `service@host` (host-based), or `service/host@REALM`.
    pub fn service_principal(&self) -> String {
        match &self.realm {
            Some(realm) => format!("{}/{}@{realm}", self.service, self.host),
            None => format!("{}@{}", self.service, self.host),
        }
    }
}

impl fmt::Debug for ContextRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextRequest")
            .field("service_principal", &self.service_principal())
            .field("user", &self.user)
            .field("password", &self.password)
            .finish()
    }
}

/// Makes client contexts: the system's Kerberos (`mongodb-auth-io` with its feature `gssapi`),
/// or a caller's own.
pub trait GssProvider: Send + Sync {
    /// A context for `request`, its credential acquired (from the password, the ticket cache or
    /// a client keytab).
    fn client_context(&self, request: &ContextRequest) -> Result<Box<dyn GssContext>>;
}

/// How `CANONICALIZE_HOST_NAME` asks the host to be canonicalized (rules J3, J4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Canonicalize {
    /// As given (`none`, `false`, absent).
    None,
    /// The last CNAME target (`forward`).
    Forward,
    /// The reverse-DNS name of the first address (`forwardAndReverse`, `true`).
    ForwardAndReverse,
}

impl Canonicalize {
    /// The mode of a `CANONICALIZE_HOST_NAME` value.
    pub fn from_property(value: Option<&str>) -> Canonicalize {
        match value {
            Some("forward") => Canonicalize::Forward,
            Some("forwardAndReverse" | "true") => Canonicalize::ForwardAndReverse,
            _ => Canonicalize::None,
        }
    }
}

/// A DNS name as a service principal wants it: lowercased, without the root's dot.
pub(crate) fn canonical_host(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The client's answer to the server's security-layer message (RFC 4752 section 3.1): the
/// unwrapped message is four octets, the first a bit mask of the layers the server offers; the
/// answer picks "no security layer", a maximum size of 0, then the authorization id.
pub fn security_layer_reply(
    unwrapped: &[u8],
    authorization_id: &str,
) -> std::result::Result<Vec<u8>, GssapiError> {
    let [offered, ..] = unwrapped else {
        return Err(GssapiError::SecurityLayer { rule: "is empty" });
    };
    if unwrapped.len() != 4 {
        return Err(GssapiError::SecurityLayer {
            rule: "is not four octets",
        });
    }
    if offered & NO_SECURITY_LAYER == 0 {
        return Err(GssapiError::SecurityLayer {
            rule: "does not offer \"no security layer\"",
        });
    }
    let mut reply = Vec::with_capacity(4 + authorization_id.len());
    reply.extend_from_slice(&[NO_SECURITY_LAYER, 0, 0, 0]);
    reply.extend_from_slice(authorization_id.as_bytes());
    Ok(reply)
}

/// The server's offer: "no security layer" only, no buffer for protected messages.
pub const SECURITY_LAYER_OFFER: [u8; 4] = [NO_SECURITY_LAYER, 0, 0, 0];

/// The server's reading of the client's answer: the layer must be "none"; the authorization id
/// (empty when the client gave none) must be UTF-8.
pub fn read_security_layer_choice(unwrapped: &[u8]) -> std::result::Result<&str, GssapiError> {
    let (layer, authorization_id) = match unwrapped {
        [layer, _, _, _, rest @ ..] => (*layer, rest),
        _ => {
            return Err(GssapiError::SecurityLayer {
                rule: "answer is shorter than four octets",
            });
        }
    };
    if layer != NO_SECURITY_LAYER {
        return Err(GssapiError::SecurityLayer {
            rule: "answer picks a layer other than \"none\"",
        });
    }
    std::str::from_utf8(authorization_id).map_err(|_| GssapiError::SecurityLayer {
        rule: "answer's authorization id is not UTF-8",
    })
}

/// Work on the GSS context, which may block: run it (inline, or on a blocking pool) and pass
/// the result to [`Authenticator::handle_job`](crate::Authenticator::handle_job).
pub struct GssJob {
    pub(crate) work: Work,
}

pub(crate) enum Work {
    /// Acquire the credential, make the context and its first token.
    Start {
        provider: Arc<dyn GssProvider>,
        request: ContextRequest,
    },
    /// Feed the server's token.
    Step {
        context: Box<dyn GssContext>,
        token: Vec<u8>,
    },
    /// Answer the security-layer message.
    SecurityLayer {
        context: Box<dyn GssContext>,
        message: Vec<u8>,
        authorization_id: String,
    },
}

impl GssJob {
    /// Does the work.
    pub fn run(self) -> GssDone {
        match self.work {
            Work::Start { provider, request } => match provider.client_context(&request) {
                Ok(mut context) => {
                    let output = context.step(None).map(Option::unwrap_or_default);
                    GssDone {
                        context: Some(context),
                        output,
                    }
                }
                Err(e) => GssDone {
                    context: None,
                    output: Err(e),
                },
            },
            Work::Step { mut context, token } => {
                let output = context.step(Some(&token)).map(Option::unwrap_or_default);
                GssDone {
                    context: Some(context),
                    output,
                }
            }
            Work::SecurityLayer {
                mut context,
                message,
                authorization_id,
            } => {
                let output = context.unwrap(&message).and_then(|unwrapped| {
                    let reply = security_layer_reply(&unwrapped, &authorization_id)?;
                    context.wrap(&reply)
                });
                GssDone {
                    context: Some(context),
                    output,
                }
            }
        }
    }
}

impl fmt::Debug for GssJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.work {
            Work::Start { request, .. } => format!("start for {}", request.service_principal()),
            Work::Step { token, .. } => format!("step with a {}-byte token", token.len()),
            Work::SecurityLayer { .. } => "security layer".to_owned(),
        };
        f.debug_struct("GssJob").field("work", &what).finish()
    }
}

/// The outcome of a [`GssJob`].
pub struct GssDone {
    pub(crate) context: Option<Box<dyn GssContext>>,
    pub(crate) output: Result<Vec<u8>>,
}

impl fmt::Debug for GssDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GssDone")
            .field("output", &self.output.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_security_layer_answer_picks_none_and_names_the_user() {
        assert_eq!(
            security_layer_reply(&[0x07, 0x00, 0xff, 0xff], "alice@EXAMPLE.COM").unwrap(),
            b"\x01\x00\x00\x00alice@EXAMPLE.COM"
        );
        assert!(security_layer_reply(&[0x06, 0, 0, 0], "a").is_err());
        assert!(security_layer_reply(&[0x01, 0, 0], "a").is_err());
        assert!(security_layer_reply(&[], "a").is_err());
        assert_eq!(
            read_security_layer_choice(b"\x01\x00\x00\x00bob").unwrap(),
            "bob"
        );
        assert!(read_security_layer_choice(b"\x02\x00\x00\x00bob").is_err());
        assert!(read_security_layer_choice(b"\x01\x00").is_err());
        assert!(read_security_layer_choice(b"\x01\x00\x00\x00\xff").is_err());
    }

    #[test]
    fn service_principals_and_canonicalization_modes() {
        let mut request = ContextRequest {
            service: "mongodb".into(),
            host: "db.example.com".into(),
            realm: None,
            user: "u".into(),
            password: None,
        };
        assert_eq!(request.service_principal(), "mongodb@db.example.com");
        request.realm = Some("EXAMPLE.COM".into());
        assert_eq!(
            request.service_principal(),
            "mongodb/db.example.com@EXAMPLE.COM"
        );
        for (value, mode) in [
            (None, Canonicalize::None),
            (Some("none"), Canonicalize::None),
            (Some("false"), Canonicalize::None),
            (Some("forward"), Canonicalize::Forward),
            (Some("forwardAndReverse"), Canonicalize::ForwardAndReverse),
            (Some("true"), Canonicalize::ForwardAndReverse),
        ] {
            assert_eq!(Canonicalize::from_property(value), mode);
        }
        assert_eq!(canonical_host("DB.Example.COM."), "db.example.com");
    }
}

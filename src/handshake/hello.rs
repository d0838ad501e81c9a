//! The opening message of a connection, as the handshake spec builds it: `isMaster` over
//! OP_QUERY (which every server and proxy understands) or `hello` over OP_MSG (which load
//! balancing and a declared server API require), with `helloOk`, the client metadata, and the
//! fields an [`Authenticator`](super::Authenticator) adds.

use bson::raw::cstr;
use bson::{RawArrayBuf, RawDocument, RawDocumentBuf, rawdoc};
use zeroize::Zeroizing;

use crate::command::{Command, document_with_capacity};
use crate::error::{Error, Result};
use crate::wire;

/// How the first message of a connection is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloStyle {
    /// Legacy `isMaster` over OP_QUERY, which every server and proxy understands (the handshake
    /// spec's default).
    LegacyOpQuery,
    /// `hello` over OP_MSG, which load balancing and a declared server API require.
    OpMsg,
}

/// The opening `hello` of a connection.
///
/// ```
/// use mongodb_auth::handshake::{Hello, HelloStyle};
///
/// let hello = Hello::new(HelloStyle::LegacyOpQuery).app_name(Some("inventory"));
/// let message = hello.encode(&bson::rawdoc! {}.into_bytes(), 7)?;
/// assert_eq!(hello.command_name(), "isMaster");
/// assert!(message.len() > 16);
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Hello<'a> {
    style: HelloStyle,
    app_name: Option<&'a str>,
    load_balanced: bool,
}

impl<'a> Hello<'a> {
    /// A hello of this style, with no application name, not load balanced.
    pub fn new(style: HelloStyle) -> Self {
        Hello {
            style,
            app_name: None,
            load_balanced: false,
        }
    }

    /// `client.application.name` (the connection string's `appName`).
    pub fn app_name(mut self, name: Option<&'a str>) -> Self {
        self.app_name = name;
        self
    }

    /// `loadBalanced: true`, over OP_MSG whatever the style (the load balancer specification:
    /// every step of the handshake); its reply must then pass [`check_load_balanced_reply`].
    pub fn load_balanced(mut self, load_balanced: bool) -> Self {
        self.load_balanced = load_balanced;
        self
    }

    /// The style asked for, unless load balancing makes it OP_MSG.
    fn style(&self) -> HelloStyle {
        if self.load_balanced {
            HelloStyle::OpMsg
        } else {
            self.style
        }
    }

    /// Whether it says `loadBalanced: true`.
    pub fn is_load_balanced(&self) -> bool {
        self.load_balanced
    }

    /// `isMaster` or `hello`.
    pub fn command_name(&self) -> &'static str {
        match self.style() {
            HelloStyle::LegacyOpQuery => "isMaster",
            HelloStyle::OpMsg => "hello",
        }
    }

    /// `OP_QUERY` or `OP_MSG`.
    pub fn op_name(&self) -> &'static str {
        match self.style() {
            HelloStyle::LegacyOpQuery => "OP_QUERY",
            HelloStyle::OpMsg => "OP_MSG",
        }
    }

    /// The message, with `auth_fields` (the BSON document of
    /// [`Authenticator::hello_fields`](super::Authenticator::hello_fields)) merged in. It may
    /// carry a token: it is built at its final size and wiped when dropped.
    pub fn encode(&self, auth_fields: &[u8], request_id: i32) -> Result<Zeroizing<Vec<u8>>> {
        let client = client_metadata(self.app_name);
        let mut hello = document_with_capacity(128 + client.as_bytes().len() + auth_fields.len());
        hello.append(
            match self.style() {
                HelloStyle::LegacyOpQuery => cstr!("isMaster"),
                HelloStyle::OpMsg => cstr!("hello"),
            },
            1,
        );
        hello.append(cstr!("helloOk"), true);
        hello.append(cstr!("client"), client);
        hello.append(cstr!("compression"), RawArrayBuf::new());
        if self.load_balanced {
            hello.append(cstr!("loadBalanced"), true);
        }
        for element in fields(auth_fields)?.iter() {
            let (key, value) = element.map_err(|_| not_a_document())?;
            hello.append(key, value);
        }
        match self.style() {
            HelloStyle::LegacyOpQuery => {
                let hello = Zeroizing::new(hello.into_bytes());
                wire::encode_legacy_hello(&hello, request_id)
            }
            HelloStyle::OpMsg => {
                wire::encode_command(&Command::new("admin", hello.into_bytes()), request_id)
            }
        }
    }
}

/// Checks the reply (a BSON document) to a `hello` that said `loadBalanced: true`: the load
/// balancer specification requires its `serviceId`, an ObjectId, and a client to refuse a server
/// that gives none, which is not behind a load balancer (or is one that does not support it). A
/// refused `hello` is the server's error ([`Error::Server`]), as
/// [`check_reply`](crate::command::check_reply) says.
///
/// ```
/// use mongodb_auth::handshake::check_load_balanced_reply;
///
/// let behind_a_balancer = bson::rawdoc! { "ok": 1.0, "serviceId": bson::oid::ObjectId::new() };
/// assert!(check_load_balanced_reply(behind_a_balancer.as_bytes()).is_ok());
/// assert!(check_load_balanced_reply(bson::rawdoc! { "ok": 1.0 }.as_bytes()).is_err());
/// ```
pub fn check_load_balanced_reply(reply: &[u8]) -> Result<()> {
    use crate::command::{OK_FIELDS, check_ok_fields, fields, reply_document};
    let reply = reply_document(reply)?;
    let [ok, legacy_error, service] = fields(reply, [OK_FIELDS[0], OK_FIELDS[1], "serviceId"]);
    check_ok_fields(reply, ok, legacy_error)?;
    match service {
        Some(bson::RawBsonRef::ObjectId(_)) => Ok(()),
        _ => Err(Error::Unsupported {
            what: "\"Driver attempted to initialize in load balancing mode, but the server \
                   does not support this mode\": its hello reply has no serviceId ObjectId; \
                   connect without loadBalanced=true, or set the service behind the load \
                   balancer up for it"
                .into(),
        }),
    }
}

/// The names of the fields of `auth_fields`, for a person watching the conversation.
pub fn field_names(auth_fields: &[u8]) -> Result<Vec<String>> {
    fields(auth_fields)?
        .iter()
        .map(|element| {
            element
                .map(|(key, _)| key.as_str().to_owned())
                .map_err(|_| not_a_document())
        })
        .collect()
}

fn fields(auth_fields: &[u8]) -> Result<&RawDocument> {
    RawDocument::from_bytes(auth_fields).map_err(|_| not_a_document())
}

fn not_a_document() -> Error {
    Error::InvalidInput {
        rule: "the hello fields are not a BSON document",
    }
}

/// The handshake spec's `client` document.
fn client_metadata(app_name: Option<&str>) -> RawDocumentBuf {
    let mut client = RawDocumentBuf::new();
    if let Some(name) = app_name {
        client.append(cstr!("application"), rawdoc! { "name": name });
    }
    client.append(
        cstr!("driver"),
        rawdoc! { "name": "mongodb-auth", "version": env!("CARGO_PKG_VERSION") },
    );
    client.append(
        cstr!("os"),
        rawdoc! { "type": std::env::consts::OS, "architecture": std::env::consts::ARCH },
    );
    client.append(cstr!("platform"), "Rust");
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// The load balancer specification: OP_MSG for every step of the handshake, whatever style
    /// was asked for.
    #[test]
    fn a_load_balanced_hello_goes_over_op_msg() {
        let hello = Hello::new(HelloStyle::LegacyOpQuery).load_balanced(true);
        assert_eq!((hello.command_name(), hello.op_name()), ("hello", "OP_MSG"));
        let message = hello.encode(&rawdoc! {}.into_bytes(), 1).unwrap();
        let decoded = wire::MessageDecoder::requests()
            .push(&message)
            .unwrap()
            .unwrap();
        assert_eq!(decoded.op_code, wire::OP_MSG);
        let body = RawDocument::from_bytes(decoded.body()).unwrap();
        assert_eq!(body.get_bool("loadBalanced").ok(), Some(true));
        let plain = Hello::new(HelloStyle::LegacyOpQuery)
            .load_balanced(true)
            .load_balanced(false);
        assert_eq!(plain.op_name(), "OP_QUERY");
    }

    /// A refused `hello` is the server's error, not a missing `serviceId`; one that is not BSON
    /// is a broken protocol.
    #[test]
    fn a_load_balanced_reply_is_checked_after_its_ok() {
        let refused = rawdoc! { "ok": 0.0, "code": 8000, "errmsg": "no" };
        let error = check_load_balanced_reply(refused.as_bytes()).unwrap_err();
        assert!(
            matches!(error, Error::Server { code: 8000, .. }),
            "{error:?}"
        );
        let id = bson::oid::ObjectId::new();
        let wrong_type = rawdoc! { "ok": 1.0, "serviceId": id.to_hex() };
        let error = check_load_balanced_reply(wrong_type.as_bytes()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{error:?}");
        assert!(error.to_string().contains("serviceId"), "{error}");
        let error = check_load_balanced_reply(b"not BSON").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Protocol, "{error:?}");
    }
}

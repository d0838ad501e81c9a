//! The opening message of a connection, as the handshake spec builds it: the legacy `isMaster`
//! (which servers and proxies that know no `hello` understand) or `hello` (which load balancing
//! and a declared server API require), over OP_MSG (or, asked for, the legacy OP_QUERY), with
//! `helloOk`, the client metadata, and the fields an [`Authenticator`](super::Authenticator)
//! adds.

use bson::raw::cstr;
use bson::{RawArrayBuf, RawDocument, RawDocumentBuf};
use zeroize::Zeroizing;

use super::metadata::{ClientEnv, DriverInfo, client_metadata};
use crate::command::{Command, GenericArguments, ServerApi, document_with_capacity};
use crate::error::{Error, Result};
use crate::wire;

/// How the first message of a connection is sent.
///
/// The handshake specification sends every handshake over OP_MSG since June 2026 (servers
/// before 4.2 are no longer supported, and every later one reads OP_MSG): the legacy
/// `isMaster`, [`LegacyOpMsg`](Self::LegacyOpMsg), unless load balancing or a declared server
/// API asks for `hello`. Before, the first message went over OP_QUERY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloStyle {
    /// Legacy `isMaster` over OP_QUERY, as the handshake specification had it before June 2026:
    /// for a server older than 3.6 or a proxy that reads no OP_MSG.
    LegacyOpQuery,
    /// `hello` over OP_MSG, which load balancing and a declared server API require.
    OpMsg,
    /// Legacy `isMaster` over OP_MSG: the handshake specification's first message when neither
    /// load balancing nor a server API asks for `hello`, which a server that knows no `hello`
    /// (some proxies) still answers.
    LegacyOpMsg,
}

/// The opening `hello` of a connection.
///
/// ```
/// use mongodb_auth::handshake::{Hello, HelloStyle};
///
/// let hello = Hello::new(HelloStyle::LegacyOpMsg).app_name(Some("inventory"));
/// let message = hello.encode(&bson::rawdoc! {}.into_bytes(), 7)?;
/// assert_eq!((hello.command_name(), hello.op_name()), ("isMaster", "OP_MSG"));
/// assert!(message.len() > 16);
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Hello<'a> {
    style: HelloStyle,
    app_name: Option<&'a str>,
    wrappers: &'a [DriverInfo],
    env: Option<&'a ClientEnv>,
    load_balanced: bool,
    server_api: Option<ServerApi>,
}

impl<'a> Hello<'a> {
    /// A hello of this style, with no application name, no wrapping library's info and no
    /// `client.env`, not load balanced, declaring no stable API.
    pub fn new(style: HelloStyle) -> Self {
        Hello {
            style,
            app_name: None,
            wrappers: &[],
            env: None,
            load_balanced: false,
            server_api: None,
        }
    }

    /// `client.application.name` (the connection string's `appName`): at most
    /// [`MAX_APP_NAME_LEN`](super::MAX_APP_NAME_LEN) bytes, or [`encode`](Self::encode) fails.
    pub fn app_name(mut self, name: Option<&'a str>) -> Self {
        self.app_name = name;
        self
    }

    /// What the libraries that wrap this crate append to the client metadata, in order (see
    /// [`DriverInfo`]).
    pub fn driver_info(mut self, wrappers: &'a [DriverInfo]) -> Self {
        self.wrappers = wrappers;
        self
    }

    /// Where the client runs (`client.env`), as [`ClientEnv::detect`] found it.
    pub fn client_env(mut self, env: &'a ClientEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// The `client` document it carries: this crate as the driver, the operating system, the
    /// platform, [`client_env`](Self::client_env), the application name and what
    /// [`driver_info`](Self::driver_info) appends (an info equal to one before it once only),
    /// within the specification's [`MAX_CLIENT_METADATA_LEN`](super::MAX_CLIENT_METADATA_LEN)
    /// bytes: when it would be larger, it leaves out, as the specification orders, `env`'s
    /// fields but its name, the operating system's architecture, `env`, and then cuts the
    /// platform short.
    /// Refused, as by [`encode`](Self::encode), when the application name is longer than
    /// [`MAX_APP_NAME_LEN`](super::MAX_APP_NAME_LEN) bytes ([`Error::InvalidOption`]), or when
    /// it does not fit even with the platform cut to nothing ([`Error::InvalidInput`]).
    pub fn client_metadata(&self) -> Result<RawDocumentBuf> {
        client_metadata(self.app_name, self.wrappers, self.env)
    }

    /// `loadBalanced: true`, over OP_MSG whatever the style (the load balancer specification:
    /// every step of the handshake); its reply must then pass [`check_load_balanced_reply`].
    pub fn load_balanced(mut self, load_balanced: bool) -> Self {
        self.load_balanced = load_balanced;
        self
    }

    /// The stable API version the client declared, if any: the message is then `hello` over
    /// OP_MSG whatever the style, carrying it, as the stable API specification requires of
    /// every message of such a client, the handshake's first.
    pub fn server_api(mut self, api: Option<ServerApi>) -> Self {
        self.server_api = api;
        self
    }

    /// The style asked for, unless load balancing or a declared stable API makes it `hello`
    /// over OP_MSG.
    fn style(&self) -> HelloStyle {
        if self.load_balanced || self.server_api.is_some() {
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
            HelloStyle::LegacyOpQuery | HelloStyle::LegacyOpMsg => "isMaster",
            HelloStyle::OpMsg => "hello",
        }
    }

    /// `OP_QUERY` or `OP_MSG`.
    pub fn op_name(&self) -> &'static str {
        match self.style() {
            HelloStyle::LegacyOpQuery => "OP_QUERY",
            HelloStyle::OpMsg | HelloStyle::LegacyOpMsg => "OP_MSG",
        }
    }

    /// The message, with `auth_fields` (the BSON document of
    /// [`Authenticator::hello_fields`](super::Authenticator::hello_fields)) merged in. It may
    /// carry a token: it is built at its final size and wiped when dropped. Metadata that
    /// [`client_metadata`](Self::client_metadata) refuses is refused here too.
    pub fn encode(&self, auth_fields: &[u8], request_id: i32) -> Result<Zeroizing<Vec<u8>>> {
        let client = self.client_metadata()?;
        let mut hello = document_with_capacity(128 + client.as_bytes().len() + auth_fields.len());
        hello.append(
            match self.style() {
                HelloStyle::LegacyOpQuery | HelloStyle::LegacyOpMsg => cstr!("isMaster"),
                HelloStyle::OpMsg => cstr!("hello"),
            },
            1,
        );
        hello.append(cstr!("helloOk"), true);
        hello.append(cstr!("client"), client);
        hello.append(cstr!("compression"), RawArrayBuf::new());
        // No `backpressure: "2"`: it tells the server the client retries overload errors as the
        // client backpressure specification has it, which nothing here does.
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
            HelloStyle::OpMsg | HelloStyle::LegacyOpMsg => wire::encode_command_with(
                &Command::new("admin", hello.into_bytes()),
                request_id,
                &GenericArguments::new().server_api(self.server_api),
            ),
        }
    }
}

/// What a connection's `hello` reply says of the connection itself, as command monitoring
/// names it: the server's id of it, and behind a load balancer, the service's.
///
/// ```
/// use mongodb_auth::handshake::ConnectionIds;
///
/// let reply = bson::rawdoc! { "ok": 1.0, "connectionId": 7 };
/// let ids = ConnectionIds::of_hello_reply(reply.as_bytes());
/// assert_eq!((ids.server_connection_id, ids.service_id), (Some(7), None));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionIds {
    /// `connectionId`, however the server typed it (an integer, or a whole double).
    pub server_connection_id: Option<i64>,
    /// `serviceId`: the ObjectId's twelve bytes (a load-balanced connection's; a client not in
    /// that mode leaves it out of what it reports, as the load balancer specification has it).
    pub service_id: Option<[u8; 12]>,
}

impl ConnectionIds {
    /// Reads them from a `hello` reply (BSON bytes); what is missing, or not BSON, is `None`.
    pub fn of_hello_reply(reply: &[u8]) -> Self {
        let Ok(reply) = RawDocument::from_bytes(reply) else {
            return ConnectionIds::default();
        };
        let [connection, service] = crate::command::fields(reply, ["connectionId", "serviceId"]);
        ConnectionIds {
            server_connection_id: connection.and_then(crate::command::whole_number),
            service_id: match service {
                Some(bson::RawBsonRef::ObjectId(id)) => Some(id.bytes()),
                _ => None,
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use bson::rawdoc;

    /// A message as a server reads it: its op code, its OP_QUERY collection, its body.
    fn decode(message: &[u8]) -> (i32, Option<String>, bson::RawDocumentBuf) {
        let decoded = wire::MessageDecoder::requests()
            .push(message)
            .unwrap()
            .unwrap();
        let body = RawDocument::from_bytes(decoded.body()).unwrap().to_owned();
        (decoded.op_code, decoded.collection.clone(), body)
    }

    /// The load balancer specification: OP_MSG for every step of the handshake, whatever style
    /// was asked for.
    #[test]
    fn a_load_balanced_hello_goes_over_op_msg() {
        let hello = Hello::new(HelloStyle::LegacyOpQuery).load_balanced(true);
        assert_eq!((hello.command_name(), hello.op_name()), ("hello", "OP_MSG"));
        let (op_code, _, body) = decode(&hello.encode(&rawdoc! {}.into_bytes(), 1).unwrap());
        assert_eq!(op_code, wire::OP_MSG);
        assert_eq!(body.get_bool("loadBalanced").ok(), Some(true));
        let plain = Hello::new(HelloStyle::LegacyOpQuery)
            .load_balanced(true)
            .load_balanced(false);
        assert_eq!(plain.op_name(), "OP_QUERY");
    }

    /// The stable API specification: a client that declared a version sends `hello` (never the
    /// legacy `isMaster`) over OP_MSG, whatever style was asked for, with the version and the
    /// flags that were set, `false` too; one that declared none sends no API field.
    #[test]
    fn a_declared_stable_api_makes_the_first_message_hello_over_op_msg() {
        use crate::command::{ServerApi, ServerApiVersion};
        let fields = rawdoc! { "saslSupportedMechs": "admin.alice" }.into_bytes();
        let api = ServerApi::new(ServerApiVersion::V1).deprecation_errors(false);
        for style in [
            HelloStyle::LegacyOpQuery,
            HelloStyle::LegacyOpMsg,
            HelloStyle::OpMsg,
        ] {
            let hello = Hello::new(style).server_api(Some(api));
            assert_eq!((hello.command_name(), hello.op_name()), ("hello", "OP_MSG"));
            let (op_code, _, body) = decode(&hello.encode(&fields, 1).unwrap());
            assert_eq!(op_code, wire::OP_MSG, "{style:?}");
            let keys: Vec<&str> = body.iter().map(|e| e.unwrap().0.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "hello",
                    "helloOk",
                    "client",
                    "compression",
                    "saslSupportedMechs",
                    "apiVersion",
                    "apiDeprecationErrors",
                    "$db"
                ],
                "{style:?}"
            );
            assert_eq!(body.get_str("apiVersion").ok(), Some("1"));
            assert_eq!(body.get_bool("apiDeprecationErrors").ok(), Some(false));

            let undeclared = Hello::new(style).server_api(Some(api)).server_api(None);
            let (_, _, body) = decode(&undeclared.encode(&fields, 1).unwrap());
            for field in ["apiVersion", "apiStrict", "apiDeprecationErrors"] {
                assert_eq!(body.get(field).unwrap(), None, "{style:?} {field}");
            }
        }
    }

    /// The handshake specification since June 2026: the legacy `isMaster`, with `helloOk`, goes
    /// over OP_MSG to `admin`; over OP_QUERY only when asked for.
    #[test]
    fn the_legacy_hello_goes_over_op_msg_unless_op_query_is_asked_for() {
        let fields = rawdoc! { "saslSupportedMechs": "admin.alice" }.into_bytes();
        let hello = Hello::new(HelloStyle::LegacyOpMsg);
        assert_eq!(
            (hello.command_name(), hello.op_name()),
            ("isMaster", "OP_MSG")
        );
        let (op_code, collection, body) = decode(&hello.encode(&fields, 1).unwrap());
        assert_eq!((op_code, collection), (wire::OP_MSG, None));
        let keys: Vec<&str> = body.iter().map(|e| e.unwrap().0.as_str()).collect();
        assert_eq!(
            keys,
            [
                "isMaster",
                "helloOk",
                "client",
                "compression",
                "saslSupportedMechs",
                "$db"
            ]
        );
        assert_eq!(body.get_str("$db").ok(), Some("admin"));
        assert_eq!(body.get_bool("helloOk").ok(), Some(true));

        let legacy = Hello::new(HelloStyle::LegacyOpQuery);
        assert_eq!(legacy.op_name(), "OP_QUERY");
        let (op_code, collection, body) = decode(&legacy.encode(&fields, 1).unwrap());
        assert_eq!(op_code, wire::OP_QUERY);
        assert_eq!(collection.as_deref(), Some("admin.$cmd"));
        assert_eq!(body.iter().next().unwrap().unwrap().0.as_str(), "isMaster");
        assert_eq!(body.get_str("$db").ok(), None);
    }

    /// `encode` carries the document `client_metadata` builds, the wrappers' values appended,
    /// and refuses what it refuses (an application name over 128 bytes).
    #[test]
    fn encode_carries_the_client_metadata_and_refuses_what_it_refuses() {
        let wrappers = [DriverInfo::new("library", Some("1.2"), None).unwrap()];
        let hello = Hello::new(HelloStyle::LegacyOpMsg)
            .app_name(Some("app"))
            .driver_info(&wrappers);
        let (_, _, body) = decode(&hello.encode(&rawdoc! {}.into_bytes(), 1).unwrap());
        let client = body.get_document("client").unwrap();
        assert_eq!(
            client.as_bytes(),
            hello.client_metadata().unwrap().as_bytes()
        );
        let driver = client.get_document("driver").unwrap();
        assert_eq!(driver.get_str("name").ok(), Some("mongodb-auth|library"));
        let too_long = "x".repeat(crate::handshake::MAX_APP_NAME_LEN + 1);
        let hello = Hello::new(HelloStyle::LegacyOpMsg).app_name(Some(&too_long));
        let error = hello.encode(&rawdoc! {}.into_bytes(), 1).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidOption { option, .. } if option == "appName"),
            "{error:?}"
        );
        assert!(error.to_string().contains("129"), "{error}");
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

//! One command and one reply, as they cross the public boundary: BSON bytes, so a driver on any
//! version of the `bson` crate can embed the machines. The wire layer encodes a [`Command`]; the
//! handshake builds them and checks the replies here.

use std::fmt;
use std::time::Duration;

use bson::raw::{CStr, cstr};
use bson::spec::BinarySubtype;
use bson::{RawBinaryRef, RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};
use zeroize::Zeroizing;

use crate::error::{Error, ProtocolViolation, Result, ServerReply};

/// One command to send: its BSON body (without `$db`) and the database it runs against.
///
/// The body of an authentication command may hold a password (PLAIN) or a proof, so it is wiped
/// when the command is dropped, and `Debug` shows only the name, database and size.
///
/// ```
/// use mongodb_auth::Command;
///
/// let ping = Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
/// assert_eq!((ping.name(), ping.db()), ("ping", "admin"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    db: String,
    body: Zeroizing<Vec<u8>>,
}

impl Command {
    /// A command against `db` (e.g. the credential's source or `$external`). `body` is the
    /// command document as BSON bytes, without `$db`: the wire layer adds it.
    pub fn new(db: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Command {
            db: db.into(),
            body: Zeroizing::new(body.into()),
        }
    }

    pub(crate) fn from_document(db: &str, body: RawDocumentBuf) -> Self {
        Command::new(db, body.into_bytes())
    }

    /// The database (`$db`).
    pub fn db(&self) -> &str {
        &self.db
    }

    /// The command document, as BSON bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The command as sent with `arguments` (a declared stable API, `maxTimeMS`): its body with
    /// them appended. The wire layer appends them itself
    /// ([`wire::encode_command_with`](crate::wire::encode_command_with)); this is for showing
    /// what was sent. Fails only on a body that is not a BSON document.
    pub fn with_arguments(&self, arguments: &GenericArguments) -> Result<Command> {
        let mut body = Vec::with_capacity(self.body.len() + arguments.encoded_len());
        body.extend_from_slice(&self.body);
        let mut body = RawDocumentBuf::from_bytes(body).map_err(|_| Error::InvalidInput {
            rule: "a command's body must be a BSON document",
        })?;
        arguments.append_to(&mut body);
        Ok(Command::from_document(&self.db, body))
    }

    /// The command's name (the first key of the body).
    pub fn name(&self) -> &str {
        RawDocument::from_bytes(&self.body)
            .ok()
            .and_then(|doc| doc.iter().next())
            .and_then(|element| element.ok())
            .map_or("", |(key, _)| key.as_str())
    }
}

impl fmt::Debug for Command {
    /// Authentication commands carry proofs and passwords: only the name, database and size are
    /// shown (command-logging spec: redact `saslStart`, `saslContinue`, `authenticate`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name())
            .field("db", &self.db)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A version of the server's stable API (the stable API specification's `ServerApiVersion`).
/// More may come, so a `match` on it needs a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerApiVersion {
    /// Version `"1"`, which MongoDB 5.0 and later servers know.
    V1,
}

impl ServerApiVersion {
    /// The version as commands carry it in `apiVersion`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerApiVersion::V1 => "1",
        }
    }
}

impl fmt::Display for ServerApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ServerApiVersion {
    type Err = Error;

    /// A version this crate knows, by its name (`"1"`); any other is refused, as the
    /// specification requires of a client ([`Error::Unsupported`]).
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "1" => Ok(ServerApiVersion::V1),
            _ => Err(Error::Unsupported {
                what: format!("stable API version `{name}`: the only one is \"1\""),
            }),
        }
    }
}

/// A declared stable API version: with one, the server behaves as that version promises, and
/// with [`strict`](Self::strict) refuses commands outside it. The stable API specification
/// requires it to be sent with every command, the handshake's included, which is then `hello`
/// over OP_MSG ([`Hello::server_api`](crate::handshake::Hello::server_api)); it is declared in
/// code only, never by the connection string, so copying a URI cannot change it.
///
/// A driver that embeds the machines gives it to the `hello` it opens a connection with, and
/// encodes every later command, the authenticator's as its own, with
/// [`wire::encode_command_with`](crate::wire::encode_command_with).
///
/// ```
/// use mongodb_auth::{Command, GenericArguments, ServerApi, ServerApiVersion, wire};
///
/// let api = ServerApi::new(ServerApiVersion::V1).strict(true);
/// let ping = Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
/// let arguments = GenericArguments::new().server_api(Some(api));
/// let message = wire::encode_command_with(&ping, 7, &arguments)?;
///
/// let sent = wire::MessageDecoder::requests().push(&message)?.unwrap();
/// let sent = bson::RawDocument::from_bytes(sent.body()).unwrap();
/// assert_eq!(sent.get_str("apiVersion").unwrap(), "1");
/// assert!(sent.get_bool("apiStrict").unwrap());
/// // Left to the server, so not sent.
/// assert!(sent.get("apiDeprecationErrors").unwrap().is_none());
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerApi {
    version: ServerApiVersion,
    strict: Option<bool>,
    deprecation_errors: Option<bool>,
}

impl ServerApi {
    /// `version` declared, with the server's defaults for the flags (sent as nothing).
    pub fn new(version: ServerApiVersion) -> Self {
        ServerApi {
            version,
            strict: None,
            deprecation_errors: None,
        }
    }

    /// `apiStrict`: whether a command outside the version fails (`APIStrictError`). Sent,
    /// `false` too, once set.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }

    /// `apiDeprecationErrors`: whether a command the version deprecates fails
    /// (`APIDeprecationError`). Sent, `false` too, once set.
    pub fn deprecation_errors(mut self, deprecation_errors: bool) -> Self {
        self.deprecation_errors = Some(deprecation_errors);
        self
    }

    /// The declared version.
    pub fn version(&self) -> ServerApiVersion {
        self.version
    }

    /// `apiStrict` as set, `None` when left to the server.
    pub fn strict_setting(&self) -> Option<bool> {
        self.strict
    }

    /// `apiDeprecationErrors` as set, `None` when left to the server.
    pub fn deprecation_errors_setting(&self) -> Option<bool> {
        self.deprecation_errors
    }

    /// The command options that declare it: the version, then the flags.
    pub(crate) const FIELDS: [&'static CStr; 3] = [
        cstr!("apiVersion"),
        cstr!("apiStrict"),
        cstr!("apiDeprecationErrors"),
    ];

    /// Appends the command options that declare it.
    pub(crate) fn append_to(&self, command: &mut RawDocumentBuf) {
        let [version, strict, deprecation_errors] = Self::FIELDS;
        command.append(version, self.version.as_str());
        if let Some(value) = self.strict {
            command.append(strict, value);
        }
        if let Some(value) = self.deprecation_errors {
            command.append(deprecation_errors, value);
        }
    }

    /// The bytes [`append_to`](Self::append_to) adds: for each element, its type, key, NUL
    /// and value (a string's length, bytes and NUL; a boolean's byte).
    pub(crate) fn encoded_len(&self) -> usize {
        let [version, strict, deprecation_errors] = Self::FIELDS.map(|field| field.as_str().len());
        let flag = |set: Option<bool>, key: usize| set.map_or(0, |_| 1 + key + 1 + 1);
        (1 + version + 1 + 4 + self.version.as_str().len() + 1)
            + flag(self.strict, strict)
            + flag(self.deprecation_errors, deprecation_errors)
    }
}

/// What a client appends to each command it sends, before `$db`: the generic arguments that
/// the stable API specification (the declared [`ServerApi`]) and the client-side operations
/// timeout specification (`maxTimeMS`, what is left of `timeoutMS`) require.
///
/// ```
/// use std::time::Duration;
/// use mongodb_auth::{Command, GenericArguments, wire};
///
/// let ping = Command::new("admin", bson::rawdoc! { "ping": 1 }.into_bytes());
/// // 250.9 ms left of the operation's `timeoutMS`: the server gets the whole milliseconds.
/// let arguments = GenericArguments::new().max_time(Some(Duration::from_micros(250_900)));
/// let message = wire::encode_command_with(&ping, 7, &arguments)?;
///
/// let sent = wire::MessageDecoder::requests().push(&message)?.unwrap();
/// let sent = bson::RawDocument::from_bytes(sent.body()).unwrap();
/// assert_eq!(sent.get_i64("maxTimeMS").unwrap(), 250);
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GenericArguments {
    server_api: Option<ServerApi>,
    max_time_ms: Option<i64>,
}

impl GenericArguments {
    /// Nothing to append.
    pub fn new() -> Self {
        Self::default()
    }

    /// The declared stable API version, if any.
    pub fn server_api(mut self, api: Option<ServerApi>) -> Self {
        self.server_api = api;
        self
    }

    /// `maxTimeMS`: the time the server may spend on the command, in whole milliseconds (as a
    /// 64-bit integer; a time past `i64::MAX` milliseconds is sent as that), and at least one:
    /// `maxTimeMS: 0` would tell the server there is no limit. A client with less than a
    /// millisecond left does better to fail the operation unsent, as the adapters do. `None`
    /// sends none.
    pub fn max_time(mut self, max_time: Option<Duration>) -> Self {
        self.max_time_ms =
            max_time.map(|time| i64::try_from(time.as_millis()).map_or(i64::MAX, |ms| ms.max(1)));
        self
    }

    /// The `maxTimeMS` it appends, if any.
    pub fn max_time_ms(&self) -> Option<i64> {
        self.max_time_ms
    }

    /// Whether it appends nothing.
    pub fn is_empty(&self) -> bool {
        self.server_api.is_none() && self.max_time_ms.is_none()
    }

    const MAX_TIME_MS: &'static CStr = cstr!("maxTimeMS");

    /// Appends them: the stable API's fields, then `maxTimeMS`.
    pub(crate) fn append_to(&self, command: &mut RawDocumentBuf) {
        if let Some(api) = &self.server_api {
            api.append_to(command);
        }
        if let Some(ms) = self.max_time_ms {
            command.append(Self::MAX_TIME_MS, ms);
        }
    }

    /// The bytes [`append_to`](Self::append_to) adds (`maxTimeMS`: its type, key, NUL and
    /// eight bytes).
    pub(crate) fn encoded_len(&self) -> usize {
        let max_time = 1 + Self::MAX_TIME_MS.as_str().len() + 1 + 8;
        self.server_api.as_ref().map_or(0, ServerApi::encoded_len)
            + self.max_time_ms.map_or(0, |_| max_time)
    }
}

/// An empty document with room for `capacity` bytes, so appending up to that size never
/// reallocates: a reallocation would leave a copy of a secret in freed memory, out of reach of
/// zeroization.
pub(crate) fn document_with_capacity(capacity: usize) -> RawDocumentBuf {
    let mut bytes = Vec::with_capacity(capacity.max(5));
    bytes.extend_from_slice(&[5, 0, 0, 0, 0]);
    RawDocumentBuf::from_bytes(bytes).unwrap_or_default()
}

/// The bytes a value of `value_len` bytes takes as the element `index` of an array: its type,
/// its decimal key and the key's NUL, then the value.
pub(crate) fn array_element_len(index: usize, value_len: usize) -> usize {
    let digits = index.checked_ilog10().map_or(1, |log| log as usize + 1);
    (2 + digits).saturating_add(value_len)
}

/// The values of `names` in `doc`, found in one pass over it: each `RawDocument::get` is a
/// pass of its own, checking the UTF-8 of every key before the one it looks for. As with `get`,
/// the first field of a name counts; a name that is absent, comes after a malformed element or
/// has a malformed value is `None`.
pub(crate) fn fields<'a, const N: usize>(
    doc: &'a RawDocument,
    names: [&str; N],
) -> [Option<RawBsonRef<'a>>; N] {
    named_fields(doc, names).1
}

/// [`fields`], and in the same pass the first key: a command's name. `None` for an empty
/// document, or one whose first element is malformed.
pub(crate) fn named_fields<'a, const N: usize>(
    doc: &'a RawDocument,
    names: [&str; N],
) -> (Option<&'a str>, [Option<RawBsonRef<'a>>; N]) {
    let mut first = None;
    let mut found = [None; N];
    let mut seen = [false; N];
    let mut left = N;
    for element in doc.iter_elements() {
        let Ok(element) = element else { break };
        let key = element.key().as_str();
        first = first.or(Some(key));
        let slot = names
            .iter()
            .position(|name| *name == key)
            .and_then(|at| Some((seen.get_mut(at)?, found.get_mut(at)?)));
        if let Some((seen @ false, value)) = slot {
            *seen = true;
            *value = element.value().ok();
            left -= 1;
            if left == 0 {
                break;
            }
        }
    }
    (first, found)
}

/// A generic-subtype BSON binary, as SASL payloads are sent.
pub(crate) fn binary(bytes: &[u8]) -> RawBinaryRef<'_> {
    RawBinaryRef {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

/// Whether command monitoring must show `command` (named `name`, BSON bytes) and its reply as
/// empty documents: a command that carries credentials (the command logging and monitoring
/// specification's list, names compared without case), or a `hello` that carries a speculative
/// login (one that cannot be read counts as one).
///
/// ```
/// use bson::rawdoc;
/// use mongodb_auth::command::is_security_sensitive;
///
/// assert!(is_security_sensitive("createUser", rawdoc! { "createUser": "bob", "pwd": "x" }.as_bytes()));
/// let speculative = rawdoc! { "hello": 1, "speculativeAuthenticate": { "saslStart": 1 } };
/// assert!(is_security_sensitive("hello", speculative.as_bytes()));
/// assert!(!is_security_sensitive("hello", rawdoc! { "hello": 1 }.as_bytes()));
/// assert!(!is_security_sensitive("find", rawdoc! { "find": "c" }.as_bytes()));
/// ```
pub fn is_security_sensitive(name: &str, command: &[u8]) -> bool {
    const CARRY_CREDENTIALS: [&str; 9] = [
        "authenticate",
        "saslStart",
        "saslContinue",
        "getnonce",
        "createUser",
        "updateUser",
        "copydbgetnonce",
        "copydbsaslstart",
        "copydb",
    ];
    if CARRY_CREDENTIALS
        .iter()
        .any(|sensitive| sensitive.eq_ignore_ascii_case(name))
    {
        return true;
    }
    let hello = ["hello", "isMaster"]
        .iter()
        .any(|hello| hello.eq_ignore_ascii_case(name));
    hello
        && RawDocument::from_bytes(command).map_or(true, |doc| {
            !matches!(doc.get("speculativeAuthenticate"), Ok(None))
        })
}

/// The reply bytes as a document.
pub(crate) fn reply_document(reply: &[u8]) -> Result<&RawDocument> {
    RawDocument::from_bytes(reply).map_err(|_| Error::protocol(ProtocolViolation::ReplyNotBson))
}

/// The error code of a failed reply (`ok` other than 1), if it is one.
pub fn error_code(reply: &[u8]) -> Option<i32> {
    match reply_document(reply).map(check_ok) {
        Ok(Err(Error::Server { code, .. })) => Some(code),
        _ => None,
    }
}

/// Checks a reply: one with `ok` other than 1 (or a legacy `$err`) is [`Error::Server`], with
/// its code and message.
///
/// ```
/// let reply = bson::rawdoc! { "ok": 0, "code": 18, "codeName": "AuthenticationFailed" };
/// let error = mongodb_auth::command::check_reply(reply.as_bytes()).unwrap_err();
/// assert_eq!(error.kind(), mongodb_auth::ErrorKind::AuthenticationFailed);
/// ```
pub fn check_reply(reply: &[u8]) -> Result<()> {
    check_ok(reply_document(reply)?)
}

/// A reply with `ok` other than 1 becomes [`Error::Server`]; a legacy `$err` reply too.
pub(crate) fn check_ok(doc: &RawDocument) -> Result<()> {
    let [ok, legacy_error] = fields(doc, OK_FIELDS);
    check_ok_fields(doc, ok, legacy_error)
}

/// The fields [`check_ok_fields`] reads, for a caller that reads others in the same pass.
pub(crate) const OK_FIELDS: [&str; 2] = ["ok", "$err"];

/// [`check_ok`], with `ok` and `$err` read by the caller (see [`fields`]).
pub(crate) fn check_ok_fields(
    doc: &RawDocument,
    ok: Option<RawBsonRef<'_>>,
    legacy_error: Option<RawBsonRef<'_>>,
) -> Result<()> {
    let ok = match ok {
        Some(RawBsonRef::Double(v)) => Some(v == 1.0),
        Some(RawBsonRef::Int32(v)) => Some(v == 1),
        Some(RawBsonRef::Int64(v)) => Some(v == 1),
        Some(RawBsonRef::Boolean(v)) => Some(v),
        None => None,
        Some(_) => return Err(Error::protocol(ProtocolViolation::OkNotNumber)),
    };
    let legacy_error = legacy_error.is_some();
    match ok {
        Some(true) if !legacy_error => Ok(()),
        None if !legacy_error => Err(Error::protocol(ProtocolViolation::MissingOk)),
        _ => Err(server_error(doc)),
    }
}

/// The server's error that `doc` says: a reply whose `ok` is not 1, or an error document inside
/// one (`writeConcernError`, an element of `writeErrors`).
fn server_error(doc: &RawDocument) -> Error {
    let text = |key: &str| match doc.get(key) {
        Ok(Some(RawBsonRef::String(s))) => s.to_owned(),
        _ => String::new(),
    };
    let code = doc
        .get("code")
        .ok()
        .flatten()
        .and_then(whole_number)
        .and_then(|code| i32::try_from(code).ok())
        .unwrap_or(0);
    let message = match text("errmsg") {
        m if m.is_empty() => text("$err"),
        m => m,
    };
    let labels = match doc.get("errorLabels") {
        Ok(Some(RawBsonRef::Array(labels))) => labels
            .into_iter()
            .filter_map(|label| match label {
                Ok(RawBsonRef::String(label)) => Some(label.to_owned()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Error::Server {
        code,
        code_name: text("codeName"),
        message,
        labels,
        reply: ServerReply(doc.as_bytes().to_vec()),
    }
}

/// A BSON number that is a whole one (an integer, or a double without a fraction that an `i64`
/// holds exactly), as servers send counts and codes in any of the three types.
pub(crate) fn whole_number(value: RawBsonRef<'_>) -> Option<i64> {
    match value {
        RawBsonRef::Int32(n) => Some(i64::from(n)),
        RawBsonRef::Int64(n) => Some(n),
        RawBsonRef::Double(n) if n.fract() == 0.0 && n.abs() < 2f64.powi(53) => Some(n as i64),
        _ => None,
    }
}

/// The error in `reply` that says the command's `maxTimeMS` ran out on the server, if any:
/// code 50 ([`MAX_TIME_MS_EXPIRED`](crate::error::MAX_TIME_MS_EXPIRED), whatever its name or
/// message) at the top of an `ok: 0` reply, in `writeConcernError`, or in an element of
/// `writeErrors`: the three places where the client-side operations timeout specification has
/// a client look for it, to report its own timeout instead.
///
/// ```
/// let reply = bson::rawdoc! { "ok": 1, "writeConcernError": { "code": 50 } };
/// let expired = mongodb_auth::command::max_time_ms_expired(reply.as_bytes());
/// assert!(matches!(expired, Some(mongodb_auth::Error::Server { code: 50, .. })));
/// ```
pub fn max_time_ms_expired(reply: &[u8]) -> Option<Error> {
    use crate::error::MAX_TIME_MS_EXPIRED;
    let doc = RawDocument::from_bytes(reply).ok()?;
    let expired = |error: Error| match error {
        Error::Server {
            code: MAX_TIME_MS_EXPIRED,
            ..
        } => Some(error),
        _ => None,
    };
    if let Err(error) = check_ok(doc) {
        return expired(error);
    }
    if let Ok(Some(RawBsonRef::Document(concern))) = doc.get("writeConcernError")
        && let Some(error) = expired(server_error(concern))
    {
        return Some(error);
    }
    let Ok(Some(RawBsonRef::Array(errors))) = doc.get("writeErrors") else {
        return None;
    };
    errors.into_iter().find_map(|element| match element {
        Ok(RawBsonRef::Document(error)) => expired(server_error(error)),
        _ => None,
    })
}

/// `(user, db)` pairs of a `connectionStatus` reply.
pub fn authenticated_users(connection_status_reply: &[u8]) -> Result<Vec<(String, String)>> {
    let doc = reply_document(connection_status_reply)?;
    check_ok(doc)?;
    let malformed = || Error::protocol(ProtocolViolation::MalformedConnectionStatus);
    let auth_info = match doc.get("authInfo") {
        Ok(Some(RawBsonRef::Document(info))) => info,
        _ => return Err(malformed()),
    };
    let users = match auth_info.get("authenticatedUsers") {
        Ok(Some(RawBsonRef::Array(users))) => users,
        _ => return Err(malformed()),
    };
    let mut out = Vec::new();
    for user in users {
        let Ok(RawBsonRef::Document(user)) = user else {
            return Err(malformed());
        };
        match (user.get("user"), user.get("db")) {
            (Ok(Some(RawBsonRef::String(name))), Ok(Some(RawBsonRef::String(db)))) => {
                out.push((name.to_owned(), db.to_owned()));
            }
            _ => return Err(malformed()),
        }
    }
    Ok(out)
}

/// The `connectionStatus` command: [`authenticated_users`] reads its reply.
pub fn connection_status() -> Command {
    Command::new("admin", rawdoc! { "connectionStatus": 1 }.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Code 50 in any of the three places says `maxTimeMS` ran out; another code, or none,
    /// does not, nor does a reply that is not BSON.
    #[test]
    fn max_time_ms_expired_is_found_where_the_specification_looks() {
        let expired = |reply: RawDocumentBuf| max_time_ms_expired(reply.as_bytes());
        let found = [
            rawdoc! { "ok": 0, "code": 50, "codeName": "Other", "errmsg": "x" },
            rawdoc! { "ok": 1, "writeConcernError": { "code": 50 } },
            rawdoc! { "ok": 1, "writeErrors": [{ "index": 0, "code": 11000 }, { "code": 50 }] },
        ];
        for reply in found {
            let error = expired(reply.clone());
            assert!(
                matches!(error, Some(Error::Server { code: 50, .. })),
                "{reply:?}: {error:?}"
            );
        }
        let not_found = [
            rawdoc! { "ok": 1 },
            rawdoc! { "ok": 0, "code": 262, "codeName": "ExceededTimeLimit" },
            rawdoc! { "ok": 1, "writeConcernError": { "code": 64 } },
            rawdoc! { "ok": 1, "writeErrors": [{ "code": 11000 }, 50] },
        ];
        for reply in not_found {
            assert!(expired(reply.clone()).is_none(), "{reply:?}");
        }
        assert!(max_time_ms_expired(b"not BSON").is_none());
    }
    use crate::error::REAUTHENTICATION_REQUIRED;

    /// A client refuses an API version it does not know, as the stable API specification
    /// requires; the one it knows reads back as written.
    #[test]
    fn only_known_stable_api_versions_are_declared() {
        assert_eq!(
            "1".parse::<ServerApiVersion>().unwrap(),
            ServerApiVersion::V1
        );
        assert_eq!(ServerApiVersion::V1.to_string(), "1");
        for unknown in ["2", "", "v1", "1.0", " 1"] {
            let error = unknown.parse::<ServerApiVersion>().unwrap_err();
            assert!(
                matches!(error, Error::Unsupported { .. }),
                "{unknown:?}: {error:?}"
            );
        }
        let api = ServerApi::new(ServerApiVersion::V1);
        assert_eq!(
            (api.strict_setting(), api.deprecation_errors_setting()),
            (None, None)
        );
        let api = api.strict(false).deprecation_errors(true);
        assert_eq!(
            (
                api.version(),
                api.strict_setting(),
                api.deprecation_errors_setting()
            ),
            (ServerApiVersion::V1, Some(false), Some(true))
        );
    }

    #[test]
    fn debug_shows_no_body() {
        let command = Command::new(
            "admin",
            rawdoc! { "saslStart": 1, "payload": "hunter2" }.into_bytes(),
        );
        let debug = format!("{command:?}");
        assert!(
            debug.contains("saslStart") && !debug.contains("hunter2"),
            "{debug}"
        );
    }

    #[test]
    fn document_with_capacity_does_not_reallocate_within_it() {
        let mut doc = document_with_capacity(256);
        let before = doc.as_bytes().as_ptr();
        doc.append(bson::raw::cstr!("payload"), binary(&[7; 100]));
        assert_eq!(doc.as_bytes().as_ptr(), before);
    }

    #[test]
    fn fields_reads_like_get_in_one_pass() {
        let doc = rawdoc! { "a": 1, "b": "two", "a": 3, "c": true };
        let [c, a, missing, b] = fields(&doc, ["c", "a", "missing", "b"]);
        // The first key comes with them, whether or not it is one of the names.
        assert_eq!(named_fields(&doc, ["b"]), (Some("a"), [b]));
        assert_eq!(named_fields(&doc, ["a"]), (Some("a"), [a]));
        assert_eq!(named_fields(&rawdoc! {}, ["a"]), (None, [None]));
        assert_eq!(c, Some(RawBsonRef::Boolean(true)));
        // The first field of a name counts, as with `get`.
        assert_eq!(a, doc.get("a").unwrap());
        assert_eq!(a, Some(RawBsonRef::Int32(1)));
        assert_eq!(b, Some(RawBsonRef::String("two")));
        assert_eq!(missing, None);
        // A malformed element ends the pass: what comes after it is not found.
        let mut bytes = rawdoc! { "a": 1, "b": 2 }.into_bytes();
        // The type byte of `b` (after the length, `a`'s element of 7 bytes).
        bytes[11] = 0x77;
        let broken = RawDocument::from_bytes(&bytes).unwrap();
        assert_eq!(
            fields(broken, ["a", "b"]),
            [Some(RawBsonRef::Int32(1)), None]
        );
    }

    #[test]
    fn error_codes() {
        let reauth = rawdoc! { "ok": 0, "code": 391, "codeName": "ReauthenticationRequired" };
        assert_eq!(
            error_code(reauth.as_bytes()),
            Some(REAUTHENTICATION_REQUIRED)
        );
        assert_eq!(error_code(rawdoc! { "ok": 1 }.as_bytes()), None);
        assert_eq!(error_code(b"junk"), None);
    }
}

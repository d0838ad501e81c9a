//! The crate's one error type.
//!
//! Every message names the rule that was broken and, where there is one, the option or field
//! that broke it. Messages never contain a password, a secret key or a session token.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, from parsing a URI to a server refusing a login.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The string does not start with `mongodb://` or `mongodb+srv://`.
    #[error("connection string: the scheme must be `mongodb://` or `mongodb+srv://`")]
    InvalidScheme,

    /// The host list is empty or malformed.
    #[error("connection string: invalid host `{host}`: {rule}")]
    InvalidHost {
        /// The host identifier as written (never part of the userinfo).
        host: String,
        /// The rule that was broken.
        rule: &'static str,
    },

    /// The userinfo (`user:password@`) breaks the connection-string rules. The offending text is
    /// deliberately not repeated: it may be a password.
    #[error(
        "connection string: invalid userinfo: {rule}; percent-encode the username and password"
    )]
    InvalidUserinfo {
        /// The rule that was broken.
        rule: &'static str,
    },

    /// The database path of the URI is not a valid database name.
    #[error("connection string: invalid database name `{name}`: {rule}")]
    InvalidDatabase {
        /// The decoded database name.
        name: String,
        /// The rule that was broken.
        rule: &'static str,
    },

    /// An option is malformed or has a value the crate must reject (rather than ignore with a
    /// warning).
    #[error("connection string: option `{option}`: {rule}")]
    InvalidOption {
        /// The option key, as the user spelled it.
        option: String,
        /// The rule that was broken.
        rule: String,
    },

    /// Two options that may not be combined were both given.
    #[error("connection string: options `{first}` and `{second}` conflict: {rule}")]
    ConflictingOptions {
        /// The first option, as spelled by the user.
        first: String,
        /// The second option, as spelled by the user.
        second: String,
        /// Why they conflict.
        rule: &'static str,
    },

    /// The credential breaks a rule of the auth spec for its mechanism.
    #[error("credential for {mechanism}: {rule}")]
    InvalidCredential {
        /// The mechanism the rule belongs to (`default` when negotiated).
        mechanism: String,
        /// The rule that was broken.
        rule: String,
    },

    /// DNS seedlist discovery (`mongodb+srv`) found records that break the spec.
    #[error("mongodb+srv: {rule}")]
    Srv {
        /// The rule that was broken.
        rule: String,
    },

    /// A SCRAM message from the server breaks RFC 5802 or the auth spec, or the server failed
    /// to prove it knows the password.
    #[error("SCRAM: {0}")]
    Scram(#[from] ScramError),

    /// The server answered a command with `ok: 0`. Code 18 (`AuthenticationFailed`) means the
    /// credentials were refused; [`Error::kind`] tells it apart from other failures. The labels
    /// and the whole reply are kept for a driver's retry and server-selection logic.
    #[error("server error {code} ({code_name}): {message}")]
    Server {
        /// The server's error code.
        code: i32,
        /// The server's name for the code (may be empty on old servers).
        code_name: String,
        /// The server's message.
        message: String,
        /// `errorLabels` (`RetryableWriteError`, `ResetPool`, ...), in the server's order.
        labels: Vec<String>,
        /// The reply, as BSON bytes.
        reply: ServerReply,
    },

    /// A server reply breaks the authentication conversation: the rule it broke.
    #[error("protocol violation: {0}")]
    Protocol(ProtocolViolation),

    /// The bytes on the connection are not a valid MongoDB wire message.
    #[error("wire protocol: {0}")]
    Wire(#[from] WireError),

    /// A state machine was driven in an order it does not allow (a bug in the caller).
    #[error("`{call}` called out of order (the authenticator is {state})")]
    OutOfOrder {
        /// The method that was called.
        call: &'static str,
        /// The state the machine was in.
        state: &'static str,
    },

    /// [`Authenticator::handle_job`](crate::Authenticator::handle_job) was given keys that the
    /// derivation it asked for did not produce (another connection's job, another password).
    #[error(
        "handle_job was given keys from another key derivation than the one this authenticator asked for"
    )]
    ForeignKeys,

    /// The caller passed something a method does not take (hello fields that are not a BSON
    /// document, an answer to another ask): a bug in the caller.
    #[error("invalid input: {rule}")]
    InvalidInput {
        /// The rule that was broken.
        rule: &'static str,
    },

    /// The caller's loop met a [`Step`](crate::Step) it does not handle (a step added by a newer
    /// version of this crate, or one for a feature the caller did not expect).
    #[error("the caller does not handle the authentication step `{step}`")]
    UnhandledStep {
        /// The step's name.
        step: &'static str,
    },

    /// The mechanism is recognised but this crate cannot run it (yet).
    #[error("{mechanism} authentication is not supported by this crate yet")]
    UnsupportedMechanism {
        /// The mechanism's name.
        mechanism: &'static str,
    },

    /// The connection string asks for something an adapter, or the server, cannot do: a SOCKS5
    /// proxy, a UNIX socket on a system without them, load balancing mode of a server that is
    /// not behind a load balancer.
    #[error("unsupported: {what}")]
    Unsupported {
        /// What is unsupported, and what to do instead.
        what: String,
    },

    /// MONGODB-AWS: a server message breaks rule K2, credentials are missing or incomplete, or
    /// signing failed.
    #[error("MONGODB-AWS: {0}")]
    Aws(#[from] AwsError),

    /// MONGODB-OIDC could not get a token (a callback failed or returned nothing usable, a
    /// built-in environment's file or endpoint failed), the server's `IdpInfo` is malformed, or
    /// the host is not in `ALLOWED_HOSTS`.
    #[error("MONGODB-OIDC: {0}")]
    Oidc(#[from] OidcError),

    /// GSSAPI (Kerberos) failed on the client: no credential, an unknown service, a context that
    /// could not be established, a bad security-layer message.
    #[error("GSSAPI: {0}")]
    Gssapi(#[from] GssapiError),

    /// TLS could not be set up: a file or key of the configuration, or the handshake itself
    /// (a server certificate that is not trusted says why).
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),

    /// A DNS lookup failed (for `mongodb+srv`, or a host name with a resolver override).
    #[error("DNS lookup of `{name}` failed: {reason}")]
    Dns {
        /// The name that failed to resolve.
        name: String,
        /// Why.
        reason: String,
    },

    /// Reading from or writing to the connection failed.
    #[error("I/O error while {operation}: {source}")]
    Io {
        /// What the adapter was doing.
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An operation took longer than its timeout.
    ///
    /// When a client-side operation timeout (`timeoutMS`) cut a step short, the error carries
    /// what that step failed with, as the client-side operations timeout specification
    /// requires: searching for a host, the last host tried and why it could not be used.
    #[error(
        "timed out after {after:?} while {operation}{}",
        failure_suffix(.host.as_deref(), .cause.as_deref())
    )]
    Timeout {
        /// What the adapter was doing.
        operation: &'static str,
        /// The timeout.
        after: std::time::Duration,
        /// The last host tried (`host:port`, or a UNIX socket's path), when `timeoutMS` ran out
        /// during the search for a host, as in [`Error::ServerSelectionTimeout`].
        host: Option<String>,
        /// What the step that `timeoutMS` cut short failed with (a refused or silent host, a
        /// read that ran out of time), when it failed before the time was found to be up.
        #[source]
        cause: Option<Box<Error>>,
    },

    /// No host was connected to and answered `hello` within the time allowed to find one
    /// (`serverSelectionTimeoutMS`, or the adapters' `server_selection_timeout`).
    #[error(
        "no host answered within serverSelectionTimeoutMS ({after:?}){}",
        failure_suffix(.host.as_deref(), .cause.as_deref())
    )]
    ServerSelectionTimeout {
        /// The timeout.
        after: std::time::Duration,
        /// The last host tried (`host:port`, or a UNIX socket's path), when the time ran out at
        /// a host: after it failed, or once connected to it, before its `hello`; or, passing
        /// over the hosts again (`serverSelectionTryOnce=false`), the last pass's last host,
        /// when the next pass would begin after the window.
        host: Option<String>,
        /// Why that host could not be used (refused, silent, a failed handshake), or the seed
        /// list's lookup that ran out of time; `None` when the time ran out before anything
        /// failed: before anything was tried (`serverSelectionTimeoutMS=0`), or at a host
        /// connected to and not yet asked for `hello`.
        #[source]
        cause: Option<Box<Error>>,
    },
}

/// What follows the message of [`Error::ServerSelectionTimeout`] and [`Error::Timeout`]: the last
/// failure, and where.
fn failure_suffix(host: Option<&str>, cause: Option<&Error>) -> String {
    match (host, cause) {
        (Some(host), Some(cause)) => format!("; the last host tried, {host}: {cause}"),
        (None, Some(cause)) => format!("; {cause}"),
        (Some(host), None) => format!("; the last host tried: {host}"),
        (None, None) => String::new(),
    }
}

/// What went wrong in SCRAM, one variant per rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramError {
    /// The message is not UTF-8 or not a list of `name=value` attributes.
    #[error("malformed server message: {0}")]
    Malformed(&'static str),
    /// A required attribute (`r`, `s`, `i` or `v`) is missing.
    #[error("the server message has no `{0}=` attribute")]
    MissingAttribute(char),
    /// The server asked for a mandatory extension (`m=`), which no client supports.
    #[error("the server requires an unsupported mandatory extension (m=)")]
    MandatoryExtension,
    /// An attribute that must be base64 (`s`, `v`) is not.
    #[error("attribute `{0}=` is not valid base64")]
    InvalidBase64(char),
    /// The salt decodes to nothing.
    #[error("the salt is empty")]
    EmptySalt,
    /// The iteration count is not a number a client can use.
    #[error("the iteration count is not a positive integer")]
    InvalidIterationCount,
    /// Fewer than 4096 iterations: refused before any key is derived (auth spec).
    #[error("the iteration count {count} is below the minimum of {minimum}")]
    IterationCountTooLow {
        /// What the server sent.
        count: u32,
        /// The minimum (4096).
        minimum: u32,
    },
    /// More iterations than the client's ceiling: a hostile server could otherwise make the
    /// client burn minutes of CPU.
    #[error("the iteration count {count} is above the client's ceiling of {maximum}")]
    IterationCountTooHigh {
        /// What the server sent.
        count: u32,
        /// The configured ceiling.
        maximum: u32,
    },
    /// The server's nonce does not start with the client's.
    #[error("the server nonce does not extend the client nonce")]
    NonceMismatch,
    /// The server's nonce adds nothing to the client's.
    #[error("the server added nothing to the client nonce")]
    EmptyServerNonce,
    /// The server ended the conversation with `e=<reason>`.
    #[error("the server reported: {reason}")]
    ServerError {
        /// The server's reason, as sent.
        reason: String,
    },
    /// The server's signature (`v=`) is wrong: it does not know the password, or someone is in
    /// the middle. Mutual authentication failed.
    #[error("the server signature is wrong: mutual authentication failed")]
    ServerSignatureMismatch,
    /// The password cannot be prepared with SASLprep (RFC 4013 prohibits a character in it).
    #[error("the password contains a character SASLprep prohibits")]
    InvalidPassword,
    /// A client nonce given by the caller is empty or has a character RFC 5802 forbids.
    #[error("a client nonce must be printable ASCII without `,`")]
    InvalidNonce,
}

/// What is wrong with the bytes of a wire message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The declared length is smaller than the message header or than the opcode needs.
    #[error("message length {0} is too short")]
    TooShort(i64),
    /// The declared length is larger than the limit.
    #[error("message length {length} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The declared length.
        length: i64,
        /// The limit.
        limit: usize,
    },
    /// An opcode this decoder does not accept.
    #[error("unexpected opcode {0}")]
    UnknownOpcode(i32),
    /// The reply answers another request.
    #[error("reply is for request {actual}, expected {expected}")]
    ResponseToMismatch {
        /// The request id sent.
        expected: i32,
        /// The `responseTo` received.
        actual: i32,
    },
    /// OP_MSG flag bits 0-15 must be understood; these are not.
    #[error("unknown required OP_MSG flag bits {0:#06x}")]
    UnknownRequiredFlags(u32),
    /// The CRC-32C checksum does not match the message.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// A section or document is malformed.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// A key of the document is not valid UTF-8.
    #[error("a key of the document is not valid UTF-8")]
    InvalidUtf8Key,
    /// A reply set `moreToCome`: the server would stream further replies, which only exhaust
    /// cursors and fire-and-forget requests ask for, never an authentication command.
    #[error("the reply has the moreToCome flag set, which no request of this client asked for")]
    MoreToCome,
    /// The command body already has a `$db` field; the encoder adds it from the command's
    /// database, and a second one would be ambiguous.
    #[error("the command body already has a `$db` field")]
    CommandHasDb,
}

/// A reply of the server as BSON bytes, kept in an error (its `Debug` shows only its size).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ServerReply(pub(crate) Vec<u8>);

impl ServerReply {
    /// The reply document's bytes (empty when the error did not come from a reply).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ServerReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerReply({} bytes)", self.0.len())
    }
}

/// How a server broke the wire or authentication protocol, one variant per rule (as rustls names
/// `PeerMisbehaved`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A reply is not a BSON document.
    #[error("the reply is not a BSON document")]
    ReplyNotBson,
    /// A reply's `ok` is not a number (or a boolean).
    #[error("`ok` in the reply is not a number")]
    OkNotNumber,
    /// A reply has no `ok` field (and no legacy `$err`).
    #[error("the reply has no `ok` field")]
    MissingOk,
    /// A SASL reply lacks a field, or has it with the wrong type.
    #[error("the SASL reply has no {field}")]
    MissingSaslField {
        /// The field, with the type it must have (`boolean done`, ...).
        field: &'static str,
    },
    /// The server changed the `conversationId` in the middle of a conversation.
    #[error("the server changed the conversationId mid-conversation")]
    ConversationIdChanged,
    /// The server said `done` before the client could verify it (SCRAM's server signature, the
    /// GSSAPI security layer).
    #[error("the server ended the conversation before the client could verify it")]
    EndedEarly,
    /// The server did not end the conversation when the mechanism says it must.
    #[error("the server did not end the conversation when it should have")]
    DidNotEnd,
    /// SCRAM's final empty exchange (rule G11) got a payload.
    #[error("the final empty exchange got a non-empty payload")]
    NonEmptyFinalExchange,
    /// `speculativeAuthenticate` in the hello reply is not a document.
    #[error("speculativeAuthenticate in the hello reply is not a document")]
    SpeculativeNotDocument,
    /// The hello reply answers a `speculativeAuthenticate` the client did not send.
    #[error("the server answered a speculativeAuthenticate that was not sent")]
    UnsolicitedSpeculative,
    /// A `connectionStatus` reply has no `authInfo.authenticatedUsers` array of `{user, db}`.
    #[error("connectionStatus has no authInfo.authenticatedUsers array")]
    MalformedConnectionStatus,
}

/// What went wrong in MONGODB-OIDC, one variant per cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The credential has neither `ENVIRONMENT` nor a callback (rule L2).
    #[error("the credential has neither ENVIRONMENT nor a callback (rule L2)")]
    NoTokenSource,
    /// The credential declares a callback, and the options passed to the authenticator hold none
    /// for its flow (or hold one it does not declare).
    #[error("the credential's {flow} callback is not in the authenticator's options")]
    CallbackMissing {
        /// `machine` or `human`.
        flow: &'static str,
    },
    /// The callback failed (or panicked).
    #[error("the callback failed: {reason}")]
    CallbackFailed {
        /// What it said.
        reason: String,
    },
    /// The callback returned an empty access token (rule L11).
    #[error("the callback returned no access token (rule L11)")]
    EmptyAccessToken,
    /// `ENVIRONMENT` names no environment of rule L3.
    #[error("ENVIRONMENT must be test, azure, gcp or k8s, not `{environment}` (rule L3)")]
    UnknownEnvironment {
        /// What it named.
        environment: String,
    },
    /// A built-in environment needs a variable that is not set.
    #[error("ENVIRONMENT:{environment} needs {needs}, which is not set (rule L7)")]
    EnvironmentIncomplete {
        /// The environment.
        environment: &'static str,
        /// The variable or property it needs (`OIDC_TOKEN_FILE`, `TOKEN_RESOURCE`).
        needs: &'static str,
    },
    /// A built-in environment's token file does not exist or is not UTF-8.
    #[error("the {environment} token file {problem}")]
    TokenFile {
        /// The environment.
        environment: &'static str,
        /// `does not exist`, `is not UTF-8`.
        problem: &'static str,
    },
    /// A built-in environment's metadata endpoint answered with an error.
    #[error("the {environment} metadata endpoint answered {status}: {body}")]
    EndpointRefused {
        /// The environment.
        environment: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of the body (512 bytes at most).
        body: String,
    },
    /// A built-in environment's file or endpoint could not be read at all.
    #[error("the {environment} token source is unavailable: {reason}")]
    SourceUnavailable {
        /// The environment.
        environment: &'static str,
        /// Why (the caller's answer to the ask).
        reason: String,
    },
    /// A built-in environment's metadata reply has no usable token.
    #[error("the {environment} metadata reply {rule}")]
    MalformedTokenReply {
        /// The environment.
        environment: &'static str,
        /// What is wrong with it.
        rule: &'static str,
    },
    /// The server's `IdpInfo` breaks rule L15.
    #[error("the server's IdpInfo {rule}")]
    MalformedIdpInfo {
        /// What is wrong with it.
        rule: &'static str,
    },
    /// The human flow would send a token to a host not in `ALLOWED_HOSTS` (rule L6).
    #[error(
        "the host `{host}` is not in ALLOWED_HOSTS {allowed:?}; no token is sent to it (rule L6)"
    )]
    HostNotAllowed {
        /// The host connected to.
        host: String,
        /// The allowed patterns.
        allowed: Vec<String>,
    },
    /// An identity provider's document or keys could not be fetched.
    #[error("cannot {what}: {reason}")]
    ProviderUnavailable {
        /// What was asked (the request).
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// An identity provider's discovery document is not one (see
    /// [`ProviderMetadata`](crate::oidc::ProviderMetadata)).
    #[error("the identity provider's discovery document {rule}")]
    MalformedDiscovery {
        /// What is wrong with it.
        rule: &'static str,
    },
    /// The discovery document names another issuer than the one it was fetched for: it is not
    /// that issuer's, and nothing it names is used.
    #[error("the discovery document is for issuer `{found}`, not `{expected}`")]
    IssuerMismatch {
        /// The issuer asked for.
        expected: String,
        /// The one the document names (at most 128 characters of it).
        found: String,
    },
    /// An issuer or endpoint is plain `http` to a host that is not loopback (or not a URL at
    /// all): no token or key travels over it.
    #[error("`{url}` is neither https nor http to a loopback host")]
    InsecureEndpoint {
        /// The URL (at most 128 characters of it).
        url: String,
    },
    /// The human flow needs the server's host to check `ALLOWED_HOSTS`, and the caller gave
    /// none ([`AuthOptions::server_host`](crate::AuthOptions::server_host)).
    #[error(
        "the human flow needs the server's host to check ALLOWED_HOSTS (AuthOptions::server_host)"
    )]
    NoServerHost,
    /// The identity provider offers none of the human flows the caller allows (its discovery
    /// document names no authorization or device authorization endpoint to match).
    #[error("the identity provider `{issuer}` offers none of the flows {flows:?}")]
    NoHumanFlow {
        /// The issuer.
        issuer: String,
        /// The flows allowed, in order.
        flows: Vec<&'static str>,
    },
    /// The redirect that came back carries another `state` than the login sent: it was forged
    /// or belongs to another login, and its code is not used.
    #[error("the redirect's state is not this login's: a forged or stale redirect is refused")]
    ForgedRedirect,
    /// The redirect request, a token reply or a device authorization reply is not what RFC 6749
    /// and RFC 8628 describe.
    #[error("the {what} {rule}")]
    MalformedProviderReply {
        /// `redirect`, `token reply`, `device authorization reply`, `ID token`.
        what: &'static str,
        /// What is wrong with it.
        rule: &'static str,
    },
    /// The person (or the provider for them) refused the authorization, or the provider refused
    /// a grant (`access_denied`, `invalid_grant`, ...).
    #[error("the identity provider refused: {error}{}", description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    AuthorizationRefused {
        /// The OAuth error code (at most 128 characters).
        error: String,
        /// The provider's description, if it gave one (at most 256 characters).
        description: Option<String>,
    },
    /// The device code expired before the person finished (RFC 8628 `expired_token`, or its
    /// `expires_in` passed).
    #[error("the device code expired before the login was finished")]
    DeviceCodeExpired,
    /// The ID token names another `nonce` than the login sent (OpenID Connect Core 3.1.3.7):
    /// it was issued for another request.
    #[error("the ID token's nonce is not the one this login sent")]
    NonceMismatch,
    /// A redirect URI the human flow cannot listen on: it must be `http` to a loopback host
    /// with a port.
    #[error("the redirect URI `{uri}` {rule}")]
    InvalidRedirectUri {
        /// The URI (at most 128 characters).
        uri: String,
        /// What is wrong with it.
        rule: &'static str,
    },
}

/// Why GSSAPI failed, by phase: each is told apart by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GssapiError {
    /// No credential could be acquired: no ticket in the cache, a keytab without the
    /// principal, a wrong password, a principal the KDC does not know.
    #[error("no Kerberos credential for `{principal}`: {message}")]
    Credentials {
        /// The client principal.
        principal: String,
        /// The library's own message (major and minor status).
        message: String,
    },
    /// The KDC knows no such service: the service name, host or realm is wrong.
    #[error("the KDC knows no service `{service}`: {message}")]
    UnknownService {
        /// The service principal asked for.
        service: String,
        /// The library's own message.
        message: String,
    },
    /// Establishing the context failed for another reason.
    #[error("the GSS context failed: {message}")]
    Context {
        /// The library's own message.
        message: String,
    },
    /// The security-layer message breaks RFC 4752 section 3.1.
    #[error("the security-layer message {rule}")]
    SecurityLayer {
        /// Which rule.
        rule: &'static str,
    },
}

/// What went wrong in MONGODB-AWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AwsError {
    /// The server-first payload is not `{s: binary, h: string}`.
    #[error("malformed server-first payload: {0}")]
    MalformedServerFirst(&'static str),
    /// `s` is not 64 bytes.
    #[error("the server nonce is {len} bytes, not 64")]
    ServerNonceLength {
        /// Its length.
        len: usize,
    },
    /// `s` does not start with the client nonce.
    #[error("the server nonce does not start with the client nonce")]
    ServerNonceMismatch,
    /// `h` breaks rule K2.
    #[error("invalid STS host `{host}`: {rule}")]
    InvalidHost {
        /// The host (at most 64 characters of it).
        host: String,
        /// The rule that was broken.
        rule: &'static str,
    },
    /// A client-final payload or its authorization header is malformed (seen by a server).
    #[error("malformed client-final payload: {0}")]
    MalformedClientFinal(&'static str),
    /// No credentials were found.
    #[error("no AWS credentials found (tried: {tried})")]
    NoCredentials {
        /// Where the crate looked.
        tried: String,
        /// A source that may have had credentials could not be reached (the instance metadata
        /// endpoint timed out, say): trying again may help.
        unreachable: bool,
    },
    /// A source had part of a credential.
    #[error("incomplete AWS credentials from {origin}: {rule}")]
    IncompleteCredentials {
        /// The source.
        origin: &'static str,
        /// What is missing.
        rule: &'static str,
    },
    /// The signer refused the request.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A credentials body (process output, endpoint reply) is malformed.
    #[error("malformed credentials: {0}")]
    MalformedCredentials(&'static str),
    /// A source is set up in a way that cannot work (a profile missing or looping, settings
    /// that contradict each other, an endpoint not allowed): fix the files or variables.
    #[error("{what} is misconfigured: {rule}")]
    Misconfigured {
        /// The source or profile.
        what: String,
        /// What is wrong with it.
        rule: String,
    },
    /// A source could not be read (a file, a process, an endpoint).
    #[error("{what} is unavailable: {reason}")]
    Unavailable {
        /// What was asked for.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// A source was configured but could not give credentials, and the chain stopped there as
    /// boto3 does (a profile's role, web identity or SSO is not skipped for a later source).
    #[error("AWS credentials from {at} failed: {failed} (passed over before it: {tried})")]
    SourceFailed {
        /// The source that failed, as `mongodb-auth aws-credentials` names it.
        at: &'static str,
        /// Every source passed over before it, and why.
        tried: String,
        /// Why it failed.
        failed: Box<AwsError>,
    },
    /// An IAM Identity Center profile has no usable token: a person must sign in again.
    #[error(
        "the SSO token of profile `{profile}` {reason}: run `aws sso login --profile {profile}`"
    )]
    SsoLoginRequired {
        /// The profile.
        profile: String,
        /// What is wrong with the token.
        reason: &'static str,
    },
    /// The environment changed while the chain resolved credentials: a run of the chain asked
    /// for something else than the answer recorded at that point. Resolving again starts over.
    #[error(
        "the environment changed during the resolution: it asked to {asked} where it had asked to {recorded}"
    )]
    ChangedDuringResolution {
        /// What the answer recorded at that point answered.
        recorded: String,
        /// What the chain asked for this time.
        asked: String,
    },
    /// An AWS credentials or config file is malformed.
    #[error("malformed file at line {line}: {rule}")]
    MalformedFile {
        /// The line (0 for the whole file).
        line: usize,
        /// The rule that was broken.
        rule: &'static str,
    },
}

/// What is wrong with TLS: the configuration (files, keys) or the handshake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file named by an option cannot be read (missing, unreadable).
    #[error("{option}: cannot read `{path}`: {source}")]
    File {
        /// The option (`tlsCAFile`, `tlsCertificateKeyFile`, ...).
        option: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no certificate in it.
    #[error("{option}: `{path}` holds no PEM certificate")]
    NoCertificate {
        /// The option.
        option: &'static str,
        /// The file.
        path: std::path::PathBuf,
    },
    /// The file has no private key in it.
    #[error("{option}: `{path}` holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoPrivateKey {
        /// The option.
        option: &'static str,
        /// The file.
        path: std::path::PathBuf,
    },
    /// The private key is encrypted and no password was given.
    #[error(
        "tlsCertificateKeyFile: the private key is encrypted; give tlsCertificateKeyFilePassword"
    )]
    KeyPasswordRequired,
    /// The password does not decrypt the private key.
    #[error("tlsCertificateKeyFilePassword: the password does not decrypt the private key")]
    WrongKeyPassword,
    /// The private key is not of a kind or encryption this crate reads.
    #[error("{option}: the private key cannot be used: {rule}")]
    UnusableKey {
        /// The option.
        option: &'static str,
        /// Why.
        rule: String,
    },
    /// The private key is not the key of the certificate.
    #[error("{option}: the private key does not match the certificate")]
    KeyDoesNotMatchCertificate {
        /// The option.
        option: &'static str,
    },
    /// A certificate cannot be parsed.
    #[error("a certificate cannot be read: {rule}")]
    InvalidCertificate {
        /// Why.
        rule: String,
    },
    /// The certificate revocation list of `tlsCRLFile` cannot be used.
    #[error("tlsCRLFile: `{path}`: {rule}")]
    InvalidCrl {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        rule: String,
    },
    /// The trust store named by `SSL_CERT_FILE` or `SSL_CERT_DIR` holds no usable certificate.
    #[error(
        "{variable}: no certificate authority could be read from `{path}` ({reason}); fix or unset it"
    )]
    TrustStore {
        /// The environment variable.
        variable: &'static str,
        /// Its value.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A TLS option this client cannot honour: the connection is refused rather than made
    /// without what the option asks for.
    #[error("{option}: {reason}")]
    Unsupported {
        /// The option, as the connection string spells it (`tlsDisableOCSPEndpointCheck=false`).
        option: &'static str,
        /// What it would need, and what to do instead.
        reason: &'static str,
    },
    /// The server's certificate failed verification.
    #[error("the server's certificate is not trusted: {0}")]
    UntrustedServer(CertificateProblem),
    /// A client's certificate failed verification (seen by a server).
    #[error("the client's certificate is not trusted: {0}")]
    UntrustedClient(CertificateProblem),
    /// The peer ended the handshake with an alert (for a client: often its certificate was
    /// refused).
    #[error("the peer refused the TLS handshake with alert `{alert}`")]
    RefusedByPeer {
        /// The TLS alert, as rustls names it.
        alert: String,
    },
    /// Any other handshake failure.
    #[error("handshake failed: {0}")]
    Handshake(String),
}

/// Why a certificate was not trusted, said so that a person knows what to change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Not issued by an authority the client trusts.
    #[error(
        "it was issued by `{issuer}`, which is not one of the certificate authorities trusted, \
         from {trusted}; name that authority's certificate in tlsCAFile, or add it to the \
         system's trust store"
    )]
    UnknownIssuer {
        /// The issuer's name (RFC 2253), or `an unknown issuer` when it cannot be read.
        issuer: String,
        /// Where the trusted authorities came from (`tlsCAFile `ca.pem``, `the system's trust
        /// store`, ...).
        trusted: String,
    },
    /// A certificate authority's certificate (`CA:TRUE`, as `openssl req -x509` makes by
    /// default) presented as the server's own, and not named in `tlsCAFile`.
    #[error(
        "it is a certificate authority's certificate (CA:TRUE) used as the peer's own; to trust \
         it as itself, name this very certificate in tlsCAFile"
    )]
    CaUsedAsEndEntity,
    /// Past its validity.
    #[error("it expired (its notAfter date has passed); the peer needs a renewed certificate")]
    Expired,
    /// Before its validity.
    #[error(
        "it is not valid yet (its notBefore date is in the future); check this machine's clock"
    )]
    NotValidYet,
    /// Not issued for the name connected to.
    #[error(
        "it was issued for {presented:?}, not for `{expected}`; connect with one of those \
         names (tlsAllowInvalidHostnames=true skips this check)"
    )]
    NameMismatch {
        /// The name connected to.
        expected: String,
        /// The names the certificate holds.
        presented: Vec<String>,
    },
    /// Revoked by its issuer: the certificate revocation list of `tlsCRLFile` lists it.
    #[error("it has been revoked by its issuer (tlsCRLFile lists its serial number)")]
    Revoked,
    /// `tlsCRLFile` holds no list from the certificate's issuer, so whether it is revoked is
    /// unknown (refused, as OpenSSL refuses it).
    #[error(
        "its revocation status is unknown: tlsCRLFile holds no revocation list from its issuer"
    )]
    UnknownRevocationStatus,
    /// The certificate's signature does not verify with its issuer's key.
    #[error("its signature does not verify with its issuer's key")]
    BadSignature,
    /// The certificate is not for this use (a client certificate presented by a server, ...).
    #[error("it is not issued for this use (its extended key usage does not allow it)")]
    WrongUsage,
    /// Anything else the verifier reports.
    #[error("{0}")]
    Other(String),
}

impl ScramError {
    fn kind(&self) -> ErrorKind {
        match self {
            ScramError::ServerSignatureMismatch => ErrorKind::MutualAuthenticationFailed,
            ScramError::ServerError { .. } => ErrorKind::AuthenticationFailed,
            ScramError::InvalidPassword | ScramError::InvalidNonce => ErrorKind::Configuration,
            ScramError::Malformed(_)
            | ScramError::MissingAttribute(_)
            | ScramError::MandatoryExtension
            | ScramError::InvalidBase64(_)
            | ScramError::EmptySalt
            | ScramError::InvalidIterationCount
            | ScramError::IterationCountTooLow { .. }
            | ScramError::IterationCountTooHigh { .. }
            | ScramError::NonceMismatch
            | ScramError::EmptyServerNonce => ErrorKind::Protocol,
        }
    }
}

impl AwsError {
    fn kind(&self) -> ErrorKind {
        match self {
            AwsError::MalformedServerFirst(_)
            | AwsError::ServerNonceLength { .. }
            | AwsError::ServerNonceMismatch
            | AwsError::InvalidHost { .. }
            | AwsError::MalformedClientFinal(_) => ErrorKind::Protocol,
            AwsError::NoCredentials {
                unreachable: true, ..
            }
            | AwsError::MalformedCredentials(_)
            | AwsError::Unavailable { .. }
            | AwsError::ChangedDuringResolution { .. } => ErrorKind::CredentialUnavailable,
            AwsError::SourceFailed { failed, .. } => failed.kind(),
            AwsError::NoCredentials {
                unreachable: false, ..
            }
            | AwsError::IncompleteCredentials { .. }
            | AwsError::Signing(_)
            | AwsError::Misconfigured { .. }
            // A person must sign in again: retrying as it is changes nothing.
            | AwsError::SsoLoginRequired { .. }
            | AwsError::MalformedFile { .. } => ErrorKind::Configuration,
        }
    }
}

impl OidcError {
    fn kind(&self) -> ErrorKind {
        match self {
            OidcError::NoTokenSource
            | OidcError::CallbackMissing { .. }
            | OidcError::EmptyAccessToken
            | OidcError::UnknownEnvironment { .. }
            | OidcError::EnvironmentIncomplete { .. }
            | OidcError::HostNotAllowed { .. } => ErrorKind::Configuration,
            OidcError::CallbackFailed { .. }
            | OidcError::TokenFile { .. }
            | OidcError::EndpointRefused { .. }
            | OidcError::SourceUnavailable { .. }
            | OidcError::MalformedTokenReply { .. }
            | OidcError::ProviderUnavailable { .. }
            | OidcError::DeviceCodeExpired => ErrorKind::CredentialUnavailable,
            OidcError::AuthorizationRefused { .. } => ErrorKind::AuthenticationFailed,
            OidcError::ForgedRedirect
            | OidcError::MalformedProviderReply { .. }
            | OidcError::NonceMismatch => ErrorKind::Protocol,
            OidcError::NoHumanFlow { .. } | OidcError::InvalidRedirectUri { .. } => {
                ErrorKind::Configuration
            }
            OidcError::MalformedIdpInfo { .. }
            | OidcError::MalformedDiscovery { .. }
            | OidcError::IssuerMismatch { .. } => ErrorKind::Protocol,
            OidcError::InsecureEndpoint { .. } => ErrorKind::Configuration,
            OidcError::NoServerHost => ErrorKind::Usage,
        }
    }
}

impl GssapiError {
    fn kind(&self) -> ErrorKind {
        match self {
            GssapiError::Credentials { .. } | GssapiError::Context { .. } => {
                ErrorKind::AuthenticationFailed
            }
            GssapiError::UnknownService { .. } => ErrorKind::Configuration,
            GssapiError::SecurityLayer { .. } => ErrorKind::Protocol,
        }
    }
}

impl TlsError {
    fn kind(&self) -> ErrorKind {
        match self {
            TlsError::File { .. }
            | TlsError::NoCertificate { .. }
            | TlsError::NoPrivateKey { .. }
            | TlsError::KeyPasswordRequired
            | TlsError::WrongKeyPassword
            | TlsError::UnusableKey { .. }
            | TlsError::KeyDoesNotMatchCertificate { .. }
            | TlsError::InvalidCertificate { .. }
            | TlsError::InvalidCrl { .. }
            | TlsError::TrustStore { .. }
            | TlsError::Unsupported { .. } => ErrorKind::Configuration,
            TlsError::UntrustedServer(_)
            | TlsError::UntrustedClient(_)
            | TlsError::RefusedByPeer { .. }
            | TlsError::Handshake(_) => ErrorKind::Tls,
        }
    }
}

/// The broad class of an [`Error`], for callers that react per class (retry, re-prompt, alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection string or options are invalid: fix them, retrying changes nothing.
    Configuration,
    /// The server refused the credentials (`AuthenticationFailed`, code 18).
    AuthenticationFailed,
    /// The server could not prove it knows the password.
    MutualAuthenticationFailed,
    /// The server failed a command for another reason (its labels say whether to retry).
    Server,
    /// The peer broke the wire or authentication protocol.
    Protocol,
    /// The caller drove a state machine out of order, or passed it something it does not take.
    Usage,
    /// The connection failed (refused, reset, closed): a retry may help.
    Io,
    /// An operation did not finish in time: a retry may help.
    Timeout,
    /// The TLS handshake failed: an untrusted certificate, or the peer refused ours.
    Tls,
    /// A name did not resolve: a retry may help.
    Dns,
    /// A source of credentials or tokens could not give them now (a metadata endpoint down or
    /// slow, a callback that failed, a process that could not run): a retry may help.
    CredentialUnavailable,
}

impl ErrorKind {
    /// Whether the same operation may succeed if tried again as it is: the connection, the name
    /// lookup or a credential source failed, not the configuration or the credentials.
    pub fn is_transient(self) -> bool {
        match self {
            ErrorKind::Io
            | ErrorKind::Timeout
            | ErrorKind::Dns
            | ErrorKind::CredentialUnavailable => true,
            ErrorKind::Configuration
            | ErrorKind::AuthenticationFailed
            | ErrorKind::MutualAuthenticationFailed
            | ErrorKind::Server
            | ErrorKind::Protocol
            | ErrorKind::Usage
            | ErrorKind::Tls => false,
        }
    }
}

/// MongoDB's error code for refused credentials.
pub const AUTHENTICATION_FAILED: i32 = 18;

/// MongoDB's error code asking the client to authenticate the connection again and then run the
/// command once more (rule M1).
pub const REAUTHENTICATION_REQUIRED: i32 = 391;

/// MongoDB's `MaxTimeMSExpired`: a command's `maxTimeMS` ran out on the server.
pub const MAX_TIME_MS_EXPIRED: i32 = 50;

impl Error {
    /// The class of the error. Every variant, and every variant of the errors inside them, is
    /// named here: a new one cannot land without a class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidScheme
            | Error::InvalidHost { .. }
            | Error::InvalidUserinfo { .. }
            | Error::InvalidDatabase { .. }
            | Error::InvalidOption { .. }
            | Error::ConflictingOptions { .. }
            | Error::InvalidCredential { .. }
            | Error::Srv { .. }
            | Error::UnsupportedMechanism { .. }
            | Error::Unsupported { .. } => ErrorKind::Configuration,
            Error::Scram(error) => error.kind(),
            Error::Server {
                code: AUTHENTICATION_FAILED,
                ..
            } => ErrorKind::AuthenticationFailed,
            Error::Server { .. } => ErrorKind::Server,
            Error::Protocol(_) => ErrorKind::Protocol,
            Error::Wire(WireError::CommandHasDb) => ErrorKind::Usage,
            Error::Wire(
                WireError::TooShort(_)
                | WireError::TooLarge { .. }
                | WireError::UnknownOpcode(_)
                | WireError::ResponseToMismatch { .. }
                | WireError::UnknownRequiredFlags(_)
                | WireError::ChecksumMismatch
                | WireError::Malformed(_)
                | WireError::InvalidUtf8Key
                | WireError::MoreToCome,
            ) => ErrorKind::Protocol,
            Error::OutOfOrder { .. }
            | Error::ForeignKeys
            | Error::InvalidInput { .. }
            | Error::UnhandledStep { .. } => ErrorKind::Usage,
            Error::Aws(error) => error.kind(),
            Error::Oidc(error) => error.kind(),
            Error::Gssapi(error) => error.kind(),
            Error::Tls(error) => error.kind(),
            Error::Dns { .. } => ErrorKind::Dns,
            Error::Io { .. } => ErrorKind::Io,
            Error::Timeout { .. } | Error::ServerSelectionTimeout { .. } => ErrorKind::Timeout,
        }
    }

    /// For a server error: whether its reply carries `label` in `errorLabels`.
    pub fn has_label(&self, label: &str) -> bool {
        matches!(self, Error::Server { labels, .. } if labels.iter().any(|l| l == label))
    }

    pub(crate) fn protocol(violation: ProtocolViolation) -> Self {
        Error::Protocol(violation)
    }

    pub(crate) fn option(option: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidOption {
            option: option.into(),
            rule: rule.into(),
        }
    }

    pub(crate) fn credential(mechanism: impl fmt::Display, rule: impl Into<String>) -> Self {
        Error::InvalidCredential {
            mechanism: mechanism.to_string(),
            rule: rule.into(),
        }
    }

    pub(crate) fn srv(rule: impl Into<String>) -> Self {
        Error::Srv { rule: rule.into() }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn server(code: i32, labels: &[&str]) -> Error {
        Error::Server {
            code,
            code_name: String::new(),
            message: String::new(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            reply: ServerReply::default(),
        }
    }

    /// Every variant, nested ones included, with the class a driver acts on.
    #[test]
    fn each_error_has_its_kind() {
        use ErrorKind::*;
        let text = || "x".to_owned();
        let io = || std::io::Error::other("x");
        let path = || std::path::PathBuf::from("x");
        let table: Vec<(Error, ErrorKind)> = vec![
            (Error::InvalidScheme, Configuration),
            (
                Error::InvalidHost {
                    host: text(),
                    rule: "x",
                },
                Configuration,
            ),
            (Error::InvalidUserinfo { rule: "x" }, Configuration),
            (
                Error::InvalidDatabase {
                    name: text(),
                    rule: "x",
                },
                Configuration,
            ),
            (
                Error::InvalidOption {
                    option: text(),
                    rule: text(),
                },
                Configuration,
            ),
            (
                Error::ConflictingOptions {
                    first: text(),
                    second: text(),
                    rule: "x",
                },
                Configuration,
            ),
            (
                Error::InvalidCredential {
                    mechanism: text(),
                    rule: text(),
                },
                Configuration,
            ),
            (Error::Srv { rule: text() }, Configuration),
            (ScramError::Malformed("x").into(), Protocol),
            (ScramError::MissingAttribute('r').into(), Protocol),
            (ScramError::MandatoryExtension.into(), Protocol),
            (ScramError::InvalidBase64('s').into(), Protocol),
            (ScramError::EmptySalt.into(), Protocol),
            (ScramError::InvalidIterationCount.into(), Protocol),
            (
                ScramError::IterationCountTooLow {
                    count: 1,
                    minimum: 4096,
                }
                .into(),
                Protocol,
            ),
            (
                ScramError::IterationCountTooHigh {
                    count: 9,
                    maximum: 1,
                }
                .into(),
                Protocol,
            ),
            (ScramError::NonceMismatch.into(), Protocol),
            (ScramError::EmptyServerNonce.into(), Protocol),
            (
                ScramError::ServerError { reason: text() }.into(),
                AuthenticationFailed,
            ),
            (
                ScramError::ServerSignatureMismatch.into(),
                MutualAuthenticationFailed,
            ),
            (ScramError::InvalidPassword.into(), Configuration),
            (ScramError::InvalidNonce.into(), Configuration),
            (server(AUTHENTICATION_FAILED, &[]), AuthenticationFailed),
            (server(REAUTHENTICATION_REQUIRED, &[]), Server),
            (server(11600, &["RetryableWriteError"]), Server),
            (Error::Protocol(ProtocolViolation::ReplyNotBson), Protocol),
            (Error::Protocol(ProtocolViolation::OkNotNumber), Protocol),
            (Error::Protocol(ProtocolViolation::MissingOk), Protocol),
            (
                Error::Protocol(ProtocolViolation::MissingSaslField { field: "x" }),
                Protocol,
            ),
            (
                Error::Protocol(ProtocolViolation::ConversationIdChanged),
                Protocol,
            ),
            (Error::Protocol(ProtocolViolation::EndedEarly), Protocol),
            (Error::Protocol(ProtocolViolation::DidNotEnd), Protocol),
            (
                Error::Protocol(ProtocolViolation::NonEmptyFinalExchange),
                Protocol,
            ),
            (
                Error::Protocol(ProtocolViolation::SpeculativeNotDocument),
                Protocol,
            ),
            (
                Error::Protocol(ProtocolViolation::UnsolicitedSpeculative),
                Protocol,
            ),
            (
                Error::Protocol(ProtocolViolation::MalformedConnectionStatus),
                Protocol,
            ),
            (WireError::TooShort(1).into(), Protocol),
            (
                WireError::TooLarge {
                    length: 1,
                    limit: 0,
                }
                .into(),
                Protocol,
            ),
            (WireError::UnknownOpcode(1).into(), Protocol),
            (
                WireError::ResponseToMismatch {
                    expected: 1,
                    actual: 2,
                }
                .into(),
                Protocol,
            ),
            (WireError::UnknownRequiredFlags(1).into(), Protocol),
            (WireError::ChecksumMismatch.into(), Protocol),
            (WireError::Malformed("x").into(), Protocol),
            (WireError::InvalidUtf8Key.into(), Protocol),
            (WireError::MoreToCome.into(), Protocol),
            (WireError::CommandHasDb.into(), Usage),
            (
                Error::OutOfOrder {
                    call: "x",
                    state: "y",
                },
                Usage,
            ),
            (Error::ForeignKeys, Usage),
            (Error::InvalidInput { rule: "x" }, Usage),
            (Error::UnhandledStep { step: "x" }, Usage),
            (
                Error::UnsupportedMechanism { mechanism: "x" },
                Configuration,
            ),
            (Error::Unsupported { what: text() }, Configuration),
            (AwsError::MalformedServerFirst("x").into(), Protocol),
            (AwsError::ServerNonceLength { len: 1 }.into(), Protocol),
            (AwsError::ServerNonceMismatch.into(), Protocol),
            (
                AwsError::InvalidHost {
                    host: text(),
                    rule: "x",
                }
                .into(),
                Protocol,
            ),
            (AwsError::MalformedClientFinal("x").into(), Protocol),
            (
                AwsError::NoCredentials {
                    tried: text(),
                    unreachable: false,
                }
                .into(),
                Configuration,
            ),
            (
                AwsError::NoCredentials {
                    tried: text(),
                    unreachable: true,
                }
                .into(),
                CredentialUnavailable,
            ),
            (
                AwsError::IncompleteCredentials {
                    origin: "x",
                    rule: "y",
                }
                .into(),
                Configuration,
            ),
            (AwsError::Signing(text()).into(), Configuration),
            (
                AwsError::MalformedCredentials("x").into(),
                CredentialUnavailable,
            ),
            (
                AwsError::Unavailable {
                    what: text(),
                    reason: text(),
                }
                .into(),
                CredentialUnavailable,
            ),
            (
                AwsError::MalformedFile { line: 1, rule: "x" }.into(),
                Configuration,
            ),
            (
                AwsError::SsoLoginRequired {
                    profile: text(),
                    reason: "x",
                }
                .into(),
                Configuration,
            ),
            (
                AwsError::Misconfigured {
                    what: text(),
                    rule: text(),
                }
                .into(),
                Configuration,
            ),
            // A source's failure is of the kind of what failed it.
            (
                AwsError::SourceFailed {
                    at: "sso",
                    tried: text(),
                    failed: Box::new(AwsError::MalformedFile { line: 1, rule: "x" }),
                }
                .into(),
                Configuration,
            ),
            (
                AwsError::SourceFailed {
                    at: "ec2",
                    tried: text(),
                    failed: Box::new(AwsError::MalformedCredentials("x")),
                }
                .into(),
                CredentialUnavailable,
            ),
            (OidcError::NoTokenSource.into(), Configuration),
            (OidcError::MalformedDiscovery { rule: "x" }.into(), Protocol),
            (
                OidcError::ProviderUnavailable {
                    what: text(),
                    reason: text(),
                }
                .into(),
                CredentialUnavailable,
            ),
            (
                OidcError::IssuerMismatch {
                    expected: text(),
                    found: text(),
                }
                .into(),
                Protocol,
            ),
            (
                OidcError::InsecureEndpoint { url: text() }.into(),
                Configuration,
            ),
            (
                OidcError::CallbackMissing { flow: "human" }.into(),
                Configuration,
            ),
            (
                OidcError::CallbackFailed { reason: text() }.into(),
                CredentialUnavailable,
            ),
            (OidcError::EmptyAccessToken.into(), Configuration),
            (
                OidcError::UnknownEnvironment {
                    environment: text(),
                }
                .into(),
                Configuration,
            ),
            (
                OidcError::EnvironmentIncomplete {
                    environment: "test",
                    needs: "x",
                }
                .into(),
                Configuration,
            ),
            (
                OidcError::TokenFile {
                    environment: "k8s",
                    problem: "x",
                }
                .into(),
                CredentialUnavailable,
            ),
            (
                OidcError::EndpointRefused {
                    environment: "azure",
                    status: 500,
                    body: text(),
                }
                .into(),
                CredentialUnavailable,
            ),
            (
                OidcError::SourceUnavailable {
                    environment: "gcp",
                    reason: text(),
                }
                .into(),
                CredentialUnavailable,
            ),
            (
                OidcError::MalformedTokenReply {
                    environment: "azure",
                    rule: "x",
                }
                .into(),
                CredentialUnavailable,
            ),
            (OidcError::MalformedIdpInfo { rule: "x" }.into(), Protocol),
            (
                OidcError::HostNotAllowed {
                    host: text(),
                    allowed: vec![],
                }
                .into(),
                Configuration,
            ),
            (OidcError::NoServerHost.into(), Usage),
            (
                OidcError::NoHumanFlow {
                    issuer: text(),
                    flows: vec!["auth-code"],
                }
                .into(),
                Configuration,
            ),
            (OidcError::ForgedRedirect.into(), Protocol),
            (
                OidcError::MalformedProviderReply {
                    what: "token reply",
                    rule: "x",
                }
                .into(),
                Protocol,
            ),
            (
                OidcError::AuthorizationRefused {
                    error: text(),
                    description: None,
                }
                .into(),
                AuthenticationFailed,
            ),
            (OidcError::DeviceCodeExpired.into(), CredentialUnavailable),
            (OidcError::NonceMismatch.into(), Protocol),
            (
                OidcError::InvalidRedirectUri {
                    uri: text(),
                    rule: "x",
                }
                .into(),
                Configuration,
            ),
            (
                GssapiError::Credentials {
                    principal: text(),
                    message: text(),
                }
                .into(),
                AuthenticationFailed,
            ),
            (
                GssapiError::UnknownService {
                    service: text(),
                    message: text(),
                }
                .into(),
                Configuration,
            ),
            (
                GssapiError::Context { message: text() }.into(),
                AuthenticationFailed,
            ),
            (GssapiError::SecurityLayer { rule: "x" }.into(), Protocol),
            (
                TlsError::File {
                    option: "x",
                    path: path(),
                    source: io(),
                }
                .into(),
                Configuration,
            ),
            (
                TlsError::NoCertificate {
                    option: "x",
                    path: path(),
                }
                .into(),
                Configuration,
            ),
            (
                TlsError::NoPrivateKey {
                    option: "x",
                    path: path(),
                }
                .into(),
                Configuration,
            ),
            (TlsError::KeyPasswordRequired.into(), Configuration),
            (TlsError::WrongKeyPassword.into(), Configuration),
            (
                TlsError::UnusableKey {
                    option: "x",
                    rule: text(),
                }
                .into(),
                Configuration,
            ),
            (
                TlsError::KeyDoesNotMatchCertificate { option: "x" }.into(),
                Configuration,
            ),
            (
                TlsError::InvalidCertificate { rule: text() }.into(),
                Configuration,
            ),
            (
                TlsError::UntrustedServer(CertificateProblem::UnknownIssuer {
                    issuer: text(),
                    trusted: text(),
                })
                .into(),
                Tls,
            ),
            (
                TlsError::UntrustedClient(CertificateProblem::Expired).into(),
                Tls,
            ),
            (TlsError::RefusedByPeer { alert: text() }.into(), Tls),
            (
                TlsError::InvalidCrl {
                    path: "x".into(),
                    rule: text(),
                }
                .into(),
                Configuration,
            ),
            (
                TlsError::TrustStore {
                    variable: "SSL_CERT_FILE",
                    path: text(),
                    reason: text(),
                }
                .into(),
                Configuration,
            ),
            (
                TlsError::Unsupported {
                    option: "x",
                    reason: "y",
                }
                .into(),
                Configuration,
            ),
            (TlsError::Handshake(text()).into(), Tls),
            (
                Error::Dns {
                    name: text(),
                    reason: text(),
                },
                Dns,
            ),
            (
                Error::Io {
                    operation: "x",
                    source: io(),
                },
                Io,
            ),
            (
                Error::Timeout {
                    operation: "x",
                    after: Duration::ZERO,
                    host: None,
                    cause: None,
                },
                Timeout,
            ),
            (
                Error::ServerSelectionTimeout {
                    after: Duration::ZERO,
                    host: None,
                    cause: None,
                },
                Timeout,
            ),
        ];
        for (error, kind) in &table {
            assert_eq!(error.kind(), *kind, "{error:?}");
        }
        let transient: Vec<_> = table
            .iter()
            .filter(|(_, kind)| kind.is_transient())
            .map(|(_, kind)| *kind)
            .collect();
        assert!(
            transient
                .iter()
                .all(|k| matches!(k, Io | Timeout | Dns | CredentialUnavailable))
        );
        assert!(server(11600, &["RetryableWriteError"]).has_label("RetryableWriteError"));
        assert!(!server(11600, &[]).has_label("RetryableWriteError"));
    }

    /// A search for a host that ran out, by its own window or by `timeoutMS`, says what failed
    /// last, and where, in its message and as its source (the client-side operations timeout
    /// specification: the underlying error, exposed and in the message); nothing when nothing
    /// was tried.
    #[test]
    fn a_search_for_a_host_that_ran_out_shows_the_last_failure() {
        let refused = || Error::Io {
            operation: "connecting",
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        type Build = fn(Option<&str>, Option<Error>) -> Error;
        let window: Build = |host, cause| Error::ServerSelectionTimeout {
            after: Duration::from_millis(700),
            host: host.map(str::to_owned),
            cause: cause.map(Box::new),
        };
        let operation: Build = |host, cause| Error::Timeout {
            operation: "connecting and logging in (timeoutMS)",
            after: Duration::from_millis(700),
            host: host.map(str::to_owned),
            cause: cause.map(Box::new),
        };
        let builds = [
            (
                window,
                "no host answered within serverSelectionTimeoutMS (700ms)",
            ),
            (
                operation,
                "timed out after 700ms while connecting and logging in (timeoutMS)",
            ),
        ];
        for (timed_out, head) in builds {
            let cases = [
                (
                    timed_out(Some("db1:27017"), Some(refused())),
                    format!("; the last host tried, db1:27017: {}", refused()),
                    true,
                ),
                (
                    timed_out(None, Some(refused())),
                    format!("; {}", refused()),
                    true,
                ),
                (
                    timed_out(Some("db1:27017"), None),
                    "; the last host tried: db1:27017".to_owned(),
                    false,
                ),
                (timed_out(None, None), String::new(), false),
            ];
            for (error, tail, has_source) in cases {
                let shown = error.to_string();
                assert_eq!(shown, format!("{head}{tail}"));
                let source = std::error::Error::source(&error).map(ToString::to_string);
                let expected = has_source.then(|| refused().to_string());
                assert_eq!(source, expected, "{shown}");
            }
        }
    }
}

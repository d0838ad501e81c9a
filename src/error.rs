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
    /// credentials were refused; [`Error::kind`] tells it apart from other failures.
    #[error("server error {code} ({code_name}): {message}")]
    Server {
        /// The server's error code.
        code: i32,
        /// The server's name for the code (may be empty on old servers).
        code_name: String,
        /// The server's message.
        message: String,
    },

    /// A server reply breaks the authentication conversation (a field missing or of the wrong
    /// type, a conversation that ends too early or goes on too long).
    #[error("protocol violation: {rule}")]
    Protocol {
        /// The rule that was broken.
        rule: String,
    },

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

    /// [`Authenticator::handle_key`](crate::Authenticator::handle_key) was given keys that the
    /// derivation it asked for did not produce (another connection's job, another password).
    #[error(
        "handle_key was given keys from another key derivation than the one this authenticator asked for"
    )]
    ForeignKeys,

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

    /// The connection string asks for something an adapter cannot do (yet), like TLS before the
    /// TLS support lands, or an unresolved `mongodb+srv` name.
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
    #[error("MONGODB-OIDC: {reason}")]
    Oidc {
        /// What went wrong, and which rule it breaks.
        reason: String,
    },

    /// GSSAPI (Kerberos) failed on the client: no credential, an unknown service, a context that
    /// could not be established, a bad security-layer message.
    #[error("GSSAPI: {0}")]
    Gssapi(crate::gssapi::GssapiError),

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
    #[error("timed out after {after:?} while {operation}")]
    Timeout {
        /// What the adapter was doing.
        operation: &'static str,
        /// The timeout.
        after: std::time::Duration,
    },
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
    /// A source could not be read (a file, a process, an endpoint).
    #[error("{what} is unavailable: {reason}")]
    Unavailable {
        /// What was asked for.
        what: String,
        /// Why it failed.
        reason: String,
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

/// Why a certificate was not trusted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Not issued by a trusted authority (give the right `tlsCAFile`).
    #[error("unknown issuer (not signed by a trusted certificate authority; check tlsCAFile)")]
    UnknownIssuer,
    /// Past its validity.
    #[error("expired")]
    Expired,
    /// Before its validity.
    #[error("not valid yet")]
    NotValidYet,
    /// Not issued for the name connected to.
    #[error(
        "issued for {presented:?}, not for `{expected}` (tlsAllowInvalidHostnames skips this check)"
    )]
    NameMismatch {
        /// The name connected to.
        expected: String,
        /// The names the certificate holds.
        presented: Vec<String>,
    },
    /// Revoked by its issuer.
    #[error("revoked")]
    Revoked,
    /// Anything else rustls reports.
    #[error("{0}")]
    Other(String),
}

/// The broad class of an [`Error`], for callers that react per class (retry, re-prompt, alert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The connection string or options are invalid.
    Configuration,
    /// The server refused the credentials (`AuthenticationFailed`, code 18).
    AuthenticationFailed,
    /// The server could not prove it knows the password.
    MutualAuthenticationFailed,
    /// The server failed a command for another reason.
    Server,
    /// The peer broke the wire or authentication protocol.
    Protocol,
    /// The caller drove a state machine out of order.
    Usage,
    /// The connection failed (refused, reset, closed).
    Io,
    /// An operation did not finish in time.
    Timeout,
    /// The TLS handshake failed: an untrusted certificate, or the peer refused ours.
    Tls,
    /// A name did not resolve.
    Dns,
}

/// MongoDB's error code for refused credentials.
pub const AUTHENTICATION_FAILED: i32 = 18;

/// MongoDB's error code asking the client to authenticate the connection again and then run the
/// command once more (rule M1).
pub const REAUTHENTICATION_REQUIRED: i32 = 391;

impl Error {
    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Server {
                code: AUTHENTICATION_FAILED,
                ..
            } => ErrorKind::AuthenticationFailed,
            Error::Server { .. } => ErrorKind::Server,
            Error::Scram(ScramError::ServerSignatureMismatch) => {
                ErrorKind::MutualAuthenticationFailed
            }
            Error::Scram(ScramError::ServerError { .. }) => ErrorKind::AuthenticationFailed,
            Error::Scram(ScramError::InvalidPassword | ScramError::InvalidNonce) => {
                ErrorKind::Configuration
            }
            Error::Wire(WireError::CommandHasDb) => ErrorKind::Usage,
            Error::Aws(
                AwsError::MalformedServerFirst(_)
                | AwsError::ServerNonceLength { .. }
                | AwsError::ServerNonceMismatch
                | AwsError::InvalidHost { .. }
                | AwsError::MalformedClientFinal(_),
            ) => ErrorKind::Protocol,
            Error::Scram(_) | Error::Protocol { .. } | Error::Wire(_) => ErrorKind::Protocol,
            Error::OutOfOrder { .. } | Error::ForeignKeys | Error::UnhandledStep { .. } => {
                ErrorKind::Usage
            }
            Error::Gssapi(
                crate::gssapi::GssapiError::Credentials { .. }
                | crate::gssapi::GssapiError::Context { .. },
            ) => ErrorKind::AuthenticationFailed,
            Error::Gssapi(crate::gssapi::GssapiError::SecurityLayer { .. }) => ErrorKind::Protocol,
            Error::Io { .. } => ErrorKind::Io,
            Error::Tls(
                TlsError::UntrustedServer(_)
                | TlsError::UntrustedClient(_)
                | TlsError::RefusedByPeer { .. }
                | TlsError::Handshake(_),
            ) => ErrorKind::Tls,
            Error::Dns { .. } => ErrorKind::Dns,
            Error::Timeout { .. } => ErrorKind::Timeout,
            _ => ErrorKind::Configuration,
        }
    }

    pub(crate) fn protocol(rule: impl Into<String>) -> Self {
        Error::Protocol { rule: rule.into() }
    }

    pub(crate) fn option(option: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidOption {
            option: option.into(),
            rule: rule.into(),
        }
    }

    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    pub(crate) fn oidc(reason: impl Into<String>) -> Self {
        Error::Oidc {
            reason: reason.into(),
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

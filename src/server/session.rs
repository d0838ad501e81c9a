//! One connection's command handling, without I/O: a command document in, a reply document out,
//! or a job or an ask for the embedding server to complete first (a PLAIN check's PBKDF2, a GSS
//! call, an exchange with STS). Each mechanism's side of the conversation is in a module of its
//! own, behind [`ServerConversation`](super::conversation::ServerConversation); the session keeps
//! the SASL framing, speculative attempts inside `hello`, the log and the authenticated users.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::raw::cstr;
use bson::{RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};
use zeroize::Zeroizing;

use super::conversation::{ServerContext, ServerConversation, Verdict, conversation_for};
use super::danger::{ArmedFailPoint, FailCommand, Fired, Misbehavior, command_named};
use super::job::{Job, JobOutput, Ticket};
use super::store::{Store, StoreLimits, is_valid_document};
use super::users::{StoredCredential, User, UserStore};
use crate::ask::{Answer, Ask};
use crate::command::{
    ServerApi, ServerApiVersion, binary, document_with_capacity, fields, named_fields,
};
use crate::handshake::{MAX_APP_NAME_LEN, MAX_CLIENT_METADATA_LEN, check_app_name};
use crate::random::{BoxedRandom, SecureRandom, SystemRandom};
use crate::scram::{ScramVariant, SecretBytes};

/// The server version the embedded server reports.
pub const SERVER_VERSION: &str = "7.0.0";
/// The wire version of MongoDB 7.0.
pub const MAX_WIRE_VERSION: i32 = 21;

/// What the server's authentication log reports. The client only ever hears "Authentication
/// failed."; the reason is for whoever runs the server, as in mongod's log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthEvent {
    /// A login succeeded.
    Authenticated {
        /// The connection.
        connection_id: i32,
        /// The user.
        user: String,
        /// Its database.
        db: String,
        /// The mechanism.
        mechanism: &'static str,
        /// Whether the conversation started inside `hello`.
        speculative: bool,
    },
    /// A TLS handshake failed (an untrusted or expired client certificate, a client that does
    /// not speak TLS).
    TlsFailed {
        /// The connection.
        connection_id: i32,
        /// Why.
        reason: String,
    },
    /// A login was refused.
    Refused {
        /// The connection.
        connection_id: i32,
        /// The user the client claimed, if it got that far.
        user: String,
        /// The database.
        db: String,
        /// The mechanism.
        mechanism: &'static str,
        /// Why (a fixed rule, or what STS answered).
        reason: std::borrow::Cow<'static, str>,
    },
}

/// Text a client chose (a user name, a key id, a token's claims), as a log line shows it: control
/// characters and backslashes escaped, so no client can end a line or write one of its own, and
/// cut after [`LOGGED_CHARS`] characters, so no client makes a line of megabytes.
struct Escaped<'a>(&'a str);

/// The characters of a client's text a log line shows: more than any real user name, X.509
/// subject or reason holds.
const LOGGED_CHARS: usize = 512;

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for (shown, (at, c)) in self.0.char_indices().enumerate() {
            if shown == LOGGED_CHARS {
                return write!(f, "...({} more bytes)", self.0.len() - at);
            }
            match c {
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for AuthEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthEvent::Authenticated {
                connection_id,
                user,
                db,
                mechanism,
                speculative,
            } => write!(
                f,
                "conn{connection_id}: {}@{} authenticated with {mechanism}{}",
                Escaped(user),
                Escaped(db),
                if *speculative { " (speculative)" } else { "" }
            ),
            AuthEvent::TlsFailed {
                connection_id,
                reason,
            } => write!(
                f,
                "conn{connection_id}: TLS handshake failed: {}",
                Escaped(reason)
            ),
            AuthEvent::Refused {
                connection_id,
                user,
                db,
                mechanism,
                reason,
            } => {
                write!(
                    f,
                    "conn{connection_id}: {mechanism} login of {}@{} refused: {}",
                    Escaped(user),
                    Escaped(db),
                    Escaped(reason)
                )
            }
        }
    }
}

/// A user a connection logged in, and the mechanism that logged it in: the same name from two
/// mechanisms (an X.509 subject, an OIDC principal) is two entries, never one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthenticatedUser {
    /// The user.
    pub user: String,
    /// Its database.
    pub db: String,
    /// The mechanism.
    pub mechanism: &'static str,
}

/// A receiver of [`AuthEvent`]s.
pub type AuthLog = Arc<dyn Fn(&AuthEvent) + Send + Sync>;

/// What every session of a server shares.
pub struct SessionConfig {
    /// The users.
    pub users: UserStore,
    /// Receives every login and refusal.
    pub auth_log: Option<AuthLog>,
    /// Misbehavior, changeable while the server runs (a test arms a fail point between two
    /// operations, as with mongod's `configureFailPoint`): see [`dangerous`](Self::dangerous).
    faults: Mutex<Faults>,
    /// Server nonces come from here.
    random: Mutex<BoxedRandom>,
    /// MONGODB-AWS, when enabled.
    #[cfg(feature = "aws")]
    pub aws: Option<super::aws::AwsSettings>,
    /// GSSAPI, when enabled.
    pub gssapi: Option<super::gssapi::GssapiSettings>,
    /// MONGODB-OIDC, when enabled.
    #[cfg(feature = "oidc")]
    pub oidc: Vec<super::oidc::OidcSettings>,
    /// Whether clients may run test commands (`configureFailPoint`), as mongod's
    /// `enableTestCommands`: never on a server that is not a test fixture.
    pub enable_test_commands: bool,
    /// Whether every command must declare a stable API version (`apiVersion`), as mongod's
    /// `requireApiVersion`: a client that declares none is refused from its first `hello`.
    /// Whether or not it is set, a declared version is checked as mongod checks it.
    pub require_api_version: bool,
    /// The caps of the documents clients insert.
    pub store_limits: StoreLimits,
    /// The largest request the embedding server reads (default and at most
    /// [`wire::MAX_MESSAGE_SIZE`](crate::wire::MAX_MESSAGE_SIZE)): `hello` advertises it, and a
    /// document size within it, so drivers split their batches to fit.
    pub max_message_size: usize,
    store: Mutex<Store>,
    /// `topologyVersion.processId`: fixed for the life of the server, so a driver's monitor sees
    /// one server that never changes.
    process_id: [u8; 12],
    /// Keys the decoy salts of unknown users, so they are stable but unpredictable.
    decoy_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults = self.faults();
        f.debug_struct("SessionConfig")
            .field("users", &self.users)
            .field("misbehavior", &faults.misbehavior)
            .field("fail_point", &faults.fail_point)
            .field("auth_log", &self.auth_log.is_some())
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A configuration serving `users`, its randomness from [`SystemRandom`].
    pub fn new(users: UserStore) -> Self {
        SessionConfig::with_random(users, SystemRandom)
    }

    /// A configuration serving `users`, with salts, nonces and decoys drawn from `random`.
    pub fn with_random(
        users: UserStore,
        mut random: impl SecureRandom + Send + Sync + 'static,
    ) -> Self {
        let mut decoy_key = Zeroizing::new([0u8; 32]);
        random.fill(decoy_key.as_mut());
        let mut process_id = [0u8; 12];
        random.fill(&mut process_id);
        SessionConfig {
            users,
            auth_log: None,
            faults: Mutex::new(Faults::default()),
            random: Mutex::new(Box::new(random)),
            #[cfg(feature = "aws")]
            aws: None,
            gssapi: None,
            #[cfg(feature = "oidc")]
            oidc: Vec::new(),
            enable_test_commands: false,
            require_api_version: false,
            store_limits: StoreLimits::default(),
            max_message_size: crate::wire::MAX_MESSAGE_SIZE,
            store: Mutex::new(Store::default()),
            process_id,
            decoy_key,
        }
    }

    /// The knobs that make the server misbehave, for tests of clients only: fenced off here as
    /// rustls fences `ClientConfig::dangerous()`.
    pub fn dangerous(&self) -> DangerousSessionConfig<'_> {
        DangerousSessionConfig { config: self }
    }

    /// `maxMessageSizeBytes`: the largest request the server reads.
    fn advertised_message_size(&self) -> i32 {
        let size = self.max_message_size.min(crate::wire::MAX_MESSAGE_SIZE);
        i32::try_from(size).unwrap_or(i32::MAX)
    }

    /// `maxBsonObjectSize`: 16 MiB as MongoDB's, or less when requests are capped lower, so that
    /// a document of that size still fits a request with the 16 KiB MongoDB allows for the
    /// command around it (half the request, under a cap too small for that).
    fn advertised_object_size(&self) -> i32 {
        const COMMAND_ROOM: i32 = 16 * 1024;
        let message = self.advertised_message_size();
        (16 * 1024 * 1024).min(message.saturating_sub(COMMAND_ROOM).max(message / 2))
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // Each change is whole or not made: a poisoned store is still consistent.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn fill_random(&self, bytes: &mut [u8]) {
        // A panic while drawing cannot leave a generator in a state worse than any other.
        self.random
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(bytes);
    }

    /// The key of the decoy salts of one database's unknown users: the same name in two
    /// databases gets unrelated salts, as two real users' are.
    pub(crate) fn decoy_key_for(&self, db: &str) -> SecretBytes {
        crate::scram::hmac_of_parts(
            ScramVariant::Sha256,
            self.decoy_key.as_ref(),
            &[b"database\0", db.as_bytes()],
        )
    }

    /// A user with both verifiers, which no password matches, at the iteration counts of the
    /// users' own: PLAIN checks stand in its verifiers for those a user lacks (or for an unknown
    /// user), so every refusal costs the same. Made for each check, from the users as they are
    /// then (drawn at random, nothing derived).
    pub(crate) fn decoy_user(&self) -> User {
        let mut random = crate::random::from_fn(|bytes: &mut [u8]| self.fill_random(bytes));
        let mut decoy = User::without_credentials("admin", "decoy");
        for variant in [ScramVariant::Sha1, ScramVariant::Sha256] {
            decoy.set(StoredCredential::decoy(
                "decoy",
                "admin",
                variant,
                self.users.decoy_iterations(variant),
                &mut random,
            ));
        }
        decoy
    }

    /// Arms `rule` as the fail point (`None`: none), as `configureFailPoint` does: the other
    /// misbehaviours stay, as mongod's fail points are each their own. How many times the fail
    /// point fired in all, the one it replaces included (mongod's `count`).
    pub(crate) fn arm_fail_point(&self, rule: Option<FailCommand>) -> u64 {
        let mut faults = self.faults();
        let replaced = std::mem::replace(&mut faults.fail_point, rule.map(ArmedFailPoint::new));
        faults.count_fired(replaced)
    }

    pub(crate) fn sends_wrong_server_signature(&self) -> bool {
        self.faults().misbehavior == Some(Misbehavior::WrongServerSignature)
    }
}

/// The test knobs of a [`SessionConfig`]: each one breaks a promise a real server keeps.
pub struct DangerousSessionConfig<'a> {
    config: &'a SessionConfig,
}

impl std::fmt::Debug for DangerousSessionConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DangerousSessionConfig")
            .finish_non_exhaustive()
    }
}

impl DangerousSessionConfig<'_> {
    /// Makes the server misbehave (for tests of clients), from now on, in this way only; `None`
    /// stops it. A new fail point replaces the previous one and counts its `times` afresh.
    pub fn misbehave(&self, misbehavior: Option<Misbehavior>) {
        let mut faults = self.config.faults();
        let replaced = match misbehavior {
            Some(Misbehavior::FailCommand(rule)) => {
                faults.misbehavior = None;
                faults.fail_point.replace(ArmedFailPoint::new(rule))
            }
            other => {
                faults.misbehavior = other;
                faults.fail_point.take()
            }
        };
        faults.count_fired(replaced);
    }
}

#[derive(Default)]
struct Faults {
    misbehavior: Option<Misbehavior>,
    fail_point: Option<ArmedFailPoint>,
    /// How many times the fail points replaced so far fired: mongod's `failCommand` counts
    /// over its whole life, whatever its mode was.
    fired_before: u64,
}

impl Faults {
    /// Counts the firings of `replaced`, a fail point taken out: how many times the fail point
    /// fired in all, as `configureFailPoint` answers.
    fn count_fired(&mut self, replaced: Option<ArmedFailPoint>) -> u64 {
        let fired = replaced.map_or(0, |point| u64::from(point.times_fired()));
        self.fired_before = self.fired_before.saturating_add(fired);
        self.fired_before
    }
}

/// An awaitable `hello` whose replies stream: the name its fail point matches, the reply, and
/// the time between two.
#[derive(Debug)]
struct Streamed {
    command: &'static str,
    reply: Vec<u8>,
    every: Duration,
}

/// What the embedding server does next for a command.
#[derive(Debug)]
#[non_exhaustive]
pub enum SessionStep {
    /// Send this reply document (BSON bytes).
    Reply(Vec<u8>),
    /// Send this reply once this long has passed: a fail point blocks its connection.
    ReplyAfter(Duration, Vec<u8>),
    /// The answer to an awaitable `hello`, which waits this long for a change that never
    /// comes. When the request allowed exhaust (`Message::exhaust_allowed`), the server sends it
    /// with `moreToCome` and again each [`Session::stream_interval`] (the wait, without a fail
    /// point's block on the request), until the client closes: the
    /// streaming protocol of a driver's monitor. Whoever sends the session's replies sends none,
    /// stream or not, to a request that itself said more was to come.
    Stream(Duration, Vec<u8>),
    /// Close the connection without a reply (a fail point's `closeConnection`).
    Close,
    /// Close it once this long has passed: a fail point blocks the connection, then closes it.
    CloseAfter(Duration),
    /// Run this job where blocking is allowed and pass its output to
    /// [`Session::handle_job`].
    Job(Job),
    /// Answer this (an exchange with STS) and pass the answer to [`Session::handle_answer`].
    Ask(Ask),
}

/// MongoDB error codes the server uses.
mod codes {
    pub const BAD_VALUE: (i32, &str) = (2, "BadValue");
    pub const UNAUTHORIZED: (i32, &str) = (13, "Unauthorized");
    pub const INVALID_BSON: (i32, &str) = (22, "InvalidBSON");
    pub const INVALID_NAMESPACE: (i32, &str) = (73, "InvalidNamespace");
    pub const PROTOCOL_ERROR: (i32, &str) = (17, "ProtocolError");
    pub const AUTHENTICATION_FAILED: (i32, &str) = (18, "AuthenticationFailed");
    pub const COMMAND_NOT_FOUND: (i32, &str) = (59, "CommandNotFound");
    pub const EXCEEDED_MEMORY_LIMIT: (i32, &str) = (146, "ExceededMemoryLimit");
    pub const MECHANISM_UNAVAILABLE: (i32, &str) = (334, "MechanismUnavailable");
    pub const REAUTHENTICATION_REQUIRED: (i32, &str) = (391, "ReauthenticationRequired");
    pub const TYPE_MISMATCH: (i32, &str) = (14, "TypeMismatch");
    pub const API_VERSION_ERROR: (i32, &str) = (322, "APIVersionError");
    pub const API_STRICT_ERROR: (i32, &str) = (323, "APIStrictError");
    pub const API_VERSION_REQUIRED: (i32, &str) = (498870, "Location498870");
    pub const API_FLAGS_WITHOUT_VERSION: (i32, &str) = (4886600, "Location4886600");
    pub const CLIENT_METADATA_MISSING_FIELD: (i32, &str) = (183, "ClientMetadataMissingField");
    pub const CLIENT_METADATA_APP_NAME_TOO_LARGE: (i32, &str) =
        (184, "ClientMetadataAppNameTooLarge");
    pub const CLIENT_METADATA_DOCUMENT_TOO_LARGE: (i32, &str) =
        (185, "ClientMetadataDocumentTooLarge");
    pub const CLIENT_METADATA_CANNOT_BE_MUTATED: (i32, &str) =
        (186, "ClientMetadataCannotBeMutated");
}

/// A command the server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Known {
    /// `hello`, or the legacy `isMaster` (either spelling).
    Hello {
        legacy: bool,
    },
    SaslStart,
    SaslContinue,
    /// MONGODB-X509's.
    Authenticate,
    /// `ping` or `endSessions`: nothing to do.
    Ping,
    BuildInfo,
    ConnectionStatus,
    /// Only on a server with test commands enabled.
    ConfigureFailPoint,
    Find,
    Insert,
    Drop,
}

impl Known {
    /// The command `name` names, if the server runs it (`configureFailPoint` only with
    /// `test_commands`).
    fn named(name: &str, test_commands: bool) -> Option<Known> {
        Some(match command_named(name) {
            "hello" => Known::Hello { legacy: false },
            "isMaster" => Known::Hello { legacy: true },
            "saslStart" => Known::SaslStart,
            "saslContinue" => Known::SaslContinue,
            "authenticate" => Known::Authenticate,
            "ping" | "endSessions" => Known::Ping,
            "buildInfo" => Known::BuildInfo,
            "connectionStatus" => Known::ConnectionStatus,
            "configureFailPoint" if test_commands => Known::ConfigureFailPoint,
            "find" => Known::Find,
            "insert" => Known::Insert,
            "drop" => Known::Drop,
            _ => return None,
        })
    }

    /// Whether it acts for a logged-in user (refused without a login, and once the login has
    /// expired): not the handshake, the login itself, or the commands mongod answers anyone.
    fn needs_login(self) -> bool {
        matches!(
            self,
            Known::ConfigureFailPoint | Known::Find | Known::Insert | Known::Drop
        )
    }

    /// Whether it is in version 1 of the stable API, as mongod's commands declare it:
    /// `apiStrict` refuses the others.
    fn in_api_v1(self) -> bool {
        !matches!(
            self,
            Known::Hello { legacy: true }
                | Known::BuildInfo
                | Known::ConnectionStatus
                | Known::ConfigureFailPoint
        )
    }
}

fn error_reply((code, code_name): (i32, &str), message: &str) -> RawDocumentBuf {
    rawdoc! { "ok": 0.0, "errmsg": message, "code": code, "codeName": code_name }
}

/// mongod's answer to every refused login, whatever the reason: unknown user, wrong password or
/// missing mechanism look the same in the reply. (As with mongod, `saslSupportedMechs` and
/// speculative authentication in `hello` do tell a client which users exist: negotiation needs
/// it.)
fn authentication_failed() -> RawDocumentBuf {
    error_reply(codes::AUTHENTICATION_FAILED, "Authentication failed.")
}

/// A SASL reply without its `ok`, as embedded in `hello`; with room for `ok`, which
/// [`sasl_reply`] appends.
fn sasl_fields(id: i32, done: bool, payload: &[u8]) -> RawDocumentBuf {
    // The fields' names, types and fixed-size values, `ok` included, fit in 64 bytes.
    let mut reply = document_with_capacity(payload.len().saturating_add(64));
    reply.append(cstr!("conversationId"), id);
    reply.append(cstr!("done"), done);
    reply.append(cstr!("payload"), binary(payload));
    reply
}

fn sasl_reply(id: i32, done: bool, payload: &[u8]) -> RawDocumentBuf {
    let mut reply = sasl_fields(id, done, payload);
    reply.append(cstr!("ok"), 1.0);
    reply
}

/// A conversation in progress.
struct Active {
    frame: Frame,
    conversation: Box<dyn ServerConversation>,
}

/// What the session knows of a conversation: its SASL framing.
struct Frame {
    id: i32,
    db: String,
    speculative: bool,
    skip_empty_exchange: bool,
}

/// What a command waits for before its reply.
enum Pending {
    Job(Ticket),
    Ask(Ask),
}

/// The state of one client connection.
pub struct Session {
    config: Arc<SessionConfig>,
    connection_id: i32,
    /// The RFC 2253 subject of the client certificate the TLS layer verified.
    client_subject: Option<String>,
    authenticated: Vec<AuthenticatedUser>,
    conversation: Option<Active>,
    next_conversation_id: i32,
    /// A job or an ask is out for the command being answered: its payload form (base64 string
    /// or binary) for the reply.
    pending: Option<(Pending, bool)>,
    /// `client.application.name` of the client metadata taken, which fail points may choose
    /// connections by.
    app_name: Option<String>,
    /// How long a fail point holds the reply of the command that waits for a job or an ask.
    held: Option<Duration>,
    /// The awaitable `hello` whose replies stream, while they do.
    streamed: Option<Streamed>,
    /// Whether a `hello` has run on the connection: its client metadata is then final, as in
    /// mongod, and a `hello` that carries more is refused. One refused before it ran (its
    /// metadata, or a fail point) does not make it final.
    metadata_final: bool,
    /// The logins that end, each user's with its MONGODB-OIDC token's expiry: once one has
    /// ended, commands that need a login are answered `ReauthenticationRequired` (391) until
    /// that user logs in again. At most one entry a user.
    login_ends: Vec<(AuthenticatedUser, SystemTime)>,
    /// The conversations this connection opened, speculative ones included, and its X.509
    /// `authenticate` commands.
    logins_begun: u64,
}

impl Session {
    /// A new connection, numbered `connection_id` (reported in `hello`).
    pub fn new(config: Arc<SessionConfig>, connection_id: i32) -> Self {
        Session {
            config,
            connection_id,
            client_subject: None,
            authenticated: Vec::new(),
            conversation: None,
            next_conversation_id: 1,
            pending: None,
            app_name: None,
            held: None,
            streamed: None,
            metadata_final: false,
            login_ends: Vec::new(),
            logins_begun: 0,
        }
    }

    /// The users this connection authenticated, each with the mechanism that did.
    pub fn authenticated_users(&self) -> &[AuthenticatedUser] {
        &self.authenticated
    }

    /// Records the subject of the client certificate the TLS layer verified on this connection
    /// (RFC 2253, see `x509::certificate_subject`): the identity MONGODB-X509 logs in.
    pub fn set_client_certificate_subject(&mut self, subject: Option<String>) {
        self.client_subject = subject;
    }

    /// Whether some user logged in on this connection.
    pub fn is_authenticated(&self) -> bool {
        !self.authenticated.is_empty()
    }

    /// Whether a login is under way: a conversation is open, or its job or ask is out. The
    /// embedding server bounds how long one may last.
    pub fn login_in_progress(&self) -> bool {
        self.conversation.is_some() || self.pending.is_some()
    }

    /// How many logins this connection began (SASL conversations opened, speculative ones
    /// included, and MONGODB-X509 `authenticate` commands). The embedding server charges each
    /// one that begins after a login to the same budget as requests before any: a connection
    /// that logged in is no place to try passwords from at full speed.
    pub fn logins_begun(&self) -> u64 {
        self.logins_begun
    }

    /// Whether the login under way waits for a person: MONGODB-OIDC's human flow, whose client
    /// runs its callback (a browser, a device code) between the server's answer to the principal
    /// step and the token. The embedding server gives such a login minutes, not seconds.
    pub fn login_awaits_person(&self) -> bool {
        self.conversation
            .as_ref()
            .is_some_and(|active| active.conversation.awaits_person())
    }

    /// Handles one command (the body of an OP_MSG, with `$db`).
    pub fn handle_op_msg(&mut self, body: &[u8], now: SystemTime) -> SessionStep {
        match RawDocument::from_bytes(body).ok().map(Request::with_db) {
            Some((Some(db), request)) => self.dispatch(db, &request, now),
            _ => reply(error_reply(codes::BAD_VALUE, "the command has no $db")),
        }
    }

    /// Handles a legacy OP_QUERY against `<db>.$cmd` (the `isMaster` that opens connections).
    pub fn handle_op_query(
        &mut self,
        collection: &str,
        query: &[u8],
        now: SystemTime,
    ) -> SessionStep {
        let Some(db) = collection.strip_suffix(".$cmd") else {
            return reply(error_reply(
                codes::BAD_VALUE,
                "OP_QUERY is only supported for commands",
            ));
        };
        // A read preference wraps the command as {$query: {...}, $readPreference: ...}: `$query`
        // first, where a command has its name.
        // Borrowed, not copied: the query may be a PLAIN saslStart with a password in it.
        let wrapped = RawDocument::from_bytes(query)
            .ok()
            .and_then(|doc| doc.iter_elements().next())
            .and_then(Result::ok)
            .filter(|first| first.key().as_str() == "$query")
            .and_then(|first| first.value().ok());
        let unwrapped = match wrapped {
            Some(RawBsonRef::Document(inner)) => inner.as_bytes(),
            _ => query,
        };
        self.handle_command(db, unwrapped, now)
    }

    /// Handles one command against `db`.
    pub fn handle_command(&mut self, db: &str, command: &[u8], now: SystemTime) -> SessionStep {
        match RawDocument::from_bytes(command) {
            Ok(doc) => self.dispatch(db, &Request::without_db(doc), now),
            Err(_) => reply(error_reply(
                codes::BAD_VALUE,
                "the command is not a BSON document",
            )),
        }
    }

    /// What comes next in the stream an awaitable `hello` opened ([`SessionStep::Stream`]),
    /// asked once a reply of it went out, as mongod runs the command again then, its fail point
    /// asked first: `None`, the same reply after the interval (with `moreToCome`);
    /// [`SessionStep::Stream`], the same after the fail point's block, then the interval;
    /// [`SessionStep::ReplyAfter`], the fail point's error after its block (maybe none), which
    /// ends the stream (sent without `moreToCome`, at once); [`SessionStep::CloseAfter`], the
    /// connection closed after the block. Also `None` when no stream is under way.
    pub fn next_streamed(&mut self) -> Option<SessionStep> {
        let streamed = self.streamed.as_ref()?;
        let fired = self
            .config
            .faults()
            .fail_point
            .as_ref()
            .and_then(|point| point.fire(streamed.command, self.app_name.as_deref()))?;
        let block = fired.block.unwrap_or_default();
        Some(if fired.close_connection {
            SessionStep::CloseAfter(block)
        } else if let Some(error) = fired.error {
            let refusal = failed_by_fail_point(error, &fired, streamed.command);
            self.streamed = None;
            SessionStep::ReplyAfter(block, refusal.into_bytes())
        } else {
            SessionStep::Stream(block, streamed.reply.clone())
        })
    }

    /// The interval of the stream of replies under way: the awaitable `hello`'s wait.
    pub fn stream_interval(&self) -> Option<Duration> {
        self.streamed.as_ref().map(|streamed| streamed.every)
    }

    /// Takes the output of the pending [`SessionStep::Job`]; the output of any other job (one
    /// this session handed out before, or another session's) is refused, and the pending job
    /// still waits for its own.
    pub fn handle_job(&mut self, output: JobOutput, now: SystemTime) -> SessionStep {
        let in_kind = match self.pending.take() {
            Some((Pending::Job(ticket), in_kind)) if output.ticket == ticket => in_kind,
            other => {
                self.pending = other;
                return reply(error_reply(
                    codes::PROTOCOL_ERROR,
                    "the output is not of the job that is pending",
                ));
            }
        };
        let step = self.continue_with(now, in_kind, |conversation, cx| {
            conversation.on_job(cx, output)
        });
        self.held_for(step)
    }

    /// Takes the answer to a [`SessionStep::Ask`]; an answer to another ask is refused.
    pub fn handle_answer(&mut self, answer: Answer, now: SystemTime) -> SessionStep {
        let in_kind = match self.pending.take() {
            Some((Pending::Ask(ask), in_kind)) if *answer.ask() == ask => in_kind,
            other => {
                self.pending = other;
                return reply(error_reply(
                    codes::PROTOCOL_ERROR,
                    "the answer is not to the ask that is pending",
                ));
            }
        };
        let step = self.continue_with(now, in_kind, |conversation, cx| {
            conversation.on_answer(cx, answer)
        });
        self.held_for(step)
    }

    /// `step`, held as long as the fail point that fired on its command says: mongod waits
    /// `blockTimeMS` before whatever else the fail point does (closing the connection, an
    /// error) or the command's own reply. A step that still waits for a job or an ask keeps
    /// the hold for the reply behind it.
    fn held_for(&mut self, step: SessionStep) -> SessionStep {
        let Some(block) = self.held.take() else {
            return step;
        };
        match step {
            SessionStep::Reply(body) => SessionStep::ReplyAfter(block, body),
            SessionStep::Close => SessionStep::CloseAfter(block),
            step @ (SessionStep::Job(_) | SessionStep::Ask(_)) => {
                self.held = Some(block);
                step
            }
            // The block adds to the awaited time (mongod blocks first, then waits).
            SessionStep::Stream(wait, body) => {
                SessionStep::Stream(wait.saturating_add(block), body)
            }
            step => step,
        }
    }

    fn dispatch(&mut self, db: &str, request: &Request<'_>, now: SystemTime) -> SessionStep {
        // A request ends the stream of replies under way, if any.
        self.streamed = None;
        let Some(name) = request.name else {
            return reply(error_reply(codes::BAD_VALUE, "empty command"));
        };
        let doc = request.doc;
        let known = Known::named(name, self.config.enable_test_commands);
        // mongod refuses a command it does not know before it reads the command's stable API
        // fields, and those before anything else.
        if let Some(known) = known
            && let Err(refusal) = request.api.check(name, known)
        {
            return reply(refusal);
        }
        let is_hello = matches!(known, Some(Known::Hello { .. }));
        if is_hello {
            match client_metadata(doc, self.metadata_final) {
                Ok(Some(application)) => self.app_name = application,
                Ok(None) => {}
                Err(refusal) => return reply(refusal),
            }
        }
        let fired = self
            .config
            .faults()
            .fail_point
            .as_ref()
            .and_then(|point| point.fire(name, self.app_name.as_deref()));
        let Some(fired) = fired else {
            return self.run(known, name, db, request, now);
        };
        let step = if fired.close_connection {
            SessionStep::Close
        } else {
            match fired.error {
                Some(error) => reply(failed_by_fail_point(error, &fired, name)),
                None => self.run(known, name, db, request, now),
            }
        };
        self.held = fired.block;
        self.held_for(step)
    }

    /// Runs the command `name` (`known`, unless the server does not run it).
    fn run(
        &mut self,
        known: Option<Known>,
        name: &str,
        db: &str,
        request: &Request<'_>,
        now: SystemTime,
    ) -> SessionStep {
        let doc = request.doc;
        let needs_login = known.is_none_or(Known::needs_login);
        if needs_login && self.login_ends.iter().any(|(_, ends)| now >= *ends) {
            return reply(error_reply(
                codes::REAUTHENTICATION_REQUIRED,
                "the access token has expired: log in again",
            ));
        }
        let unauthorized = || {
            error_reply(
                codes::UNAUTHORIZED,
                &format!("Command {name} requires authentication"),
            )
        };
        let Some(known) = known else {
            let refusal = if name == "configureFailPoint" {
                error_reply(
                    codes::COMMAND_NOT_FOUND,
                    "no such command: 'configureFailPoint' (the server was not started with test commands enabled)",
                )
            } else if !self.is_authenticated() {
                unauthorized()
            } else {
                error_reply(
                    codes::COMMAND_NOT_FOUND,
                    &format!("no such command: '{name}'"),
                )
            };
            return reply(refusal);
        };
        if needs_login && !self.is_authenticated() {
            return reply(unauthorized());
        }
        // mongod asks for a declared version last: a command it would refuse for another reason
        // (a fail point, metadata, authorization) is refused for that.
        if self.config.require_api_version && !request.api.declares_version() {
            return reply(error_reply(
                codes::API_VERSION_REQUIRED,
                "this server requires every command to declare a stable API version: the \
                 apiVersion parameter is required, so configure the client's server API",
            ));
        }
        let done = match known {
            Known::Hello { legacy } => {
                self.metadata_final = true;
                let request = HelloRequest::read(doc);
                let answer = self.hello(&request, !legacy, now);
                return match self.awaits(&request) {
                    Some(wait) => {
                        let answer = answer.into_bytes();
                        self.streamed = Some(Streamed {
                            command: if legacy { "isMaster" } else { "hello" },
                            reply: answer.clone(),
                            every: wait,
                        });
                        SessionStep::Stream(wait, answer)
                    }
                    None => reply(answer),
                };
            }
            Known::SaslStart => return self.sasl_start(db, &request.sasl, now),
            Known::SaslContinue => return self.sasl_continue(&request.sasl, now),
            Known::Authenticate => self.authenticate_x509(db, doc, false),
            Known::Ping => Ok(rawdoc! { "ok": 1.0 }),
            Known::BuildInfo => Ok(build_info(&self.config)),
            Known::ConnectionStatus => Ok(self.connection_status()),
            Known::ConfigureFailPoint => self.configure_fail_point(db, doc),
            Known::Find => self.find(db, doc),
            Known::Insert => self.insert(db, doc),
            Known::Drop => Ok(self.drop_collection(db, doc)),
        };
        reply(done.unwrap_or_else(|error| error))
    }

    /// How long an awaitable `hello` waits before its answer: the client's `maxAwaitTimeMS`
    /// when it knows this server's topology version (which never changes), at most a minute.
    fn awaits(&self, request: &HelloRequest<'_>) -> Option<Duration> {
        const MAX_AWAIT: Duration = Duration::from_secs(60);
        let Some(RawBsonRef::Document(version)) = request.topology_version else {
            return None;
        };
        let [process_id, counter] = fields(version, ["processId", "counter"]);
        let ours = matches!(
            process_id,
            Some(RawBsonRef::ObjectId(id)) if id.bytes() == self.config.process_id
        );
        let counter = match counter {
            Some(RawBsonRef::Int64(n)) => n,
            Some(RawBsonRef::Int32(n)) => i64::from(n),
            _ => return None,
        };
        let millis = match request.max_await_time_ms {
            Some(RawBsonRef::Int64(n)) => u64::try_from(n).ok()?,
            Some(RawBsonRef::Int32(n)) => u64::try_from(n).ok()?,
            _ => return None,
        };
        (ours && counter == 0).then(|| Duration::from_millis(millis).min(MAX_AWAIT))
    }

    /// `configureFailPoint` (test commands only, against `admin`): arms `failCommand` for every
    /// connection, or turns it off.
    fn configure_fail_point(
        &self,
        db: &str,
        doc: &RawDocument,
    ) -> Result<RawDocumentBuf, RawDocumentBuf> {
        if db != "admin" {
            return Err(error_reply(
                codes::UNAUTHORIZED,
                "configureFailPoint may only be run against the admin database.",
            ));
        }
        let rule = FailCommand::from_configure_command(doc)
            .map_err(|refused| error_reply(codes::BAD_VALUE, &refused.to_string()))?;
        // As mongod answers: how many times the fail point has fired, whatever its modes.
        let count = self.config.arm_fail_point(rule);
        Ok(rawdoc! { "count": i64::try_from(count).unwrap_or(i64::MAX), "ok": 1.0 })
    }

    /// `insert`: keeps the documents (inline, or from a document sequence), all or none.
    fn insert(&self, db: &str, doc: &RawDocument) -> Result<RawDocumentBuf, RawDocumentBuf> {
        let namespace = namespace(db, doc, "insert")?;
        let Ok(Some(RawBsonRef::Array(array))) = doc.get("documents") else {
            return Err(error_reply(codes::BAD_VALUE, "insert needs `documents`"));
        };
        let mut documents = Vec::new();
        for element in array {
            match element {
                Ok(RawBsonRef::Document(document)) if is_valid_document(document) => {
                    documents.push(document.to_owned());
                }
                Ok(RawBsonRef::Document(_)) => {
                    return Err(error_reply(
                        codes::INVALID_BSON,
                        "a document is not valid BSON, or nests more than 100 levels deep",
                    ));
                }
                _ => return Err(error_reply(codes::BAD_VALUE, "`documents` holds documents")),
            }
        }
        let n = self
            .config
            .store()
            .insert(
                &namespace,
                documents,
                self.config.store_limits,
                usize::try_from(self.config.advertised_message_size()).unwrap_or(usize::MAX),
            )
            .map_err(|reason| error_reply(codes::EXCEEDED_MEMORY_LIMIT, &reason))?;
        Ok(rawdoc! { "n": i32::try_from(n).unwrap_or(i32::MAX), "ok": 1.0 })
    }

    /// `find` with an empty filter: every document of the collection, in one batch.
    fn find(&self, db: &str, doc: &RawDocument) -> Result<RawDocumentBuf, RawDocumentBuf> {
        let namespace = namespace(db, doc, "find")?;
        match doc.get("filter") {
            Ok(None) => {}
            Ok(Some(RawBsonRef::Document(filter))) if filter.is_empty() => {}
            _ => {
                return Err(error_reply(
                    codes::BAD_VALUE,
                    "the embedded server's find takes only an empty filter: it has no query language",
                ));
            }
        }
        let mut batch = RawArrayBuf::new();
        for document in self.config.store().find(&namespace) {
            batch.push(document.clone());
        }
        let mut cursor = RawDocumentBuf::new();
        cursor.append(cstr!("firstBatch"), batch);
        cursor.append(cstr!("id"), 0_i64);
        cursor.append(cstr!("ns"), namespace.as_str());
        let mut answer = RawDocumentBuf::new();
        answer.append(cstr!("cursor"), cursor);
        answer.append(cstr!("ok"), 1.0);
        Ok(answer)
    }

    /// `drop`: empties the collection (dropping one that holds nothing is no error, as in
    /// MongoDB 7.0).
    fn drop_collection(&self, db: &str, doc: &RawDocument) -> RawDocumentBuf {
        if let Ok(namespace) = namespace(db, doc, "drop") {
            self.config.store().drop_namespace(&namespace);
        }
        rawdoc! { "ok": 1.0 }
    }

    fn hello(
        &mut self,
        request: &HelloRequest<'_>,
        modern: bool,
        now: SystemTime,
    ) -> RawDocumentBuf {
        // Room for every field and a speculative answer, so the reply is built in one buffer.
        let mut reply = document_with_capacity(HELLO_REPLY_CAPACITY);
        if request.hello_ok {
            reply.append(cstr!("helloOk"), true);
        }
        reply.append(
            if modern {
                cstr!("isWritablePrimary")
            } else {
                cstr!("ismaster")
            },
            true,
        );
        reply.append(
            cstr!("maxBsonObjectSize"),
            self.config.advertised_object_size(),
        );
        reply.append(
            cstr!("maxMessageSizeBytes"),
            self.config.advertised_message_size(),
        );
        reply.append(cstr!("maxWriteBatchSize"), 100_000);
        reply.append(cstr!("localTime"), bson::DateTime::from_system_time(now));
        reply.append(cstr!("logicalSessionTimeoutMinutes"), 30);
        reply.append(cstr!("connectionId"), self.connection_id);
        reply.append(cstr!("minWireVersion"), 0);
        reply.append(cstr!("maxWireVersion"), MAX_WIRE_VERSION);
        reply.append(cstr!("readOnly"), false);
        // A version that never changes: a driver's monitor keeps the server selectable and may
        // wait on an awaitable hello.
        let process_id = bson::oid::ObjectId::from_bytes(self.config.process_id);
        let mut topology_version = document_with_capacity(48);
        topology_version.append(cstr!("processId"), process_id);
        topology_version.append(cstr!("counter"), 0_i64);
        reply.append(cstr!("topologyVersion"), topology_version);
        if request.load_balanced {
            // What a service behind a load balancer must answer (load balancer spec): the
            // process's identity, which clients' pools key their connections by. The rest of
            // the reply stays a standalone's.
            reply.append(cstr!("serviceId"), process_id);
        }
        if let Some(name) = request.sasl_supported_mechs {
            // "<db>.<user>"; an unknown user gets no list, as from mongod.
            let user = name
                .split_once('.')
                .and_then(|(db, user)| self.config.users.get(db, user));
            if let Some(user) = user {
                reply.append(cstr!("saslSupportedMechs"), user.mechanism_array());
            }
        }
        if let Some(speculative) = request.speculative_authenticate {
            // A speculative attempt that cannot go on is dropped silently; the client then runs a
            // normal conversation (handshake spec).
            let (first_key, login) = SaslFields::in_hello(speculative);
            let answer = match first_key {
                Some("saslStart") => login
                    .db
                    .and_then(|db| self.speculative_sasl_start(db, &login, now)),
                // PyMongo sends the X.509 attempt without `db`: that means `$external`.
                Some("authenticate") => {
                    let db = login.db.unwrap_or("$external");
                    self.authenticate_x509(db, speculative, true)
                        .ok()
                        .map(|answer| without_ok(&answer))
                }
                _ => None,
            };
            if let Some(answer) = answer {
                reply.append(cstr!("speculativeAuthenticate"), answer);
            }
        }
        reply.append(cstr!("ok"), 1.0);
        reply
    }

    /// `saslStart`: a new conversation of the mechanism, if this server has it.
    fn sasl_start(&mut self, db: &str, start: &SaslFields<'_>, now: SystemTime) -> SessionStep {
        let opened = match self.open_conversation(db, start, false) {
            Ok(opened) => opened,
            Err(error) => return reply(error),
        };
        let Some((active, payload)) = opened else {
            return reply(authentication_failed());
        };
        self.conversation = Some(active);
        self.continue_with(now, payload.is_string(), |conversation, cx| {
            conversation.start(cx, payload.bytes())
        })
    }

    /// `saslStart` inside `hello`: the reply to embed, if the conversation can go on. An attempt
    /// that cannot is dropped silently; the client then runs a normal conversation (handshake
    /// spec).
    fn speculative_sasl_start(
        &mut self,
        db: &str,
        start: &SaslFields<'_>,
        now: SystemTime,
    ) -> Option<RawDocumentBuf> {
        let (mut active, payload) = self.open_conversation(db, start, true).ok().flatten()?;
        let cx = context(&self.config, &active.frame, now);
        let verdict = active.conversation.start(&cx, payload.bytes());
        let mechanism = active.conversation.mechanism();
        match verdict {
            Verdict::Continue(payload) => {
                let answer = sasl_fields(active.frame.id, false, &payload);
                self.conversation = Some(active);
                Some(answer)
            }
            Verdict::Authenticated {
                user,
                payload,
                expires,
            } => {
                let answer = sasl_fields(active.frame.id, true, &payload);
                self.mark_authenticated(user, active.frame.db, mechanism, true, expires);
                Some(answer)
            }
            // A refusal is logged only when it is one: a user without the mechanism is not.
            Verdict::Refused { .. } | Verdict::Job(_) | Verdict::Ask(_) => None,
        }
    }

    /// A conversation for `saslStart`'s mechanism, and its payload: `Ok(None)` refuses
    /// (AuthenticationFailed, or silence inside `hello`); `Err` is a reply of its own.
    #[allow(clippy::type_complexity)]
    fn open_conversation<'d>(
        &mut self,
        db: &str,
        start: &SaslFields<'d>,
        speculative: bool,
    ) -> Result<Option<(Active, SaslPayload<'d>)>, RawDocumentBuf> {
        let Some(RawBsonRef::String(mechanism)) = start.mechanism else {
            return Err(error_reply(codes::BAD_VALUE, "saslStart needs a mechanism"));
        };
        let Some(payload) = SaslPayload::read(start.payload) else {
            return Err(error_reply(codes::BAD_VALUE, "saslStart needs a payload"));
        };
        let skip_empty_exchange = matches!(
            start.options,
            Some(RawBsonRef::Document(options)) if matches!(options.get("skipEmptyExchange"), Ok(Some(RawBsonRef::Boolean(true))))
        );
        self.conversation = None;
        // A job or ask still out is the conversation's this replaces: its hold goes with it.
        self.pending = None;
        self.held = None;
        let Some(conversation) = conversation_for(mechanism, &self.config, speculative) else {
            if speculative {
                return Ok(None);
            }
            return Err(error_reply(
                codes::MECHANISM_UNAVAILABLE,
                &format!("Received authentication for mechanism {mechanism} which is not enabled"),
            ));
        };
        let id = self.next_conversation_id;
        self.next_conversation_id = self.next_conversation_id.wrapping_add(1).max(1);
        self.logins_begun = self.logins_begun.saturating_add(1);
        let active = Active {
            frame: Frame {
                id,
                db: db.to_owned(),
                speculative,
                skip_empty_exchange,
            },
            conversation,
        };
        Ok(Some((active, payload)))
    }

    fn sasl_continue(&mut self, sasl: &SaslFields<'_>, now: SystemTime) -> SessionStep {
        let id = match sasl.conversation_id {
            Some(RawBsonRef::Int32(id)) => id,
            Some(RawBsonRef::Int64(id)) => i32::try_from(id).unwrap_or(-1),
            _ => {
                return reply(error_reply(
                    codes::BAD_VALUE,
                    "saslContinue needs a conversationId",
                ));
            }
        };
        let Some(payload) = SaslPayload::read(sasl.payload) else {
            return reply(error_reply(
                codes::BAD_VALUE,
                "saslContinue needs a payload (binary, or a base64 string)",
            ));
        };
        if self
            .conversation
            .as_ref()
            .is_none_or(|active| active.frame.id != id)
        {
            self.conversation = None;
            return reply(error_reply(
                codes::PROTOCOL_ERROR,
                "No SASL session state found",
            ));
        }
        // A job or ask still out is the conversation's this replaces: its hold goes with it.
        self.pending = None;
        self.held = None;
        self.continue_with(now, payload.is_string(), |conversation, cx| {
            conversation.next(cx, payload.bytes())
        })
    }

    /// Runs `f` on the conversation in progress and turns its verdict into the step: a reply
    /// (its payload as a base64 string when the client sent one, `in_kind`), or a job or an ask
    /// to complete first.
    fn continue_with(
        &mut self,
        now: SystemTime,
        in_kind: bool,
        f: impl FnOnce(&mut dyn ServerConversation, &ServerContext<'_>) -> Verdict,
    ) -> SessionStep {
        let Some(mut active) = self.conversation.take() else {
            return reply(error_reply(
                codes::PROTOCOL_ERROR,
                "No SASL session state found",
            ));
        };
        let cx = context(&self.config, &active.frame, now);
        let verdict = f(active.conversation.as_mut(), &cx);
        let mechanism = active.conversation.mechanism();
        let answer = match verdict {
            Verdict::Continue(payload) => {
                let answer = sasl_reply(active.frame.id, false, &payload);
                self.conversation = Some(active);
                answer
            }
            Verdict::Authenticated {
                user,
                payload,
                expires,
            } => {
                let answer = sasl_reply(active.frame.id, true, &payload);
                let speculative = active.frame.speculative;
                self.mark_authenticated(user, active.frame.db, mechanism, speculative, expires);
                answer
            }
            Verdict::Refused { user, reason } => {
                self.log_refusal(user, &active.frame.db, mechanism, reason);
                authentication_failed()
            }
            Verdict::Job(job) => {
                self.conversation = Some(active);
                self.pending = Some((Pending::Job(job.ticket()), in_kind));
                return SessionStep::Job(job);
            }
            Verdict::Ask(ask) => {
                self.conversation = Some(active);
                self.pending = Some((Pending::Ask(ask.clone()), in_kind));
                return SessionStep::Ask(ask);
            }
        };
        reply(if in_kind {
            payload_as_string(answer)
        } else {
            answer
        })
    }

    /// MONGODB-X509 `authenticate`, as mongod answers it (see [`super::x509`]).
    fn authenticate_x509(
        &mut self,
        db: &str,
        doc: &RawDocument,
        speculative: bool,
    ) -> Result<RawDocumentBuf, RawDocumentBuf> {
        // A login of one step, begun as a conversation is: it spends the budget of logins.
        self.logins_begun = self.logins_begun.saturating_add(1);
        match super::x509::authenticate(&self.config, self.client_subject.as_deref(), db, doc) {
            Ok(subject) => {
                self.mark_authenticated(
                    subject.clone(),
                    "$external".to_owned(),
                    crate::x509::MECHANISM,
                    speculative,
                    None,
                );
                Ok(rawdoc! { "dbname": "$external", "user": subject, "ok": 1.0 })
            }
            Err(super::x509::Refused::Reply(reply)) => Err(reply),
            Err(super::x509::Refused::Login { user, reason }) => {
                self.log_refusal(user, db, crate::x509::MECHANISM, reason);
                Err(authentication_failed())
            }
        }
    }

    fn mark_authenticated(
        &mut self,
        user: String,
        db: String,
        mechanism: &'static str,
        speculative: bool,
        expires: Option<SystemTime>,
    ) {
        if let Some(log) = &self.config.auth_log {
            log(&AuthEvent::Authenticated {
                connection_id: self.connection_id,
                user: user.clone(),
                db: db.clone(),
                mechanism,
                speculative,
            });
        }
        let entry = AuthenticatedUser {
            user,
            db,
            mechanism,
        };
        // A user's new login replaces its end (a new token's expiry, or none); another user's
        // login leaves it, so an expired token is not forgotten because someone else logged in.
        self.login_ends.retain(|(user, _)| *user != entry);
        if let Some(ends) = expires {
            self.login_ends.push((entry.clone(), ends));
        }
        if !self.authenticated.contains(&entry) {
            self.authenticated.push(entry);
        }
    }

    /// Reports a failed TLS handshake of this connection to the auth log.
    pub fn log_tls_failure(&self, reason: String) {
        if let Some(log) = &self.config.auth_log {
            log(&AuthEvent::TlsFailed {
                connection_id: self.connection_id,
                reason,
            });
        }
    }

    fn log_refusal(
        &self,
        user: String,
        db: &str,
        mechanism: &'static str,
        reason: impl Into<Cow<'static, str>>,
    ) {
        if let Some(log) = &self.config.auth_log {
            log(&AuthEvent::Refused {
                connection_id: self.connection_id,
                user,
                db: db.to_owned(),
                mechanism,
                reason: reason.into(),
            });
        }
    }

    fn connection_status(&self) -> RawDocumentBuf {
        let mut users = RawArrayBuf::new();
        for AuthenticatedUser { user, db, .. } in &self.authenticated {
            users.push(rawdoc! { "user": user.as_str(), "db": db.as_str() });
        }
        let mut auth_info = RawDocumentBuf::new();
        auth_info.append(cstr!("authenticatedUsers"), users);
        auth_info.append(cstr!("authenticatedUserRoles"), RawArrayBuf::new());
        let mut reply = RawDocumentBuf::new();
        reply.append(cstr!("authInfo"), auth_info);
        reply.append(cstr!("ok"), 1.0);
        reply
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("connection_id", &self.connection_id)
            .field("authenticated", &self.authenticated)
            .finish_non_exhaustive()
    }
}

/// What a conversation of `active` sees.
fn context<'a>(config: &'a SessionConfig, frame: &'a Frame, now: SystemTime) -> ServerContext<'a> {
    ServerContext {
        config,
        db: &frame.db,
        now,
        speculative: frame.speculative,
        skip_empty_exchange: frame.skip_empty_exchange,
    }
}

/// Runs `step` to its reply with the jobs inline and every ask failed (for fuzzing and benches,
/// where nothing may block on the network).
pub fn settle_inline(
    session: &mut Session,
    mut step: SessionStep,
    now: SystemTime,
) -> Option<Vec<u8>> {
    loop {
        step = match step {
            SessionStep::Reply(reply)
            | SessionStep::ReplyAfter(_, reply)
            | SessionStep::Stream(_, reply) => return Some(reply),
            SessionStep::Close | SessionStep::CloseAfter(_) => return None,
            SessionStep::Job(job) => session.handle_job(job.run(), now),
            SessionStep::Ask(ask) => session.handle_answer(ask.fail("no I/O here"), now),
        };
    }
}

fn reply(document: RawDocumentBuf) -> SessionStep {
    SessionStep::Reply(document.into_bytes())
}

/// A reply's payload as a base64 string, as mongod answers a request whose payload was one.
fn payload_as_string(reply: RawDocumentBuf) -> RawDocumentBuf {
    let mut converted = RawDocumentBuf::new();
    for (key, value) in reply.iter().flatten() {
        match value {
            RawBsonRef::Binary(binary) if key.as_str() == "payload" => {
                converted.append(key, BASE64.encode(binary.bytes));
            }
            other => converted.append(key, other),
        }
    }
    converted
}

/// The same reply without its `ok` field, as embedded in `hello`.
fn without_ok(reply: &RawDocument) -> RawDocumentBuf {
    let mut out = RawDocumentBuf::new();
    for (key, value) in reply.iter().flatten() {
        if key.as_str() != "ok" {
            out.append(key, value);
        }
    }
    out
}

/// A SASL payload: binary, read where the request holds it; or (as PyMongo sends GSSAPI's) a
/// base64 string, which mongod decodes and answers in kind. A PLAIN payload is a password: the
/// decoded copy is wiped when dropped.
enum SaslPayload<'a> {
    Binary(&'a [u8]),
    Decoded(Zeroizing<Vec<u8>>),
}

impl<'a> SaslPayload<'a> {
    fn read(payload: Option<RawBsonRef<'a>>) -> Option<Self> {
        match payload? {
            RawBsonRef::Binary(binary) => Some(SaslPayload::Binary(binary.bytes)),
            RawBsonRef::String(text) => BASE64
                .decode(text)
                .ok()
                .map(|bytes| SaslPayload::Decoded(Zeroizing::new(bytes))),
            _ => None,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            SaslPayload::Binary(bytes) => bytes,
            SaslPayload::Decoded(bytes) => bytes,
        }
    }

    /// Whether the client sent a string, so the reply's payload is one too.
    fn is_string(&self) -> bool {
        matches!(self, SaslPayload::Decoded(_))
    }
}

/// A command as the session reads it before running it: its name (the first key) and the
/// fields of `saslStart` and `saslContinue`, the commands of a login. Other commands read what
/// they need from `doc`.
struct Request<'a> {
    doc: &'a RawDocument,
    name: Option<&'a str>,
    sasl: SaslFields<'a>,
    api: ApiFields<'a>,
}

impl<'a> Request<'a> {
    /// An OP_MSG's command and its `$db`, read in one pass: for a command as drivers send it
    /// (`$db` last), no further than finding `$db` alone would read.
    fn with_db(doc: &'a RawDocument) -> (Option<&'a str>, Self) {
        let [api_version, api_strict, api_errors] = ApiFields::names();
        let (
            name,
            [
                db,
                mechanism,
                payload,
                options,
                conversation_id,
                version,
                strict,
                errors,
            ],
        ) = named_fields(
            doc,
            [
                "$db",
                "mechanism",
                "payload",
                "options",
                "conversationId",
                api_version,
                api_strict,
                api_errors,
            ],
        );
        let sasl = SaslFields {
            mechanism,
            payload,
            options,
            conversation_id,
            db: None,
        };
        let api = ApiFields {
            version,
            strict,
            deprecation_errors: errors,
        };
        let request = Request {
            doc,
            name,
            sasl,
            api,
        };
        (db.and_then(RawBsonRef::as_str), request)
    }

    /// A command whose database is known (an OP_QUERY's): its name, and the SASL fields only
    /// when it is a SASL command, so the `hello` that opens a connection is not read twice.
    fn without_db(doc: &'a RawDocument) -> Self {
        let name = doc
            .iter_elements()
            .next()
            .and_then(Result::ok)
            .map(|first| first.key().as_str());
        match name {
            Some("saslStart" | "saslContinue") => Request::with_db(doc).1,
            _ => {
                let [version, strict, deprecation_errors] = fields(doc, ApiFields::names());
                Request {
                    doc,
                    name,
                    sasl: SaslFields::default(),
                    api: ApiFields {
                        version,
                        strict,
                        deprecation_errors,
                    },
                }
            }
        }
    }
}

/// The fields of a command that declare a stable API version.
struct ApiFields<'a> {
    version: Option<RawBsonRef<'a>>,
    strict: Option<RawBsonRef<'a>>,
    deprecation_errors: Option<RawBsonRef<'a>>,
}

impl ApiFields<'_> {
    /// The fields' names, as [`ServerApi::FIELDS`] writes them.
    fn names() -> [&'static str; 3] {
        ServerApi::FIELDS.map(|field| field.as_str())
    }

    /// Checks them as mongod does when it reads a command (`name`, which the server runs as
    /// `known`): each of the right type, no flag without a version, a version the server
    /// knows, and under `apiStrict` a command of that version. Whether a version is required
    /// is asked later ([`declares_version`](Self::declares_version)).
    fn check(&self, name: &str, known: Known) -> Result<(), RawDocumentBuf> {
        let wrong_type = |field: &str, expected: &str| {
            error_reply(
                codes::TYPE_MISMATCH,
                &format!("BSON field '{field}' is the wrong type: expected {expected}"),
            )
        };
        let flag = |value: Option<RawBsonRef<'_>>, field: &str| match value {
            None => Ok(None),
            Some(RawBsonRef::Boolean(value)) => Ok(Some(value)),
            Some(_) => Err(wrong_type(field, "a boolean")),
        };
        let [version_field, strict_field, errors_field] = Self::names();
        let version = match self.version {
            None => None,
            Some(RawBsonRef::String(version)) => Some(version),
            Some(_) => return Err(wrong_type(version_field, "a string")),
        };
        let strict = flag(self.strict, strict_field)?;
        // No command the server runs is deprecated in version 1, so `apiDeprecationErrors`
        // refuses nothing once its type is right.
        let deprecation_errors = flag(self.deprecation_errors, errors_field)?;
        let Some(version) = version else {
            if strict.is_some() || deprecation_errors.is_some() {
                return Err(error_reply(
                    codes::API_FLAGS_WITHOUT_VERSION,
                    "apiStrict and apiDeprecationErrors need an apiVersion",
                ));
            }
            return Ok(());
        };
        if version.parse::<ServerApiVersion>().is_err() {
            return Err(error_reply(
                codes::API_VERSION_ERROR,
                "the only stable API version is \"1\"",
            ));
        }
        if strict == Some(true) && !known.in_api_v1() {
            return Err(error_reply(
                codes::API_STRICT_ERROR,
                &format!("apiStrict is true, and the command {name} is not in API Version 1"),
            ));
        }
        Ok(())
    }

    /// Whether the command declares a version (of the right type, once
    /// [`check`](Self::check) passed).
    fn declares_version(&self) -> bool {
        self.version.is_some()
    }
}

/// The fields of a `saslStart` or `saslContinue` the server reads (`db` only in a speculative
/// login inside `hello`, a `saslStart` or X.509's `authenticate`).
#[derive(Default)]
struct SaslFields<'a> {
    mechanism: Option<RawBsonRef<'a>>,
    payload: Option<RawBsonRef<'a>>,
    options: Option<RawBsonRef<'a>>,
    conversation_id: Option<RawBsonRef<'a>>,
    db: Option<&'a str>,
}

impl<'a> SaslFields<'a> {
    /// A speculative login inside `hello` and its first key (`saslStart`, or `authenticate` for
    /// X.509, whose `db` is read here too), picked out in one pass.
    fn in_hello(doc: &'a RawDocument) -> (Option<&'a str>, Self) {
        let (first, [mechanism, payload, options, db]) =
            named_fields(doc, ["mechanism", "payload", "options", "db"]);
        let start = SaslFields {
            mechanism,
            payload,
            options,
            conversation_id: None,
            db: db.and_then(RawBsonRef::as_str),
        };
        (first, start)
    }
}

/// The fields of a `hello` the server reads, picked out in one pass.
struct HelloRequest<'a> {
    hello_ok: bool,
    /// `loadBalanced: true`: the client connects through a load balancer, and the reply must
    /// carry a `serviceId`.
    load_balanced: bool,
    sasl_supported_mechs: Option<&'a str>,
    speculative_authenticate: Option<&'a RawDocument>,
    topology_version: Option<RawBsonRef<'a>>,
    max_await_time_ms: Option<RawBsonRef<'a>>,
}

impl<'a> HelloRequest<'a> {
    fn read(doc: &'a RawDocument) -> Self {
        let [
            hello_ok,
            load_balanced,
            mechanisms,
            speculative,
            topology_version,
            max_await_time_ms,
        ] = fields(
            doc,
            [
                "helloOk",
                "loadBalanced",
                "saslSupportedMechs",
                "speculativeAuthenticate",
                "topologyVersion",
                "maxAwaitTimeMS",
            ],
        );
        HelloRequest {
            hello_ok: matches!(hello_ok, Some(RawBsonRef::Boolean(true))),
            load_balanced: matches!(load_balanced, Some(RawBsonRef::Boolean(true))),
            sasl_supported_mechs: match mechanisms {
                Some(RawBsonRef::String(name)) => Some(name),
                _ => None,
            },
            speculative_authenticate: match speculative {
                Some(RawBsonRef::Document(speculative)) => Some(speculative),
                _ => None,
            },
            topology_version,
            max_await_time_ms,
        }
    }
}

/// Room for a `hello` reply with every field and a speculative SCRAM answer: it is built in one
/// buffer.
const HELLO_REPLY_CAPACITY: usize = 1024;

/// `find`'s reply: the server stores nothing, so the cursor is empty and exhausted.
/// `<db>.<collection>` of a command whose first field (`command`) names the collection, at
/// most 255 bytes (mongod's limit; a namespace is echoed in `find`'s reply).
fn namespace(db: &str, doc: &RawDocument, command: &str) -> Result<String, RawDocumentBuf> {
    const MAX_NAMESPACE: usize = 255;
    match doc.get(command) {
        Ok(Some(RawBsonRef::String(collection))) if !collection.is_empty() => {
            let namespace = format!("{db}.{collection}");
            if namespace.len() > MAX_NAMESPACE {
                return Err(error_reply(
                    codes::INVALID_NAMESPACE,
                    &format!("a namespace is at most {MAX_NAMESPACE} bytes"),
                ));
            }
            Ok(namespace)
        }
        _ => Err(error_reply(
            codes::BAD_VALUE,
            &format!("{command} needs a collection name"),
        )),
    }
}

/// The client metadata of a `hello` (the handshake specification's `client` document), checked
/// as mongod checks a client's, so a client that mongod would refuse is refused here too: none
/// once the connection's metadata is `final` (a `hello` has run); at most
/// [`MAX_CLIENT_METADATA_LEN`] bytes; naming its driver (`name`, `version`) and its operating
/// system (`type`), each a string; an application name, if any, a string of at most
/// [`MAX_APP_NAME_LEN`] bytes. Other fields are the client's own. `Some` with the application
/// name, if any, when the `hello` carries metadata.
fn client_metadata(
    hello: &RawDocument,
    metadata_final: bool,
) -> Result<Option<Option<String>>, RawDocumentBuf> {
    let Ok(Some(client)) = hello.get("client") else {
        return Ok(None);
    };
    let refused = |code, message: &str| Err(error_reply(code, message));
    let missing = |path: &str| {
        let message = format!("the client metadata document has no {path}");
        refused(codes::CLIENT_METADATA_MISSING_FIELD, &message)
    };
    let mistyped =
        |path: &str, kind: &str| refused(codes::TYPE_MISMATCH, &format!("{path} is not {kind}"));
    if metadata_final {
        return refused(
            codes::CLIENT_METADATA_CANNOT_BE_MUTATED,
            "the client metadata document may only be sent in the first hello",
        );
    }
    let RawBsonRef::Document(client) = client else {
        return mistyped("client", "a document");
    };
    if client.as_bytes().len() > MAX_CLIENT_METADATA_LEN {
        let message =
            format!("the client metadata document is larger than {MAX_CLIENT_METADATA_LEN} bytes");
        return refused(codes::CLIENT_METADATA_DOCUMENT_TOO_LARGE, &message);
    }
    let [application, driver, os] = fields(client, ["application", "driver", "os"]);
    let name = match application {
        None => None,
        Some(RawBsonRef::Document(application)) => match application.get("name") {
            Ok(None) => None,
            Ok(Some(RawBsonRef::String(name))) if check_app_name(name).is_ok() => Some(name),
            Ok(Some(RawBsonRef::String(_))) => {
                let message =
                    format!("client.application.name is longer than {MAX_APP_NAME_LEN} bytes");
                return refused(codes::CLIENT_METADATA_APP_NAME_TOO_LARGE, &message);
            }
            _ => return mistyped("client.application.name", "a string"),
        },
        Some(_) => return mistyped("client.application", "a document"),
    };
    let parts = [
        ("driver", driver, &["name", "version"][..]),
        ("os", os, &["type"][..]),
    ];
    for (part_name, part, required) in parts {
        let part = match part {
            Some(RawBsonRef::Document(part)) => part,
            None => return missing(part_name),
            Some(_) => return mistyped(&format!("client.{part_name}"), "a document"),
        };
        for field in required {
            match part.get(field) {
                Ok(Some(RawBsonRef::String(_))) => {}
                Ok(None) => return missing(&format!("{part_name}.{field}")),
                _ => return mistyped(&format!("client.{part_name}.{field}"), "a string"),
            }
        }
    }
    Ok(Some(name.map(str::to_owned)))
}

/// The error a fail point answers `command` with, as mongod words it.
fn failed_by_fail_point(error: (i32, &str), fired: &Fired, command: &str) -> RawDocumentBuf {
    let mut answer = error_reply(
        error,
        &format!("Failing command {command} via 'failCommand' failpoint"),
    );
    if !fired.labels.is_empty() {
        let mut labels = RawArrayBuf::new();
        for label in &fired.labels {
            labels.push(label.as_str());
        }
        answer.append(cstr!("errorLabels"), labels);
    }
    answer
}

fn build_info(config: &SessionConfig) -> RawDocumentBuf {
    let mut version_array = RawArrayBuf::new();
    for part in [7, 0, 0, 0] {
        version_array.push(part);
    }
    let mut reply = rawdoc! {
        "version": SERVER_VERSION,
        "gitVersion": "",
        "allocator": "system",
        "javascriptEngine": "none",
        "sysInfo": "deprecated",
    };
    reply.append(cstr!("versionArray"), version_array);
    reply.append(cstr!("modules"), RawArrayBuf::new());
    reply.append(cstr!("bits"), 64);
    reply.append(cstr!("debug"), false);
    reply.append(cstr!("maxBsonObjectSize"), config.advertised_object_size());
    reply.append(cstr!("storageEngines"), RawArrayBuf::new());
    reply.append(cstr!("ok"), 1.0);
    reply
}

#[cfg(test)]
mod tests {
    use bson::spec::BinarySubtype;
    use bson::{Document, doc};

    use super::*;
    use crate::scram::{ScramClient, ScramKeyCache};
    use crate::secret::Secret;
    use crate::server::users::verify_plain;

    fn session() -> Session {
        let mut users = UserStore::new();
        let mut rng = SystemRandom;
        let both = [ScramVariant::Sha1, ScramVariant::Sha256];
        users.insert(User::new("admin", "alice", &Secret::new("pencil"), &both, &mut rng).unwrap());
        users.insert(
            User::new(
                "admin",
                "sha256only",
                &Secret::new("pw"),
                &[ScramVariant::Sha256],
                &mut rng,
            )
            .unwrap(),
        );
        users.insert(
            User::new(
                "admin",
                "old",
                &Secret::new("pw"),
                &[ScramVariant::Sha1],
                &mut rng,
            )
            .unwrap(),
        );
        users.insert(
            User::new("$external", "ldap", &Secret::new("pencil"), &both, &mut rng).unwrap(),
        );
        Session::new(Arc::new(SessionConfig::new(users)), 1)
    }

    /// Runs a command against `admin` to its reply, its jobs inline.
    fn command(session: &mut Session, doc: Document) -> Document {
        command_on(session, "admin", doc)
    }

    /// Runs a command against `db` to its reply, its jobs inline.
    fn command_on(session: &mut Session, db: &str, doc: Document) -> Document {
        let now = SystemTime::now();
        let step = session.handle_command(db, &doc.to_vec().unwrap(), now);
        let reply = settle_inline(session, step, now).expect("a reply, not a closed connection");
        Document::try_from(RawDocument::from_bytes(&reply).unwrap()).unwrap()
    }

    fn bin(bytes: &[u8]) -> bson::Binary {
        bson::Binary {
            subtype: BinarySubtype::Generic,
            bytes: bytes.to_vec(),
        }
    }

    fn payload(reply: &Document) -> Vec<u8> {
        reply.get_binary_generic("payload").unwrap().clone()
    }

    #[test]
    fn long_ending_without_skip_empty_exchange() {
        let mut session = session();
        let client =
            ScramClient::new(ScramVariant::Sha256, "alice", &Secret::new("pencil")).unwrap();
        let (client_first, state) = client.start(&mut SystemRandom);
        let reply = command(
            &mut session,
            doc! { "saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": bin(&client_first) },
        );
        let id = reply.get_i32("conversationId").unwrap();
        let (client_final, state) = state
            .handle_server_first(&payload(&reply), &ScramKeyCache::new(1, &mut SystemRandom))
            .unwrap();
        let reply = command(
            &mut session,
            doc! { "saslContinue": 1, "conversationId": id, "payload": bin(&client_final) },
        );
        assert!(
            !reply.get_bool("done").unwrap(),
            "no skipEmptyExchange: the long ending"
        );
        state.handle_server_final(&payload(&reply)).unwrap();
        assert!(
            session.authenticated_users().is_empty(),
            "not before the empty exchange"
        );
        let reply = command(
            &mut session,
            doc! { "saslContinue": 1, "conversationId": id, "payload": bin(b"") },
        );
        assert!(reply.get_bool("done").unwrap());
        assert_eq!(
            session.authenticated_users(),
            [AuthenticatedUser {
                user: "alice".to_owned(),
                db: "admin".to_owned(),
                mechanism: "SCRAM-SHA-256"
            }]
        );
    }

    #[test]
    fn plain_checks_the_password_on_external_only() {
        let mut session = session();
        let plain =
            |payload: &[u8]| doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": bin(payload) };
        let refused = command_on(&mut session, "$external", plain(b"\0ldap\0wrong"));
        assert_eq!(refused.get_i32("code").unwrap(), 18);
        assert_eq!(refused.get_str("errmsg").unwrap(), "Authentication failed.");
        let accepted = command_on(&mut session, "$external", plain(b"\0ldap\0pencil"));
        assert!(accepted.get_bool("done").unwrap());
        let malformed = command_on(&mut session, "$external", plain(b"ldap"));
        assert_eq!(malformed.get_i32("code").unwrap(), 18);
        // Anywhere else, as mongod: refused at once, with no derivation (no job goes out), even
        // with the right password of a user of that database.
        let mut other = self::session();
        let step = other.handle_command(
            "admin",
            &plain(b"\0alice\0pencil").to_vec().unwrap(),
            SystemTime::now(),
        );
        let SessionStep::Reply(reply) = step else {
            panic!("PLAIN on admin handed out work: {step:?}");
        };
        let reply = Document::try_from(RawDocument::from_bytes(&reply).unwrap()).unwrap();
        assert_eq!(reply.get_i32("code").unwrap(), 18);
        assert!(!other.is_authenticated());
    }

    #[test]
    fn a_job_output_counts_only_for_the_job_that_is_pending() {
        let now = SystemTime::now();
        let plain = |payload: &[u8]| {
            doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": bin(payload) }
                .to_vec()
                .unwrap()
        };
        let code = |step: SessionStep| {
            let SessionStep::Reply(reply) = step else {
                panic!("no reply: {step:?}");
            };
            Document::try_from(RawDocument::from_bytes(&reply).unwrap())
                .unwrap()
                .get_i32("code")
                .unwrap()
        };
        let start = |session: &mut Session, password: &str| {
            let payload = format!("\0ldap\0{password}");
            match session.handle_command("$external", &plain(payload.as_bytes()), now) {
                SessionStep::Job(job) => job,
                other => panic!("PLAIN handed out no job: {other:?}"),
            }
        };
        // `right`, the verdict on the right password, comes while a conversation with a wrong
        // one waits for its own: it must not log that one in.
        let check = |session: &mut Session, right: Job| {
            let wrong = start(session, "wrong");
            assert_eq!(code(session.handle_job(right.run(), now)), 17);
            assert!(!session.is_authenticated());
            assert_eq!(code(session.handle_job(wrong.run(), now)), 18);
            assert!(!session.is_authenticated());
        };
        // The session's own earlier job...
        let mut session = session();
        let right = start(&mut session, "pencil");
        check(&mut session, right);
        // ...or another session's.
        let mut other = self::session();
        let right = start(&mut other, "pencil");
        check(&mut session, right);
    }

    #[test]
    fn hello_lists_mechanisms_and_drops_speculation_it_cannot_take() {
        let mut session = session();
        let client = ScramClient::new(ScramVariant::Sha256, "old", &Secret::new("pw")).unwrap();
        let (client_first, _) = client.start(&mut SystemRandom);
        let speculative = doc! { "saslStart": 1, "mechanism": "SCRAM-SHA-256", "payload": bin(&client_first), "db": "admin" };
        let reply = command(
            &mut session,
            doc! { "hello": 1, "saslSupportedMechs": "admin.old", "speculativeAuthenticate": speculative },
        );
        assert_eq!(
            reply.get_array("saslSupportedMechs").unwrap(),
            &vec![bson::Bson::from("SCRAM-SHA-1")]
        );
        assert!(
            !reply.contains_key("speculativeAuthenticate"),
            "old has no SCRAM-SHA-256 credential"
        );
        assert!(reply.get_bool("isWritablePrimary").unwrap());
        let unknown = command(
            &mut session,
            doc! { "isMaster": 1, "saslSupportedMechs": "admin.nobody" },
        );
        assert!(!unknown.contains_key("saslSupportedMechs"));
        assert!(unknown.get_bool("ismaster").unwrap());
    }

    #[test]
    fn a_query_wrapped_with_a_read_preference_is_read_as_its_command() {
        let mut session = session();
        let wrapped = doc! {
            "$query": { "isMaster": 1, "saslSupportedMechs": "admin.old" },
            "$readPreference": { "mode": "primaryPreferred" },
        };
        let step =
            session.handle_op_query("admin.$cmd", &wrapped.to_vec().unwrap(), SystemTime::now());
        let SessionStep::Reply(reply) = step else {
            panic!("{step:?}")
        };
        let reply = Document::from_reader(reply.as_slice()).unwrap();
        assert!(reply.get_bool("ismaster").unwrap(), "{reply}");
        assert!(reply.contains_key("saslSupportedMechs"), "{reply}");
    }

    /// The salt (decoded) and iteration count of the server-first message `session` sends to
    /// `user` for `mechanism`.
    fn server_first_shape(session: &mut Session, user: &str, mechanism: &str) -> (usize, u32) {
        let client_first = format!("n,,n={user},r=clientnonce");
        let reply = command(
            session,
            doc! { "saslStart": 1, "mechanism": mechanism, "payload": bin(client_first.as_bytes()) },
        );
        let server_first = String::from_utf8(payload(&reply)).unwrap();
        let mut salt_len = None;
        let mut iterations = None;
        for attribute in server_first.split(',') {
            if let Some(salt) = attribute.strip_prefix("s=") {
                salt_len = Some(BASE64.decode(salt).unwrap().len());
            }
            if let Some(count) = attribute.strip_prefix("i=") {
                iterations = Some(count.parse().unwrap());
            }
        }
        (salt_len.unwrap(), iterations.unwrap())
    }

    /// A session of the fixture's users, logged in as alice, its config with test commands
    /// as given.
    fn logged_in(test_commands: bool) -> Session {
        let mut session = session();
        let mut config = SessionConfig::new(session.config.users.clone());
        config.enable_test_commands = test_commands;
        session.config = Arc::new(config);
        session.mark_authenticated("alice".into(), "admin".into(), "SCRAM-SHA-256", false, None);
        session
    }

    fn step_of(session: &mut Session, db: &str, doc: Document) -> SessionStep {
        session.handle_command(db, &doc.to_vec().unwrap(), SystemTime::now())
    }

    /// The stable API's fields, checked as mongod checks them, over OP_MSG and OP_QUERY alike:
    /// types, no flag without a version, version "1" only, `apiStrict` refusing the commands
    /// outside version 1 (the legacy `isMaster` among them), and `require_api_version` refusing
    /// a command that declares none. A command the server does not know stays unknown.
    #[test]
    fn the_stable_api_fields_are_checked_as_mongod_checks_them() {
        const REQUIRED: i32 = 498870;
        const FLAGS_WITHOUT_VERSION: i32 = 4886600;
        let v1 = |mut command: Document, strict: Option<bool>| {
            command.insert("apiVersion", "1");
            if let Some(strict) = strict {
                command.insert("apiStrict", strict);
            }
            command
        };
        let cases: Vec<(Document, Option<i32>, Option<i32>)> = vec![
            // The command, then the code refused with (None: ok) without and with the rule that
            // every command declares a version.
            (doc! { "ping": 1 }, None, Some(REQUIRED)),
            (v1(doc! { "ping": 1 }, None), None, None),
            (
                v1(doc! { "ping": 1, "apiDeprecationErrors": true }, None),
                None,
                None,
            ),
            (doc! { "ping": 1, "apiVersion": "2" }, Some(322), Some(322)),
            (doc! { "ping": 1, "apiVersion": 1 }, Some(14), Some(14)),
            (
                doc! { "ping": 1, "apiStrict": false },
                Some(FLAGS_WITHOUT_VERSION),
                Some(FLAGS_WITHOUT_VERSION),
            ),
            (
                doc! { "ping": 1, "apiDeprecationErrors": false },
                Some(FLAGS_WITHOUT_VERSION),
                Some(FLAGS_WITHOUT_VERSION),
            ),
            (
                v1(doc! { "ping": 1, "apiStrict": "yes" }, None),
                Some(14),
                Some(14),
            ),
            (
                v1(doc! { "ping": 1, "apiDeprecationErrors": 1 }, None),
                Some(14),
                Some(14),
            ),
            (v1(doc! { "ping": 1 }, Some(true)), None, None),
            (v1(doc! { "hello": 1 }, Some(true)), None, None),
            (v1(doc! { "find": "c" }, Some(true)), None, None),
            (v1(doc! { "isMaster": 1 }, Some(true)), Some(323), Some(323)),
            (
                v1(doc! { "buildInfo": 1 }, Some(true)),
                Some(323),
                Some(323),
            ),
            (
                v1(doc! { "connectionStatus": 1 }, Some(true)),
                Some(323),
                Some(323),
            ),
            (
                v1(doc! { "configureFailPoint": "failCommand" }, Some(true)),
                Some(323),
                Some(323),
            ),
            (v1(doc! { "buildInfo": 1 }, Some(false)), None, None),
            (v1(doc! { "isMaster": 1 }, None), None, None),
            (
                doc! { "noSuchCommand": 1, "apiStrict": true },
                Some(59),
                Some(59),
            ),
            (doc! { "noSuchCommand": 1 }, Some(59), Some(59)),
        ];
        for require in [false, true] {
            let mut session = logged_in(true);
            let mut config = SessionConfig::new(session.config.users.clone());
            config.enable_test_commands = true;
            config.require_api_version = require;
            session.config = Arc::new(config);
            for (command, refused, refused_when_required) in &cases {
                let expected = if require {
                    refused_when_required
                } else {
                    refused
                };
                let mut with_db = command.clone();
                with_db.insert("$db", "admin");
                let now = SystemTime::now();
                let step = session.handle_op_msg(&with_db.to_vec().unwrap(), now);
                let over_op_msg = settle_inline(&mut session, step, now).unwrap();
                let over_op_msg =
                    Document::try_from(RawDocument::from_bytes(&over_op_msg).unwrap()).unwrap();
                let over_op_query = command_on(&mut session, "admin", command.clone());
                for reply in [over_op_msg, over_op_query] {
                    assert_eq!(
                        reply.get_i32("code").ok(),
                        *expected,
                        "required: {require}, {command}: {reply}"
                    );
                    assert_eq!(
                        reply.get_f64("ok").ok(),
                        Some(if expected.is_some() { 0.0 } else { 1.0 }),
                        "{reply}"
                    );
                }
            }
        }
    }

    /// mongod asks for a declared version last: a command it refuses for another reason is
    /// refused for that, under `require_api_version` too; and `configureFailPoint` without
    /// test commands is unknown, whatever its API fields say.
    #[test]
    fn a_required_version_is_asked_for_after_every_other_refusal() {
        let mut session = session();
        let mut config = SessionConfig::new(session.config.users.clone());
        config.require_api_version = true;
        session.config = Arc::new(config);
        let code = |session: &mut Session, command: Document| {
            command_on(session, "admin", command).get_i32("code").ok()
        };
        // Not logged in: authorization first.
        assert_eq!(code(&mut session, doc! { "find": "c" }), Some(13));
        // Not a test command here: unknown, before its fields are read.
        let arm = doc! { "configureFailPoint": "failCommand", "apiStrict": true };
        assert_eq!(code(&mut session, arm), Some(59));
        // Metadata mongod would refuse: refused for it.
        let no_driver = doc! { "hello": 1, "client": { "os": { "type": "Linux" } } };
        assert_eq!(code(&mut session, no_driver), Some(183));
        // A fail point fires first.
        let point = FailCommand::new(["ping"], 8000).times(1);
        session
            .config
            .dangerous()
            .misbehave(Some(Misbehavior::FailCommand(point)));
        assert_eq!(code(&mut session, doc! { "ping": 1 }), Some(8000));
        assert_eq!(code(&mut session, doc! { "ping": 1 }), Some(498870));
        let declared = doc! { "ping": 1, "apiVersion": "1" };
        assert_eq!(code(&mut session, declared), None);
    }

    #[test]
    fn configure_fail_point_is_a_test_command_and_arms_fail_command() {
        let arm = doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": { "failCommands": ["find"], "errorCode": 391, "errorLabels": ["Label"] },
        };
        // Without test commands: no such command, whoever asks.
        let mut plain = logged_in(false);
        let refused = command(&mut plain, arm.clone());
        assert_eq!(refused.get_i32("code").unwrap(), 59, "{refused}");
        // With them: only after a login, and only against admin.
        let mut anonymous = session();
        let mut config = SessionConfig::new(anonymous.config.users.clone());
        config.enable_test_commands = true;
        anonymous.config = Arc::new(config);
        assert_eq!(
            command(&mut anonymous, arm.clone())
                .get_i32("code")
                .unwrap(),
            13
        );
        let mut session = logged_in(true);
        assert_eq!(
            command_on(&mut session, "test", arm.clone())
                .get_i32("code")
                .unwrap(),
            13
        );
        assert_eq!(command(&mut session, arm).get_f64("ok").unwrap(), 1.0);
        // times: 1 fires once, with its code and labels.
        let failed = command_on(&mut session, "test", doc! { "find": "c", "filter": {} });
        assert_eq!(failed.get_i32("code").unwrap(), 391);
        assert_eq!(
            failed.get_str("codeName").unwrap(),
            "ReauthenticationRequired"
        );
        assert_eq!(
            failed.get_array("errorLabels").unwrap(),
            &vec![bson::Bson::from("Label")]
        );
        let next = command_on(&mut session, "test", doc! { "find": "c", "filter": {} });
        assert_eq!(next.get_f64("ok").unwrap(), 1.0, "{next}");
        // closeConnection, for every connection (the rule is the server's), until off.
        command(
            &mut session,
            doc! {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": { "failCommands": ["ping"], "closeConnection": true },
            },
        );
        for _ in 0..2 {
            assert!(matches!(
                step_of(&mut session, "admin", doc! { "ping": 1 }),
                SessionStep::Close
            ));
        }
        command(
            &mut session,
            doc! { "configureFailPoint": "failCommand", "mode": "off" },
        );
        assert_eq!(
            command(&mut session, doc! { "ping": 1 })
                .get_f64("ok")
                .unwrap(),
            1.0
        );
        // An unknown field is refused, so a test never runs without what it asked for.
        let unknown = command(
            &mut session,
            doc! {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": { "failCommands": ["ping"], "errorCode": 1, "writeConcernError": {} },
            },
        );
        assert_eq!(unknown.get_i32("code").unwrap(), 2, "{unknown}");
    }

    /// A `hello` a fail point refuses has not run: the connection's client metadata stays open
    /// to the next one, as in mongod.
    #[test]
    fn a_hello_a_fail_point_refuses_leaves_the_metadata_open() {
        let mut session = logged_in(true);
        let arm = doc! {
            "configureFailPoint": "failCommand",
            "mode": { "times": 1 },
            "data": { "failCommands": ["hello"], "errorCode": 11600 },
        };
        assert_eq!(command(&mut session, arm).get_f64("ok").ok(), Some(1.0));
        let refused = command(
            &mut session,
            doc! { "hello": 1, "client": client_named("one") },
        );
        assert_eq!(refused.get_i32("code").ok(), Some(11600), "{refused}");
        let taken = command(
            &mut session,
            doc! { "hello": 1, "client": client_named("two") },
        );
        assert_eq!(taken.get_f64("ok").ok(), Some(1.0), "{taken}");
        assert_eq!(session.app_name.as_deref(), Some("two"));
    }

    #[test]
    fn a_fail_point_chooses_connections_by_application_name_and_may_block() {
        let mut session = logged_in(true);
        command(
            &mut session,
            doc! {
                "configureFailPoint": "failCommand",
                "mode": "alwaysOn",
                "data": {
                    "failCommands": ["ping"],
                    "appName": "probe",
                    "blockConnection": true,
                    "blockTimeMS": 250,
                },
            },
        );
        // No hello named the application yet: the ping is not this fail point's.
        assert!(matches!(
            step_of(&mut session, "admin", doc! { "ping": 1 }),
            SessionStep::Reply(_)
        ));
        command(
            &mut session,
            doc! { "hello": 1, "client": client_named("probe") },
        );
        match step_of(&mut session, "admin", doc! { "ping": 1 }) {
            SessionStep::ReplyAfter(wait, reply) => {
                assert_eq!(wait, Duration::from_millis(250));
                let reply = Document::try_from(RawDocument::from_bytes(&reply).unwrap()).unwrap();
                assert_eq!(reply.get_f64("ok").unwrap(), 1.0, "blocked, then run");
            }
            other => panic!("expected a blocked reply, got {other:?}"),
        }
    }

    /// mongod's ways with fail points: a command matches by its name or an alias (`ismaster`
    /// for `isMaster`, which drivers send), `hello` being another command; `{skip: n}` lets n
    /// through first; a block comes before closing the connection; `configureFailPoint` says
    /// how many times the fail point fired in all; turning it off leaves the server's
    /// other misbehaviour alone.
    #[test]
    fn fail_points_match_aliases_skip_and_block_as_mongod_s() {
        let mut session = logged_in(true);
        let arm = |session: &mut Session, mode: bson::Bson, data: Document| {
            let armed = command(
                session,
                doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data },
            );
            assert_eq!(armed.get_f64("ok").ok(), Some(1.0), "{armed}");
            armed.get_i64("count").unwrap()
        };
        for (armed, sent, fires) in [
            ("isMaster", "ismaster", true),
            ("ismaster", "isMaster", true),
            ("isMaster", "isMaster", true),
            ("buildInfo", "buildinfo", true),
            ("hello", "isMaster", false),
            ("isMaster", "hello", false),
            ("ping", "Ping", false),
        ] {
            let data = doc! { "failCommands": [armed], "errorCode": 91 };
            arm(&mut session, "alwaysOn".into(), data);
            let answer = command(&mut session, doc! { sent: 1 });
            let failed = answer.get_i32("code").ok() == Some(91);
            assert_eq!(failed, fires, "{armed} armed, {sent} sent: {answer}");
        }

        let data = doc! { "failCommands": ["ping"], "closeConnection": true };
        arm(&mut session, doc! { "skip": 2 }.into(), data);
        let steps: Vec<bool> = (0..4)
            .map(|_| {
                matches!(
                    step_of(&mut session, "admin", doc! { "ping": 1 }),
                    SessionStep::Close
                )
            })
            .collect();
        assert_eq!(steps, [false, false, true, true]);
        let data = doc! {
            "failCommands": ["ping"],
            "closeConnection": true,
            "blockConnection": true,
            "blockTimeMS": 300,
        };
        // It fired six times in all: the four aliases, then twice after its skips.
        assert_eq!(arm(&mut session, "alwaysOn".into(), data), 6);
        assert!(matches!(
            step_of(&mut session, "admin", doc! { "ping": 1 }),
            SessionStep::CloseAfter(wait) if wait == Duration::from_millis(300)
        ));
        let both = doc! { "times": 1, "skip": 1 };
        let data = doc! { "failCommands": ["ping"], "errorCode": 1 };
        let refused = command(
            &mut session,
            doc! { "configureFailPoint": "failCommand", "mode": both, "data": data },
        );
        assert_eq!(refused.get_i32("code").ok(), Some(2), "{refused}");

        session
            .config
            .dangerous()
            .misbehave(Some(Misbehavior::WrongServerSignature));
        let off = doc! { "configureFailPoint": "failCommand", "mode": "off" };
        assert_eq!(command(&mut session, off).get_i64("count").ok(), Some(7));
        assert!(session.config.sends_wrong_server_signature());
    }

    /// A login whose reply waits for a job (PLAIN's derivation) keeps the fail point's block
    /// for that reply.
    #[test]
    fn a_fail_point_s_block_waits_for_the_reply_behind_a_job() {
        let mut session = logged_in(true);
        let data =
            doc! { "failCommands": ["saslStart"], "blockConnection": true, "blockTimeMS": 400 };
        command(
            &mut session,
            doc! { "configureFailPoint": "failCommand", "mode": { "times": 1 }, "data": data },
        );
        let payload = bin(b"\0ldap\0pencil");
        let plain = doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": payload };
        let now = SystemTime::now();
        let step = session.handle_command("$external", &plain.to_vec().unwrap(), now);
        let SessionStep::Job(job) = step else {
            panic!("PLAIN handed out no job: {step:?}");
        };
        match session.handle_job(job.run(), now) {
            SessionStep::ReplyAfter(wait, reply) => {
                assert_eq!(wait, Duration::from_millis(400));
                let reply = Document::try_from(RawDocument::from_bytes(&reply).unwrap()).unwrap();
                assert!(reply.get_bool("done").unwrap(), "{reply}");
            }
            other => panic!("expected a held reply, got {other:?}"),
        }
    }

    /// A client behind a load balancer asks with `loadBalanced: true` and must get a
    /// `serviceId` (load balancer spec); one that does not ask gets none, as from mongod.
    #[test]
    fn hello_gives_a_service_id_to_a_load_balanced_client() {
        let mut session = session();
        let balanced = command(&mut session, doc! { "hello": 1, "loadBalanced": true });
        let service = balanced.get_object_id("serviceId").unwrap();
        let process = balanced.get_document("topologyVersion").unwrap();
        assert_eq!(process.get_object_id("processId").unwrap(), service);
        let again = command(&mut session, doc! { "hello": 1, "loadBalanced": true });
        assert_eq!(again.get_object_id("serviceId").unwrap(), service);
        for plain in [
            doc! { "hello": 1 },
            doc! { "hello": 1, "loadBalanced": false },
        ] {
            assert!(!command(&mut session, plain).contains_key("serviceId"));
        }
    }

    #[test]
    fn hello_has_a_stable_topology_version_and_waits_when_awaited() {
        let mut session = session();
        let first = command(&mut session, doc! { "hello": 1 });
        let second = command(&mut session, doc! { "isMaster": 1 });
        let version = first.get_document("topologyVersion").unwrap().clone();
        assert_eq!(&version, second.get_document("topologyVersion").unwrap());
        assert_eq!(version.get_i64("counter").unwrap(), 0);
        // A monitor that knows this version waits (awaitable hello), at most its maxAwaitTimeMS.
        let awaited =
            doc! { "hello": 1, "topologyVersion": version.clone(), "maxAwaitTimeMS": 500_i64 };
        assert!(matches!(
            step_of(&mut session, "admin", awaited),
            SessionStep::Stream(wait, _) if wait == Duration::from_millis(500)
        ));
        // One that knows another server's version is answered at once.
        let mut other = version;
        other.insert("processId", bson::oid::ObjectId::from_bytes([0; 12]));
        let stranger = doc! { "hello": 1, "topologyVersion": other, "maxAwaitTimeMS": 500_i64 };
        assert!(matches!(
            step_of(&mut session, "admin", stranger),
            SessionStep::Reply(_)
        ));
    }

    /// Each next reply of a stream of hellos asks the fail point again, under the name of the
    /// command that opened it (aliases included): nothing armed, none; a block, the same reply
    /// after it; an error, which ends the stream; a close. A block on the first reply comes
    /// after the awaited time, which stays the stream's interval.
    #[test]
    fn each_reply_of_a_stream_of_hellos_asks_the_fail_point_again() {
        let mut session = logged_in(true);
        let version = command(&mut session, doc! { "hello": 1 })
            .get_document("topologyVersion")
            .unwrap()
            .clone();
        let open = |session: &mut Session, name: &str| {
            let awaited =
                doc! { name: 1, "topologyVersion": version.clone(), "maxAwaitTimeMS": 500_i64 };
            step_of(session, "admin", awaited)
        };
        // Armed after the request that opens the stream: a fail point on it would fire there.
        let arm = |session: &mut Session, data: Document| {
            let skip_the_opener = doc! { "skip": 1 };
            let arm = doc! {
                "configureFailPoint": "failCommand", "mode": skip_the_opener, "data": data,
            };
            let armed = command(session, arm);
            assert_eq!(armed.get_f64("ok").ok(), Some(1.0), "{armed}");
        };
        let SessionStep::Stream(_, first) = open(&mut session, "hello") else {
            panic!("no stream");
        };
        assert!(session.next_streamed().is_none());
        assert_eq!(session.stream_interval(), Some(Duration::from_millis(500)));
        arm(
            &mut session,
            doc! { "failCommands": ["hello"], "blockConnection": true, "blockTimeMS": 50 },
        );
        // Arming ran a command, which ended the stream: open it again.
        let SessionStep::Stream(wait, _) = open(&mut session, "hello") else {
            panic!("no stream");
        };
        assert_eq!(wait, Duration::from_millis(500), "the opener was skipped");
        for _ in 0..2 {
            assert!(matches!(
                session.next_streamed(),
                Some(SessionStep::Stream(wait, ref again))
                    if wait == Duration::from_millis(50) && *again == first
            ));
        }

        arm(
            &mut session,
            doc! { "failCommands": ["isMaster"], "errorCode": 91 },
        );
        let SessionStep::Stream(..) = open(&mut session, "ismaster") else {
            panic!("no stream");
        };
        let Some(SessionStep::ReplyAfter(_, refusal)) = session.next_streamed() else {
            panic!("the fail point did not fire on the stream");
        };
        let refusal = Document::try_from(RawDocument::from_bytes(&refusal).unwrap()).unwrap();
        assert_eq!(refusal.get_i32("code").ok(), Some(91), "{refusal}");
        assert!(
            session.next_streamed().is_none(),
            "the error ended the stream"
        );
        assert_eq!(session.stream_interval(), None);

        arm(
            &mut session,
            doc! { "failCommands": ["hello"], "closeConnection": true },
        );
        let SessionStep::Stream(..) = open(&mut session, "hello") else {
            panic!("no stream");
        };
        assert!(matches!(
            session.next_streamed(),
            Some(SessionStep::CloseAfter(_))
        ));

        // A block on the request that opens the stream comes after the awaited time, which
        // stays the interval.
        let block = doc! { "failCommands": ["hello"], "blockConnection": true, "blockTimeMS": 50 };
        let arm = doc! { "configureFailPoint": "failCommand", "mode": "alwaysOn", "data": block };
        command(&mut session, arm);
        assert!(matches!(
            open(&mut session, "hello"),
            SessionStep::Stream(wait, _) if wait == Duration::from_millis(550)
        ));
        assert_eq!(session.stream_interval(), Some(Duration::from_millis(500)));
    }

    #[test]
    fn inserted_documents_are_found_and_dropped() {
        let mut session = logged_in(false);
        let inserted = command_on(
            &mut session,
            "test",
            doc! { "insert": "c", "documents": [{ "_id": 1 }, { "_id": 2 }, { "_id": 3 }] },
        );
        assert_eq!(inserted.get_i32("n").unwrap(), 3);
        let found = command_on(&mut session, "test", doc! { "find": "c", "filter": {} });
        let batch = found
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch")
            .unwrap();
        assert_eq!(batch.len(), 3);
        let filtered = command_on(
            &mut session,
            "test",
            doc! { "find": "c", "filter": { "_id": 1 } },
        );
        assert_eq!(filtered.get_i32("code").unwrap(), 2);
        assert!(filtered.get_str("errmsg").unwrap().contains("empty filter"));
        command_on(&mut session, "test", doc! { "drop": "c" });
        let empty = command_on(&mut session, "test", doc! { "find": "c" });
        assert!(
            empty
                .get_document("cursor")
                .unwrap()
                .get_array("firstBatch")
                .unwrap()
                .is_empty()
        );
        // Before a login, none of it.
        let mut anonymous = self::session();
        let refused = command_on(&mut anonymous, "test", doc! { "find": "c" });
        assert_eq!(refused.get_i32("code").unwrap(), 13);
    }

    #[test]
    fn a_collection_keeps_what_one_find_reply_carries() {
        const MAX: usize = 4096;
        let mut session = self::session();
        let mut config = SessionConfig::new(session.config.users.clone());
        config.max_message_size = MAX;
        session.config = Arc::new(config);
        session.mark_authenticated("alice".into(), "admin".into(), "SCRAM-SHA-256", false, None);
        // Documents of 300-odd bytes, one at a time, until the collection is refused one.
        let mut kept = 0;
        let refused = loop {
            let document = doc! { "_id": kept, "pad": "x".repeat(300) };
            let reply = command_on(
                &mut session,
                "test",
                doc! { "insert": "full", "documents": [document] },
            );
            if reply.get_f64("ok").ok() != Some(1.0) {
                break reply;
            }
            kept += 1;
        };
        assert_eq!(refused.get_i32("code").ok(), Some(146), "{refused}");
        assert!(
            refused
                .get_str("errmsg")
                .unwrap()
                .contains("one find reply"),
            "{refused}"
        );
        assert!(kept >= 10, "only {kept} kept");
        // What was kept is found, in one reply within what `hello` advertises, and the one
        // refused would not have fit.
        let now = SystemTime::now();
        let find = doc! { "find": "full" }.to_vec().unwrap();
        let step = session.handle_command("test", &find, now);
        let body = settle_inline(&mut session, step, now).unwrap();
        let found = Document::try_from(RawDocument::from_bytes(&body).unwrap()).unwrap();
        let batch = found
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch");
        assert_eq!(batch.unwrap().len(), kept as usize);
        let reply = crate::wire::encode_reply(&body, 1, 1).unwrap();
        assert!(reply.len() <= MAX, "{} bytes", reply.len());
        let one_more = doc! { "_id": kept, "pad": "x".repeat(300) }
            .to_vec()
            .unwrap()
            .len();
        assert!(reply.len() + one_more > MAX);
        // The store's arithmetic is the encoder's, to the byte.
        let elements: usize = (0..kept as usize)
            .map(|i| 2 + i.to_string().len() + one_more)
            .sum();
        assert_eq!(
            reply.len(),
            super::super::store::find_reply_size("test.full".len(), elements)
        );
        // The same collection found over OP_QUERY, whose reply header is 15 bytes longer,
        // still fits.
        let legacy = crate::wire::encode_legacy_reply(&body, 2, 2).unwrap();
        assert!(legacy.len() <= MAX, "{} bytes", legacy.len());
        // A namespace, echoed in the reply, is at most mongod's 255 bytes.
        let long = "c".repeat(256 - "test.".len());
        for command in [
            doc! { "find": &long },
            doc! { "insert": &long, "documents": [{}] },
        ] {
            let refused = command_on(&mut session, "test", command);
            assert_eq!(refused.get_i32("code").ok(), Some(73), "{refused}");
        }
        let longest = "c".repeat(255 - "test.".len());
        let found = command_on(&mut session, "test", doc! { "find": &longest });
        assert_eq!(found.get_f64("ok").ok(), Some(1.0), "{found}");
    }

    /// A client metadata document as a driver sends it, naming the application.
    fn client_named(name: &str) -> Document {
        doc! {
            "application": { "name": name },
            "driver": { "name": "probe-driver", "version": "1.0" },
            "os": { "type": "Linux", "architecture": "x86_64" },
            "platform": "tests",
        }
    }

    /// A `hello` names the connection with client metadata mongod would take, until a `hello`
    /// has run; one refused before it ran leaves the metadata open; after one ran, a `hello`
    /// with metadata is refused (186), as mongod refuses it.
    #[test]
    fn only_a_hello_before_any_ran_names_the_connection_with_metadata_mongod_takes() {
        let hello = |client: Document| doc! { "hello": 1, "client": client };
        let longest = "a".repeat(MAX_APP_NAME_LEN);
        let mut session = self::session();
        assert_eq!(
            command(&mut session, hello(client_named(&longest)))
                .get_f64("ok")
                .ok(),
            Some(1.0)
        );
        assert_eq!(session.app_name.as_deref(), Some(longest.as_str()));
        let later = command(&mut session, hello(client_named("later")));
        assert_eq!(later.get_i32("code").ok(), Some(186), "{later}");
        assert_eq!(session.app_name.as_deref(), Some(longest.as_str()));
        let plain = command(&mut session, doc! { "hello": 1 });
        assert_eq!(plain.get_f64("ok").ok(), Some(1.0), "{plain}");
        // A hello without metadata makes the connection's final too.
        let mut session = self::session();
        command(&mut session, doc! { "hello": 1 });
        let later = command(&mut session, hello(client_named("later")));
        assert_eq!(later.get_i32("code").ok(), Some(186), "{later}");
        assert_eq!(session.app_name, None);

        let mut without_application = client_named("x");
        without_application.remove("application");
        let mut unnamed = client_named("x");
        unnamed.insert("application", doc! {});
        let padded = |client: &mut Document, to: usize| {
            let size = client.to_vec().unwrap().len();
            client.insert("padding", "p".repeat(to - size - "padding".len() - 7));
            assert_eq!(client.to_vec().unwrap().len(), to);
        };
        let mut largest = client_named("x");
        padded(&mut largest, MAX_CLIENT_METADATA_LEN);
        for taken in [without_application, unnamed, largest] {
            let mut session = self::session();
            let reply = command(&mut session, hello(taken.clone()));
            assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{taken}: {reply}");
            assert_eq!(
                session.app_name.as_deref(),
                taken
                    .get_document("application")
                    .ok()
                    .and_then(|a| a.get_str("name").ok())
            );
        }

        let without = |path: &[&str]| {
            let mut client = client_named("x");
            match path {
                [part] => drop(client.remove(*part)),
                [part, field] => drop(client.get_document_mut(part).unwrap().remove(*field)),
                _ => unreachable!(),
            }
            client
        };
        let with = |part: &str, field: Option<&str>, value: bson::Bson| {
            let mut client = client_named("x");
            match field {
                None => drop(client.insert(part, value)),
                Some(field) => drop(client.get_document_mut(part).unwrap().insert(field, value)),
            }
            client
        };
        let mut too_large = client_named("x");
        padded(&mut too_large, MAX_CLIENT_METADATA_LEN + 1);
        let refused = [
            (client_named(&format!("{longest}b")), 184),
            (too_large, 185),
            (without(&["driver"]), 183),
            (without(&["driver", "name"]), 183),
            (without(&["driver", "version"]), 183),
            (without(&["os"]), 183),
            (without(&["os", "type"]), 183),
            (with("application", None, "x".into()), 14),
            (with("application", Some("name"), 1.into()), 14),
            (with("driver", None, "x".into()), 14),
            (with("driver", Some("version"), 1.into()), 14),
            (with("os", Some("type"), bson::Bson::Null), 14),
        ];
        for (client, code) in refused {
            let mut session = self::session();
            let reply = command(&mut session, hello(client.clone()));
            assert_eq!(reply.get_i32("code").ok(), Some(code), "{client}: {reply}");
            assert_eq!(session.app_name, None, "{client}");
            // A hello refused before it ran leaves the metadata open, as in mongod.
            let again = command(&mut session, hello(client_named("again")));
            assert_eq!(again.get_f64("ok").ok(), Some(1.0), "{again}");
            assert_eq!(session.app_name.as_deref(), Some("again"));
        }
        let mut session = self::session();
        let not_a_document = command(&mut session, doc! { "hello": 1, "client": "x" });
        assert_eq!(
            not_a_document.get_i32("code").ok(),
            Some(14),
            "{not_a_document}"
        );
    }

    #[test]
    fn a_document_that_is_not_bson_all_the_way_down_is_not_kept() {
        let mut session = logged_in(false);
        let insert = doc! { "insert": "bad", "documents": [{ "_id": 1, "inner": { "s": "Q" } }] };
        let mut bytes = insert.to_vec().unwrap();
        // The nested string's one byte becomes one that is not UTF-8.
        let at = bytes.iter().rposition(|b| *b == b'Q').unwrap();
        bytes[at] = 0xff;
        let now = SystemTime::now();
        let step = session.handle_command("test", &bytes, now);
        let reply = settle_inline(&mut session, step, now).unwrap();
        let reply = Document::try_from(RawDocument::from_bytes(&reply).unwrap()).unwrap();
        assert_eq!(reply.get_i32("code").unwrap(), 22, "{reply}");
        assert_eq!(reply.get_str("codeName").unwrap(), "InvalidBSON");
        let found = command_on(&mut session, "test", doc! { "find": "bad" });
        let batch = found
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch");
        assert!(batch.unwrap().is_empty(), "{found}");
    }

    #[test]
    fn every_login_begun_is_counted_x509_s_one_step_too() {
        let mut users = UserStore::new();
        users.insert_x509("CN=client,O=test");
        let mut session = Session::new(Arc::new(SessionConfig::new(users)), 1);
        session.set_client_certificate_subject(Some("CN=client,O=test".to_owned()));
        let x509 = doc! { "authenticate": 1, "mechanism": "MONGODB-X509" };
        let reply = command_on(&mut session, "$external", x509.clone());
        assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
        assert_eq!(session.logins_begun(), 1);
        // Logged in, each `authenticate` again, taken or refused, is a login begun: the
        // embedding server charges them to its budget of logins.
        command_on(&mut session, "$external", x509);
        let refused = doc! { "authenticate": 1, "mechanism": "MONGODB-X509", "user": "CN=other" };
        let reply = command_on(&mut session, "$external", refused);
        assert_eq!(reply.get_i32("code").ok(), Some(18), "{reply}");
        assert_eq!(session.logins_begun(), 3);
        // As inside `hello`.
        let hello = doc! { "hello": 1, "speculativeAuthenticate": { "authenticate": 1, "mechanism": "MONGODB-X509" } };
        command(&mut session, hello);
        assert_eq!(session.logins_begun(), 4);
    }

    #[test]
    fn a_client_cannot_make_a_log_line_of_megabytes() {
        // A user name of 1 MiB of DEL, which escaping would turn into six times as much.
        let user = "\u{7f}".repeat(1 << 20);
        let line = AuthEvent::Refused {
            connection_id: 7,
            user,
            db: "$external".to_owned(),
            mechanism: "MONGODB-X509",
            reason: Cow::Borrowed("no such user"),
        }
        .to_string();
        let shown = "\\u{7f}".repeat(LOGGED_CHARS);
        let tail = (1 << 20) - LOGGED_CHARS;
        assert_eq!(
            line,
            format!(
                "conn7: MONGODB-X509 login of {shown}...({tail} more bytes)@$external refused: no such user"
            )
        );
        // A name that fits is shown whole.
        let name = "é".repeat(LOGGED_CHARS);
        let line = AuthEvent::Refused {
            connection_id: 7,
            user: name.clone(),
            db: "admin".to_owned(),
            mechanism: "SCRAM-SHA-256",
            reason: Cow::Borrowed("wrong password"),
        }
        .to_string();
        assert!(line.contains(&format!("of {name}@admin ")), "{line}");
    }

    #[test]
    fn a_client_cannot_write_a_log_line_of_its_own() {
        let forged = "mallory\nconn1: root@admin authenticated with SCRAM-SHA-256";
        let events = [
            AuthEvent::Refused {
                connection_id: 7,
                user: forged.to_owned(),
                db: "admin\r".to_owned(),
                mechanism: "PLAIN",
                reason: Cow::Owned("kid `\u{1b}[2J` unknown \\u{a}".to_owned()),
            },
            AuthEvent::Authenticated {
                connection_id: 7,
                user: forged.to_owned(),
                db: "$external".to_owned(),
                mechanism: "MONGODB-X509",
                speculative: false,
            },
            AuthEvent::TlsFailed {
                connection_id: 7,
                reason: "bad\ncert".to_owned(),
            },
        ];
        for event in events {
            let line = event.to_string();
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(line.starts_with("conn7: "), "{line}");
        }
        let line = AuthEvent::Authenticated {
            connection_id: 7,
            user: forged.to_owned(),
            db: "$external".to_owned(),
            mechanism: "MONGODB-X509",
            speculative: false,
        }
        .to_string();
        assert_eq!(
            line,
            "conn7: mallory\\u{a}conn1: root@admin authenticated with SCRAM-SHA-256@$external authenticated with MONGODB-X509"
        );
    }

    #[test]
    fn server_first_looks_the_same_for_real_unknown_and_mechanism_lacking_users() {
        let mut session = session();
        for (mechanism, lacking) in [("SCRAM-SHA-256", "old"), ("SCRAM-SHA-1", "sha256only")] {
            let real = server_first_shape(&mut session, "alice", mechanism);
            let unknown = server_first_shape(&mut session, "nobody", mechanism);
            let without_mechanism = server_first_shape(&mut session, lacking, mechanism);
            assert_eq!(unknown, real, "{mechanism}: unknown user");
            assert_eq!(without_mechanism, real, "{mechanism}: user without it");
        }
        // And the content: an unknown user's salts relate across variants no more than a real
        // user's, and not across databases either.
        let salt = |session: &mut Session, db: &str, user: &str, mechanism: &str| {
            let client_first = format!("n,,n={user},r=clientnonce");
            let request = doc! { "saslStart": 1, "mechanism": mechanism, "payload": bin(client_first.as_bytes()) };
            let reply = command_on(session, db, request);
            let server_first = String::from_utf8(payload(&reply)).unwrap();
            let encoded = server_first
                .split(',')
                .nth(1)
                .unwrap()
                .strip_prefix("s=")
                .unwrap()
                .to_owned();
            BASE64.decode(encoded).unwrap()
        };
        for user in ["alice", "nobody"] {
            let sha1 = salt(&mut session, "admin", user, "SCRAM-SHA-1");
            let sha256 = salt(&mut session, "admin", user, "SCRAM-SHA-256");
            assert!(
                !sha256.starts_with(&sha1[..4]),
                "{user}: the SHA-256 salt starts as the SHA-1 one"
            );
        }
        assert_ne!(
            salt(&mut session, "admin", "nobody", "SCRAM-SHA-256"),
            salt(&mut session, "app", "nobody", "SCRAM-SHA-256")
        );
        assert_eq!(
            server_first_shape(&mut session, "alice", "SCRAM-SHA-256"),
            (28, 15_000)
        );
        assert_eq!(
            server_first_shape(&mut session, "alice", "SCRAM-SHA-1"),
            (16, 10_000)
        );
    }

    #[test]
    fn a_plain_check_costs_the_same_for_every_user() {
        let session = session();
        let decoy = &session.config.decoy_user();
        let work = |user: Option<&User>| {
            super::super::users::plain_verifiers(user, decoy)
                .map(|(_, checked)| checked.map(|c| (c.variant(), c.iterations(), c.salt().len())))
        };
        let users = &session.config.users;
        let unknown = work(None);
        assert!(unknown.iter().all(Option::is_some), "{unknown:?}");
        for name in ["alice", "old", "sha256only"] {
            assert_eq!(work(users.get("admin", name)), unknown, "{name}");
        }
        // The verdict is still the user's own.
        let old = users.get("admin", "old");
        assert!(verify_plain(old, &Secret::new("pw"), decoy));
        assert!(!verify_plain(old, &Secret::new("wrong"), decoy));
        assert!(!verify_plain(None, &Secret::new("pw"), decoy));
    }

    #[test]
    fn decoys_take_the_iteration_counts_of_the_users_verifiers() {
        // Verifiers made with other counts than MongoDB's defaults: an unknown user's decoys
        // must say (SCRAM's `i=`) and cost (PLAIN's derivations) the same.
        let mut users = UserStore::new();
        let mut rng = SystemRandom;
        for (name, sha1, sha256) in [
            ("alice", 4096, 8192),
            ("bob", 4096, 8192),
            ("eve", 5000, 9000),
        ] {
            let mut user = User::new("admin", name, &Secret::new("pw"), &[], &mut rng).unwrap();
            for (variant, count) in [(ScramVariant::Sha1, sha1), (ScramVariant::Sha256, sha256)] {
                user.set(
                    StoredCredential::new(
                        name,
                        "admin",
                        &Secret::new("pw"),
                        variant,
                        count,
                        &mut rng,
                    )
                    .unwrap(),
                );
            }
            users.insert(user);
        }
        let mut session = Session::new(Arc::new(SessionConfig::new(users)), 1);
        for (mechanism, shape) in [("SCRAM-SHA-1", (16, 4096)), ("SCRAM-SHA-256", (28, 8192))] {
            assert_eq!(server_first_shape(&mut session, "alice", mechanism), shape);
            assert_eq!(
                server_first_shape(&mut session, "nobody", mechanism),
                shape,
                "{mechanism}"
            );
        }
        let decoy = session.config.decoy_user();
        let counts = [ScramVariant::Sha1, ScramVariant::Sha256]
            .map(|variant| decoy.credential(variant).map(StoredCredential::iterations));
        assert_eq!(counts, [Some(4096), Some(8192)]);
        assert!(!verify_plain(None, &Secret::new("pw"), &decoy));
    }

    #[test]
    fn sasl_continue_needs_the_conversation() {
        let mut session = session();
        let reply = command(
            &mut session,
            doc! { "saslContinue": 1, "conversationId": 9, "payload": bin(b"x") },
        );
        assert_eq!(reply.get_i32("code").unwrap(), 17);
    }
}

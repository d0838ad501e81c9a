//! One connection's command handling, without I/O: a command document in, a reply document out.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::raw::cstr;
use bson::{RawArrayBuf, RawBsonRef, RawDocument, RawDocumentBuf, rawdoc};
use zeroize::Zeroizing;

use super::danger::{ArmedFailPoint, Misbehavior};
use super::scram::{AwaitingClientFinal, Refusal, receive_client_first};
use super::users::{User, UserStore, verify_plain};
use crate::command::binary;
use crate::random::{BoxedRandom, SecureRandom, SystemRandom};
use crate::scram::ScramVariant;
use crate::secret::Secret;

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
                "conn{connection_id}: {user}@{db} authenticated with {mechanism}{}",
                if *speculative { " (speculative)" } else { "" }
            ),
            AuthEvent::TlsFailed {
                connection_id,
                reason,
            } => write!(f, "conn{connection_id}: TLS handshake failed: {reason}"),
            AuthEvent::Refused {
                connection_id,
                user,
                db,
                mechanism,
                reason,
            } => {
                write!(
                    f,
                    "conn{connection_id}: {mechanism} login of {user}@{db} refused: {reason}"
                )
            }
        }
    }
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
    /// operations, as with mongod's `configureFailPoint`).
    faults: Mutex<Faults>,
    /// Server nonces come from here.
    random: Mutex<BoxedRandom>,
    /// MONGODB-AWS, when enabled.
    #[cfg(feature = "aws")]
    pub aws: Option<AwsSettings>,
    /// GSSAPI, when enabled.
    pub gssapi: Option<super::gssapi::GssapiSettings>,
    /// MONGODB-OIDC, when enabled.
    #[cfg(feature = "oidc")]
    pub oidc: Vec<super::oidc::OidcSettings>,
    /// Keys the decoy salts of unknown users, so they are stable but unpredictable.
    decoy_key: Zeroizing<[u8; 32]>,
    /// A user with both verifiers that no password matches: PLAIN checks stand in its verifiers
    /// for those a user lacks (or for an unknown user), so every refusal costs the same.
    decoy_user: Option<User>,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("users", &self.users)
            .field("misbehavior", &self.faults().misbehavior)
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
        let unguessable = Secret::new(crate::scram::generate_nonce(&mut random));
        let decoy_user = User::new(
            "admin",
            "decoy",
            &unguessable,
            &[ScramVariant::Sha1, ScramVariant::Sha256],
            &mut random,
        )
        .ok();
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
            decoy_key,
            decoy_user,
        }
    }

    /// Makes the server misbehave (for tests of clients), from now on; `None` stops it. A new
    /// fail point replaces the previous one and counts its `times` afresh.
    pub fn misbehave(&self, misbehavior: Option<Misbehavior>) {
        let mut faults = self.faults();
        faults.fail_point = match &misbehavior {
            Some(Misbehavior::FailCommand(rule)) => Some(ArmedFailPoint::new(rule.clone())),
            _ => None,
        };
        faults.misbehavior = misbehavior;
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fill_random(&self, bytes: &mut [u8]) {
        // A panic while drawing cannot leave a generator in a state worse than any other.
        self.random
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .fill(bytes);
    }
}

#[derive(Default)]
struct Faults {
    misbehavior: Option<Misbehavior>,
    fail_point: Option<ArmedFailPoint>,
}

struct Conversation {
    id: i32,
    db: String,
    user: String,
    mechanism: &'static str,
    speculative: bool,
    /// Whether the user exists with this mechanism (for the log only).
    known: bool,
    skip_empty_exchange: bool,
    stage: Stage,
}

enum Stage {
    AwaitingClientFinal(AwaitingClientFinal),
    /// Server-final was sent with `done: false`; the client owes an empty message.
    AwaitingEmptyExchange,
    /// MONGODB-AWS: server-first was sent; the client's signed request comes next.
    #[cfg(feature = "aws")]
    AwsAwaitingRequest {
        server_nonce: Vec<u8>,
        host: String,
    },
    /// GSSAPI: the acceptor context, and where the conversation is.
    Gssapi(
        Box<dyn super::gssapi::AcceptorContext>,
        super::gssapi::Phase,
    ),
    /// MONGODB-OIDC: the `IdpInfo` of this provider (its index) was sent; the client's token,
    /// which only that provider may vouch for, comes next.
    #[cfg(feature = "oidc")]
    OidcAwaitingJwt(usize),
}

/// What the server needs for MONGODB-AWS: the STS host clients sign for, and who checks their
/// signatures.
#[cfg(feature = "aws")]
#[derive(Clone)]
pub struct AwsSettings {
    /// The host in server-first (`h`), which clients sign for (default `sts.amazonaws.com`).
    pub sts_host: String,
    /// STS, or a local stand-in.
    pub verifier: Arc<dyn super::aws::StsVerifier>,
}

#[cfg(feature = "aws")]
impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSettings")
            .field("sts_host", &self.sts_host)
            .finish_non_exhaustive()
    }
}

/// MongoDB error codes the server uses.
mod codes {
    pub const BAD_VALUE: (i32, &str) = (2, "BadValue");
    pub const UNAUTHORIZED: (i32, &str) = (13, "Unauthorized");
    pub const PROTOCOL_ERROR: (i32, &str) = (17, "ProtocolError");
    pub const AUTHENTICATION_FAILED: (i32, &str) = (18, "AuthenticationFailed");
    pub const COMMAND_NOT_FOUND: (i32, &str) = (59, "CommandNotFound");
    pub const MECHANISM_UNAVAILABLE: (i32, &str) = (334, "MechanismUnavailable");
}

type Reply = Result<RawDocumentBuf, RawDocumentBuf>;

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

fn sasl_reply(id: i32, done: bool, payload: &[u8]) -> RawDocumentBuf {
    let mut reply = rawdoc! { "conversationId": id, "done": done };
    reply.append(cstr!("payload"), binary(payload));
    reply.append(cstr!("ok"), 1.0);
    reply
}

/// The state of one client connection.
pub struct Session {
    config: Arc<SessionConfig>,
    connection_id: i32,
    /// The RFC 2253 subject of the client certificate the TLS layer verified.
    client_subject: Option<String>,
    authenticated: Vec<(String, String)>,
    conversation: Option<Conversation>,
    next_conversation_id: i32,
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
        }
    }

    /// The users this connection authenticated, as (user, db).
    pub fn authenticated_users(&self) -> &[(String, String)] {
        &self.authenticated
    }

    /// Records the subject of the client certificate the TLS layer verified on this connection
    /// (RFC 2253, see [`crate::x509::certificate_subject`]): the identity MONGODB-X509 logs in.
    pub fn set_client_certificate_subject(&mut self, subject: Option<String>) {
        self.client_subject = subject;
    }

    /// Whether some user logged in on this connection.
    pub fn is_authenticated(&self) -> bool {
        !self.authenticated.is_empty()
    }

    /// Handles one command (the body of an OP_MSG, with `$db`) and returns the reply document.
    pub fn handle_op_msg(&mut self, body: &[u8], now: SystemTime) -> Vec<u8> {
        match crate::wire::command_database(body) {
            Some(db) => self.handle_command(&db, body, now),
            None => error_reply(codes::BAD_VALUE, "the command has no $db").into_bytes(),
        }
    }

    /// Handles a legacy OP_QUERY against `<db>.$cmd` (the `isMaster` that opens connections).
    pub fn handle_op_query(&mut self, collection: &str, query: &[u8], now: SystemTime) -> Vec<u8> {
        let Some(db) = collection.strip_suffix(".$cmd") else {
            return error_reply(codes::BAD_VALUE, "OP_QUERY is only supported for commands")
                .into_bytes();
        };
        // A read preference wraps the command as {$query: {...}}.
        // Borrowed, not copied: the query may be a PLAIN saslStart with a password in it.
        let unwrapped = match RawDocument::from_bytes(query)
            .ok()
            .map(|doc| doc.get("$query"))
        {
            Some(Ok(Some(RawBsonRef::Document(inner)))) => inner.as_bytes(),
            _ => query,
        };
        self.handle_command(db, unwrapped, now)
    }

    /// Handles one command against `db`.
    pub fn handle_command(&mut self, db: &str, command: &[u8], now: SystemTime) -> Vec<u8> {
        let reply = match RawDocument::from_bytes(command) {
            Ok(doc) => self.dispatch(db, doc, now),
            Err(_) => Err(error_reply(
                codes::BAD_VALUE,
                "the command is not a BSON document",
            )),
        };
        reply.unwrap_or_else(|error| error).into_bytes()
    }

    fn dispatch(&mut self, db: &str, doc: &RawDocument, now: SystemTime) -> Reply {
        let name = match doc.iter().next() {
            Some(Ok((name, _))) => name.as_str().to_owned(),
            _ => return Err(error_reply(codes::BAD_VALUE, "empty command")),
        };
        let failure = self
            .config
            .faults()
            .fail_point
            .as_ref()
            .and_then(|point| point.fire(&name));
        if let Some((code, code_name)) = failure {
            return Err(error_reply(
                (code, code_name),
                &format!("Failing command {name} via the failCommand misbehavior"),
            ));
        }
        match name.as_str() {
            "hello" | "isMaster" | "ismaster" => Ok(self.hello(doc, name == "hello", now)),
            "saslStart" => self
                .sasl_start(db, doc, false, now)
                .map(|reply| reply.unwrap_or_else(authentication_failed))
                .map(|reply| answer_in_kind(doc, reply)),
            "saslContinue" => self
                .sasl_continue(doc, now)
                .map(|reply| answer_in_kind(doc, reply)),
            "authenticate" => self.authenticate_x509(db, doc, false),
            "ping" | "endSessions" => Ok(rawdoc! { "ok": 1.0 }),
            "buildInfo" | "buildinfo" => Ok(build_info()),
            "connectionStatus" => Ok(self.connection_status()),
            // Something for an authenticated client to run: the server stores no data.
            "find" if self.is_authenticated() => Ok(empty_cursor(db, doc)),
            "insert" if self.is_authenticated() => Ok(inserted(doc)),
            _ if self.authenticated.is_empty() => Err(error_reply(
                codes::UNAUTHORIZED,
                &format!("Command {name} requires authentication"),
            )),
            _ => Err(error_reply(
                codes::COMMAND_NOT_FOUND,
                &format!("no such command: '{name}'"),
            )),
        }
    }

    fn hello(&mut self, doc: &RawDocument, modern: bool, now: SystemTime) -> RawDocumentBuf {
        let mut reply = RawDocumentBuf::new();
        if matches!(doc.get("helloOk"), Ok(Some(RawBsonRef::Boolean(true)))) {
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
        reply.append(cstr!("maxBsonObjectSize"), 16 * 1024 * 1024);
        reply.append(
            cstr!("maxMessageSizeBytes"),
            crate::wire::MAX_MESSAGE_SIZE as i32,
        );
        reply.append(cstr!("maxWriteBatchSize"), 100_000);
        reply.append(cstr!("localTime"), bson::DateTime::from_system_time(now));
        reply.append(cstr!("logicalSessionTimeoutMinutes"), 30);
        reply.append(cstr!("connectionId"), self.connection_id);
        reply.append(cstr!("minWireVersion"), 0);
        reply.append(cstr!("maxWireVersion"), MAX_WIRE_VERSION);
        reply.append(cstr!("readOnly"), false);
        if let Ok(Some(RawBsonRef::String(name))) = doc.get("saslSupportedMechs") {
            // "<db>.<user>"; an unknown user gets no list, as from mongod.
            let user = name
                .split_once('.')
                .and_then(|(db, user)| self.config.users.get(db, user));
            if let Some(user) = user {
                let mut mechanisms = RawArrayBuf::new();
                for mechanism in user.mechanisms() {
                    mechanisms.push(mechanism);
                }
                reply.append(cstr!("saslSupportedMechs"), mechanisms);
            }
        }
        if let Ok(Some(RawBsonRef::Document(speculative))) = doc.get("speculativeAuthenticate") {
            // A speculative attempt that cannot go on is dropped silently; the client then runs a
            // normal conversation (handshake spec).
            let db = match speculative.get("db") {
                Ok(Some(RawBsonRef::String(db))) => Some(db.to_owned()),
                _ => None,
            };
            let first_key = match speculative.iter().next() {
                Some(Ok((key, _))) => key.as_str().to_owned(),
                _ => String::new(),
            };
            let answer = match (first_key.as_str(), db) {
                ("saslStart", Some(db)) => {
                    self.sasl_start(&db, speculative, true, now).ok().flatten()
                }
                // PyMongo sends the X.509 attempt without `db`: that means `$external`.
                ("authenticate", db) => self
                    .authenticate_x509(db.as_deref().unwrap_or("$external"), speculative, true)
                    .ok(),
                _ => None,
            };
            if let Some(answer) = answer {
                reply.append(cstr!("speculativeAuthenticate"), without_ok(&answer));
            }
        }
        reply.append(cstr!("ok"), 1.0);
        reply
    }

    /// MONGODB-X509 `authenticate`, as mongod answers it: the user is the subject of the client
    /// certificate the TLS layer verified; a `user` that differs from it, a connection without a
    /// verified certificate, another database than `$external` and an unknown subject are each
    /// refused with AuthenticationFailed (the reason goes to the auth log only).
    fn authenticate_x509(&mut self, db: &str, doc: &RawDocument, speculative: bool) -> Reply {
        let mechanism = match doc.get("mechanism") {
            Ok(Some(RawBsonRef::String(m))) => m,
            _ => {
                return Err(error_reply(
                    codes::BAD_VALUE,
                    "authenticate needs a mechanism",
                ));
            }
        };
        if mechanism != crate::x509::MECHANISM {
            return Err(error_reply(
                codes::MECHANISM_UNAVAILABLE,
                &format!("Received authentication for mechanism {mechanism} which is not enabled"),
            ));
        }
        let claimed = match doc.get("user") {
            Ok(Some(RawBsonRef::String(user))) => Some(user.to_owned()),
            _ => None,
        };
        let refuse = |session: &Self, reason: &'static str| {
            let user = claimed.clone().unwrap_or_default();
            session.log_refusal(user, db, crate::x509::MECHANISM, reason);
            Err(authentication_failed())
        };
        if db != "$external" {
            return refuse(self, "X.509 logins are in $external");
        }
        let Some(subject) = self.client_subject.clone() else {
            return refuse(self, "no verified client certificate");
        };
        if claimed.as_ref().is_some_and(|user| *user != subject) {
            return refuse(self, "the user is not the certificate's subject");
        }
        if !self.config.users.is_x509_user(&subject) {
            let user = subject.clone();
            self.log_refusal(
                user,
                db,
                crate::x509::MECHANISM,
                "unknown certificate subject",
            );
            return Err(authentication_failed());
        }
        self.mark_authenticated(
            subject.clone(),
            "$external".to_owned(),
            crate::x509::MECHANISM,
            speculative,
        );
        Ok(rawdoc! { "dbname": "$external", "user": subject, "ok": 1.0 })
    }

    /// `saslStart`. `Ok(None)` asks the caller to refuse (it is `AuthenticationFailed` for a
    /// command, silence for a speculative attempt).
    #[cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(unused_variables))]
    fn sasl_start(
        &mut self,
        db: &str,
        doc: &RawDocument,
        speculative: bool,
        now: SystemTime,
    ) -> Result<Option<RawDocumentBuf>, RawDocumentBuf> {
        let mechanism = match doc.get("mechanism") {
            Ok(Some(RawBsonRef::String(m))) => m.to_owned(),
            _ => return Err(error_reply(codes::BAD_VALUE, "saslStart needs a mechanism")),
        };
        // A PLAIN payload is a password: the server's copy is wiped when dropped.
        let Some(payload) = sasl_payload(doc) else {
            return Err(error_reply(codes::BAD_VALUE, "saslStart needs a payload"));
        };
        let skip_empty_exchange = matches!(
            doc.get("options").ok().flatten(),
            Some(RawBsonRef::Document(options)) if matches!(options.get("skipEmptyExchange"), Ok(Some(RawBsonRef::Boolean(true))))
        );
        self.conversation = None;
        let id = self.next_conversation_id;
        self.next_conversation_id = self.next_conversation_id.wrapping_add(1).max(1);
        let variant = match mechanism.as_str() {
            "SCRAM-SHA-1" => ScramVariant::Sha1,
            "SCRAM-SHA-256" => ScramVariant::Sha256,
            "PLAIN" if !speculative => return Ok(self.plain(db, id, &payload)),
            #[cfg(feature = "aws")]
            "MONGODB-AWS" if !speculative && self.config.aws.is_some() => {
                return Ok(self.aws_start(db, id, &payload));
            }
            crate::gssapi::MECHANISM if !speculative && self.config.gssapi.is_some() => {
                return Ok(self.gssapi_start(db, id, &payload));
            }
            #[cfg(feature = "oidc")]
            crate::oidc::MECHANISM if !self.config.oidc.is_empty() => {
                return Ok(self.oidc_start(db, id, &payload, speculative, now));
            }
            _ => {
                return Err(error_reply(
                    codes::MECHANISM_UNAVAILABLE,
                    &format!(
                        "Received authentication for mechanism {mechanism} which is not enabled"
                    ),
                ));
            }
        };
        let Ok(first) = receive_client_first(&payload) else {
            self.log_refusal(
                String::new(),
                db,
                variant.mechanism().as_str(),
                "malformed client-first message",
            );
            return Ok(None);
        };
        let user = first.username().to_owned();
        let credential = self
            .config
            .users
            .get(db, &user)
            .and_then(|u| u.credential(variant));
        if speculative && credential.is_none() {
            return Ok(None);
        }
        let known = credential.is_some();
        let mut fill = crate::random::from_fn(|bytes: &mut [u8]| self.config.fill_random(bytes));
        let (server_first, state) = first.respond(
            variant,
            credential,
            self.config.decoy_key.as_ref(),
            &mut fill,
        );
        self.conversation = Some(Conversation {
            id,
            db: db.to_owned(),
            user,
            mechanism: variant.mechanism().as_str(),
            speculative,
            known,
            skip_empty_exchange,
            stage: Stage::AwaitingClientFinal(state),
        });
        Ok(Some(sasl_reply(id, false, &server_first)))
    }

    /// MONGODB-AWS `saslStart`: `{r, p: 110}` in, `{s: r + 32 random bytes, h}` out.
    #[cfg(feature = "aws")]
    fn aws_start(&mut self, db: &str, id: i32, payload: &[u8]) -> Option<RawDocumentBuf> {
        let settings = self.config.aws.clone()?;
        let client_nonce = RawDocument::from_bytes(payload).ok().and_then(|doc| {
            let nonce = match doc.get("r") {
                Ok(Some(RawBsonRef::Binary(binary))) if binary.bytes.len() == 32 => binary.bytes,
                _ => return None,
            };
            matches!(doc.get("p"), Ok(Some(RawBsonRef::Int32(110)))).then(|| nonce.to_vec())
        });
        let (Some(mut server_nonce), "$external") = (client_nonce, db) else {
            self.log_refusal(
                String::new(),
                db,
                crate::aws::MECHANISM,
                "malformed client-first payload or not $external",
            );
            return None;
        };
        let mut extension = [0u8; 32];
        self.config.fill_random(&mut extension);
        server_nonce.extend_from_slice(&extension);
        let mut server_first = RawDocumentBuf::new();
        server_first.append(cstr!("s"), binary(&server_nonce));
        server_first.append(cstr!("h"), settings.sts_host.as_str());
        self.conversation = Some(Conversation {
            id,
            db: db.to_owned(),
            user: String::new(),
            mechanism: crate::aws::MECHANISM,
            speculative: false,
            known: true,
            skip_empty_exchange: true,
            stage: Stage::AwsAwaitingRequest {
                server_nonce,
                host: settings.sts_host,
            },
        });
        Some(sasl_reply(id, false, server_first.as_bytes()))
    }

    /// Checks the client's signed request and asks the verifier whose it is: the user name (the
    /// caller's ARN, an assumed role's role), or the claimed name and the reason for the log.
    #[cfg(feature = "aws")]
    fn aws_verify(
        &self,
        server_nonce: &[u8],
        host: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<String, (Option<String>, String)> {
        let settings = self
            .config
            .aws
            .as_ref()
            .ok_or((None, "MONGODB-AWS is not enabled".to_owned()))?;
        let request = super::aws::read_client_final(payload, server_nonce, host, now)
            .map_err(|e| (None, e.to_string()))?;
        let claimed = Some(request.access_key_id.clone());
        let arn = settings
            .verifier
            .caller_arn(&request)
            .map_err(|reason| (claimed.clone(), format!("STS refused: {reason}")))?;
        let user = super::aws::user_of_arn(&arn);
        if self.config.users.is_aws_user(&user) {
            Ok(user)
        } else {
            Err((Some(user), "unknown ARN".to_owned()))
        }
    }

    /// MONGODB-OIDC `saslStart`: a token is checked at once (one step, also inside `hello`); a
    /// principal step is answered with `IdpInfo` (two steps, rule L15).
    #[cfg(feature = "oidc")]
    fn oidc_start(
        &mut self,
        db: &str,
        id: i32,
        payload: &[u8],
        speculative: bool,
        now: SystemTime,
    ) -> Option<RawDocumentBuf> {
        use super::oidc::{ClientStep, provider_for, read_client_step, verify_with_any};
        let step = match (read_client_step(payload), db) {
            (Ok(step), "$external") => step,
            (Err(reason), _) => {
                self.log_refusal(String::new(), db, crate::oidc::MECHANISM, reason);
                return None;
            }
            (Ok(_), _) => {
                self.log_refusal(String::new(), db, crate::oidc::MECHANISM, "not $external");
                return None;
            }
        };
        match step {
            ClientStep::Jwt(token) => {
                let verdict = verify_with_any(&self.config.oidc, token, now);
                self.oidc_verdict(verdict, id, speculative)
            }
            ClientStep::Principal(_) if speculative => None,
            ClientStep::Principal(name) => {
                let Some(index) = provider_for(&self.config.oidc, name) else {
                    self.log_refusal(
                        name.unwrap_or_default().to_owned(),
                        db,
                        crate::oidc::MECHANISM,
                        "no identity provider serves this username (with several, one is needed)",
                    );
                    return None;
                };
                let info = self.config.oidc.get(index)?.idp_info();
                self.conversation = Some(Conversation {
                    id,
                    db: db.to_owned(),
                    user: name.unwrap_or_default().to_owned(),
                    mechanism: crate::oidc::MECHANISM,
                    speculative: false,
                    known: true,
                    skip_empty_exchange: true,
                    stage: Stage::OidcAwaitingJwt(index),
                });
                Some(sasl_reply(id, false, &info))
            }
        }
    }

    #[cfg(feature = "oidc")]
    fn oidc_verdict(
        &mut self,
        verdict: std::result::Result<String, String>,
        id: i32,
        speculative: bool,
    ) -> Option<RawDocumentBuf> {
        match verdict {
            Ok(principal) => {
                self.mark_authenticated(
                    principal,
                    "$external".to_owned(),
                    crate::oidc::MECHANISM,
                    speculative,
                );
                Some(sasl_reply(id, true, b""))
            }
            Err(reason) => {
                self.log_refusal(String::new(), "$external", crate::oidc::MECHANISM, reason);
                None
            }
        }
    }

    /// GSSAPI `saslStart`: a new acceptor context takes the client's first token.
    fn gssapi_start(&mut self, db: &str, id: i32, token: &[u8]) -> Option<RawDocumentBuf> {
        let settings = self.config.gssapi.as_ref()?;
        if db != "$external" {
            self.log_refusal(String::new(), db, crate::gssapi::MECHANISM, "not $external");
            return None;
        }
        let context = match settings.acceptor.accept() {
            Ok(context) => context,
            Err(e) => {
                self.log_refusal(String::new(), db, crate::gssapi::MECHANISM, e.to_string());
                return None;
            }
        };
        self.gssapi_continue(id, context, super::gssapi::Phase::Negotiating, token)
    }

    /// One client message of a GSSAPI conversation: a context token, the empty message after
    /// the last one, or the security-layer choice. `None` refuses the login.
    fn gssapi_continue(
        &mut self,
        id: i32,
        mut context: Box<dyn super::gssapi::AcceptorContext>,
        phase: super::gssapi::Phase,
        payload: &[u8],
    ) -> Option<RawDocumentBuf> {
        use super::gssapi::Phase;
        use crate::gssapi::{MECHANISM, SECURITY_LAYER_OFFER};
        let refuse = |session: &Self, user: String, reason: String| {
            session.log_refusal(user, "$external", MECHANISM, reason);
            None
        };
        let (reply, next) = match phase {
            Phase::Negotiating => {
                let token = match context.step(Some(payload)) {
                    Ok(token) => token.unwrap_or_default(),
                    Err(e) => return refuse(self, String::new(), e.to_string()),
                };
                match (context.is_complete(), token.is_empty()) {
                    (false, _) => (token, Phase::Negotiating),
                    (true, false) => (token, Phase::AwaitingEmpty),
                    (true, true) => match context.wrap(&SECURITY_LAYER_OFFER) {
                        Ok(offer) => (offer, Phase::LayerOffered),
                        Err(e) => return refuse(self, String::new(), e.to_string()),
                    },
                }
            }
            Phase::AwaitingEmpty if payload.is_empty() => {
                match context.wrap(&SECURITY_LAYER_OFFER) {
                    Ok(offer) => (offer, Phase::LayerOffered),
                    Err(e) => return refuse(self, String::new(), e.to_string()),
                }
            }
            Phase::AwaitingEmpty => {
                return refuse(
                    self,
                    String::new(),
                    "data where the empty message after the context belongs".into(),
                );
            }
            Phase::LayerOffered => {
                return self.gssapi_finish(id, context.as_mut(), payload);
            }
        };
        self.conversation = Some(Conversation {
            id,
            db: "$external".to_owned(),
            user: String::new(),
            mechanism: MECHANISM,
            speculative: false,
            known: true,
            skip_empty_exchange: true,
            stage: Stage::Gssapi(context, next),
        });
        Some(sasl_reply(id, false, &reply))
    }

    /// The client's security-layer choice: "none", an authorization id that is the client
    /// principal (or none), a principal that is a user, a ticket for this service.
    fn gssapi_finish(
        &mut self,
        id: i32,
        context: &mut dyn super::gssapi::AcceptorContext,
        payload: &[u8],
    ) -> Option<RawDocumentBuf> {
        use crate::gssapi::{MECHANISM, read_security_layer_choice};
        let settings = self.config.gssapi.as_ref()?;
        let verdict = (|| {
            let principal = context
                .client_principal()
                .map_err(|e| (String::new(), e.to_string()))?;
            let unwrapped = context
                .unwrap(payload)
                .map_err(|e| (principal.clone(), e.to_string()))?;
            let authorization_id = read_security_layer_choice(&unwrapped)
                .map_err(|e| (principal.clone(), e.to_string()))?;
            if !authorization_id.is_empty() && authorization_id != principal {
                return Err((principal, format!("may not act as `{authorization_id}`")));
            }
            let service = context
                .service_principal()
                .map_err(|e| (principal.clone(), e.to_string()))?;
            if !settings.serves(&service) {
                return Err((
                    principal,
                    format!("a ticket for another service, `{service}`"),
                ));
            }
            if !settings.users.contains(&principal) {
                return Err((principal, "unknown principal".to_owned()));
            }
            Ok(principal)
        })();
        match verdict {
            Ok(principal) => {
                self.mark_authenticated(principal, "$external".to_owned(), MECHANISM, false);
                Some(sasl_reply(id, true, b""))
            }
            Err((user, reason)) => {
                self.log_refusal(user, "$external", MECHANISM, reason);
                None
            }
        }
    }

    fn plain(&mut self, db: &str, id: i32, payload: &[u8]) -> Option<RawDocumentBuf> {
        let Some((user, password)) = split_plain_payload(payload) else {
            self.log_refusal(String::new(), db, "PLAIN", "malformed PLAIN payload");
            return None;
        };
        let known = self.config.users.get(db, user);
        let verified = self
            .config
            .decoy_user
            .as_ref()
            .is_some_and(|decoy| verify_plain(known, &password, decoy));
        let reason = match (known, verified) {
            (Some(_), true) => None,
            (Some(_), false) => Some("wrong password"),
            (None, _) => Some("unknown user"),
        };
        if let Some(reason) = reason {
            self.log_refusal(user.to_owned(), db, "PLAIN", reason);
            return None;
        }
        self.mark_authenticated(user.to_owned(), db.to_owned(), "PLAIN", false);
        Some(sasl_reply(id, true, b""))
    }

    #[cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(unused_variables))]
    fn sasl_continue(&mut self, doc: &RawDocument, now: SystemTime) -> Reply {
        let id = match doc.get("conversationId") {
            Ok(Some(RawBsonRef::Int32(id))) => id,
            Ok(Some(RawBsonRef::Int64(id))) => i32::try_from(id).unwrap_or(-1),
            _ => {
                return Err(error_reply(
                    codes::BAD_VALUE,
                    "saslContinue needs a conversationId",
                ));
            }
        };
        let Some(payload) = sasl_payload(doc) else {
            return Err(error_reply(
                codes::BAD_VALUE,
                "saslContinue needs a payload (binary, or a base64 string)",
            ));
        };
        let Some(conversation) = self.conversation.take().filter(|c| c.id == id) else {
            return Err(error_reply(
                codes::PROTOCOL_ERROR,
                "No SASL session state found",
            ));
        };
        match conversation.stage {
            Stage::AwaitingClientFinal(state) => match state.receive_client_final(&payload) {
                Ok(mut server_final) => {
                    if self.config.faults().misbehavior == Some(Misbehavior::WrongServerSignature) {
                        server_final = wrong_signature(&server_final);
                    }
                    let done = conversation.skip_empty_exchange;
                    if done {
                        self.mark_authenticated(
                            conversation.user,
                            conversation.db,
                            conversation.mechanism,
                            conversation.speculative,
                        );
                    } else {
                        self.conversation = Some(Conversation {
                            stage: Stage::AwaitingEmptyExchange,
                            ..conversation
                        });
                    }
                    Ok(sasl_reply(id, done, &server_final))
                }
                // Whatever the reason, the client only learns that authentication failed.
                Err(refusal) => {
                    let reason = match refusal {
                        Refusal::InvalidProof if !conversation.known => "unknown user or mechanism",
                        Refusal::InvalidProof => "wrong password",
                        Refusal::ChannelBinding => "channel binding requested",
                        Refusal::NonceMismatch => "nonce mismatch",
                        Refusal::Malformed(_) => "malformed client-final message",
                    };
                    self.log_refusal(
                        conversation.user,
                        &conversation.db,
                        conversation.mechanism,
                        reason,
                    );
                    Err(authentication_failed())
                }
            },
            #[cfg(feature = "aws")]
            Stage::AwsAwaitingRequest {
                ref server_nonce,
                ref host,
            } => {
                let verdict = self.aws_verify(server_nonce, host, &payload, now);
                match verdict {
                    Ok(user) => {
                        self.mark_authenticated(
                            user,
                            conversation.db,
                            crate::aws::MECHANISM,
                            false,
                        );
                        Ok(sasl_reply(id, true, b""))
                    }
                    Err((user, reason)) => {
                        let user = user.unwrap_or(conversation.user);
                        self.log_refusal(user, &conversation.db, crate::aws::MECHANISM, reason);
                        Err(authentication_failed())
                    }
                }
            }
            Stage::Gssapi(context, phase) => self
                .gssapi_continue(id, context, phase, &payload)
                .ok_or_else(authentication_failed),
            #[cfg(feature = "oidc")]
            Stage::OidcAwaitingJwt(index) => {
                use super::oidc::{ClientStep, read_client_step};
                let verdict = match (read_client_step(&payload), self.config.oidc.get(index)) {
                    (Ok(ClientStep::Jwt(token)), Some(provider)) => provider.verify(token, now),
                    _ => Err("the second step is not a JwtStepRequest".to_owned()),
                };
                self.oidc_verdict(verdict, id, false)
                    .ok_or_else(authentication_failed)
            }
            Stage::AwaitingEmptyExchange => {
                if !payload.is_empty() {
                    self.log_refusal(
                        conversation.user,
                        &conversation.db,
                        conversation.mechanism,
                        "non-empty final exchange",
                    );
                    return Err(authentication_failed());
                }
                self.mark_authenticated(
                    conversation.user,
                    conversation.db,
                    conversation.mechanism,
                    conversation.speculative,
                );
                Ok(sasl_reply(id, true, b""))
            }
        }
    }

    fn mark_authenticated(
        &mut self,
        user: String,
        db: String,
        mechanism: &'static str,
        speculative: bool,
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
        let entry = (user, db);
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
        reason: impl Into<std::borrow::Cow<'static, str>>,
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
        for (user, db) in &self.authenticated {
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

/// Splits a PLAIN payload, `[authzid] NUL user NUL password` (RFC 4616), into the user and the
/// password. An authzid, if any, must name the user. `None` for anything else.
pub fn split_plain_payload(payload: &[u8]) -> Option<(&str, Secret)> {
    let mut parts = payload.split(|&b| b == 0);
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(authzid), Some(user), Some(password), None) => {
            let user = std::str::from_utf8(user).ok()?;
            let password = std::str::from_utf8(password).ok()?;
            (authzid.is_empty() || authzid == user.as_bytes())
                .then(|| (user, Secret::new(password)))
        }
        _ => None,
    }
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

/// `v=<signature>` with one bit of the signature flipped.
fn wrong_signature(server_final: &[u8]) -> Vec<u8> {
    let signature = server_final.strip_prefix(b"v=").unwrap_or_default();
    let mut bytes = BASE64.decode(signature).unwrap_or_default();
    if let Some(first) = bytes.first_mut() {
        *first ^= 1;
    }
    format!("v={}", BASE64.encode(bytes)).into_bytes()
}

/// A SASL payload: binary, or (as PyMongo sends GSSAPI's) a base64 string, which mongod decodes.
/// A PLAIN payload is a password: the copy is wiped when dropped.
fn sasl_payload(doc: &RawDocument) -> Option<Zeroizing<Vec<u8>>> {
    match doc.get("payload") {
        Ok(Some(RawBsonRef::Binary(binary))) => Some(Zeroizing::new(binary.bytes.to_vec())),
        Ok(Some(RawBsonRef::String(text))) => BASE64.decode(text).ok().map(Zeroizing::new),
        _ => None,
    }
}

/// A reply's payload as a base64 string when the request's was one, as mongod answers.
fn answer_in_kind(request: &RawDocument, reply: RawDocumentBuf) -> RawDocumentBuf {
    if !matches!(request.get("payload"), Ok(Some(RawBsonRef::String(_)))) {
        return reply;
    }
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

/// `find`'s reply: the server stores nothing, so the cursor is empty and exhausted.
fn empty_cursor(db: &str, doc: &RawDocument) -> RawDocumentBuf {
    let collection = match doc.get("find") {
        Ok(Some(RawBsonRef::String(name))) => name,
        _ => "",
    };
    let cursor = rawdoc! {
        "firstBatch": RawArrayBuf::new(),
        "id": 0_i64,
        "ns": format!("{db}.{collection}"),
    };
    rawdoc! { "cursor": cursor, "ok": 1.0 }
}

/// `insert`'s reply: every document counts as written (and is dropped).
fn inserted(doc: &RawDocument) -> RawDocumentBuf {
    let n = match doc.get("documents") {
        Ok(Some(RawBsonRef::Array(documents))) => documents.into_iter().count(),
        _ => 0,
    };
    rawdoc! { "n": i32::try_from(n).unwrap_or(i32::MAX), "ok": 1.0 }
}

fn build_info() -> RawDocumentBuf {
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
    reply.append(cstr!("maxBsonObjectSize"), 16 * 1024 * 1024);
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
    use crate::server::User;

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
        Session::new(Arc::new(SessionConfig::new(users)), 1)
    }

    fn command(session: &mut Session, doc: Document) -> Document {
        let reply = session.handle_command("admin", &doc.to_vec().unwrap(), SystemTime::now());
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
            [("alice".to_owned(), "admin".to_owned())]
        );
    }

    #[test]
    fn plain_checks_the_password() {
        let mut session = session();
        let refused = command(
            &mut session,
            doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": bin(b"\0alice\0wrong") },
        );
        assert_eq!(refused.get_i32("code").unwrap(), 18);
        assert_eq!(refused.get_str("errmsg").unwrap(), "Authentication failed.");
        let accepted = command(
            &mut session,
            doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": bin(b"\0alice\0pencil") },
        );
        assert!(accepted.get_bool("done").unwrap());
        let malformed = command(
            &mut session,
            doc! { "saslStart": 1, "mechanism": "PLAIN", "payload": bin(b"alice") },
        );
        assert_eq!(malformed.get_i32("code").unwrap(), 18);
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
        let decoy = session.config.decoy_user.as_ref().unwrap();
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
    fn sasl_continue_needs_the_conversation() {
        let mut session = session();
        let reply = command(
            &mut session,
            doc! { "saslContinue": 1, "conversationId": 9, "payload": bin(b"x") },
        );
        assert_eq!(reply.get_i32("code").unwrap(), 17);
    }
}

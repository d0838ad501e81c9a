//! What a caller sets for a connection, and what the adapters report while they connect.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb_auth::environment::deadline;
use mongodb_auth::error::{Error, Result};
use mongodb_auth::handshake::{AuthOptions, ClientEnv, DriverInfo, Hello, HelloStyle};
use mongodb_auth::uri::{ConnectionString, Warning};
use mongodb_auth::{GenericArguments, ServerApi};

use crate::tls::TlsInfo;

/// The largest reply the adapters accept while logging in. `hello` and SASL replies are a few
/// hundred bytes; the wire protocol's 48 MB ceiling would let a hostile server make a client
/// buffer that much before the login even starts.
pub const MAX_AUTH_REPLY_SIZE: usize = 1024 * 1024;

/// Something that can be turned into a connection string: a `&str` URI or a parsed one.
pub trait IntoConnectionString {
    /// Parses (or passes through) the connection string.
    fn into_connection_string(self) -> Result<ConnectionString>;
}

impl IntoConnectionString for &str {
    fn into_connection_string(self) -> Result<ConnectionString> {
        ConnectionString::parse(self)
    }
}

impl IntoConnectionString for ConnectionString {
    fn into_connection_string(self) -> Result<ConnectionString> {
        Ok(self)
    }
}

impl IntoConnectionString for &ConnectionString {
    fn into_connection_string(self) -> Result<ConnectionString> {
        Ok(self.clone())
    }
}

/// Something the adapter did, for callers that want to show or log the conversation. Payloads
/// are never included: they carry proofs and passwords.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The connection string has something its parser ignored or took under protest (an
    /// unknown option, a value of the wrong type, a deprecated spelling): the connection-string
    /// specification has a client log it as a warning. Emitted by
    /// [`Connector::new`](crate::Connector::new), once for each, before anything else.
    Warning {
        /// What it is, naming the option; never a secret's value.
        warning: &'a Warning,
    },
    /// A connection is open: TCP, or to a UNIX socket.
    Connected {
        /// The address, as `host:port`, or the socket's path.
        address: &'a str,
    },
    /// The TLS handshake is done.
    TlsEstablished {
        /// What it negotiated.
        info: &'a TlsInfo,
    },
    /// A message was written.
    Sent {
        /// The command's name (`isMaster`, `hello`, `saslStart`, ...).
        command: &'a str,
        /// Its database.
        db: &'a str,
        /// `OP_QUERY` or `OP_MSG`.
        op: &'static str,
        /// The fields the authenticator added to `hello` (`saslSupportedMechs`,
        /// `speculativeAuthenticate`), empty for other commands.
        auth_fields: Vec<&'a str>,
        /// The message size.
        bytes: usize,
    },
    /// A reply was read.
    Received {
        /// The reply size.
        bytes: usize,
        /// Whether the server included a `speculativeAuthenticate` answer.
        speculative: bool,
    },
    /// The server asked for re-authentication (error 391): the adapter logs in again on the same
    /// connection and then runs the command once more.
    Reauthenticating {
        /// The command that got the 391.
        command: &'a str,
    },
    /// MONGODB-OIDC got an access token for the login.
    OidcToken {
        /// The built-in environment that supplied it (`test`, `azure`, `gcp`, `k8s`), or `None`
        /// for the caller's callback.
        environment: Option<&'static str>,
        /// Whether another connection of the same client had already fetched it.
        from_cache: bool,
    },
    /// A command of `run_command` went out (the login's own commands are [`Sent`](Self::Sent)
    /// only): the events of command monitoring, one started and then one succeeded or failed
    /// for each attempt (a re-run after a 391 included, and one cut short: its future dropped),
    /// the two with the same `request_id` and `address`.
    #[non_exhaustive]
    CommandStarted {
        /// The command's name.
        name: &'a str,
        /// Its database.
        db: &'a str,
        /// The command document as sent, with what the adapter appended (the declared stable
        /// API's fields, `maxTimeMS`) and without `$db` (BSON bytes); an empty document for a
        /// command that may carry credentials
        /// ([`is_security_sensitive`](mongodb_auth::command::is_security_sensitive)).
        document: &'a [u8],
        /// The message's request id.
        request_id: i32,
        /// The connection's address, as [`Connection::address`](crate::Connection::address).
        address: &'a str,
        /// The server's id of the connection (its `hello` reply's `connectionId`), if it gave
        /// one.
        server_connection_id: Option<i64>,
        /// Behind a load balancer, the service's id (its `hello` reply's `serviceId`, the
        /// ObjectId's twelve bytes), as the load balancer specification has these events carry.
        service_id: Option<[u8; 12]>,
    },
    /// The command's reply came back with `ok: 1`.
    #[non_exhaustive]
    CommandSucceeded {
        /// The command's name.
        name: &'a str,
        /// Its database.
        db: &'a str,
        /// The reply (BSON bytes); an empty document for a command that may carry credentials.
        reply: &'a [u8],
        /// From the command going out to its reply: the time to write it and read the reply,
        /// not the observer's own.
        duration: Duration,
        /// As in [`CommandStarted`](Self::CommandStarted).
        request_id: i32,
        /// As in [`CommandStarted`](Self::CommandStarted).
        address: &'a str,
        /// As in [`CommandStarted`](Self::CommandStarted).
        server_connection_id: Option<i64>,
        /// As in [`CommandStarted`](Self::CommandStarted).
        service_id: Option<[u8; 12]>,
    },
    /// The command failed: an `ok: 0` reply, no reply at all, or none yet when its future was
    /// dropped (an [`Error::Io`](mongodb_auth::Error::Io) of kind `Interrupted`). A command
    /// that may carry credentials fails with only the code, its name and the labels of the
    /// server's error (command monitoring's rule): the message and the reply are left out.
    #[non_exhaustive]
    CommandFailed {
        /// The command's name.
        name: &'a str,
        /// Its database.
        db: &'a str,
        /// Why.
        failure: &'a mongodb_auth::Error,
        /// From the command going out to the failure, as in
        /// [`CommandSucceeded`](Self::CommandSucceeded).
        duration: Duration,
        /// As in [`CommandStarted`](Self::CommandStarted).
        request_id: i32,
        /// As in [`CommandStarted`](Self::CommandStarted).
        address: &'a str,
        /// As in [`CommandStarted`](Self::CommandStarted).
        server_connection_id: Option<i64>,
        /// As in [`CommandStarted`](Self::CommandStarted).
        service_id: Option<[u8; 12]>,
    },
    /// MONGODB-OIDC's device flow: the person should open `verification_uri` and enter
    /// `user_code` (without an observer, the adapters print it on standard error).
    DeviceCode {
        /// Where the person goes.
        verification_uri: &'a str,
        /// The same with the code filled in, when the provider gives one.
        verification_uri_complete: Option<&'a str>,
        /// The code to enter.
        user_code: &'a str,
    },
    /// PBKDF2 ran (the key cache had no entry).
    DerivedKey {
        /// The iteration count.
        iterations: u32,
        /// How long it took.
        elapsed: Duration,
    },
    /// No host answered `hello` in a pass over the seed list, and another pass begins after
    /// `pause` ([`ConnectOptions::server_selection_try_once`] `false`): before each pass after
    /// the first (where the server selection specification logs "waiting for suitable server"
    /// once); the last event, when the pause ends past the window and no pass follows.
    WaitingForHost {
        /// The last host tried (`host:port`, or a UNIX socket's path).
        host: &'a str,
        /// Why it could not be used.
        failure: &'a mongodb_auth::Error,
        /// The time until the next pass.
        pause: Duration,
    },
}

pub(crate) type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Settings of `connect` and `authenticate`, the same for both adapters.
///
/// A timeout of `Duration::MAX` means none: it waits
/// [`LONGEST_WAIT`](mongodb_auth::environment::LONGEST_WAIT), a century.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// Time allowed to open the connection to one address (each address of a host gets its
    /// own) or UNIX socket, and for each DNS lookup; and at most, each of a host's TLS handshake
    /// and its `hello` reply (as a driver's monitor checks a server); within what is left of
    /// [`server_selection_timeout`](Self::server_selection_timeout). `None`: the connection
    /// string's `connectTimeoutMS` (`0`: none), else [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Option<Duration>,
    /// Time allowed for each reply to arrive whole, and for the TLS handshake. The handshake and
    /// `hello`'s reply, which find a host, have no more than the connect timeout either, nor
    /// than what is left of [`server_selection_timeout`](Self::server_selection_timeout).
    /// `None`: the connection string's `socketTimeoutMS` (`0`: none), else
    /// [`DEFAULT_SOCKET_TIMEOUT`]; but under a client-side operation timeout (`timeoutMS` in the
    /// connection string, `0` included, or a command's own), none, as that specification
    /// ignores the deprecated `socketTimeoutMS`: what is left of the operation's time.
    pub read_timeout: Option<Duration>,
    /// Time allowed for each write. `None` as for `read_timeout`; a
    /// `read_timeout` set in code does not carry over.
    pub write_timeout: Option<Duration>,
    /// Time allowed to find a host to log in to, as a driver's server selection is bounded: the
    /// seed list's DNS lookups, then each host's lookups, connections, TLS handshake and `hello`,
    /// all together (the rest of the login has its own timeouts; under `timeoutMS`, no more than
    /// what is left of this either, as the client-side operations timeout specification
    /// bounds a connection's handshake). Running out fails the connect
    /// with [`Error::ServerSelectionTimeout`], which names the last host tried and why it failed.
    /// `None`: the connection string's `serverSelectionTimeoutMS` (`0`: no time, as in PyMongo),
    /// else [`DEFAULT_SERVER_SELECTION_TIMEOUT`].
    pub server_selection_timeout: Option<Duration>,
    /// Whether the search for a host passes over the seed list once (`true`, the default) or,
    /// while [`server_selection_timeout`](Self::server_selection_timeout) lasts, passes over it
    /// again [`MIN_HEARTBEAT_FREQUENCY`] (500 ms) after each pass until a host answers (`false`:
    /// for a server that is still starting), as the server selection specification has clients
    /// without background monitoring do. One pass fails with the last host's error, or
    /// [`Error::ServerSelectionTimeout`] if the window runs out first; passes again end with
    /// [`Error::ServerSelectionTimeout`] (or `timeoutMS`'s [`Error::Timeout`]), naming the last
    /// host and its failure, once the next pass would begin too late; or at once, with the last
    /// host's error, when no host of the pass failed in a way another pass may mend (none
    /// [transient](mongodb_auth::ErrorKind::is_transient): a TLS certificate refused, a host of
    /// a kind this system cannot reach). The seed list's own DNS lookups (`mongodb+srv`, or
    /// every host's with [`dns_server`](Self::dns_server)) are made once: their failure ends
    /// the connect. `None`: the connection string's `serverSelectionTryOnce`, else `true`; a
    /// value here that differs from the connection string's is an error
    /// ([`Error::InvalidOption`]).
    pub server_selection_try_once: Option<bool>,
    /// The first message's form (with `loadBalanced=true` or a declared
    /// [`server_api`](Self::server_api), OP_MSG `hello` whatever this says);
    /// `None`: the legacy `isMaster` over OP_MSG, as the handshake specification has it since
    /// June 2026 ([`HelloStyle::LegacyOpQuery`] for a server or proxy that reads no OP_MSG).
    pub hello_style: Option<HelloStyle>,
    /// `client.application.name` in `hello` (default: the connection string's `appName`); at
    /// most [`MAX_APP_NAME_LEN`](mongodb_auth::handshake::MAX_APP_NAME_LEN) bytes, or
    /// [`Connector::new`](crate::Connector::new) fails with [`Error::InvalidOption`].
    pub app_name: Option<String>,
    /// What the libraries that wrap these adapters append to `hello`'s client metadata, so
    /// servers' logs name them (the handshake specification's `DriverInfoOptions`): each
    /// name, version and platform after a `|`, in order, a duplicate once only. Metadata that
    /// cannot fit the specification's 512 bytes fails [`Connector::new`](crate::Connector::new)
    /// ([`Error::InvalidInput`]). [`Connector::append_metadata`](crate::Connector::append_metadata)
    /// appends more for its later connections.
    pub driver_info: Vec<DriverInfo>,
    /// The stable API version the client declares, if any: the first message is then `hello`
    /// over OP_MSG whatever `hello_style` says, and every command carries
    /// it, the login's and [`run_command`](crate::blocking::Connection::run_command)'s (a
    /// command that names `apiVersion`, `apiStrict` or `apiDeprecationErrors` itself is not
    /// looked into: what the server then does is undefined). In code only, as the stable API
    /// specification requires: no connection string option declares it.
    pub server_api: Option<ServerApi>,
    /// Settings of the authentication itself.
    pub auth: AuthOptions,
    /// A DNS server for every lookup of the connection (the SRV and TXT records of
    /// `mongodb+srv`, then the host names), instead of the system's: for tests and private DNS.
    pub dns_server: Option<SocketAddr>,
    /// The command that opens MONGODB-OIDC's login page for the built-in authorization code
    /// flow, run by the shell with the URL as its last argument (as mongosh's `--browser`);
    /// `None` opens the system's browser (`xdg-open`, `open`, or the Windows URL handler).
    pub browser: Option<String>,
    observer: Option<Observer>,
    /// Where the client runs, as the connector found it, on the copy of the options a
    /// connection through it uses; `None` elsewhere, so what `authenticate` is given is read
    /// anew, from the environment its `auth` names.
    pub(crate) client_env: Option<ClientEnv>,
    /// The connection string's `timeoutMS` (`Duration::MAX` for `0`, no limit): a connect and
    /// its login end within it, and within what is left of the selection timeout; each
    /// command of [`run_command`](crate::blocking::Connection::run_command) within it.
    operation_timeout: Option<Duration>,
    /// The connection string's `socketTimeoutMS` (`Duration::MAX` for `0`, no limit).
    socket_timeout: Option<Duration>,
    /// The operation under way under a client-side operation timeout, if any.
    budget: Option<Budget>,
    /// When the search for a host that answers must end, while it runs.
    selection_done_by: Option<Instant>,
}

/// An operation under a client-side operation timeout (a connect and its login, or one
/// command): the deprecated `socketTimeoutMS` is ignored, as the client-side operations timeout
/// specification requires, and each step gets at most what is left until `done_by`.
#[derive(Clone, Copy, Debug)]
struct Budget {
    began: Instant,
    /// `None` under `timeoutMS=0`, which sets no limit.
    done_by: Option<Instant>,
    /// The timeout `done_by` comes from, and what runs under it: the error when it passes.
    after: Duration,
    operation: &'static str,
}

impl Budget {
    fn starting(timeout: Duration, operation: &'static str) -> Self {
        let began = Instant::now();
        Budget {
            began,
            done_by: (timeout != Duration::MAX).then(|| deadline(began, timeout)),
            after: timeout,
            operation,
        }
    }

    /// Its timeout's error; without a limit (the server's own `maxTimeMS` ran out), after the
    /// time it ran.
    fn ran_out(&self) -> Error {
        let after = match self.done_by {
            Some(_) => self.after,
            None => self.began.elapsed(),
        };
        crate::timed_out(self.operation, after)
    }
}

/// The timeout that ran out (the search for a host's, or `timeoutMS`'s), with where it was
/// (`host`) and what failed there (`cause`): the client-side operations timeout specification
/// requires a `timeoutMS` error to expose the error of the step it cut short.
fn at_host(ran_out: Error, host: Option<&str>, cause: Option<Error>) -> Error {
    let host = host.map(str::to_owned);
    let cause = cause.map(Box::new);
    match ran_out {
        Error::ServerSelectionTimeout { after, .. } => {
            Error::ServerSelectionTimeout { after, host, cause }
        }
        Error::Timeout {
            operation, after, ..
        } => Error::Timeout {
            operation,
            after,
            host,
            cause,
        },
        other => other,
    }
}

/// Where the client runs: the options' environment variables, and whether
/// [`ClientEnv::DOCKERENV`] exists.
pub(crate) fn detect_client_env(auth: &AuthOptions) -> ClientEnv {
    ClientEnv::detect(auth.environment(), Path::new(ClientEnv::DOCKERENV).exists())
}

/// `timeout`, or what is left until `done_by` when that is less (zero once it has passed).
pub(crate) fn within(done_by: Option<Instant>, timeout: Duration) -> Duration {
    done_by.map_or(timeout, |done_by| {
        timeout.min(done_by.saturating_duration_since(Instant::now()))
    })
}

/// The pause between two passes over the seed list when the search for a host passes again
/// ([`ConnectOptions::server_selection_try_once`] `false`): the server discovery and monitoring
/// specification's `minHeartbeatFrequencyMS`, the least time between two checks of a server.
pub const MIN_HEARTBEAT_FREQUENCY: Duration = Duration::from_millis(500);

/// The connect timeout when neither the options nor the connection string give one: the
/// connection string specification's default for `connectTimeoutMS`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The read and write timeout of a login's messages when neither the options nor the
/// connection string's `socketTimeoutMS` give one.
pub const DEFAULT_SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// The time allowed to find a host to log in to when neither the options nor the connection
/// string give one: the server selection specification's default for `serverSelectionTimeoutMS`.
/// Without it, a seed list of many hosts that do not answer (a `mongodb+srv` name may bring
/// dozens) would hold a connect for the connect timeout of each.
pub const DEFAULT_SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(30);

impl ConnectOptions {
    /// The connect timeout in force (see [`ConnectOptions::connect_timeout`]).
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.within_operation(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
    }

    /// The read timeout in force (see [`ConnectOptions::read_timeout`]). While the search for a
    /// host runs (its TLS handshake, its `hello`), no more than the connect timeout either: a
    /// driver checks a server with `connectTimeoutMS` as its monitor's socket timeout, and a
    /// host that accepts connections and never answers must leave time for the next one.
    pub(crate) fn read_timeout(&self) -> Duration {
        let read = self.within_operation(self.read_timeout.unwrap_or(self.socket_timeout()));
        if self.selection_done_by.is_some() {
            read.min(self.connect_timeout())
        } else {
            read
        }
    }

    /// The write timeout in force (see [`ConnectOptions::write_timeout`]).
    pub(crate) fn write_timeout(&self) -> Duration {
        self.within_operation(self.write_timeout.unwrap_or(self.socket_timeout()))
    }

    /// The read and write timeout where the options set none: none under a client-side
    /// operation timeout, else the connection string's `socketTimeoutMS` or the default.
    fn socket_timeout(&self) -> Duration {
        if self.budget.is_some() {
            Duration::MAX
        } else {
            self.socket_timeout.unwrap_or(DEFAULT_SOCKET_TIMEOUT)
        }
    }

    /// `timeout`, or less while a connect runs under `timeoutMS` or looks for a host: what is
    /// left of them (at least a millisecond, which no step takes;
    /// [`out_of_time`](Self::out_of_time) ends the connect then).
    fn within_operation(&self, timeout: Duration) -> Duration {
        let done_by = match (self.done_by(), self.selection_done_by) {
            (Some(operation), Some(selection)) => Some(operation.min(selection)),
            (operation, selection) => operation.or(selection),
        };
        within(done_by, timeout).max(timeout.min(Duration::from_millis(1)))
    }

    /// The time allowed to find a host that answers (see
    /// [`ConnectOptions::server_selection_timeout`]).
    fn selection_timeout(&self) -> Duration {
        self.server_selection_timeout
            .unwrap_or(DEFAULT_SERVER_SELECTION_TIMEOUT)
    }

    /// Starts the search for a host to log in to: until it ends, each lookup, connection,
    /// handshake and `hello` gets at most what is left of the selection timeout.
    pub(crate) fn start_selection(&mut self) {
        self.selection_done_by = Some(deadline(Instant::now(), self.selection_timeout()));
    }

    /// Ends it: a host answered `hello`. Under `timeoutMS`, the rest of the login has no more
    /// than what is left of the selection timeout either (the client-side operations timeout
    /// specification's `computedServerSelectionTimeout`, which bounds every command of a
    /// connection's handshake); without it, the rest of the login has its own timeouts.
    pub(crate) fn end_selection(&mut self) {
        let Some(selection_done_by) = self.selection_done_by.take() else {
            return;
        };
        let after = self.selection_timeout();
        let Some(budget) = &mut self.budget else {
            return;
        };
        if budget
            .done_by
            .is_none_or(|done_by| selection_done_by < done_by)
        {
            *budget = Budget {
                began: budget.began,
                done_by: Some(selection_done_by),
                after,
                operation: "logging in (serverSelectionTimeoutMS, which bounds a connection's \
                            handshake under timeoutMS)",
            };
        }
    }

    /// Whether the search for a host passes over the seed list once (see
    /// [`ConnectOptions::server_selection_try_once`]).
    pub(crate) fn tries_once(&self) -> bool {
        self.server_selection_try_once.unwrap_or(true)
    }

    /// `ServerSelectionTimeout` if the search for a host has used up the selection timeout by
    /// `at`.
    fn selection_overdue_by(&self, at: Instant) -> Result<()> {
        match self.selection_done_by {
            Some(done_by) if at >= done_by => Err(Error::ServerSelectionTimeout {
                after: self.selection_timeout(),
                host: None,
                cause: None,
            }),
            _ => Ok(()),
        }
    }

    /// `Ok` while neither `timeoutMS` nor the search for a host has run out; else the error of
    /// the one that has, `timeoutMS`'s first.
    pub(crate) fn out_of_time(&self) -> Result<()> {
        self.out_of_time_by(Instant::now())
    }

    /// `Ok` if neither `timeoutMS` nor the search for a host runs out by `at`; else the error of
    /// the one that does, `timeoutMS`'s first.
    pub(crate) fn out_of_time_by(&self, at: Instant) -> Result<()> {
        self.overdue_by(at)
            .and_then(|()| self.selection_overdue_by(at))
    }

    /// `error`, or the timeout that has run out (see [`out_of_time`](Self::out_of_time)): a
    /// step it cut short failed for want of time, whatever the step said. The timeout keeps
    /// `error` as its cause, and `host` as where it happened.
    pub(crate) fn or_timeout(&self, error: Error, host: Option<&str>) -> Error {
        self.or_timeout_by(Instant::now(), error, host)
    }

    /// The same as [`or_timeout`](Self::or_timeout) for a timeout that runs out by `at`: the
    /// search for a host ends as having run out when its next pass would begin too late.
    pub(crate) fn or_timeout_by(&self, at: Instant, error: Error, host: Option<&str>) -> Error {
        match self.out_of_time_by(at) {
            Ok(()) => error,
            // Already its error (a step that found the time up before it began).
            Err(Error::Timeout {
                operation, after, ..
            }) if matches!(&error, Error::Timeout { operation: o, after: a, .. }
                if *o == operation && *a == after) =>
            {
                error
            }
            Err(ran_out) => at_host(ran_out, host, Some(error)),
        }
    }

    /// `Ok` while there is time to ask `host`, connected to, for `hello`; else the timeout that
    /// has run out, naming `host` (which nothing failed at yet).
    pub(crate) fn time_for_hello(&self, host: &str) -> Result<()> {
        self.out_of_time()
            .map_err(|ran_out| at_host(ran_out, Some(host), None))
    }

    /// What is left of `timeoutMS` and of the search for a host, the lesser (see
    /// [`within_operation`](Self::within_operation)); `Duration::MAX` outside both.
    pub(crate) fn time_left(&self) -> Duration {
        self.within_operation(Duration::MAX)
    }

    /// Starts a connect's clock: with `timeoutMS`, every step of it (lookups, TCP, TLS, each
    /// exchange of the login) gets at most what is left of it.
    pub(crate) fn start_operation(&mut self) {
        self.budget = self
            .operation_timeout
            .map(|timeout| Budget::starting(timeout, "connecting and logging in (timeoutMS)"));
    }

    /// Ends it: the connection's later commands have their own timeouts.
    pub(crate) fn end_operation(&mut self) {
        self.budget = None;
    }

    /// Starts one command's clock (a re-authentication it needs included): `timeout`, or the
    /// connection string's `timeoutMS`; with neither, the socket timeouts.
    pub(crate) fn start_command(&mut self, timeout: Option<Duration>) {
        self.selection_done_by = None;
        self.budget = timeout
            .or(self.operation_timeout)
            .map(|timeout| Budget::starting(timeout, "running a command (timeoutMS)"));
    }

    /// What to append to a caller's command: the declared stable API, and under a client-side
    /// operation timeout, what is left of it as `maxTimeMS`, as that specification requires
    /// (no round trip is taken off: the server discovery and monitoring specification's
    /// `minRoundTripTime` is zero until two are known, and a connection here knows one).
    /// Less than a millisecond left is the timeout's error, unsent: `maxTimeMS: 0` would tell
    /// the server there is no limit.
    pub(crate) fn command_arguments(&self) -> Result<GenericArguments> {
        let arguments = GenericArguments::new().server_api(self.server_api);
        let Some(budget) = &self.budget else {
            return Ok(arguments);
        };
        let Some(done_by) = budget.done_by else {
            return Ok(arguments);
        };
        let left = done_by.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(budget.ran_out());
        }
        Ok(arguments.max_time(Some(left)))
    }

    /// `reply`, or under a client-side operation timeout, when it says the server's `maxTimeMS`
    /// ran out (code 50, at the top of an `ok: 0` reply, in `writeConcernError` or in
    /// `writeErrors`), the timeout's error with the server's as its cause: that specification
    /// has a client turn such errors into its own.
    pub(crate) fn max_time_expired(&self, reply: Vec<u8>) -> Result<Vec<u8>> {
        let Some(budget) = &self.budget else {
            return Ok(reply);
        };
        match mongodb_auth::command::max_time_ms_expired(&reply) {
            Some(server) => Err(at_host(budget.ran_out(), None, Some(server))),
            None => Ok(reply),
        }
    }

    /// These options for a person's MONGODB-OIDC login (the human callback, or the built-in
    /// flows): without the `timeoutMS` deadline, which the auth specification keeps out of it.
    pub(crate) fn for_a_person(&self) -> ConnectOptions {
        let mut options = self.clone();
        if let Some(budget) = &mut options.budget {
            budget.done_by = None;
        }
        options
    }

    /// Gives back what a person's login took (`took`): what was left of `timeoutMS` before it
    /// is left after it.
    pub(crate) fn give_back(&mut self, took: Duration) {
        if let Some(budget) = &mut self.budget {
            budget.done_by = budget.done_by.and_then(|at| at.checked_add(took));
        }
    }

    /// How long the caller's code (an OIDC callback, an AWS provider) may take: its own limit,
    /// and while a connect runs under `timeoutMS`, no more than what is left of it.
    pub(crate) fn callback_timeout(&self, own: Option<Duration>) -> Option<Duration> {
        match (own, self.done_by()) {
            (Some(own), _) => Some(self.within_operation(own)),
            (None, Some(_)) => Some(self.time_left()),
            (None, None) => None,
        }
    }

    /// When the operation under way must be done, under `timeoutMS`.
    pub(crate) fn done_by(&self) -> Option<Instant> {
        self.budget.and_then(|budget| budget.done_by)
    }

    /// `Timeout` once the connect under way has used up `timeoutMS`.
    pub(crate) fn overdue(&self) -> Result<()> {
        self.overdue_by(Instant::now())
    }

    /// `Timeout` if the operation under way has used up its time by `at`.
    fn overdue_by(&self, at: Instant) -> Result<()> {
        match &self.budget {
            Some(budget) if budget.done_by.is_some_and(|done_by| at >= done_by) => {
                Err(budget.ran_out())
            }
            _ => Ok(()),
        }
    }

    /// Whether `hello` can carry the client metadata of a connection of `cs` with these
    /// options and `wrappers` (the options' own, and those a connector appended). Checked
    /// without `client.env`, which never makes metadata too large: it is left out before
    /// anything is refused.
    pub(crate) fn check_metadata(
        &self,
        cs: &ConnectionString,
        wrappers: &[DriverInfo],
    ) -> Result<()> {
        let app_name = self.app_name.as_deref().or(cs.option("appName"));
        self.hello(app_name, wrappers, &ClientEnv::default())
            .client_metadata()
            .map(drop)
    }

    /// The first message these options ask for, before load balancing and the credential's
    /// fields: its style, `app_name`, `wrappers` and `env` in the client metadata.
    pub(crate) fn hello<'a>(
        &self,
        app_name: Option<&'a str>,
        wrappers: &'a [DriverInfo],
        env: &'a ClientEnv,
    ) -> Hello<'a> {
        Hello::new(self.hello_style())
            .app_name(app_name)
            .driver_info(wrappers)
            .client_env(env)
            .server_api(self.server_api)
    }

    /// Where the client runs, for `hello`'s `client.env`: as the connector found it, or, for a
    /// stream the caller opened (`authenticate`), found now.
    pub(crate) fn client_env(&self) -> Cow<'_, ClientEnv> {
        match &self.client_env {
            Some(env) => Cow::Borrowed(env),
            None => Cow::Owned(detect_client_env(&self.auth)),
        }
    }

    /// What the connection string says where these options say nothing: `connectTimeoutMS`
    /// and `socketTimeoutMS` (`0` is none), `serverSelectionTimeoutMS`,
    /// `serverSelectionTryOnce` (which may not say otherwise than these options), and, with a
    /// client-side operation timeout (`timeoutMS`), a connect and login that end within it,
    /// and a machine OIDC callback shortened to the least of it and the connect timeout (rule
    /// L12). The application name and the wrapping libraries must fit `hello`'s client
    /// metadata.
    pub(crate) fn completed_by(mut self, cs: &ConnectionString) -> Result<Self> {
        let milliseconds = |name: &str| {
            let ms: u64 = cs.option(name)?.parse().ok()?;
            Some(if ms == 0 {
                Duration::MAX
            } else {
                Duration::from_millis(ms)
            })
        };
        self.connect_timeout = self
            .connect_timeout
            .or_else(|| milliseconds("connectTimeoutMS"));
        // `0` here is no time at all, not no limit: PyMongo then fails when no server is known.
        self.server_selection_timeout = self.server_selection_timeout.or_else(|| {
            let ms: u64 = cs.option("serverSelectionTimeoutMS")?.parse().ok()?;
            Some(Duration::from_millis(ms))
        });
        match (
            self.server_selection_try_once,
            cs.flag("serverSelectionTryOnce"),
        ) {
            // The server selection specification: the option in code and in the connection
            // string may not conflict.
            (Some(in_code), Some(in_string)) if in_code != in_string => {
                return Err(Error::InvalidOption {
                    option: "serverSelectionTryOnce".into(),
                    rule: format!(
                        "the connection string says {in_string}, \
                         ConnectOptions::server_selection_try_once says {in_code}"
                    ),
                });
            }
            (in_code, in_string) => self.server_selection_try_once = in_code.or(in_string),
        }
        self.check_metadata(cs, &self.driver_info)?;
        self.socket_timeout = milliseconds("socketTimeoutMS");
        if let Some(operation) = milliseconds("timeoutMS") {
            let limit = operation.min(self.connect_timeout());
            self.auth = self.auth.oidc_machine_timeout_at_most(limit);
            self.operation_timeout = Some(operation);
        }
        Ok(self)
    }

    /// Calls `observer` for every [`Event`].
    pub fn observe(mut self, observer: impl Fn(&Event<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Replaces the authentication settings.
    pub fn auth_options(mut self, auth: AuthOptions) -> Self {
        self.auth = auth;
        self
    }

    /// The caller's observer, if any.
    pub(crate) fn observer(&self) -> Option<&Observer> {
        self.observer.as_ref()
    }

    /// Whether an observer receives [`emit`](Self::emit)'s events.
    pub(crate) fn is_observed(&self) -> bool {
        self.observer.is_some()
    }

    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// The hello style asked for (a load-balanced `hello` goes over OP_MSG whatever it is).
    pub(crate) fn hello_style(&self) -> HelloStyle {
        self.hello_style.unwrap_or(HelloStyle::LegacyOpMsg)
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("server_selection_timeout", &self.server_selection_timeout)
            .field("server_selection_try_once", &self.server_selection_try_once)
            .field("hello_style", &self.hello_style)
            .field("app_name", &self.app_name)
            .field("driver_info", &self.driver_info)
            .field("server_api", &self.server_api)
            .field("auth", &self.auth)
            .field("dns_server", &self.dns_server)
            .field("browser", &self.browser)
            .finish_non_exhaustive()
    }
}

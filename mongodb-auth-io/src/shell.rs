//! What the blocking and tokio adapters do, written once: the hosts in order, the TLS decision,
//! the next host on failure, the login loop (write, read, run jobs, answer asks, run callbacks),
//! re-authentication on 391, the events. It is async code generic over the adapter's I/O: the
//! tokio adapter awaits it, and the blocking adapter runs it on the calling thread, where its
//! I/O blocks instead of waiting. Each adapter only opens sockets, reads, writes and runs jobs.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::command::Command;
use mongodb_auth::credential::Credential;
use mongodb_auth::environment::deadline;
use mongodb_auth::error::{Error, ErrorKind, Result};
use mongodb_auth::handshake::{CallbackOutput, CallbackRequest, ConnectionIds, Job, JobOutput};
use mongodb_auth::uri::ConnectionString;
use mongodb_auth::wire::{MAX_MESSAGE_SIZE, ReplyDecoder};

use crate::connection::{Connection, ConnectionState};
use crate::connector::Connector;
use crate::dns::{Seeds, Target};
use crate::login::{Authenticated, Login, Next, Outgoing, received};
use crate::options::{ConnectOptions, Event, MAX_AUTH_REPLY_SIZE, MIN_HEARTBEAT_FREQUENCY};
use crate::tls::{TlsInfo, TlsSetup};

/// What an adapter does to a stream `S`, and the work it runs for a login.
pub(crate) trait Io<S: ?Sized>: Sync {
    /// Writes all of `bytes` within `timeout`.
    fn write(
        &self,
        stream: &mut S,
        bytes: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Reads some bytes into `buffer` by `deadline` (0: the peer closed); `timeout` is what an
    /// error reports.
    fn read(
        &self,
        stream: &mut S,
        buffer: &mut [u8],
        deadline: Instant,
        timeout: Duration,
    ) -> impl Future<Output = Result<usize>> + Send;

    /// Runs a job (PBKDF2, a GSS call) where blocking is allowed.
    fn run_job(&self, job: Job) -> impl Future<Output = Result<JobOutput>> + Send;

    /// Answers an ask (files, processes and HTTP with blocking I/O; DNS with the resolver).
    fn answer(&self, ask: Ask, options: &ConnectOptions) -> impl Future<Output = Answer> + Send;

    /// Runs the caller's code, within the request's timeout.
    fn callback(
        &self,
        request: CallbackRequest,
        options: &ConnectOptions,
    ) -> impl Future<Output = Result<CallbackOutput>> + Send;
}

/// What an adapter does to reach a server.
pub(crate) trait Dial: Io<Self::Connected> {
    /// The adapter's own stream: a socket, or TLS over it.
    type Connected: Send;
    /// An open socket: TCP, or a UNIX domain socket.
    type Socket: Send;

    /// The hosts to try for `cs`, in order, and the connection string to use with them (a
    /// `mongodb+srv` one resolved).
    fn resolve(
        &self,
        cs: &ConnectionString,
        options: &ConnectOptions,
    ) -> impl Future<Output = Result<Seeds>> + Send;

    /// Opens a TCP connection to `address` within `timeout`.
    fn open(
        &self,
        address: SocketAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::Socket>> + Send;

    /// Connects to the UNIX domain socket at `path` within `timeout`.
    fn open_unix(
        &self,
        path: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::Socket>> + Send;

    /// The system's addresses of `host`, within `timeout`: a resolver that does not answer
    /// ends the attempt as a host that does not answer does.
    fn lookup(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<SocketAddr>>> + Send;

    /// The TLS handshake over `socket`, for `host`, within `timeout`.
    fn secure(
        &self,
        socket: Self::Socket,
        tls: &TlsSetup,
        host: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(Self::Connected, TlsInfo)>> + Send;

    /// The socket as it is.
    fn plain(&self, socket: Self::Socket) -> Self::Connected;

    /// Waits `duration` (between two passes over the seed list).
    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// Why a UNIX socket host cannot be reached on a system without them.
#[cfg(not(unix))]
pub(crate) fn no_unix_sockets() -> Error {
    Error::Unsupported {
        what: "UNIX socket hosts on this system".into(),
    }
}

/// Connects through `connector` to the first host that answers `hello` within the selection
/// timeout (after resolving a `mongodb+srv` name, or with the seeds it resolved before while
/// their records hold), passing over the hosts once or, with `serverSelectionTryOnce=false`,
/// again while the timeout lasts; over TLS when the connection string asks for it; and
/// authenticates with the connection string's credential (if any).
pub(crate) async fn connect<D: Dial>(
    dial: &D,
    connector: &Connector,
) -> Result<Connection<D::Connected>> {
    let mut options = connector.options().clone();
    options.driver_info = connector.driver_info();
    options.client_env = Some(connector.client_env().clone());
    options.start_operation();
    options.start_selection();
    let seeds = match connector.cached_seeds(Instant::now()) {
        Some(seeds) => seeds,
        None => {
            options.out_of_time()?;
            let seeds = dial
                .resolve(connector.connection_string(), &options)
                .await
                .map_err(|e| options.or_timeout(e, None))?;
            connector.keep_seeds(&seeds);
            seeds
        }
    };
    let Seeds { cs, targets, .. } = seeds;
    if options.app_name.is_none() {
        options.app_name = cs.option("appName").map(str::to_owned);
    }
    let tls = connector.tls_for(&cs)?;
    let mut failures = Failures::default();
    loop {
        failures.mendable = false;
        for target in targets.iter() {
            if options.out_of_time().is_err() {
                break;
            }
            let address = target.address();
            let socket = match open(dial, target, &options).await {
                Ok(socket) => socket,
                Err(e) => {
                    failures.record(address, e);
                    continue;
                }
            };
            options.emit(Event::Connected { address: &address });
            let (mut stream, tls_info) = match &tls {
                Some(setup) => match dial
                    .secure(socket, setup, target.tls_name(), options.read_timeout())
                    .await
                {
                    Ok((stream, info)) => {
                        options.emit(Event::TlsEstablished { info: &info });
                        (stream, Some(info))
                    }
                    Err(e) if try_next_host(&e) => {
                        failures.record(address, e);
                        continue;
                    }
                    Err(e) => return Err(e),
                },
                None => (dial.plain(socket), None),
            };
            // A host is found when it answers `hello`, as a driver's server selection waits for a
            // server's monitor to hear from it: one that accepts connections and never answers
            // (hung, or not a MongoDB server) is passed over like one that refuses them.
            let (mut login, hello) = Login::for_connection(&cs, &target.host, &options)?;
            options.time_for_hello(&address)?;
            let reply =
                match exchange(dial, &mut stream, &hello, MAX_AUTH_REPLY_SIZE, &options).await {
                    Ok(reply) => reply,
                    Err(e) if try_next_host(&e) => {
                        failures.record(address, e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
            options.end_selection();
            let next = login.on_reply(reply)?;
            let authenticated = drive(dial, &mut stream, &mut login, next, &mut options).await?;
            options.end_operation();
            return Ok(Connection {
                stream,
                state: ConnectionState::new(address, tls_info, authenticated, options, login),
            });
        }
        let pass_ended = Instant::now();
        let Some((address, failure)) = failures.last.take() else {
            options.out_of_time()?;
            return Err(Error::Unsupported {
                what: "a connection string with no host to connect to".into(),
            });
        };
        // A client that does not monitor servers in the background passes over the seed list
        // once, or with `serverSelectionTryOnce=false` again `minHeartbeatFrequencyMS` after
        // each pass, while the next pass begins within the window (server selection spec), and
        // while another pass may mend what failed.
        let next_pass = (!options.tries_once() && failures.mendable)
            .then(|| deadline(pass_ended, MIN_HEARTBEAT_FREQUENCY));
        match next_pass {
            Some(at) if options.out_of_time_by(at).is_ok() => {
                let pause = at.saturating_duration_since(Instant::now());
                options.emit(Event::WaitingForHost {
                    host: &address,
                    failure: &failure,
                    pause,
                });
                dial.pause(pause).await;
                // Kept for a next pass that finds the window gone before its first host.
                failures.last = Some((address, failure));
            }
            _ => {
                let ended = next_pass.unwrap_or(pass_ended);
                return Err(options.or_timeout_by(ended, failure, Some(&address)));
            }
        }
    }
}

/// How the hosts of the search failed: the last one tried, and why; and whether any of the
/// current pass failed in a way another pass may mend (a transient failure).
#[derive(Default)]
struct Failures {
    last: Option<(String, Error)>,
    mendable: bool,
}

impl Failures {
    fn record(&mut self, address: String, error: Error) {
        self.mendable |= error.kind().is_transient();
        self.last = Some((address, error));
    }
}

/// A connection to the target's UNIX socket, or a TCP connection to one of its addresses, in
/// order, each within the connect timeout.
async fn open<D: Dial>(dial: &D, target: &Target, options: &ConnectOptions) -> Result<D::Socket> {
    if target.unix_socket {
        return dial
            .open_unix(&target.host, options.connect_timeout())
            .await;
    }
    let addresses = match &target.addresses {
        Some(addresses) => addresses.clone(),
        None => {
            dial.lookup(&target.host, target.port, options.connect_timeout())
                .await?
        }
    };
    let mut last_error = None;
    for address in addresses {
        match dial.open(address, options.connect_timeout()).await {
            Ok(socket) => return Ok(socket),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or(Error::Dns {
        name: target.host.clone(),
        reason: "the name resolves to no address".into(),
    }))
}

/// Whether a failure to reach one host (before it answered `hello`) means the next host is worth
/// trying: it could not be reached, did not answer in time, closed the connection, or failed the
/// TLS handshake.
fn try_next_host(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Io | ErrorKind::Timeout | ErrorKind::Tls
    )
}

/// Authenticates a stream the caller already opened (and secured): sends `hello` and runs the
/// conversation for `credential`.
pub(crate) async fn authenticate<S: ?Sized + Send, I: Io<S>>(
    io: &I,
    stream: &mut S,
    credential: Option<&Credential>,
    mut options: ConnectOptions,
) -> Result<Authenticated> {
    let env = options.client_env();
    let hello = options.hello(options.app_name.as_deref(), &options.driver_info, &env);
    let (mut login, hello) = Login::start(credential, None, &options, &hello)?;
    drive(io, stream, &mut login, Next::Write(hello), &mut options).await
}

/// Runs `command` and returns the reply document (an `ok: 0` reply is returned, not an error).
/// A `ReauthenticationRequired` (391) reply logs in again (SASL only, no `hello`) and runs the
/// command once more, whether or not it is retryable (rules M1, M2). A command larger than the
/// server's `maxMessageSizeBytes` is refused unsent; a failure of the exchange or of the
/// re-authentication leaves the connection unusable, and later commands fail unsent.
///
/// Under a client-side operation timeout (`timeout`, else the connection string's
/// `timeoutMS`), all of it ends within that time, each attempt carries what is left as
/// `maxTimeMS`, and a reply that says the server's `maxTimeMS` ran out is the timeout's error.
pub(crate) async fn run_command<D: Dial>(
    dial: &D,
    connection: &mut Connection<D::Connected>,
    command: &Command,
    timeout: Option<Duration>,
) -> Result<Vec<u8>> {
    connection.state.options.start_command(timeout);
    let reply = run_command_once_more_on_391(dial, connection, command).await;
    let options = &connection.state.options;
    let reply = reply
        .map_err(|e| options.or_timeout(e, None))
        .and_then(|reply| options.max_time_expired(reply));
    connection.state.options.end_operation();
    reply
}

/// [`run_command`] within the clock it started.
async fn run_command_once_more_on_391<D: Dial>(
    dial: &D,
    connection: &mut Connection<D::Connected>,
    command: &Command,
) -> Result<Vec<u8>> {
    let stream = &mut connection.stream;
    let state = &mut connection.state;
    let reply = attempt(dial, stream, state, command).await?;
    if !state.login.wants_reauthentication(&reply) {
        return Ok(reply);
    }
    state.options.emit(Event::Reauthenticating {
        command: command.name(),
    });
    state.exchanging();
    let authenticated = match state.login.reauthenticate() {
        Ok(next) => drive(dial, stream, &mut state.login, next, &mut state.options).await,
        Err(failure) => Err(failure),
    };
    let authenticated = state.exchanged(authenticated)?;
    state.reauthenticated(authenticated);
    attempt(dial, stream, state, command).await
}

/// One attempt of `command` on a usable stream, which a failure (or the future's drop part way)
/// leaves unusable.
async fn attempt<S: ?Sized + Send, I: Io<S>>(
    io: &I,
    stream: &mut S,
    state: &mut ConnectionState,
    command: &Command,
) -> Result<Vec<u8>> {
    let message = state.message_for(command)?;
    state.exchanging();
    let connection = Described {
        address: state.address(),
        ids: state.ids(),
    };
    let reply = monitored(io, stream, command, &message, &state.options, connection).await;
    state.exchanged(reply)
}

/// `{}`, as BSON.
const EMPTY_DOCUMENT: &[u8] = &[5, 0, 0, 0, 0];

/// A connection as command monitoring names it.
struct Described<'a> {
    address: &'a str,
    ids: ConnectionIds,
}

/// One attempt of a command, sent as `message`, between its started and its succeeded or
/// failed event.
async fn monitored<S: ?Sized + Send, I: Io<S>>(
    io: &I,
    stream: &mut S,
    command: &Command,
    message: &Outgoing,
    options: &ConnectOptions,
    connection: Described<'_>,
) -> Result<Vec<u8>> {
    if !options.is_observed() {
        return exchange(io, stream, message, MAX_MESSAGE_SIZE, options).await;
    }
    let mut events = CommandEvents {
        options,
        name: command.name(),
        db: command.db(),
        request_id: message.request_id,
        connection,
        // What may carry credentials is shown as an empty document, both ways, and its
        // failure without the server's message (command monitoring's rule for
        // security-sensitive commands).
        sensitive: mongodb_auth::command::is_security_sensitive(command.name(), command.body()),
        started: None,
    };
    // As sent: with what the wire layer appended (the stable API's fields, `maxTimeMS`).
    let appended = if events.sensitive || message.arguments.is_empty() {
        None
    } else {
        command.with_arguments(&message.arguments).ok()
    };
    events.started(appended.as_ref().map_or(command.body(), Command::body));
    // The duration is the exchange's, not the observer's: the events around it run outside it.
    message.report(options);
    let began = Instant::now();
    events.started = Some(began);
    let reply = write_and_read(io, stream, message, MAX_MESSAGE_SIZE, options).await;
    let duration = began.elapsed();
    match &reply {
        Ok(body) => {
            received(options, body);
            match mongodb_auth::command::check_reply(body) {
                Ok(()) => events.succeeded(body, duration),
                Err(failure) => events.failed(&failure, duration),
            }
        }
        Err(failure) => events.failed(failure, duration),
    }
    reply
}

/// The command monitoring events of one attempt of a command. Dropped between its started
/// event and its end (the attempt's future dropped), it says the command failed: every
/// started event has its end.
struct CommandEvents<'a> {
    options: &'a ConnectOptions,
    name: &'a str,
    db: &'a str,
    request_id: i32,
    connection: Described<'a>,
    sensitive: bool,
    /// Since when the command has been under way (its exchange's start, once it began), until
    /// its end went out.
    started: Option<Instant>,
}

impl CommandEvents<'_> {
    fn started(&mut self, document: &[u8]) {
        self.options.emit(Event::CommandStarted {
            name: self.name,
            db: self.db,
            document: self.shown(document),
            request_id: self.request_id,
            address: self.connection.address,
            server_connection_id: self.connection.ids.server_connection_id,
            service_id: self.connection.ids.service_id,
        });
        self.started = Some(Instant::now());
    }

    fn succeeded(&mut self, reply: &[u8], duration: Duration) {
        self.started = None;
        self.options.emit(Event::CommandSucceeded {
            name: self.name,
            db: self.db,
            reply: self.shown(reply),
            duration,
            request_id: self.request_id,
            address: self.connection.address,
            server_connection_id: self.connection.ids.server_connection_id,
            service_id: self.connection.ids.service_id,
        });
    }

    fn failed(&mut self, failure: &Error, duration: Duration) {
        self.started = None;
        let redacted = redacted_failure(self.sensitive, failure);
        self.options.emit(Event::CommandFailed {
            name: self.name,
            db: self.db,
            failure: redacted.as_ref().unwrap_or(failure),
            duration,
            request_id: self.request_id,
            address: self.connection.address,
            server_connection_id: self.connection.ids.server_connection_id,
            service_id: self.connection.ids.service_id,
        });
    }

    /// `document`, or [`EMPTY_DOCUMENT`] in its place when the command is sensitive.
    fn shown<'d>(&self, document: &'d [u8]) -> &'d [u8] {
        if self.sensitive {
            EMPTY_DOCUMENT
        } else {
            document
        }
    }
}

impl Drop for CommandEvents<'_> {
    fn drop(&mut self) {
        // Not while a panic unwinds (the observer's own, say): calling it again could abort.
        if std::thread::panicking() {
            return;
        }
        if let Some(started) = self.started {
            let cut_short = Error::Io {
                operation: "running a command",
                source: std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "cut short: the command's future was dropped before its reply",
                ),
            };
            self.failed(&cut_short, started.elapsed());
        }
    }
}

/// A failure as monitoring shows it, when it is not as it is: a security-sensitive command's
/// server error keeps its code, name and labels, and loses its message and the reply it
/// carries (command monitoring's rule), as its succeeded reply would be shown empty.
fn redacted_failure(sensitive: bool, failure: &Error) -> Option<Error> {
    match failure {
        Error::Server {
            code,
            code_name,
            labels,
            ..
        } if sensitive => Some(Error::Server {
            code: *code,
            code_name: code_name.clone(),
            message: "(redacted: a security-sensitive command's error)".into(),
            labels: labels.clone(),
            reply: mongodb_auth::error::ServerReply::default(),
        }),
        _ => None,
    }
}

/// Runs the login from `next` to the end.
async fn drive<S: ?Sized + Send, I: Io<S>>(
    io: &I,
    stream: &mut S,
    login: &mut Login,
    mut next: Next,
    options: &mut ConnectOptions,
) -> Result<Authenticated> {
    loop {
        // Before each step, not before the end: a login done just at the deadline is done.
        if !matches!(next, Next::Done(_)) {
            options.overdue()?;
        }
        next = match next {
            Next::Write(message) => {
                // A read or write `timeoutMS` cut short fails as `timeoutMS`'s timeout, with the
                // step's own as its cause.
                let reply = exchange(io, stream, &message, MAX_AUTH_REPLY_SIZE, options)
                    .await
                    .map_err(|e| options.or_timeout(e, None))?;
                login.on_reply(reply)?
            }
            Next::Job(job) => {
                let iterations = match &job {
                    Job::DeriveKey(derivation) => Some(derivation.iterations()),
                    _ => None,
                };
                let started = Instant::now();
                let output = io.run_job(job).await?;
                if let Some(iterations) = iterations {
                    options.emit(Event::DerivedKey {
                        iterations,
                        elapsed: started.elapsed(),
                    });
                }
                login.on_job(output)?
            }
            Next::Ask(ask) => {
                let answer = io.answer(ask, options).await;
                let failed = answer.is_failure();
                let step = login.on_answer(answer);
                if failed {
                    failed_by_timeout(options, step)?
                } else {
                    step?
                }
            }
            // A person has the human flow's five minutes whatever `timeoutMS` says (the auth
            // specification keeps it out of the client-side operations timeout), and the time
            // taken does not count against what is left of it.
            Next::Callback(request) if request.is_human() => {
                let started = Instant::now();
                let output = io.callback(request, &options.for_a_person()).await;
                // Given back for the rest of the operation too (a command re-run after its
                // re-authentication), and before a failure of the callback is read: its own
                // five minutes are no `timeoutMS` of the operation's.
                options.give_back(started.elapsed());
                login.on_callback(output?, None, options)?
            }
            // What a callback gave is not seen here: a failure once `timeoutMS` is used up is
            // taken for the cut's (an ask inside it failed unasked).
            Next::Callback(request) => {
                let environment = request.oidc_environment();
                let output = io
                    .callback(request, options)
                    .await
                    .map_err(|e| options.or_timeout(e, None))?;
                failed_by_timeout(options, login.on_callback(output, environment, options))?
            }
            Next::Done(authenticated) => return Ok(authenticated),
        }
    }
}

/// A login that failed after an ask or a callback once `timeoutMS` is used up failed by it:
/// one cut short by it (a `credential_process` killed, a machine callback given up) fails the
/// connect as its timeout, not as what the cut made of the login (a credential source that
/// gave none).
fn failed_by_timeout(options: &ConnectOptions, step: Result<Next>) -> Result<Next> {
    step.map_err(|failure| options.or_timeout(failure, None))
}

/// The most a reply is read by at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Writes one message and reads its reply, with the events of both.
async fn exchange<S: ?Sized + Send, I: Io<S>>(
    io: &I,
    stream: &mut S,
    message: &Outgoing,
    max_reply_size: usize,
    options: &ConnectOptions,
) -> Result<Vec<u8>> {
    message.report(options);
    let reply = write_and_read(io, stream, message, max_reply_size, options).await?;
    received(options, &reply);
    Ok(reply)
}

/// Writes one message and reads its reply.
async fn write_and_read<S: ?Sized + Send, I: Io<S>>(
    io: &I,
    stream: &mut S,
    message: &Outgoing,
    max_reply_size: usize,
    options: &ConnectOptions,
) -> Result<Vec<u8>> {
    io.write(stream, &message.bytes, options.write_timeout())
        .await?;
    let timeout = options.read_timeout();
    let deadline = deadline(Instant::now(), timeout);
    let mut decoder = ReplyDecoder::new(message.request_id).max_size(max_reply_size);
    // As large as the decoder asks for (a header, then the rest of a reply), up to a chunk: a
    // login's replies are small, and zeroing a large buffer for each would cost more than them.
    let mut buffer = Vec::new();
    loop {
        let want = decoder.bytes_wanted().min(READ_CHUNK);
        if buffer.len() < want {
            buffer.resize(want, 0);
        }
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        let n = io.read(stream, chunk, deadline, timeout).await?;
        if n == 0 {
            return Err(Error::Io {
                operation: "reading a reply",
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        if let Some(reply) = decoder.push(chunk.get(..n).unwrap_or_default())? {
            return Ok(reply.into_body().to_vec());
        }
    }
}

/// The timeout error of a callback that ran out of time (rule L12).
pub(crate) fn callback_timeout(after: Duration) -> Error {
    crate::timed_out("waiting for the caller's callback", after)
}

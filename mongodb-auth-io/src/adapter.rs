//! What the blocking and tokio adapters share: options, the `hello` they open a connection with,
//! the hosts they try (with DNS for `mongodb+srv`, in `dns`), and the events they report. The adapters themselves are the
//! [`mongodb_auth::Authenticator`] loop plus a socket.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use bson::{RawDocument, RawDocumentBuf};
use zeroize::Zeroizing;

use mongodb_auth::command::{Command, check_reply, error_code};
use mongodb_auth::credential::Credential;
use mongodb_auth::error::{Error, REAUTHENTICATION_REQUIRED, Result};
use mongodb_auth::handshake::{
    AuthOptions, Authenticator, Hello, HelloStyle, Outcome, Step, field_names,
};
use mongodb_auth::scram::{KeyDerivation, ScramKeys};
use mongodb_auth::uri::ConnectionString;
use mongodb_auth::wire;

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
    /// A TCP connection is open.
    Connected {
        /// The address, as `host:port`.
        address: &'a str,
    },
    /// The TLS handshake is done.
    TlsEstablished {
        /// What it negotiated.
        info: &'a crate::tls::TlsInfo,
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
        /// for the credential's callback.
        environment: Option<&'static str>,
        /// Whether another connection of the same client had already fetched it.
        from_cache: bool,
    },
    /// PBKDF2 ran (the key cache had no entry).
    DerivedKey {
        /// The iteration count.
        iterations: u32,
        /// How long it took.
        elapsed: Duration,
    },
}

type Observer = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Settings of `connect` and `authenticate`.
pub struct ConnectOptions {
    /// Time allowed to open the TCP connection (per address tried).
    pub connect_timeout: Duration,
    /// Time allowed for each reply to arrive whole.
    pub read_timeout: Duration,
    /// Time allowed for each write.
    pub write_timeout: Duration,
    /// The first message's form; `None` picks OP_MSG `hello` for `loadBalanced=true`, else the
    /// legacy OP_QUERY `isMaster`.
    pub hello_style: Option<HelloStyle>,
    /// `client.application.name` in `hello` (default: the connection string's `appName`).
    pub app_name: Option<String>,
    /// Settings of the authentication itself.
    pub auth: AuthOptions,
    /// A DNS server for every lookup of the connection (the SRV and TXT records of
    /// `mongodb+srv`, then the host names), instead of the system's: for tests and private DNS.
    pub dns_server: Option<SocketAddr>,
    observer: Option<Observer>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            hello_style: None,
            app_name: None,
            auth: AuthOptions::default(),
            dns_server: None,
            observer: None,
        }
    }
}

impl ConnectOptions {
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

    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("hello_style", &self.hello_style)
            .field("app_name", &self.app_name)
            .field("auth", &self.auth)
            .field("dns_server", &self.dns_server)
            .finish_non_exhaustive()
    }
}

/// The result of authenticating a connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Authenticated {
    /// How authentication went (`mechanism` is `None` when the connection string has no
    /// credential or the server is an arbiter).
    pub outcome: Outcome,
    /// The server's `hello` reply, as BSON bytes.
    pub hello_reply: Vec<u8>,
}

/// An authenticated connection over a stream `S`: [`crate::blocking::Connection`] and
/// [`crate::tokio::Connection`] are this type over their streams, each with its own I/O methods
/// (`run_command`, ...). What it knows besides its stream is in [`ConnectionState`], which it
/// dereferences to (`outcome()`, `tls()`, `address()`, ...).
pub struct Connection<S> {
    pub(crate) stream: S,
    pub(crate) state: ConnectionState,
}

impl<S> std::ops::Deref for Connection<S> {
    type Target = ConnectionState;

    fn deref(&self) -> &ConnectionState {
        &self.state
    }
}

impl<S> fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.state.fmt(f)
    }
}

impl<S> Connection<S> {
    /// The authenticated stream, for the caller's own commands.
    pub fn into_stream(self) -> S {
        self.stream
    }
}

/// What an adapter's connection holds besides its stream: where it is, what TLS and the login
/// negotiated, and the authenticator, kept for re-authentication. The `Connection`s of both
/// adapters dereference to it.
pub struct ConnectionState {
    address: String,
    tls: Option<crate::tls::TlsInfo>,
    authenticated: Authenticated,
    pub(crate) options: ConnectOptions,
    pub(crate) login: Login,
    reauthentications: u32,
}

impl ConnectionState {
    pub(crate) fn new(
        address: String,
        tls: Option<crate::tls::TlsInfo>,
        authenticated: Authenticated,
        options: ConnectOptions,
        login: Login,
    ) -> Self {
        ConnectionState {
            address,
            tls,
            authenticated,
            options,
            login,
            reauthentications: 0,
        }
    }

    /// How authentication went (the last time, after a re-authentication).
    pub fn outcome(&self) -> &Outcome {
        &self.authenticated.outcome
    }

    /// The server's `hello` reply, as BSON bytes.
    pub fn hello_reply(&self) -> &[u8] {
        &self.authenticated.hello_reply
    }

    /// The address connected to, as `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// What TLS negotiated, when the connection uses it.
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_ref()
    }

    /// How many times the server asked this connection to authenticate again (and it did).
    pub fn reauthentications(&self) -> u32 {
        self.reauthentications
    }

    /// When `reply` to `command` asks for re-authentication (391) and the connection has a
    /// credential: reports it and returns the first step of the new login (rules M1, M2).
    pub(crate) fn reauthentication(
        &mut self,
        command: &Command,
        reply: &[u8],
    ) -> Result<Option<Next>> {
        if !self.login.wants_reauthentication(reply) {
            return Ok(None);
        }
        self.options.emit(Event::Reauthenticating {
            command: command.name(),
        });
        self.login.reauthenticate().map(Some)
    }

    /// Records a completed re-authentication.
    pub(crate) fn reauthenticated(&mut self, authenticated: Authenticated) {
        self.authenticated = authenticated;
        self.reauthentications += 1;
    }
}

impl fmt::Debug for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("reauthentications", &self.reauthentications)
            .finish_non_exhaustive()
    }
}

static NEXT_REQUEST_ID: AtomicI32 = AtomicI32::new(1);

/// A process-wide request id, so replies can be matched even across connections in logs.
pub(crate) fn next_request_id() -> i32 {
    NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed).max(1)
}

/// A message to write, with what to report about it.
pub(crate) struct Outgoing {
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    pub(crate) request_id: i32,
    pub(crate) command: String,
    pub(crate) db: String,
    pub(crate) op: &'static str,
    pub(crate) auth_fields: Vec<String>,
}

impl Outgoing {
    pub(crate) fn command(command: &Command) -> Result<Self> {
        let request_id = next_request_id();
        Ok(Outgoing {
            bytes: wire::encode_command(command, request_id)?,
            request_id,
            command: command.name().to_owned(),
            db: command.db().to_owned(),
            op: "OP_MSG",
            auth_fields: Vec::new(),
        })
    }

    /// The opening `hello`, with the authenticator's fields merged in.
    pub(crate) fn hello(hello: &Hello<'_>, auth_fields: &[u8]) -> Result<Self> {
        let request_id = next_request_id();
        Ok(Outgoing {
            bytes: hello.encode(auth_fields, request_id)?,
            request_id,
            command: hello.command_name().into(),
            db: "admin".into(),
            op: hello.op_name(),
            auth_fields: field_names(auth_fields)?,
        })
    }

    pub(crate) fn report(&self, options: &ConnectOptions) {
        options.emit(Event::Sent {
            command: &self.command,
            db: &self.db,
            op: self.op,
            auth_fields: self.auth_fields.iter().map(String::as_str).collect(),
            bytes: self.bytes.len(),
        });
    }
}

/// Reports a reply.
pub(crate) fn received(options: &ConnectOptions, reply: &[u8]) {
    let speculative = RawDocument::from_bytes(reply)
        .ok()
        .is_some_and(|doc| matches!(doc.get("speculativeAuthenticate"), Ok(Some(_))));
    options.emit(Event::Received {
        bytes: reply.len(),
        speculative,
    });
}

/// The I/O-free part of a login, shared by the adapters: what to write next and what to compute.
/// An adapter writes, reads and runs key derivations; everything else happens here. It lives as
/// long as the connection, so the connection can log in again when the server asks (error 391).
pub(crate) struct Login {
    authenticator: Option<Authenticator>,
    hello_reply: Option<Vec<u8>>,
}

/// What an adapter does next.
pub(crate) enum Next {
    /// Write this message and pass its reply to [`Login::on_reply`].
    Write(Outgoing),
    /// Run this PBKDF2 job and pass the keys to [`Login::on_keys`].
    Derive(KeyDerivation),
    /// The connection is authenticated (or needed no authentication).
    Done(Authenticated),
    /// Answer this (with [`answer_ask`], or the resolver for a DNS ask) and pass the answer to
    /// [`Login::on_answer`].
    Ask(mongodb_auth::ask::Ask),
    /// Run this job and pass the result to [`Login::on_gssapi`].
    Gssapi(mongodb_auth::gssapi::GssJob),
    /// Get this token (with [`fetch_token`]) and pass it to [`Login::on_token`].
    Token(mongodb_auth::oidc::TokenRequest),
}

impl Login {
    /// Prepares the login with the server at `host` (as connected to, for MONGODB-OIDC's
    /// `ALLOWED_HOSTS`); returns it and the `hello` to write first.
    pub(crate) fn start(
        credential: Option<&Credential>,
        host: Option<&str>,
        options: &mut ConnectOptions,
        style: HelloStyle,
        load_balanced: bool,
    ) -> Result<(Login, Outgoing)> {
        let mut auth = std::mem::take(&mut options.auth);
        if let Some(host) = host {
            auth = auth.server_host(host);
        }
        #[cfg(feature = "gssapi")]
        if !auth.has_gssapi_provider() {
            auth = auth.gssapi_provider(Arc::new(crate::kerberos::Kerberos));
        }
        let mut authenticator = credential
            .map(|credential| Authenticator::new(credential, auth))
            .transpose()?;
        let fields = match &mut authenticator {
            Some(auth) => auth.hello_fields()?,
            None => Zeroizing::new(RawDocumentBuf::new().into_bytes()),
        };
        let hello = Hello::new(style)
            .app_name(options.app_name.as_deref())
            .load_balanced(load_balanced);
        let hello = Outgoing::hello(&hello, &fields)?;
        let login = Login {
            authenticator,
            hello_reply: None,
        };
        Ok((login, hello))
    }

    /// [`start`](Self::start) for a connection to `host` of `cs`: its credential, and the hello
    /// style and load balancing its options ask for.
    pub(crate) fn for_connection(
        cs: &ConnectionString,
        host: &str,
        options: &mut ConnectOptions,
    ) -> Result<(Login, Outgoing)> {
        let style = hello_style(options, Some(cs));
        let load_balanced = cs.option("loadBalanced") == Some("true");
        Login::start(cs.credential(), Some(host), options, style, load_balanced)
    }

    /// Takes the reply to the message last written.
    pub(crate) fn on_reply(&mut self, reply: Vec<u8>) -> Result<Next> {
        let step = match (&mut self.authenticator, &self.hello_reply) {
            (None, _) => {
                check_reply(&reply)?;
                let outcome = Outcome::unauthenticated(reply.clone());
                self.hello_reply = Some(reply.clone());
                return Ok(Next::Done(Authenticated {
                    outcome,
                    hello_reply: reply,
                }));
            }
            (Some(auth), None) => {
                let step = auth.handle_hello_reply(&reply)?;
                self.hello_reply = Some(reply);
                step
            }
            (Some(auth), Some(_)) => auth.handle_reply(&reply)?,
        };
        self.next(step)
    }

    /// Takes the keys of a [`Next::Derive`] job.
    pub(crate) fn on_keys(&mut self, keys: ScramKeys) -> Result<Next> {
        let auth = self.authenticator.as_mut().ok_or(Error::OutOfOrder {
            call: "on_keys",
            state: "no authentication",
        })?;
        let step = auth.handle_key(keys)?;
        self.next(step)
    }

    /// Takes the result of a [`Next::Gssapi`] job.
    pub(crate) fn on_gssapi(&mut self, done: mongodb_auth::gssapi::GssDone) -> Result<Next> {
        let auth = self.authenticator.as_mut().ok_or(Error::OutOfOrder {
            call: "on_gssapi",
            state: "no authentication",
        })?;
        let step = auth.handle_gssapi(done)?;
        self.next(step)
    }

    /// Takes the answer of a [`Next::Ask`].
    pub(crate) fn on_answer(&mut self, answer: mongodb_auth::ask::Answer) -> Result<Next> {
        let auth = self.authenticator.as_mut().ok_or(Error::OutOfOrder {
            call: "on_answer",
            state: "no authentication",
        })?;
        let step = auth.handle_answer(answer)?;
        self.next(step)
    }

    /// Takes the token of a [`Next::Token`].
    pub(crate) fn on_token(
        &mut self,
        token: mongodb_auth::oidc::IssuedToken,
        options: &ConnectOptions,
        environment: Option<&'static str>,
    ) -> Result<Next> {
        options.emit(Event::OidcToken {
            environment,
            from_cache: token.from_cache(),
        });
        let auth = self.authenticator.as_mut().ok_or(Error::OutOfOrder {
            call: "on_token",
            state: "no authentication",
        })?;
        let step = auth.handle_token(token)?;
        self.next(step)
    }

    /// Whether `reply` asks for re-authentication and this connection can do it (it logged in
    /// with a credential).
    pub(crate) fn wants_reauthentication(&self, reply: &[u8]) -> bool {
        self.authenticator.is_some() && error_code(reply) == Some(REAUTHENTICATION_REQUIRED)
    }

    /// Starts logging in again on the open connection (rules M1, M2: no `hello`).
    pub(crate) fn reauthenticate(&mut self) -> Result<Next> {
        let auth = self.authenticator.as_mut().ok_or(Error::OutOfOrder {
            call: "reauthenticate",
            state: "no credential",
        })?;
        let step = auth.reauthenticate()?;
        self.next(step)
    }

    fn next(&mut self, step: Step) -> Result<Next> {
        Ok(match step {
            Step::Send(command) => Next::Write(Outgoing::command(&command)?),
            Step::DeriveKey(job) => Next::Derive(job),
            Step::Done(outcome) => Next::Done(Authenticated {
                outcome,
                hello_reply: self.hello_reply.clone().unwrap_or_default(),
            }),
            Step::Ask(ask) => Next::Ask(ask),
            Step::Gssapi(job) => Next::Gssapi(job),
            Step::Token(request) => Next::Token(request),
            other => return Err(other.unhandled()),
        })
    }
}

/// Gets the token of a MONGODB-OIDC request with blocking I/O (the tokio adapter runs it on the
/// blocking pool): it waits its turn behind the client's other calls, runs the callback or does
/// what the built-in environment asks (an HTTP request bounded by the callback's timeout), and
/// gives up when the callback's timeout (rule L12) is over.
pub fn fetch_token(
    request: mongodb_auth::oidc::TokenRequest,
) -> Result<mongodb_auth::oidc::IssuedToken> {
    let timeout = request.timeout();
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    // A callback that never returns cannot be stopped; the login stops waiting for it.
    std::thread::Builder::new()
        .name("mongodb-auth OIDC callback".into())
        .spawn(move || {
            let token = request.fetch(
                |ask| match ask {
                    mongodb_auth::ask::Ask::Http(http_request) => http(http_request, timeout),
                    other => answer_ask(other),
                },
                std::thread::sleep,
            );
            let _ = sender.send(token);
        })
        .map_err(|e| crate::io_error("starting the OIDC callback", e, timeout))?;
    receiver.recv_timeout(timeout).map_err(|_| Error::Timeout {
        operation: "waiting for the OIDC callback",
        after: timeout,
    })?
}

/// How long a `credential_process` may run.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Does what a machine asks, with blocking I/O (the tokio adapter runs it on the blocking
/// pool): a file read (capped at 1 MiB), a `credential_process` run (its output capped at 64 KiB,
/// killed after [`PROCESS_TIMEOUT`]), an HTTP exchange (within [`HTTP_TIMEOUT`]). DNS asks
/// (GSSAPI's host canonicalization) need the connection's resolver: the adapters answer those
/// themselves, and here they are answered `Failed`, which leaves the host as given.
pub fn answer_ask(ask: &mongodb_auth::ask::Ask) -> mongodb_auth::ask::Answer {
    use std::io::Read as _;

    use mongodb_auth::ask::{Answer, Ask};
    match ask {
        Ask::ReadFile { path } => {
            let file = match std::fs::File::open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Answer::File(None),
                Err(e) => return Answer::Failed(e.to_string()),
            };
            let mut bytes = zeroize::Zeroizing::new(Vec::new());
            let limit = mongodb_auth::ask::MAX_FILE_SIZE as u64 + 1;
            match file.take(limit).read_to_end(&mut bytes) {
                Ok(_) => Answer::File(Some(bytes)),
                Err(e) => Answer::Failed(e.to_string()),
            }
        }
        Ask::RunProcess { command } => run_process(command),
        Ask::Http(request) => http(request, HTTP_TIMEOUT),
        other => Answer::Failed(format!("{other:?} is answered by the adapter's resolver")),
    }
}

/// How long a credential endpoint may take (rule K14).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
fn http(request: &mongodb_auth::ask::HttpRequest, timeout: Duration) -> mongodb_auth::ask::Answer {
    use mongodb_auth::ask::Answer;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut builder = ureq::http::Request::builder()
        .method(request.method)
        .uri(request.url.as_str());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.expose());
    }
    let sent = builder
        .body(request.body.as_slice())
        .map_err(|e| e.to_string())
        .and_then(|req| agent.run(req).map_err(|e| e.to_string()));
    let mut response = match sent {
        Ok(response) => response,
        Err(reason) => return Answer::Failed(reason),
    };
    let status = response.status().as_u16();
    match response
        .body_mut()
        .with_config()
        .limit(mongodb_auth::ask::MAX_BODY_SIZE as u64)
        .read_to_vec()
    {
        Ok(body) => Answer::Http {
            status,
            body: zeroize::Zeroizing::new(body),
        },
        Err(e) => Answer::Failed(e.to_string()),
    }
}
fn run_process(command: &str) -> mongodb_auth::ask::Answer {
    use std::io::Read as _;
    use std::process::{Command, Stdio};

    use mongodb_auth::ask::Answer;
    let mut shell = if cfg!(windows) {
        let mut c = Command::new("cmd");
        c.args(["/C", command]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", command]);
        c
    };
    let mut child = match shell
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Answer::Failed(format!("cannot start `{command}`: {e}")),
    };
    // Read on a thread, so a process that never exits can be killed at the deadline.
    let reader = child.stdout.take().map(|stdout| {
        std::thread::spawn(move || {
            let mut bytes = zeroize::Zeroizing::new(Vec::new());
            let _ = stdout
                .take(mongodb_auth::ask::MAX_BODY_SIZE as u64 + 1)
                .read_to_end(&mut bytes);
            bytes
        })
    });
    let deadline = std::time::Instant::now() + PROCESS_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Answer::Failed(format!(
                    "`{command}` did not finish in {PROCESS_TIMEOUT:?}"
                ));
            }
            Err(e) => return Answer::Failed(e.to_string()),
        }
    };
    let stdout = reader
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    Answer::Process {
        success: status.success(),
        stdout,
    }
}

/// Whether a failure to reach one host (before any login started) means the next host is worth
/// trying: it could not be reached, did not answer in time, or failed the TLS handshake.
pub(crate) fn try_next_host(error: &Error) -> bool {
    matches!(
        error.kind(),
        mongodb_auth::error::ErrorKind::Io
            | mongodb_auth::error::ErrorKind::Timeout
            | mongodb_auth::error::ErrorKind::Tls
    )
}

/// The hello style for a connection string.
pub(crate) fn hello_style(options: &ConnectOptions, cs: Option<&ConnectionString>) -> HelloStyle {
    options.hello_style.unwrap_or_else(|| {
        if cs.is_some_and(|cs| cs.option("loadBalanced") == Some("true")) {
            HelloStyle::OpMsg
        } else {
            HelloStyle::LegacyOpQuery
        }
    })
}

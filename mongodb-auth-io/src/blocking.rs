//! The blocking adapter (feature `blocking`): the [`Authenticator`](mongodb_auth::Authenticator) loop over a std
//! `Read + Write` stream, PBKDF2 run inline.
//!
//! ```no_run
//! use mongodb_auth_io::blocking;
//! use mongodb_auth_io::adapter::ConnectOptions;
//!
//! let mut connection = blocking::connect("mongodb://alice:pencil@127.0.0.1:27017/", ConnectOptions::default())?;
//! println!("{:?} in {} round trips", connection.outcome().mechanism, connection.outcome().round_trips);
//! println!("authenticated as {:?}", connection.authenticated_users()?);
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::adapter::{
    self, Authenticated, ConnectOptions, ConnectionState, Event, IntoConnectionString, Login,
    MAX_AUTH_REPLY_SIZE, Next, Outgoing,
};
use crate::dns::{self, Target};
use crate::tls::{self, TlsInfo};
use mongodb_auth::command::{self, Command};
use mongodb_auth::credential::Credential;
use mongodb_auth::error::{Error, Result};
use mongodb_auth::uri::ConnectionString;
use mongodb_auth::wire::{MAX_MESSAGE_SIZE, ReplyDecoder};

/// The stream of a connection: TCP, or TLS over TCP.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (rustls) over TCP.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// An authenticated connection. It keeps its authenticator, so it can log in again when the
/// server asks (error 391).
pub type Connection = adapter::Connection<Stream>;

/// Connects to the first host of `uri` that answers (after resolving a `mongodb+srv` name),
/// over TLS when the connection string asks for it, sends `hello` and authenticates with the
/// connection string's credential (if any).
pub fn connect(uri: impl IntoConnectionString, mut options: ConnectOptions) -> Result<Connection> {
    let cs = uri.into_connection_string()?;
    let (cs, targets) = resolve(&cs, &options)?;
    if options.app_name.is_none() {
        options.app_name = cs.option("appName").map(str::to_owned);
    }
    let tls = cs
        .tls_enabled()
        .then(|| tls::client_config(cs.tls()))
        .transpose()?;
    let mut last_error = None;
    for target in targets {
        let tcp = match open(&target, &options) {
            Ok(tcp) => tcp,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let address = format!("{}:{}", target.host, target.port);
        options.emit(Event::Connected { address: &address });
        let (mut stream, tls_info) = match &tls {
            Some((config, client_subject)) => {
                let handshake = handshake(
                    tcp,
                    config,
                    &target.host,
                    client_subject.as_deref(),
                    options.read_timeout,
                );
                let (stream, info) = match handshake {
                    Ok(done) => done,
                    Err(e) if adapter::try_next_host(&e) => {
                        last_error = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                options.emit(Event::TlsEstablished { info: &info });
                (stream, Some(info))
            }
            None => (Stream::Plain(tcp), None),
        };
        let (mut login, hello) = Login::for_connection(&cs, &target.host, &mut options)?;
        let authenticated = drive(&mut stream, &mut login, Next::Write(hello), &options)?;
        return Ok(adapter::Connection {
            stream,
            state: ConnectionState::new(address, tls_info, authenticated, options, login),
        });
    }
    Err(last_error.unwrap_or(Error::Unsupported {
        what: "no host to connect to".into(),
    }))
}

/// The hosts to try; DNS (`mongodb+srv`, a resolver override) runs on a small runtime of its
/// own, only when needed.
fn resolve(
    cs: &ConnectionString,
    options: &ConnectOptions,
) -> Result<(ConnectionString, Vec<Target>)> {
    if !dns::needs_resolver(cs, options.dns_server) {
        return Ok((cs.clone(), dns::static_targets(cs)?));
    }
    on_dns_runtime(options, |runtime| {
        runtime.block_on(dns::targets(
            cs,
            options.dns_server,
            options.connect_timeout,
        ))
    })
}

/// Runs DNS work on a small runtime of its own. Inside an async runtime (a blocking connect from
/// async code) no runtime can start on this thread: the work gets a thread of its own.
fn on_dns_runtime<T: Send>(
    options: &ConnectOptions,
    work: impl FnOnce(&::tokio::runtime::Runtime) -> Result<T> + Send,
) -> Result<T> {
    let run = || {
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                crate::io_error("starting the DNS resolver", e, options.connect_timeout)
            })?;
        work(&runtime)
    };
    if ::tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope.spawn(run).join().unwrap_or_else(|_| {
                Err(Error::Unsupported {
                    what: "the DNS lookup thread panicked".into(),
                })
            })
        })
    } else {
        run()
    }
}

/// The TLS handshake, bounded by the socket's timeouts.
fn handshake(
    mut tcp: TcpStream,
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    client_subject: Option<&str>,
    timeout: Duration,
) -> Result<(Stream, TlsInfo)> {
    let name = tls::server_name(host)?;
    let mut connection = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|e| Error::Tls(tls::classify(&e, true)))?;
    // The whole handshake within `timeout`, not each read: a server trickling bytes cannot hold
    // the connect open.
    let deadline = Instant::now() + timeout;
    let io = |e| crate::io_error("in the TLS handshake", e, timeout);
    while connection.is_handshaking() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout {
                operation: "in the TLS handshake",
                after: timeout,
            });
        }
        tcp.set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
            .map_err(io)?;
        connection.complete_io(&mut tcp).map_err(io)?;
    }
    tcp.set_read_timeout(Some(timeout)).map_err(io)?;
    let info = TlsInfo::of(&connection, client_subject);
    Ok((
        Stream::Tls(Box::new(rustls::StreamOwned::new(connection, tcp))),
        info,
    ))
}

fn open(target: &Target, options: &ConnectOptions) -> Result<TcpStream> {
    let timeout = options.connect_timeout;
    let addresses: Vec<SocketAddr> = match &target.addresses {
        Some(addresses) => addresses.clone(),
        None => (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| Error::Dns {
                name: target.host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                let io = |e| crate::io_error("configuring the socket", e, timeout);
                stream
                    .set_read_timeout(Some(options.read_timeout))
                    .map_err(io)?;
                stream
                    .set_write_timeout(Some(options.write_timeout))
                    .map_err(io)?;
                stream.set_nodelay(true).map_err(io)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(crate::io_error("connecting", e, timeout)),
        }
    }
    Err(last_error.unwrap_or(Error::Dns {
        name: target.host.clone(),
        reason: "the name resolves to no address".into(),
    }))
}

/// Authenticates a stream the caller already opened (and secured): sends `hello` and runs the
/// conversation for `credential`. The adapter cannot set timeouts on a stream it does not know:
/// set them on the stream itself.
pub fn authenticate<S: Read + Write>(
    stream: &mut S,
    credential: Option<&Credential>,
    mut options: ConnectOptions,
) -> Result<Authenticated> {
    let style = adapter::hello_style(&options, None);
    let (mut login, hello) = Login::start(credential, None, &mut options, style, false)?;
    drive(
        &mut Untimed(stream),
        &mut login,
        Next::Write(hello),
        &options,
    )
}

/// A stream on which the adapter can bound the time a whole reply takes.
trait ReplyDeadline: Read + Write {
    /// Limits the next read to `remaining`.
    fn limit_next_read(&mut self, remaining: Duration) -> std::io::Result<()>;
}

impl ReplyDeadline for Stream {
    fn limit_next_read(&mut self, remaining: Duration) -> std::io::Result<()> {
        // A zero timeout means "block forever" to std: never pass it.
        self.tcp()
            .set_read_timeout(Some(remaining.max(Duration::from_millis(1))))
    }
}

/// A caller's stream: its own timeouts apply.
struct Untimed<'a, S>(&'a mut S);

impl<S: Read> Read for Untimed<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Untimed<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> ReplyDeadline for Untimed<'_, S> {
    fn limit_next_read(&mut self, _remaining: Duration) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the login from `next` to the end.
fn drive<S: ReplyDeadline>(
    stream: &mut S,
    login: &mut Login,
    mut next: Next,
    options: &ConnectOptions,
) -> Result<Authenticated> {
    loop {
        next = match next {
            Next::Write(message) => {
                login.on_reply(exchange(stream, &message, options, MAX_AUTH_REPLY_SIZE)?)?
            }
            Next::Derive(job) => {
                let started = Instant::now();
                let keys = job.run();
                options.emit(Event::DerivedKey {
                    iterations: job.iterations(),
                    elapsed: started.elapsed(),
                });
                login.on_keys(keys)?
            }
            Next::Ask(ask) if dns::is_dns_ask(&ask) => {
                let answer = on_dns_runtime(options, |runtime| {
                    Ok(runtime.block_on(dns::answer(
                        &ask,
                        options.dns_server,
                        options.connect_timeout,
                    )))
                })?;
                login.on_answer(answer)?
            }
            Next::Ask(ask) => login.on_answer(adapter::answer_ask(&ask))?,
            Next::Gssapi(job) => login.on_gssapi(job.run())?,
            Next::Token(request) => {
                let environment = request.environment();
                login.on_token(adapter::fetch_token(request)?, options, environment)?
            }
            Next::Done(authenticated) => return Ok(authenticated),
        }
    }
}

/// Writes one message and reads its reply.
fn exchange<S: ReplyDeadline>(
    stream: &mut S,
    message: &Outgoing,
    options: &ConnectOptions,
    max_reply_size: usize,
) -> Result<Vec<u8>> {
    message.report(options);
    stream
        .write_all(&message.bytes)
        .and_then(|()| stream.flush())
        .map_err(|e| crate::io_error("writing a request", e, options.write_timeout))?;
    let reply = read_reply(stream, message.request_id, options, max_reply_size)?;
    adapter::received(options, &reply);
    Ok(reply)
}

/// Reads until the reply is complete; the whole reply must arrive within the read timeout.
fn read_reply<S: ReplyDeadline>(
    stream: &mut S,
    request_id: i32,
    options: &ConnectOptions,
    max_reply_size: usize,
) -> Result<Vec<u8>> {
    let timeout = options.read_timeout;
    let deadline = Instant::now() + timeout;
    let mut decoder = ReplyDecoder::new(request_id).max_size(max_reply_size);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(Error::Timeout {
                operation: "reading a reply",
                after: timeout,
            });
        }
        stream
            .limit_next_read(remaining)
            .map_err(|e| crate::io_error("configuring the socket", e, timeout))?;
        let want = decoder.bytes_wanted().min(buffer.len());
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        let n = stream
            .read(chunk)
            .map_err(|e| crate::io_error("reading a reply", e, timeout))?;
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

impl adapter::Connection<Stream> {
    /// Runs a command and returns the reply document (an `ok: 0` reply is returned, not an
    /// error). Replies up to the wire protocol's 48 MB are read.
    ///
    /// When the server answers `ReauthenticationRequired` (391), the connection logs in again
    /// (SASL only, no `hello`) and runs the command once more, whether or not it is retryable
    /// (rules M1, M2); a failed re-authentication is the error returned.
    pub fn run_command(&mut self, command: &Command) -> Result<Vec<u8>> {
        let state = &mut self.state;
        let message = Outgoing::command(command)?;
        let reply = exchange(&mut self.stream, &message, &state.options, MAX_MESSAGE_SIZE)?;
        let Some(next) = state.reauthentication(command, &reply)? else {
            return Ok(reply);
        };
        let authenticated = drive(&mut self.stream, &mut state.login, next, &state.options)?;
        state.reauthenticated(authenticated);
        let again = Outgoing::command(command)?;
        exchange(&mut self.stream, &again, &state.options, MAX_MESSAGE_SIZE)
    }

    /// The users the server says this connection authenticated (`connectionStatus`), as
    /// `(user, db)`.
    pub fn authenticated_users(&mut self) -> Result<Vec<(String, String)>> {
        let reply = self.run_command(&command::connection_status())?;
        command::authenticated_users(&reply)
    }
}

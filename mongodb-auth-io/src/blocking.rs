//! The blocking adapter: std sockets, TLS with rustls, the login on the calling thread. PBKDF2
//! and GSS calls run inline; a blocking OIDC callback or AWS provider runs on a thread of its
//! own so its timeout can end the wait.
//!
//! ```no_run
//! use mongodb_auth_io::{ConnectOptions, blocking};
//!
//! let mut connection = blocking::connect("mongodb://alice:pencil@127.0.0.1:27017/", ConnectOptions::default())?;
//! println!("{:?} in {} round trips", connection.outcome().mechanism, connection.outcome().round_trips);
//! println!("authenticated as {:?}", connection.authenticated_users()?);
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::callback::Runtime as _;
use mongodb_auth::command::{self, Command};
use mongodb_auth::credential::Credential;
use mongodb_auth::environment::deadline;
use mongodb_auth::error::{Error, Result};
use mongodb_auth::handshake::{CallbackOutput, CallbackRequest, Job, JobOutput};
use mongodb_auth::uri::ConnectionString;

use crate::connector::Connector;
use crate::dns::{self, Seeds};
use crate::executor::{block_on, block_on_until};
use crate::login::Authenticated;
use crate::options::{ConnectOptions, IntoConnectionString};
use crate::shell::{self, Dial, Io};
use crate::tls::{self, TlsInfo, TlsSetup};

pub use crate::executor::BlockingRuntime as Runtime;

/// A socket the adapter opened: TCP, or a UNIX domain socket (a host such as
/// `%2Ftmp%2Fmongodb-27017.sock`).
#[derive(Debug)]
#[non_exhaustive]
pub enum Socket {
    /// TCP.
    Tcp(TcpStream),
    /// A UNIX domain socket.
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Socket::Tcp(tcp) => tcp.set_read_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Socket::Tcp(tcp) => tcp.set_write_timeout(timeout),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.set_write_timeout(timeout),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => tcp.read(buf),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => tcp.write(buf),
            // Not std's write: a peer that hung up must not end the host (see `unix_socket`).
            #[cfg(unix)]
            Socket::Unix(unix) => crate::unix_socket::send(unix, buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Socket::Tcp(tcp) => tcp.flush(),
            #[cfg(unix)]
            Socket::Unix(unix) => unix.flush(),
        }
    }
}

/// The stream of a connection: a socket, or TLS over it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// The socket as it is.
    Plain(Socket),
    /// TLS (rustls) over the socket.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
}

impl Stream {
    /// The socket underneath.
    pub fn socket(&self) -> &Socket {
        match self {
            Stream::Plain(socket) => socket,
            Stream::Tls(tls) => tls.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(socket) => socket.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(socket) => socket.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// A stream the blocking adapter reads and writes: its own, whose reads and writes it bounds
/// as a whole by their deadlines, or a caller's, whose own timeouts apply.
pub trait BlockingStream: Read + Write + Send {
    /// Reads some bytes, and is done by `deadline` (a stream the adapter cannot time reads once,
    /// under its own timeouts).
    fn read_by(&mut self, buffer: &mut [u8], _deadline: Instant) -> std::io::Result<usize> {
        self.read(buffer)
    }

    /// Writes all of `bytes` and flushes them, and is done by `deadline` (a stream the adapter
    /// cannot time writes under its own timeouts).
    fn write_all_by(&mut self, bytes: &[u8], _deadline: Instant) -> std::io::Result<()> {
        self.write_all(bytes)?;
        self.flush()
    }
}

/// The time left until `deadline`, as a socket timeout (never zero, which means "block forever"
/// to std), or `TimedOut` once it has passed.
fn left_until(deadline: Instant) -> std::io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(std::io::ErrorKind::TimedOut.into());
    }
    Ok(left.max(Duration::from_millis(1)))
}

/// Whether a system call on a socket is to be made again: it was interrupted, or its socket
/// timeout ended, which may be a little before the deadline (the system's clock and ours round
/// apart): the next call's [`left_until`] says whether the deadline has passed, so the timeout
/// that ends the call is always the deadline's. A socket timeout is `WouldBlock` on Unix and
/// `TimedOut` on Windows; on Unix `TimedOut` is the system giving up on the connection, an
/// error of its own.
fn again(error: &std::io::Error) -> bool {
    match error.kind() {
        std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock => true,
        std::io::ErrorKind::TimedOut => cfg!(windows),
        _ => false,
    }
}

/// One write to `socket`, with what is left of `deadline` as its timeout: the bytes it took (0
/// when interrupted or timed out before the deadline, to be tried again).
fn write_once_by(
    socket: &mut Socket,
    deadline: Instant,
    write: impl FnOnce(&mut Socket) -> std::io::Result<usize>,
) -> std::io::Result<usize> {
    socket.set_write_timeout(Some(left_until(deadline)?))?;
    match write(socket) {
        Ok(0) => Err(std::io::ErrorKind::WriteZero.into()),
        Err(e) if again(&e) => Ok(0),
        taken => taken,
    }
}

/// Writes all of `bytes` to `socket` by `deadline`: each system call gets what is left of it, so
/// a peer that reads a byte now and then cannot hold the write.
fn write_socket_by(
    socket: &mut Socket,
    mut bytes: &[u8],
    deadline: Instant,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let written = write_once_by(socket, deadline, |socket| socket.write(bytes))?;
        bytes = bytes.get(written..).unwrap_or_default();
    }
    Ok(())
}

/// Sends what TLS has to send, by `deadline`.
fn flush_tls_by(
    connection: &mut rustls::ClientConnection,
    socket: &mut Socket,
    deadline: Instant,
) -> std::io::Result<()> {
    while connection.wants_write() {
        write_once_by(socket, deadline, |socket| connection.write_tls(socket))?;
    }
    Ok(())
}

/// Reads TLS records once from `socket` (by `deadline`) and decrypts them; `Ok(false)` when the
/// peer closed the connection. rustls's own loops (`complete_io`, `Stream`) would give every
/// socket read a full timeout again, so a peer sending a byte at a time could hold a login for
/// hours: here each read gets what is left of the deadline.
fn receive_tls_by(
    connection: &mut rustls::ClientConnection,
    socket: &mut Socket,
    deadline: Instant,
) -> std::io::Result<bool> {
    socket.set_read_timeout(Some(left_until(deadline)?))?;
    let received = match connection.read_tls(socket) {
        Ok(received) => received,
        Err(e) if again(&e) => return Ok(true),
        Err(e) => return Err(e),
    };
    if let Err(refused) = connection.process_new_packets() {
        // The alert that says why goes out, as rustls's own loop sends it.
        let _ = flush_tls_by(connection, socket, deadline);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            refused,
        ));
    }
    Ok(received > 0)
}

impl BlockingStream for Stream {
    fn read_by(&mut self, buffer: &mut [u8], deadline: Instant) -> std::io::Result<usize> {
        match self {
            Stream::Plain(socket) => loop {
                socket.set_read_timeout(Some(left_until(deadline)?))?;
                match socket.read(buffer) {
                    Err(e) if again(&e) => {}
                    done => return done,
                }
            },
            Stream::Tls(tls) => {
                let rustls::StreamOwned { conn, sock } = &mut **tls;
                loop {
                    match conn.reader().read(buffer) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        done => return done,
                    }
                    flush_tls_by(conn, sock, deadline)?;
                    // After the peer's close, the reader says how (cleanly or not) next time.
                    receive_tls_by(conn, sock, deadline)?;
                }
            }
        }
    }

    fn write_all_by(&mut self, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
        match self {
            Stream::Plain(socket) => write_socket_by(socket, bytes, deadline),
            Stream::Tls(tls) => {
                let rustls::StreamOwned { conn, sock } = &mut **tls;
                let mut rest = bytes;
                while !rest.is_empty() {
                    // rustls takes plaintext up to its buffer's limit; what it has encrypted
                    // goes out before it takes more.
                    let taken = conn.writer().write(rest)?;
                    rest = rest.get(taken..).unwrap_or_default();
                    flush_tls_by(conn, sock, deadline)?;
                }
                flush_tls_by(conn, sock, deadline)
            }
        }
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

impl<S: Read + Write + Send> BlockingStream for Untimed<'_, S> {}

/// An authenticated connection. It keeps its login, so it can log in again when the server
/// asks (error 391).
pub type Connection = crate::connection::Connection<Stream>;

/// The blocking adapter's I/O.
struct Blocking;

impl<S: BlockingStream + ?Sized> Io<S> for Blocking {
    fn write(
        &self,
        stream: &mut S,
        bytes: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<()>> + Send {
        let deadline = deadline(Instant::now(), timeout);
        std::future::ready(
            stream
                .write_all_by(bytes, deadline)
                .map_err(|e| crate::io_error("writing a request", e, timeout)),
        )
    }

    fn read(
        &self,
        stream: &mut S,
        buffer: &mut [u8],
        deadline: Instant,
        timeout: Duration,
    ) -> impl Future<Output = Result<usize>> + Send {
        std::future::ready(
            stream
                .read_by(buffer, deadline)
                .map_err(|e| crate::io_error("reading a reply", e, timeout)),
        )
    }

    fn run_job(&self, job: Job) -> impl Future<Output = Result<JobOutput>> + Send {
        std::future::ready(Ok(job.run()))
    }

    fn answer(&self, ask: Ask, options: &ConnectOptions) -> impl Future<Output = Answer> + Send {
        std::future::ready(if dns::is_dns_ask(&ask) {
            let (server, timeout) = (options.dns_server, options.connect_timeout());
            dns::block_on(async { Ok(dns::answer(&ask, server, timeout).await) })
                .unwrap_or_else(|e| ask.fail(e.to_string()))
        } else {
            crate::answer::Answerer::of(options).answer(&ask)
        })
    }

    fn callback(
        &self,
        request: CallbackRequest,
        options: &ConnectOptions,
    ) -> impl Future<Output = Result<CallbackOutput>> + Send {
        let timeout = options.callback_timeout(request.timeout());
        let deadline = timeout.map(|timeout| deadline(Instant::now(), timeout));
        let output = block_on_until(request.run(&Runtime::for_options(options)), deadline);
        std::future::ready(
            output.ok_or_else(|| shell::callback_timeout(timeout.unwrap_or_default())),
        )
    }
}

impl Dial for Blocking {
    type Connected = Stream;
    type Socket = Socket;

    fn resolve(
        &self,
        cs: &ConnectionString,
        options: &ConnectOptions,
    ) -> impl Future<Output = Result<Seeds>> + Send {
        std::future::ready(if dns::needs_resolver(cs, options.dns_server) {
            let (server, timeout) = (options.dns_server, options.connect_timeout());
            dns::block_on(dns::targets(cs, server, timeout, options.time_left()))
        } else {
            Ok(Seeds::of(cs))
        })
    }

    fn lookup(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<SocketAddr>>> + Send {
        let name = host.to_owned();
        let lookup = move || {
            (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect)
        };
        std::future::ready(looked_up(host, timeout, lookup))
    }

    fn open(
        &self,
        address: SocketAddr,
        timeout: Duration,
    ) -> impl Future<Output = Result<Socket>> + Send {
        std::future::ready(
            TcpStream::connect_timeout(&address, timeout)
                .and_then(|tcp| tcp.set_nodelay(true).map(|()| Socket::Tcp(tcp)))
                .map_err(|e| crate::io_error("connecting", e, timeout)),
        )
    }

    fn open_unix(
        &self,
        path: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Socket>> + Send {
        std::future::ready(open_unix(path, timeout))
    }

    fn secure(
        &self,
        socket: Socket,
        tls: &TlsSetup,
        host: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(Self::Connected, TlsInfo)>> + Send {
        std::future::ready(handshake(socket, tls, host, timeout))
    }

    fn plain(&self, socket: Socket) -> Self::Connected {
        Stream::Plain(socket)
    }

    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(duration);
        std::future::ready(())
    }
}

/// A UNIX domain socket connected to `path` within `timeout`: socket2's connect does not block
/// (a listener whose queue is full fails it at once), where std's could wait for ever.
#[cfg(unix)]
fn open_unix(path: &str, timeout: Duration) -> Result<Socket> {
    let io = |e| crate::io_error("connecting", e, timeout);
    let socket =
        socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).map_err(io)?;
    let address = socket2::SockAddr::unix(path).map_err(io)?;
    socket.connect_timeout(&address, timeout).map_err(io)?;
    Ok(Socket::Unix(socket.into()))
}

#[cfg(not(unix))]
fn open_unix(_path: &str, _timeout: Duration) -> Result<Socket> {
    Err(crate::shell::no_unix_sockets())
}

/// The TLS handshake, bounded as a whole by `timeout`: a server trickling bytes cannot hold the
/// connect open (each socket read and write gets what is left of it).
fn handshake(
    mut socket: Socket,
    tls: &TlsSetup,
    host: &str,
    timeout: Duration,
) -> Result<(Stream, TlsInfo)> {
    let name = tls::server_name(host)?;
    let mut connection = rustls::ClientConnection::new(tls.config.clone(), name)
        .map_err(|e| Error::Tls(tls::classify(&e, true)))?;
    let deadline = deadline(Instant::now(), timeout);
    let io = |e| crate::io_error("in the TLS handshake", e, timeout);
    while connection.is_handshaking() {
        if connection.wants_write() {
            flush_tls_by(&mut connection, &mut socket, deadline).map_err(io)?;
        } else if !receive_tls_by(&mut connection, &mut socket, deadline).map_err(io)? {
            return Err(io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    // The client's last flight (its Finished) goes out now, not with the first request.
    flush_tls_by(&mut connection, &mut socket, deadline).map_err(io)?;
    let info = TlsInfo::of(&connection, tls);
    Ok((
        Stream::Tls(Box::new(rustls::StreamOwned::new(connection, socket))),
        info,
    ))
}

/// Connects to the first host of `uri` that answers `hello` (after resolving a `mongodb+srv`
/// name), whatever its role in a replica set (no primary is selected), over TLS when the
/// connection string asks for it, and authenticates with the connection string's credential
/// (if any). A client that opens more than one connection keeps a [`Connector`] and calls
/// [`connect_with`].
pub fn connect(uri: impl IntoConnectionString, options: ConnectOptions) -> Result<Connection> {
    connect_with(&Connector::new(uri, options)?)
}

/// [`connect`] through `connector`, with what it keeps: the TLS configuration (and so the
/// sessions to resume), the seed list, the caches.
pub fn connect_with(connector: &Connector) -> Result<Connection> {
    block_on(shell::connect(&Blocking, connector))
}

/// Authenticates a stream the caller already opened (and secured): sends `hello` and runs the
/// conversation for `credential`. The adapter cannot set timeouts on a stream it does not know:
/// set them on the stream itself.
pub fn authenticate<S: Read + Write + Send>(
    stream: &mut S,
    credential: Option<&Credential>,
    options: ConnectOptions,
) -> Result<Authenticated> {
    block_on(shell::authenticate(
        &Blocking,
        &mut Untimed(stream),
        credential,
        options,
    ))
}

impl crate::connection::Connection<Stream> {
    /// Runs a command and returns the reply document (an `ok: 0` reply is returned, not an
    /// error). Replies up to the wire protocol's 48 MB are read.
    ///
    /// When the server answers `ReauthenticationRequired` (391), the connection logs in again
    /// (SASL only, no `hello`) and runs the command once more, whether or not it is retryable
    /// (rules M1, M2); a failed re-authentication is the error returned.
    ///
    /// A command larger than the server's `maxMessageSizeBytes` is refused unsent
    /// ([`Error::InvalidInput`](mongodb_auth::Error::InvalidInput)). After an exchange that
    /// failed (a reply not read whole, or one that said more was to come) or a failed
    /// re-authentication, the connection is not used again
    /// ([`is_usable`](crate::connection::Connection::is_usable) is `false`): later commands
    /// fail unsent, with an [`Error::Io`](mongodb_auth::Error::Io) whose `io::Error` kind is
    /// `NotConnected`. Open another.
    ///
    /// With `timeoutMS` in the connection string (`0`: no limit), the command runs under a
    /// client-side operation timeout, as the client-side operations timeout specification has
    /// it: all of it, a re-authentication it needs included, ends within that time, else
    /// [`Error::Timeout`](mongodb_auth::Error::Timeout) with what the step it cut short failed
    /// with as its cause; `socketTimeoutMS` is ignored; the command carries what is left as
    /// `maxTimeMS` (a command that names `maxTimeMS` itself is not looked into: the server then
    /// refuses the duplicate); and a reply that says the server's `maxTimeMS` ran out (code 50,
    /// at the top of an `ok: 0` reply, in `writeConcernError` or in `writeErrors`) is that
    /// timeout's error too, with the server's error as its cause.
    /// [`run_command_within`](Self::run_command_within) gives one command its own.
    pub fn run_command(&mut self, command: &Command) -> Result<Vec<u8>> {
        block_on(shell::run_command(&Blocking, self, command, None))
    }

    /// [`run_command`](Self::run_command) under its own client-side operation timeout,
    /// whatever the connection string's `timeoutMS` says (`Duration::MAX`: no limit): the
    /// runCommand specification's `timeoutMS` option.
    pub fn run_command_within(&mut self, command: &Command, timeout: Duration) -> Result<Vec<u8>> {
        block_on(shell::run_command(&Blocking, self, command, Some(timeout)))
    }

    /// The users the server says this connection authenticated (`connectionStatus`), as
    /// `(user, db)`.
    pub fn authenticated_users(&mut self) -> Result<Vec<(String, String)>> {
        let reply = self.run_command(&command::connection_status())?;
        command::authenticated_users(&reply)
    }
}

/// The addresses `lookup` finds for `host`, or a timeout once `limit` has passed: the system's
/// resolver blocks for as long as its own settings say, so it runs on a thread of its own,
/// which finishes with nobody waiting.
fn looked_up(
    host: &str,
    limit: Duration,
    lookup: impl FnOnce() -> std::io::Result<Vec<SocketAddr>> + Send + 'static,
) -> Result<Vec<SocketAddr>> {
    let found = block_on_until(
        Runtime::default().run_blocking(lookup),
        Some(deadline(Instant::now(), limit)),
    );
    match found {
        Some(found) => found.map_err(|e| Error::Dns {
            name: host.to_owned(),
            reason: e.to_string(),
        }),
        None => Err(crate::timed_out("looking up the host", limit)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolver_that_does_not_answer_ends_at_the_timeout() {
        let started = Instant::now();
        let stuck = || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(Vec::new())
        };
        let refused = looked_up("stuck.example", Duration::from_millis(200), stuck);
        assert!(
            matches!(
                refused,
                Err(Error::Timeout {
                    operation: "looking up the host",
                    ..
                })
            ),
            "{refused:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        let quick = || Ok(vec![SocketAddr::from(([127, 0, 0, 1], 27017))]);
        assert_eq!(
            looked_up("h", Duration::from_secs(5), quick).unwrap().len(),
            1
        );
    }
}

//! The tokio adapter: tokio sockets, TLS with tokio-rustls, the login on the task that awaits
//! it. PBKDF2, GSS calls, blocking callbacks and the blocking asks (files, processes, HTTP) run
//! on the blocking pool; an async OIDC callback or AWS provider is awaited where the login runs,
//! with no thread of its own.
//!
//! ```no_run
//! # async fn run() -> mongodb_auth::Result<()> {
//! use mongodb_auth_io::ConnectOptions;
//!
//! let mut connection = mongodb_auth_io::tokio::connect("mongodb://alice:pencil@127.0.0.1:27017/", ConnectOptions::default()).await?;
//! println!("authenticated as {:?}", connection.authenticated_users().await?);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;
#[cfg(unix)]
use ::tokio::net::UnixStream;

use mongodb_auth::ask::{Answer, Ask};
use mongodb_auth::callback;
use mongodb_auth::command::{self, Command};
use mongodb_auth::credential::Credential;
use mongodb_auth::error::{Error, Result};
use mongodb_auth::handshake::{CallbackOutput, CallbackRequest, Job, JobOutput};
use mongodb_auth::uri::ConnectionString;

use crate::answer::Answerer;
use crate::connector::Connector;
use crate::dns::{self, Seeds};
use crate::login::Authenticated;
use crate::options::{ConnectOptions, IntoConnectionString};
use crate::shell::{self, Dial, Io};
use crate::tls::{self, TlsInfo, TlsSetup};

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

/// The stream of a connection: a socket, or TLS over it.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// The socket as it is.
    Plain(Socket),
    /// TLS (rustls) over the socket.
    Tls(Box<tokio_rustls::client::TlsStream<Socket>>),
}

/// Implements `AsyncRead` and `AsyncWrite` for an enum of streams by passing each call to the
/// variant's stream (`$inner` turns the variant's field into something `Pin::new` takes), its
/// writes to `$send` when one is named.
macro_rules! forward_async_io {
    ($enum:ident { $($(#[$attr:meta])* $variant:ident($field:ident) => $inner:expr $(; writes with $send:path)?),+ $(,)? }) => {
        impl AsyncRead for $enum {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $($(#[$attr])* $enum::$variant($field) => Pin::new($inner).poll_read(cx, buf),)+
                }
            }
        }

        impl AsyncWrite for $enum {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<std::io::Result<usize>> {
                match self.get_mut() {
                    $($(#[$attr])* $enum::$variant($field) => {
                        forward_async_io!(@write $inner, cx, buf $(, $send)?)
                    })+
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $($(#[$attr])* $enum::$variant($field) => Pin::new($inner).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<()>> {
                match self.get_mut() {
                    $($(#[$attr])* $enum::$variant($field) => Pin::new($inner).poll_shutdown(cx),)+
                }
            }
        }
    };
    (@write $inner:expr, $cx:ident, $buf:ident) => {
        Pin::new($inner).poll_write($cx, $buf)
    };
    (@write $inner:expr, $cx:ident, $buf:ident, $send:path) => {
        $send($inner, $cx, $buf)
    };
}

forward_async_io!(Socket {
    Tcp(tcp) => tcp,
    // Not tokio's write: a peer that hung up must not end the host (see `unix_socket`).
    #[cfg(unix)]
    Unix(unix) => unix; writes with crate::unix_socket::poll_send,
});

forward_async_io!(Stream {
    Plain(socket) => socket,
    Tls(tls) => tls.as_mut(),
});

/// A stream the tokio adapter reads and writes.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for S {}

/// An authenticated connection. It keeps its login, so it can log in again when the server
/// asks (error 391).
pub type Connection = crate::connection::Connection<Stream>;

/// The tokio adapter's [`Runtime`](callback::Runtime) for the caller's code: tokio's timer,
/// its blocking pool, and the blocking asks on that pool.
///
/// # Panics
///
/// Its futures must run within a tokio runtime with the time driver enabled: outside one, the
/// blocking work and the timer panic, as `tokio::task::spawn_blocking` and `tokio::time::sleep`
/// do.
#[derive(Clone, Default)]
pub struct Runtime {
    answerer: Answerer,
}

impl Runtime {
    /// A runtime that reaches the person of MONGODB-OIDC's human flows as `options` say (their
    /// browser command and observer). (The adapters' own runtimes also answer within what is
    /// left of a connect's `timeoutMS`.)
    pub fn for_options(options: &ConnectOptions) -> Self {
        Runtime {
            answerer: Answerer::of(options),
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

impl callback::Runtime for Runtime {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + use<> {
        ::tokio::time::sleep(duration)
    }

    fn run_blocking<T, F>(&self, work: F) -> impl Future<Output = T> + Send + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let task = ::tokio::task::spawn_blocking(work);
        async move {
            match task.await {
                Ok(output) => output,
                // The blocking pool only fails a task that panicked: the panic goes on here.
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
    }

    fn answer(&self, ask: Ask) -> impl Future<Output = Answer> + Send + use<> {
        let answerer = self.answerer.clone();
        async move {
            let fallback = ask.clone();
            ::tokio::task::spawn_blocking(move || answerer.answer(&ask))
                .await
                .unwrap_or_else(|e| fallback.fail(e.to_string()))
        }
    }
}

/// The tokio adapter's I/O.
struct Tokio;

impl<S: AsyncStream + ?Sized> Io<S> for Tokio {
    fn write(
        &self,
        stream: &mut S,
        bytes: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<()>> + Send {
        within(timeout, "writing a request", async move {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
    }

    async fn read(
        &self,
        stream: &mut S,
        buffer: &mut [u8],
        deadline: Instant,
        timeout: Duration,
    ) -> Result<usize> {
        match ::tokio::time::timeout_at(deadline.into(), stream.read(buffer)).await {
            Ok(read) => read.map_err(|e| crate::io_error("reading a reply", e, timeout)),
            Err(_) => Err(crate::timed_out("reading a reply", timeout)),
        }
    }

    async fn run_job(&self, job: Job) -> Result<JobOutput> {
        ::tokio::task::spawn_blocking(move || job.run())
            .await
            .map_err(|e| Error::Io {
                operation: "running a job",
                source: std::io::Error::other(e),
            })
    }

    fn answer(&self, ask: Ask, options: &ConnectOptions) -> impl Future<Output = Answer> + Send {
        let (server, timeout) = (options.dns_server, options.connect_timeout());
        let runtime = Runtime::for_options(options);
        async move {
            if dns::is_dns_ask(&ask) {
                dns::answer(&ask, server, timeout).await
            } else {
                callback::Runtime::answer(&runtime, ask).await
            }
        }
    }

    async fn callback(
        &self,
        request: CallbackRequest,
        options: &ConnectOptions,
    ) -> Result<CallbackOutput> {
        let runtime = Runtime::for_options(options);
        match options.callback_timeout(request.timeout()) {
            Some(timeout) => ::tokio::time::timeout(timeout, request.run(&runtime))
                .await
                .map_err(|_| shell::callback_timeout(timeout)),
            None => Ok(request.run(&runtime).await),
        }
    }
}

impl Dial for Tokio {
    type Connected = Stream;
    type Socket = Socket;

    fn resolve(
        &self,
        cs: &ConnectionString,
        options: &ConnectOptions,
    ) -> impl Future<Output = Result<Seeds>> + Send {
        dns::targets(
            cs,
            options.dns_server,
            options.connect_timeout(),
            options.time_left(),
        )
    }

    fn lookup(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<SocketAddr>>> + Send {
        let host = host.to_owned();
        async move {
            let found = ::tokio::net::lookup_host((host.as_str(), port));
            looked_up(&host, timeout, found).await
        }
    }

    async fn open(&self, address: SocketAddr, timeout: Duration) -> Result<Socket> {
        let tcp = within(timeout, "connecting", TcpStream::connect(address)).await?;
        tcp.set_nodelay(true)
            .map_err(|e| crate::io_error("configuring the socket", e, timeout))?;
        Ok(Socket::Tcp(tcp))
    }

    #[cfg(unix)]
    async fn open_unix(&self, path: &str, timeout: Duration) -> Result<Socket> {
        let unix = within(timeout, "connecting", UnixStream::connect(path)).await?;
        Ok(Socket::Unix(unix))
    }

    #[cfg(not(unix))]
    async fn open_unix(&self, _path: &str, _timeout: Duration) -> Result<Socket> {
        Err(shell::no_unix_sockets())
    }

    fn secure(
        &self,
        socket: Socket,
        tls: &TlsSetup,
        host: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<(Self::Connected, TlsInfo)>> + Send {
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let name = tls::server_name(host);
        let setup = tls.clone();
        async move {
            let tls_stream = within(
                timeout,
                "in the TLS handshake",
                connector.connect(name?, socket),
            )
            .await?;
            let info = TlsInfo::of(tls_stream.get_ref().1, &setup);
            Ok((Stream::Tls(Box::new(tls_stream)), info))
        }
    }

    fn plain(&self, socket: Socket) -> Self::Connected {
        Stream::Plain(socket)
    }

    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        ::tokio::time::sleep(duration)
    }
}

/// `future` within `limit`, its I/O error as the crate's.
/// The addresses `lookup` finds for `host`, or a timeout once `limit` has passed (the system's
/// resolver goes on, on the blocking pool, with nobody waiting).
async fn looked_up(
    host: &str,
    limit: Duration,
    lookup: impl Future<Output = std::io::Result<impl Iterator<Item = SocketAddr>>>,
) -> Result<Vec<SocketAddr>> {
    match ::tokio::time::timeout(limit, lookup).await {
        Ok(found) => found.map(Iterator::collect).map_err(|e| Error::Dns {
            name: host.to_owned(),
            reason: e.to_string(),
        }),
        Err(_) => Err(crate::timed_out("looking up the host", limit)),
    }
}

async fn within<T>(
    limit: Duration,
    operation: &'static str,
    future: impl Future<Output = std::io::Result<T>>,
) -> Result<T> {
    match ::tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(|e| crate::io_error(operation, e, limit)),
        Err(_) => Err(crate::timed_out(operation, limit)),
    }
}

/// Connects to the first host of `uri` that answers `hello` (after resolving a `mongodb+srv`
/// name), whatever its role in a replica set (no primary is selected), over TLS when the
/// connection string asks for it, and authenticates with the connection string's credential
/// (if any). A client that opens more than one connection keeps a [`Connector`] and calls
/// [`connect_with`].
pub async fn connect(
    uri: impl IntoConnectionString,
    options: ConnectOptions,
) -> Result<Connection> {
    connect_with(&Connector::new(uri, options)?).await
}

/// [`connect`] through `connector`, with what it keeps: the TLS configuration (and so the
/// sessions to resume), the seed list, the caches.
pub async fn connect_with(connector: &Connector) -> Result<Connection> {
    shell::connect(&Tokio, connector).await
}

/// Authenticates a stream the caller already opened (and secured): sends `hello` and runs the
/// conversation for `credential`, with the read and write timeouts of `options`.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
    stream: &mut S,
    credential: Option<&Credential>,
    options: ConnectOptions,
) -> Result<Authenticated> {
    shell::authenticate(&Tokio, stream, credential, options).await
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
    /// re-authentication, or one cut short, the connection is not used again
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
    pub async fn run_command(&mut self, command: &Command) -> Result<Vec<u8>> {
        shell::run_command(&Tokio, self, command, None).await
    }

    /// [`run_command`](Self::run_command) under its own client-side operation timeout,
    /// whatever the connection string's `timeoutMS` says (`Duration::MAX`: no limit): the
    /// runCommand specification's `timeoutMS` option.
    pub async fn run_command_within(
        &mut self,
        command: &Command,
        timeout: Duration,
    ) -> Result<Vec<u8>> {
        shell::run_command(&Tokio, self, command, Some(timeout)).await
    }

    /// The users the server says this connection authenticated (`connectionStatus`).
    pub async fn authenticated_users(&mut self) -> Result<Vec<(String, String)>> {
        let reply = self.run_command(&command::connection_status()).await?;
        command::authenticated_users(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolver_that_does_not_answer_ends_at_the_timeout() {
        let runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let stuck = std::future::pending::<std::io::Result<std::vec::IntoIter<SocketAddr>>>();
        let refused = runtime.block_on(looked_up(
            "stuck.example",
            Duration::from_millis(200),
            stuck,
        ));
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
    }
}

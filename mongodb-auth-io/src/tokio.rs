//! The tokio adapter (feature `tokio`): the [`Authenticator`](mongodb_auth::Authenticator) loop over an
//! `AsyncRead + AsyncWrite` stream. PBKDF2 runs on the blocking pool (`spawn_blocking`), so a
//! slow key derivation never stalls the runtime.
//!
//! ```no_run
//! # async fn run() -> mongodb_auth::Result<()> {
//! use mongodb_auth_io::adapter::ConnectOptions;
//!
//! let mut connection = mongodb_auth_io::tokio::connect("mongodb://alice:pencil@127.0.0.1:27017/", ConnectOptions::default()).await?;
//! println!("authenticated as {:?}", connection.authenticated_users().await?);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use ::tokio::net::TcpStream;

use crate::adapter::{
    self, Authenticated, ConnectOptions, ConnectionState, Event, IntoConnectionString, Login,
    MAX_AUTH_REPLY_SIZE, Next, Outgoing,
};
use crate::dns::{self, Target};
use crate::tls::{self, TlsInfo};
use mongodb_auth::command::{self, Command};
use mongodb_auth::credential::Credential;
use mongodb_auth::error::{Error, Result};
use mongodb_auth::wire::{MAX_MESSAGE_SIZE, ReplyDecoder};

/// The stream of a connection: TCP, or TLS over TCP.
#[derive(Debug)]
#[non_exhaustive]
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (rustls) over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An authenticated connection. It keeps its authenticator, so it can log in again when the
/// server asks (error 391).
pub type Connection = adapter::Connection<Stream>;

async fn within<T>(
    limit: Duration,
    operation: &'static str,
    future: impl Future<Output = std::io::Result<T>>,
) -> Result<T> {
    match ::tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(|e| crate::io_error(operation, e, limit)),
        Err(_) => Err(Error::Timeout {
            operation,
            after: limit,
        }),
    }
}

/// Connects to the first host of `uri` that answers (after resolving a `mongodb+srv` name),
/// over TLS when the connection string asks for it, sends `hello` and authenticates with the
/// connection string's credential (if any).
pub async fn connect(
    uri: impl IntoConnectionString,
    mut options: ConnectOptions,
) -> Result<Connection> {
    let cs = uri.into_connection_string()?;
    let (cs, targets) = dns::targets(&cs, options.dns_server, options.connect_timeout).await?;
    if options.app_name.is_none() {
        options.app_name = cs.option("appName").map(str::to_owned);
    }
    let tls = cs
        .tls_enabled()
        .then(|| tls::client_config(cs.tls()))
        .transpose()?;
    let mut last_error = None;
    for target in targets {
        let tcp = match open(&target, &options).await {
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
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let name = tls::server_name(&target.host)?;
                let handshake = within(
                    options.read_timeout,
                    "in the TLS handshake",
                    connector.connect(name, tcp),
                )
                .await;
                let tls_stream = match handshake {
                    Ok(stream) => stream,
                    Err(e) if adapter::try_next_host(&e) => {
                        last_error = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let info = TlsInfo::of(tls_stream.get_ref().1, client_subject.as_deref());
                options.emit(Event::TlsEstablished { info: &info });
                (Stream::Tls(Box::new(tls_stream)), Some(info))
            }
            None => (Stream::Plain(tcp), None),
        };
        let (mut login, hello) = Login::for_connection(&cs, &target.host, &mut options)?;
        let authenticated = drive(&mut stream, &mut login, Next::Write(hello), &options).await?;
        return Ok(adapter::Connection {
            stream,
            state: ConnectionState::new(address, tls_info, authenticated, options, login),
        });
    }
    Err(last_error.unwrap_or(Error::Unsupported {
        what: "no host to connect to".into(),
    }))
}

async fn open(target: &Target, options: &ConnectOptions) -> Result<TcpStream> {
    let timeout = options.connect_timeout;
    let addresses: Vec<std::net::SocketAddr> = match &target.addresses {
        Some(addresses) => addresses.clone(),
        None => ::tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| Error::Dns {
                name: target.host.clone(),
                reason: e.to_string(),
            })?
            .collect(),
    };
    let tcp = within(
        timeout,
        "connecting",
        TcpStream::connect(addresses.as_slice()),
    )
    .await?;
    tcp.set_nodelay(true)
        .map_err(|e| crate::io_error("configuring the socket", e, timeout))?;
    Ok(tcp)
}

/// Authenticates a stream the caller already opened (and secured): sends `hello` and runs the
/// conversation for `credential`, with the read and write timeouts of `options`.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credential: Option<&Credential>,
    mut options: ConnectOptions,
) -> Result<Authenticated> {
    let style = adapter::hello_style(&options, None);
    let (mut login, hello) = Login::start(credential, None, &mut options, style, false)?;
    drive(stream, &mut login, Next::Write(hello), &options).await
}

/// Runs the login from `next` to the end.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    login: &mut Login,
    mut next: Next,
    options: &ConnectOptions,
) -> Result<Authenticated> {
    loop {
        next = match next {
            Next::Write(message) => {
                login.on_reply(exchange(stream, &message, options, MAX_AUTH_REPLY_SIZE).await?)?
            }
            Next::Derive(job) => {
                let iterations = job.iterations();
                let started = Instant::now();
                let keys = ::tokio::task::spawn_blocking(move || job.run())
                    .await
                    .map_err(|e| Error::Io {
                        operation: "deriving SCRAM keys",
                        source: std::io::Error::other(e),
                    })?;
                options.emit(Event::DerivedKey {
                    iterations,
                    elapsed: started.elapsed(),
                });
                login.on_keys(keys)?
            }
            Next::Ask(ask) if dns::is_dns_ask(&ask) => login
                .on_answer(dns::answer(&ask, options.dns_server, options.connect_timeout).await)?,
            Next::Gssapi(job) => {
                let done = ::tokio::task::spawn_blocking(move || job.run())
                    .await
                    .map_err(|e| Error::Io {
                        operation: "running GSSAPI",
                        source: std::io::Error::other(e),
                    })?;
                login.on_gssapi(done)?
            }
            Next::Ask(ask) => {
                let answer = ::tokio::task::spawn_blocking(move || adapter::answer_ask(&ask))
                    .await
                    .map_err(|e| Error::Io {
                        operation: "answering a credential source",
                        source: std::io::Error::other(e),
                    })?;
                login.on_answer(answer)?
            }
            Next::Token(request) => {
                let environment = request.environment();
                let token = ::tokio::task::spawn_blocking(move || adapter::fetch_token(request))
                    .await
                    .map_err(|e| Error::Io {
                        operation: "getting an OIDC token",
                        source: std::io::Error::other(e),
                    })??;
                login.on_token(token, options, environment)?
            }
            Next::Done(authenticated) => return Ok(authenticated),
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    message: &Outgoing,
    options: &ConnectOptions,
    max_reply_size: usize,
) -> Result<Vec<u8>> {
    message.report(options);
    within(options.write_timeout, "writing a request", async {
        stream.write_all(&message.bytes).await?;
        stream.flush().await
    })
    .await?;
    let reply = within(
        options.read_timeout,
        "reading a reply",
        read_reply(stream, message.request_id, max_reply_size),
    )
    .await??;
    adapter::received(options, &reply);
    Ok(reply)
}

/// Reads until the reply is complete. The outer `io::Result` is the socket's; the inner one the
/// wire decoder's.
async fn read_reply<S: AsyncRead + Unpin>(
    stream: &mut S,
    request_id: i32,
    max_reply_size: usize,
) -> std::io::Result<Result<Vec<u8>>> {
    let mut decoder = ReplyDecoder::new(request_id).max_size(max_reply_size);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let want = decoder.bytes_wanted().min(buffer.len());
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        let n = stream.read(chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match decoder.push(chunk.get(..n).unwrap_or_default()) {
            Ok(Some(reply)) => return Ok(Ok(reply.into_body().to_vec())),
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
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
    pub async fn run_command(&mut self, command: &Command) -> Result<Vec<u8>> {
        let state = &mut self.state;
        let message = Outgoing::command(command)?;
        let reply = exchange(&mut self.stream, &message, &state.options, MAX_MESSAGE_SIZE).await?;
        let Some(next) = state.reauthentication(command, &reply)? else {
            return Ok(reply);
        };
        let authenticated = drive(&mut self.stream, &mut state.login, next, &state.options).await?;
        state.reauthenticated(authenticated);
        let again = Outgoing::command(command)?;
        exchange(&mut self.stream, &again, &state.options, MAX_MESSAGE_SIZE).await
    }

    /// The users the server says this connection authenticated (`connectionStatus`).
    pub async fn authenticated_users(&mut self) -> Result<Vec<(String, String)>> {
        let reply = self.run_command(&command::connection_status()).await?;
        command::authenticated_users(&reply)
    }
}

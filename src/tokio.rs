//! The tokio adapter (feature `tokio`): the [`Authenticator`] loop over an
//! `AsyncRead + AsyncWrite` stream. PBKDF2 runs on the blocking pool (`spawn_blocking`), so a
//! slow key derivation never stalls the runtime.
//!
//! ```no_run
//! # async fn run() -> mongodb_auth::Result<()> {
//! use mongodb_auth::adapter::ConnectOptions;
//!
//! let mut connection = mongodb_auth::tokio::connect("mongodb://alice:pencil@127.0.0.1:27017/", ConnectOptions::default()).await?;
//! println!("authenticated as {:?}", connection.authenticated_users().await?);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;

use crate::adapter::{
    self, Authenticated, ConnectOptions, Event, IntoConnectionString, Login, Next, Outgoing,
    authenticated_users, connection_status_command,
};
use crate::credential::Credential;
use crate::error::{Error, Result};
use crate::handshake::{Command, Outcome};
use crate::wire::ReplyDecoder;

/// An authenticated connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    address: String,
    authenticated: Authenticated,
    options: ConnectOptions,
}

async fn within<T>(
    limit: Duration,
    operation: &'static str,
    future: impl Future<Output = std::io::Result<T>>,
) -> Result<T> {
    match ::tokio::time::timeout(limit, future).await {
        Ok(result) => result.map_err(|e| Error::io(operation, e, limit)),
        Err(_) => Err(Error::Timeout {
            operation,
            after: limit,
        }),
    }
}

/// Opens a TCP connection to the first host of `uri` that answers, sends `hello` and
/// authenticates with the connection string's credential (if any).
pub async fn connect(
    uri: impl IntoConnectionString,
    mut options: ConnectOptions,
) -> Result<Connection> {
    let cs = uri.into_connection_string()?;
    if options.app_name.is_none() {
        options.app_name = cs.option("appName").map(str::to_owned);
    }
    let mut last_error = None;
    for (host, port) in adapter::tcp_targets(&cs)? {
        let opened = within(
            options.connect_timeout,
            "connecting",
            TcpStream::connect((host.as_str(), port)),
        )
        .await;
        match opened {
            Ok(mut stream) => {
                stream
                    .set_nodelay(true)
                    .map_err(|e| Error::io("configuring the socket", e, options.connect_timeout))?;
                let address = format!("{host}:{port}");
                options.emit(Event::Connected { address: &address });
                let style = adapter::hello_style(&options, Some(&cs));
                let load_balanced = cs.option("loadBalanced") == Some("true");
                let authenticated = run(
                    &mut stream,
                    cs.credential(),
                    &mut options,
                    style,
                    load_balanced,
                )
                .await?;
                return Ok(Connection {
                    stream,
                    address,
                    authenticated,
                    options,
                });
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or(Error::Unsupported {
        what: "no host to connect to".into(),
    }))
}

/// Authenticates a stream the caller already opened (and secured): sends `hello` and runs the
/// conversation for `credential`, with the read and write timeouts of `options`.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credential: Option<&Credential>,
    mut options: ConnectOptions,
) -> Result<Authenticated> {
    let style = adapter::hello_style(&options, None);
    run(stream, credential, &mut options, style, false).await
}

async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    credential: Option<&Credential>,
    options: &mut ConnectOptions,
    style: adapter::HelloStyle,
    load_balanced: bool,
) -> Result<Authenticated> {
    let (mut login, hello) = Login::start(credential, options, style, load_balanced)?;
    let mut next = login.on_reply(exchange(stream, &hello, options).await?)?;
    loop {
        next = match next {
            Next::Write(message) => login.on_reply(exchange(stream, &message, options).await?)?,
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
            Next::Done(authenticated) => return Ok(authenticated),
        }
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    message: &Outgoing,
    options: &ConnectOptions,
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
        read_reply(stream, message.request_id),
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
) -> std::io::Result<Result<Vec<u8>>> {
    let mut decoder = ReplyDecoder::new(request_id);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let want = decoder.bytes_wanted().min(buffer.len());
        let chunk = buffer.get_mut(..want).unwrap_or_default();
        let n = stream.read(chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match decoder.push(chunk.get(..n).unwrap_or_default()) {
            Ok(Some(reply)) => return Ok(Ok(reply.into_body())),
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
    }
}

impl Connection {
    /// How authentication went.
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

    /// Runs a command and returns the reply document (an `ok: 0` reply is returned, not an
    /// error).
    pub async fn run_command(&mut self, command: &Command) -> Result<Vec<u8>> {
        exchange(
            &mut self.stream,
            &Outgoing::command(command)?,
            &self.options,
        )
        .await
    }

    /// The users the server says this connection authenticated (`connectionStatus`).
    pub async fn authenticated_users(&mut self) -> Result<Vec<(String, String)>> {
        let reply = self.run_command(&connection_status_command()).await?;
        authenticated_users(&reply)
    }

    /// The authenticated stream, for the caller's own commands.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

//! The embedded server on tokio: accepts connections, reassembles messages with the wire
//! decoder and lets a [`Session`] answer them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use zeroize::Zeroize;

use mongodb_auth::environment::deadline;
use mongodb_auth::random::{BoxedRandom, SecureRandom};
use mongodb_auth::server::danger::Misbehavior;
use mongodb_auth::server::{AuthEvent, AuthLog, Session, SessionConfig, SessionStep, UserStore};
use mongodb_auth::wire::{self, MessageDecoder, OP_MSG, OP_QUERY};
use mongodb_auth_io::tokio::Socket;

/// Limits and behaviour of a [`Server`]. A timeout of `Duration::MAX` means none: it waits
/// [`LONGEST_WAIT`](mongodb_auth::environment::LONGEST_WAIT), a century. A count of
/// connections or jobs of 0 is 1, and one above what tokio's semaphores hold (`usize::MAX` meant
/// as "no limit") is that most.
pub struct ServerConfig {
    users: UserStore,
    /// At most this many connections at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// At most this many of them from one IP address, so one peer cannot take every slot. A
    /// connection beyond it is closed at once, which a driver takes for a network error (and
    /// clears its pool): the default, 128, is a driver's default pool (100) and its monitors,
    /// with room to spare.
    pub max_connections_per_peer: usize,
    /// A login, from its first authentication command to its success, must finish within this
    /// (default 20 s), or the connection is closed: no client holds a conversation (and the
    /// server's state for it) open, before a login or after one (another user's, a new token's).
    pub login_timeout: Duration,
    /// A login that waits for a person (MONGODB-OIDC's human flow: the client opens a browser
    /// or shows a device code once the server has named its identity provider) must finish
    /// within this instead (default 6 minutes: the 5 drivers give the person, and time for
    /// the rest). The connection may be silent for as long.
    pub human_login_timeout: Duration,
    /// An authenticated connection that sends nothing for this long between requests is closed
    /// (default 5 minutes).
    pub idle_timeout: Duration,
    /// An unauthenticated connection that sends nothing for this long is closed (default 60 s).
    /// A driver's monitor, which never logs in, sends `hello` every few seconds (every 10 by
    /// default, or it waits on an awaitable one): it stays as long as it keeps talking.
    pub unauthenticated_idle_timeout: Duration,
    /// Requests an unauthenticated connection may send per second, sustained, with bursts of
    /// twice that (default 20): a monitor sends one every few seconds, a flood is cut off. After
    /// a login, the logins a connection begins (another user's, a new token's) spend the same
    /// budget; its other commands do not.
    pub unauthenticated_requests_per_second: u32,
    /// Jobs (PLAIN's PBKDF2 derivations, GSS acceptor calls, exchanges with STS) running at
    /// once, over all connections (default: the machine's cores), and for one peer address
    /// (default 1), so that unauthenticated logins cannot keep every core (or every thread of
    /// the blocking pool) busy.
    pub max_concurrent_jobs: usize,
    /// See [`max_concurrent_jobs`](Self::max_concurrent_jobs).
    pub max_concurrent_jobs_per_peer: usize,
    /// Once a request starts arriving, all of it must arrive within this time, so a client that
    /// trickles bytes cannot hold a connection (and its buffer) forever.
    pub message_timeout: Duration,
    /// Requests larger than this are refused and the connection closed (default 1 MiB).
    pub max_message_size: usize,
    /// Whether authenticated clients may run `configureFailPoint` (mongod's
    /// `enableTestCommands`): for servers that are test fixtures, never otherwise. Without it
    /// the command is `CommandNotFound`.
    pub enable_test_commands: bool,
    /// Whether every command must declare a stable API version (mongod's
    /// `requireApiVersion`): a client that declares none is refused from its first `hello`.
    pub require_api_version: bool,
    /// The caps of the documents clients insert (kept in memory for the server's life).
    pub store_limits: mongodb_auth::server::StoreLimits,
    /// Deliberate misbehavior, for tests of clients: see [`dangerous`](Self::dangerous).
    misbehavior: Option<Misbehavior>,
    auth_log: Option<AuthLog>,
    random: Option<BoxedRandom>,
    tls: Option<Arc<rustls::ServerConfig>>,
    aws: Option<mongodb_auth::server::AwsSettings>,
    oidc: Vec<mongodb_auth::server::oidc::OidcSettings>,
    gssapi: Option<mongodb_auth::server::gssapi::GssapiSettings>,
    unix_socket: Option<PathBuf>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_peer", &self.max_connections_per_peer)
            .field("login_timeout", &self.login_timeout)
            .field("human_login_timeout", &self.human_login_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field(
                "unauthenticated_idle_timeout",
                &self.unauthenticated_idle_timeout,
            )
            .field(
                "unauthenticated_requests_per_second",
                &self.unauthenticated_requests_per_second,
            )
            .field("max_concurrent_jobs", &self.max_concurrent_jobs)
            .field(
                "max_concurrent_jobs_per_peer",
                &self.max_concurrent_jobs_per_peer,
            )
            .field("message_timeout", &self.message_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("misbehavior", &self.misbehavior)
            .field("tls", &self.tls.is_some())
            .field("unix_socket", &self.unix_socket)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Serves `users` with default limits: 256 connections, 128 of them per peer address, 20
    /// seconds for a login, 5 minutes idle (60 seconds before a login, with 20 requests a
    /// second), 30 seconds per request, 1 MiB per request, as many jobs at once as cores (one
    /// per peer).
    pub fn new(users: UserStore) -> Self {
        ServerConfig {
            users,
            max_connections: 256,
            max_connections_per_peer: 128,
            login_timeout: Duration::from_secs(20),
            human_login_timeout: Duration::from_secs(360),
            idle_timeout: Duration::from_secs(300),
            unauthenticated_idle_timeout: Duration::from_secs(60),
            unauthenticated_requests_per_second: 20,
            max_concurrent_jobs: std::thread::available_parallelism().map_or(2, usize::from),
            max_concurrent_jobs_per_peer: 1,
            message_timeout: Duration::from_secs(30),
            max_message_size: 1024 * 1024,
            enable_test_commands: false,
            require_api_version: false,
            store_limits: mongodb_auth::server::StoreLimits::default(),
            misbehavior: None,
            auth_log: None,
            random: None,
            tls: None,
            aws: None,
            oidc: Vec::new(),
            gssapi: None,
            unix_socket: None,
        }
    }

    /// Listens on the UNIX domain socket at `path` too, as mongod does on
    /// `/tmp/mongodb-<port>.sock`: clients reach it as `mongodb://%2Ftmp%2Fmongodb-27017.sock`.
    /// A socket an earlier server left at `path` is replaced; one a server still listens on
    /// (on macOS and the BSDs, one whose queue is not full: their connect cannot tell a full
    /// queue from nobody listening), or any other file, makes [`Server::bind`] fail. The
    /// socket is its owner's only (mode 0700, as mongod's default, and a peer of another user
    /// is closed at once), and it is removed when the server stops (shut down or dropped),
    /// unless another has taken its place. Its clients count as one peer, the loopback
    /// address. Where there are no UNIX sockets, [`Server::bind`] fails.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix_socket = Some(path.into());
        self
    }

    /// Accepts GSSAPI (see [`mongodb_auth::server::gssapi`]).
    pub fn gssapi(mut self, settings: mongodb_auth::server::gssapi::GssapiSettings) -> Self {
        self.gssapi = Some(settings);
        self
    }

    /// Accepts MONGODB-OIDC tokens of this identity provider (see [`mongodb_auth::server::oidc`]); call it
    /// again for each further provider.
    pub fn oidc(mut self, settings: mongodb_auth::server::oidc::OidcSettings) -> Self {
        self.oidc.push(settings);
        self
    }

    /// Accepts MONGODB-AWS (see [`mongodb_auth::server::aws`]).
    pub fn aws(mut self, settings: mongodb_auth::server::AwsSettings) -> Self {
        self.aws = Some(settings);
        self
    }

    /// Serves TLS with this configuration (see [`mongodb_auth_io::tls::server_config`]): every connection
    /// must start with a TLS handshake. When the configuration asks for client certificates,
    /// the subject of a verified one is what MONGODB-X509 logs in.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Draws server nonces and decoys from `random` instead of
    /// [`SystemRandom`](mongodb_auth::random::SystemRandom).
    pub fn random(mut self, random: impl SecureRandom + Send + Sync + 'static) -> Self {
        self.random = Some(Box::new(random));
        self
    }

    /// Calls `log` for every login and refusal (with the reason the client is not told).
    pub fn auth_log(mut self, log: impl Fn(&AuthEvent) + Send + Sync + 'static) -> Self {
        self.auth_log = Some(Arc::new(log));
        self
    }

    /// The knobs that make the server misbehave, for tests of clients only: fenced off here as
    /// rustls fences `ClientConfig::dangerous()`.
    pub fn dangerous(&mut self) -> DangerousServerConfig<'_> {
        DangerousServerConfig { config: self }
    }
}

/// The test knobs of a [`ServerConfig`]: each one breaks a promise a real server keeps.
pub struct DangerousServerConfig<'a> {
    config: &'a mut ServerConfig,
}

impl std::fmt::Debug for DangerousServerConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DangerousServerConfig")
            .finish_non_exhaustive()
    }
}

impl DangerousServerConfig<'_> {
    /// Misbehaves from the start (see [`mongodb_auth::server::danger`]).
    pub fn misbehave(&mut self, misbehavior: Option<Misbehavior>) {
        self.config.misbehavior = misbehavior;
    }
}

struct Shared {
    session: Arc<SessionConfig>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    login_timeout: Duration,
    human_login_timeout: Duration,
    max_connections_per_peer: usize,
    /// Per peer address: its connections, and the permits of its jobs.
    per_peer: Mutex<HashMap<IpAddr, (usize, Arc<Semaphore>)>>,
    max_jobs_per_peer: usize,
    /// The permits of every connection's jobs.
    jobs: Arc<Semaphore>,
    /// Jobs running on the blocking pool now.
    running_jobs: Arc<AtomicUsize>,
    idle_timeout: Duration,
    unauthenticated_idle_timeout: Duration,
    unauthenticated_requests_per_second: u32,
    message_timeout: Duration,
    max_message_size: usize,
    next_connection_id: AtomicI32,
    accepted: AtomicU64,
    /// One permit per connection that may open; the accept loop holds one while it waits.
    slots: Arc<Semaphore>,
    active: AtomicUsize,
}

/// Counts one more (an open connection, a running job) for as long as it lives, however its
/// task ends.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(active: &'a AtomicUsize) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        Counted(active)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The address a peer is counted under: an IPv4 address (an IPv4-mapped IPv6 one included) as
/// is, an IPv6 address by its /64, which one host or site usually holds whole.
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

/// One connection of a peer address, counted for as long as it lives, with the job permits its
/// peer shares.
struct PeerSlot {
    shared: Arc<Shared>,
    peer: IpAddr,
    jobs: Arc<Semaphore>,
}

impl PeerSlot {
    /// Counts a connection from `peer`, or `None` when that peer already holds its share.
    fn take(shared: &Arc<Shared>, peer: IpAddr) -> Option<PeerSlot> {
        let mut counts = shared.peers();
        if !counts.contains_key(&peer) {
            // Peers whose last connection closed while their jobs ran are kept until those end
            // (see `drop`); a new peer is when the ended ones go.
            counts.retain(|_, (count, jobs)| *count > 0 || Arc::strong_count(jobs) > 1);
        }
        let (count, jobs) = counts
            .entry(peer)
            .or_insert_with(|| (0, Arc::new(Semaphore::new(shared.max_jobs_per_peer))));
        if *count >= shared.max_connections_per_peer {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            shared: shared.clone(),
            peer,
            jobs: jobs.clone(),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut counts = self.shared.peers();
        if let Some((count, _)) = counts.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            // A job that outlived its connection holds the peer's permits (as a clone of this
            // semaphore): the peer stays, so its next connection does not start with a full
            // share beside it. Only this slot and the map hold it otherwise.
            if *count == 0 && Arc::strong_count(&self.jobs) <= 2 {
                counts.remove(&self.peer);
            }
        }
    }
}

impl Shared {
    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (usize, Arc<Semaphore>)>> {
        // Each update is a single map operation: a poisoned map is still consistent.
        self.per_peer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running embedded server.
///
/// ```
/// # async fn run() -> std::io::Result<()> {
/// use mongodb_auth::random::SystemRandom;
/// use mongodb_auth::server::{User, UserStore};
/// use mongodb_auth_server::{Server, ServerConfig};
/// use mongodb_auth::{ScramVariant, Secret};
///
/// let mut users = UserStore::new();
/// users.insert(User::new("admin", "alice", &Secret::new("pencil"), &[ScramVariant::Sha256], &mut SystemRandom).unwrap());
/// let server = Server::bind("127.0.0.1:0", ServerConfig::new(users)).await?;
/// println!("listening on {}", server.local_addr());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Server {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on `addr` (port 0 picks a free port) and serves until [`shutdown`](Self::shutdown)
    /// or drop.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> std::io::Result<Server> {
        mongodb_auth::server::oidc::check_providers(&config.oidc)
            .map_err(|reason| std::io::Error::new(std::io::ErrorKind::InvalidInput, reason))?;
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let unix = match &config.unix_socket {
            Some(path) => Some(UnixSocket::bind(path).await?),
            None => None,
        };
        let mut session = match config.random {
            Some(random) => SessionConfig::with_random(config.users, random),
            None => SessionConfig::new(config.users),
        };
        session.dangerous().misbehave(config.misbehavior);
        {
            session.aws = config.aws;
        }
        {
            session.oidc = config.oidc;
        }
        session.gssapi = config.gssapi;
        session.auth_log = config.auth_log;
        session.enable_test_commands = config.enable_test_commands;
        session.require_api_version = config.require_api_version;
        session.store_limits = config.store_limits;
        session.max_message_size = config.max_message_size;
        let shared = Arc::new(Shared {
            session: Arc::new(session),
            tls: config.tls.map(tokio_rustls::TlsAcceptor::from),
            login_timeout: config.login_timeout,
            human_login_timeout: config.human_login_timeout,
            max_connections_per_peer: config.max_connections_per_peer.max(1),
            per_peer: Mutex::new(HashMap::new()),
            max_jobs_per_peer: permits(config.max_concurrent_jobs_per_peer),
            jobs: Arc::new(Semaphore::new(permits(config.max_concurrent_jobs))),
            running_jobs: Arc::default(),
            idle_timeout: config.idle_timeout,
            unauthenticated_idle_timeout: config.unauthenticated_idle_timeout,
            unauthenticated_requests_per_second: config.unauthenticated_requests_per_second.max(1),
            message_timeout: config.message_timeout,
            max_message_size: config.max_message_size,
            next_connection_id: AtomicI32::new(1),
            accepted: AtomicU64::new(0),
            slots: Arc::new(Semaphore::new(permits(config.max_connections))),
            active: AtomicUsize::new(0),
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, unix, shared.clone(), stopped));
        Ok(Server {
            local_addr,
            shared,
            stop,
            task,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The knobs that make the running server misbehave, for tests of clients only (a test arms
    /// a fail point between two operations).
    pub fn dangerous(&self) -> mongodb_auth::server::DangerousSessionConfig<'_> {
        self.shared.session.dangerous()
    }

    /// Connections open now.
    pub fn active_connections(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }

    /// Connections accepted since the start.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Jobs (see [`ServerConfig::max_concurrent_jobs`]) running now on the blocking pool: each
    /// holds a permit of its peer's and one of the server's, so there are at most
    /// `max_concurrent_jobs`, a peer's at most [`ServerConfig::max_concurrent_jobs_per_peer`].
    /// A job waiting for a permit is not counted; one whose connection gave up on it is, until
    /// it ends.
    pub fn running_jobs(&self) -> usize {
        self.shared.running_jobs.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }

    /// Serves until the process is interrupted (for the `serve` command).
    pub async fn run_forever(mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(
    listener: TcpListener,
    unix: Option<UnixSocket>,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stopped.changed() => break,
            permit = shared.slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => accepted.map(|(tcp, peer)| (Socket::Tcp(tcp), peer.ip())),
            accepted = UnixSocket::accept(unix.as_ref()) => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait a moment rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let Some(peer_slot) = PeerSlot::take(&shared, peer_key(peer)) else {
            // This peer holds its share: close at once, and the slot goes back.
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let _permit = permit;
            // Dropped before the permit: once the accept loop has a slot again, the peer has
            // its share back too.
            let peer_slot = peer_slot;
            let _open = Counted::new(&shared.active);
            if let Socket::Tcp(tcp) = &stream {
                let _ = tcp.set_nodelay(true);
            }
            tokio::select! {
                _ = stopped.changed() => {}
                _ = serve(stream, &shared, &peer_slot.jobs) => {}
            }
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
    drop(unix);
}

/// The server's UNIX domain socket: its listener, its path (removed when it is dropped, if the
/// socket there is still this one) and its owner, the only user it serves.
#[cfg_attr(not(unix), allow(dead_code))]
struct UnixSocket {
    #[cfg(unix)]
    listener: tokio::net::UnixListener,
    #[cfg(unix)]
    path: PathBuf,
    /// The socket file's device and inode, to know it is still ours when it is removed.
    #[cfg(unix)]
    file: (u64, u64),
    /// The user who made the socket: a peer of another user is closed at once, so the moment
    /// before the socket's mode is set lets nobody else in.
    #[cfg(unix)]
    owner: u32,
}

impl UnixSocket {
    /// Listens at `path`, after removing a socket an earlier server left there (one nobody
    /// listens on any more). Errors name the path.
    #[cfg(unix)]
    async fn bind(path: &Path) -> std::io::Result<UnixSocket> {
        use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
        let at_path =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        match std::fs::symlink_metadata(path) {
            Ok(found) if found.file_type().is_socket() => {
                // A socket someone still listens on is theirs (another server, a mongod); on
                // Linux one whose queue is full too (`WouldBlock`), where macOS and the BSDs
                // answer as for a stale one. Not std's connect: it would wait.
                match tokio::net::UnixStream::connect(path).await {
                    Ok(_) => {
                        return Err(at_path(std::io::Error::new(
                            std::io::ErrorKind::AddrInUse,
                            "another server listens on this socket",
                        )));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        std::fs::remove_file(path).map_err(at_path)?;
                    }
                    Err(e) => return Err(at_path(e)),
                }
            }
            Ok(_) => {
                return Err(at_path(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "it exists and is not a socket",
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(at_path(e)),
        }
        let listener = tokio::net::UnixListener::bind(path).map_err(at_path)?;
        let made = std::fs::symlink_metadata(path).map_err(at_path)?;
        let socket = UnixSocket {
            listener,
            path: path.to_owned(),
            file: (made.dev(), made.ino()),
            owner: made.uid(),
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(at_path)?;
        Ok(socket)
    }

    #[cfg(not(unix))]
    async fn bind(path: &Path) -> std::io::Result<UnixSocket> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("{}: this system has no UNIX sockets", path.display()),
        ))
    }

    /// The next connection of the socket's owner to `socket` (never, without one); its peer
    /// counts as the loopback address.
    async fn accept(socket: Option<&UnixSocket>) -> std::io::Result<(Socket, IpAddr)> {
        #[cfg(unix)]
        if let Some(socket) = socket {
            loop {
                let (unix, _) = socket.listener.accept().await?;
                if unix
                    .peer_cred()
                    .is_ok_and(|peer| peer.uid() == socket.owner)
                {
                    return Ok((
                        Socket::Unix(unix),
                        IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                    ));
                }
            }
        }
        let _ = socket;
        std::future::pending().await
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let still_ours = std::fs::symlink_metadata(&self.path)
                .is_ok_and(|found| (found.dev(), found.ino()) == self.file);
            if still_ours {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// Serves one connection, after its TLS handshake when the server speaks TLS.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    shared: &Shared,
    peer_jobs: &Arc<Semaphore>,
) {
    let connection_id = shared.next_connection_id.fetch_add(1, Ordering::Relaxed);
    let mut session = Session::new(shared.session.clone(), connection_id);
    let Some(acceptor) = &shared.tls else {
        return serve_connection(stream, shared, session, peer_jobs).await;
    };
    let handshake = tokio::time::timeout(shared.message_timeout, acceptor.accept(stream)).await;
    match handshake {
        Ok(Ok(tls)) => {
            let subject = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| mongodb_auth::x509::certificate_subject(leaf).ok());
            session.set_client_certificate_subject(subject);
            serve_connection(tls, shared, session, peer_jobs).await;
        }
        Ok(Err(e)) => {
            let reason = match mongodb_auth_io::tls::from_io_error(&e, false) {
                Some(tls) => tls.to_string(),
                None => e.to_string(),
            };
            session.log_tls_failure(reason);
        }
        Err(_) => session.log_tls_failure("the handshake timed out".into()),
    }
}

/// A semaphore's permits for a configured count: at least one, and no more than tokio holds
/// (`Semaphore::new` panics above that).
fn permits(count: usize) -> usize {
    count.clamp(1, Semaphore::MAX_PERMITS)
}

/// What a connection that has not logged in may spend: requests at a sustained rate, in
/// bursts of twice that (a token bucket).
struct RequestBudget {
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl RequestBudget {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        RequestBudget {
            tokens: 2.0 * per_second,
            per_second,
            last: Instant::now(),
        }
    }

    /// Spends one request; `false` when the budget is spent.
    fn spend(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(2.0 * self.per_second);
        self.last = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

/// A connection's read buffer. Requests may carry passwords (PLAIN), so what was read into it is
/// wiped when the connection ends; only that, since the rest was never written (wiping all of
/// it, byte by byte as `zeroize` does, was a sixth of a bare connection's instructions).
struct ReadBuffer {
    bytes: Vec<u8>,
    /// How far reads have written into `bytes`.
    written: usize,
}

impl ReadBuffer {
    const LEN: usize = 16 * 1024;

    fn new() -> Self {
        ReadBuffer {
            bytes: vec![0; Self::LEN],
            written: 0,
        }
    }

    /// Reads once from `stream`: the bytes read, none at the end of the stream.
    async fn read_from<S: AsyncRead + Unpin>(&mut self, stream: &mut S) -> std::io::Result<&[u8]> {
        let n = stream.read(&mut self.bytes).await?;
        self.written = self.written.max(n);
        Ok(self.bytes.get(..n).unwrap_or_default())
    }

    /// Zeroes every byte a read wrote.
    fn wipe(&mut self) {
        if let Some(written) = self.bytes.get_mut(..self.written) {
            written.zeroize();
        }
        self.written = 0;
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Serves one connection until the client closes it, leaves a request unfinished, goes idle,
/// takes too long to log in, floods requests before logging in (or logins after it), or sends
/// something invalid.
/// Before a login the connection may run what a driver's monitor runs (`hello`, `ping`,
/// `buildInfo`) for as long as it keeps talking.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    shared: &Shared,
    mut session: Session,
    peer_jobs: &Arc<Semaphore>,
) {
    let mut decoder = MessageDecoder::requests().max_size(shared.max_message_size);
    let mut buffer = ReadBuffer::new();
    let mut reply_id: i32 = 1;
    // A request that came while a stream of replies was going out, which ended it.
    let mut pending: Option<wire::Message> = None;
    let mut budget = RequestBudget::new(shared.unauthenticated_requests_per_second);
    // When the login under way began: it must be done by then + login_timeout.
    let mut login_started: Option<Instant> = None;
    // When the request last answered arrived, if it may have begun a login: every request
    // before a login, only one that began a login after it (the clock is not read for the
    // commands of a connection that logged in).
    let mut began: Option<Instant> = None;
    loop {
        let authenticated = session.is_authenticated();
        // A login began when the request that opened it arrived; a login again, on a connection
        // that logged in, has the same deadline.
        login_started = if session.login_in_progress() {
            login_started.or(began)
        } else {
            None
        };
        // A login that waits for a person gets minutes, and may be silent for as long.
        let awaits_person = session.login_awaits_person();
        let login_timeout = if awaits_person {
            shared.human_login_timeout
        } else {
            shared.login_timeout
        };
        let login_deadline = login_started.map(|started| deadline(started, login_timeout));
        // A person's login (a first one, or one again after a 391) may be silent for minutes.
        let idle = if awaits_person {
            shared.human_login_timeout
        } else if authenticated {
            shared.idle_timeout
        } else {
            shared.unauthenticated_idle_timeout
        };
        let message = match pending.take() {
            Some(message) => Some(message),
            None => {
                read_message(
                    &mut stream,
                    &mut decoder,
                    &mut buffer,
                    shared,
                    idle,
                    login_deadline,
                )
                .await
            }
        };
        let Some(message) = message else {
            return;
        };
        let arrived = (!authenticated || login_deadline.is_some()).then(Instant::now);
        if let Some(arrived) = arrived {
            // The deadline is checked at every request, not only while waiting for bytes: a
            // client that keeps requests queued would otherwise never wait.
            if login_deadline.is_some_and(|deadline| arrived >= deadline)
                || (!authenticated && !budget.spend(arrived))
            {
                return;
            }
        }
        began = if authenticated { None } else { arrived };
        let logins_before = session.logins_begun();
        let now = SystemTime::now();
        let step = match message.op_code {
            OP_MSG => session.handle_op_msg(message.body(), now),
            OP_QUERY => {
                let collection = message.collection.as_deref().unwrap_or_default();
                session.handle_op_query(collection, message.body(), now)
            }
            _ => continue,
        };
        // A connection that logged in may log in again (another user, a new token), but its
        // logins spend the budget of one that has not, before their jobs run: otherwise one
        // login would open the way to guessing other users' passwords at full speed.
        if authenticated && session.logins_begun() != logins_before {
            let now = Instant::now();
            if !budget.spend(now) {
                return;
            }
            began = Some(now);
        }
        // Commands run here; what blocks (a PLAIN check's PBKDF2, a GSS call, an exchange with
        // STS) runs on the blocking pool, within the job permits, so it never stalls the
        // runtime's workers nor takes every core. A login's jobs, waits for permits included,
        // must be done by its deadline, or for a request that opens none, login_timeout after
        // it arrived. What the command itself waits (an awaitable hello's maxAwaitTimeMS, up to
        // a minute) is no login's and is not bounded by it.
        let settle_by =
            login_deadline.or_else(|| began.map(|began| deadline(began, login_timeout)));
        let body = settle(&mut session, step, shared, peer_jobs, settle_by).await;
        let Some((body, stream_every)) = body else {
            return;
        };
        // A monitor's awaitable hello that allows exhaust: the reply again each interval, with
        // moreToCome, until the client closes (the driver's streaming protocol). Not when the
        // request itself says more is to come: it gets no reply at all (the OP_MSG
        // specification).
        if let (OP_MSG, true, false, Some(every)) = (
            message.op_code,
            message.exhaust_allowed,
            message.more_to_come,
            stream_every,
        ) {
            let mut response_to = message.request_id;
            // A login under way (this very hello may have opened it) still ends at its
            // deadline: a stream of hellos the client never answers is no way to hold a
            // conversation, and its slot, open.
            let login_ends = session.login_in_progress().then_some(settle_by).flatten();
            // The interval without a fail point's block on the first reply.
            let every = session.stream_interval().unwrap_or(every);
            let mut body = body;
            // Whether the reply to send ends the stream: a fail point's error.
            let mut last = false;
            loop {
                if login_ends.is_some_and(|ends| Instant::now() >= ends) {
                    return;
                }
                let reply = if last {
                    wire::encode_reply(&body, reply_id, response_to)
                } else {
                    wire::encode_streamed_reply(&body, reply_id, response_to)
                };
                let Ok(reply) = reply else {
                    return;
                };
                if !write_within(&mut stream, &reply, shared.message_timeout).await {
                    return;
                }
                response_to = reply_id;
                reply_id = reply_id.wrapping_add(1);
                if last {
                    break;
                }
                // Each next reply is a command of its own to mongod, run as soon as the last
                // went out: its fail point is asked first, and its block comes before the wait.
                let now = Instant::now();
                let wait = match session.next_streamed() {
                    None => every.max(MIN_STREAM_INTERVAL),
                    Some(SessionStep::Stream(block, again)) => {
                        body = again;
                        block.saturating_add(every.max(MIN_STREAM_INTERVAL))
                    }
                    // The error goes out once blocked, and ends the stream.
                    Some(SessionStep::ReplyAfter(block, refusal)) => {
                        body = refusal;
                        last = true;
                        block
                    }
                    Some(SessionStep::Reply(refusal)) => {
                        body = refusal;
                        last = true;
                        Duration::ZERO
                    }
                    Some(SessionStep::CloseAfter(block)) => {
                        let closes = deadline(now, block);
                        let until = login_ends.map_or(closes, |ends| closes.min(ends));
                        tokio::time::sleep_until(until.into()).await;
                        return;
                    }
                    Some(_) => return,
                };
                // The client says nothing while it streams; whatever it sends (or its close)
                // ends the stream, and what it sent is the next request.
                let next = deadline(now, wait);
                let until = login_ends.map_or(next, |ends| next.min(ends));
                match tokio::time::timeout_at(until.into(), buffer.read_from(&mut stream)).await {
                    Err(_) => {}
                    Ok(Ok(read)) if !read.is_empty() => match decoder.push(read) {
                        Ok(message) => {
                            pending = message;
                            break;
                        }
                        Err(_) => return,
                    },
                    Ok(_) => return,
                }
            }
            continue;
        }
        let reply = match message.op_code {
            OP_MSG => (!message.more_to_come)
                .then(|| wire::encode_reply(&body, reply_id, message.request_id)),
            _ => Some(wire::encode_legacy_reply(
                &body,
                reply_id,
                message.request_id,
            )),
        };
        let Some(reply) = reply else { continue };
        reply_id = reply_id.wrapping_add(1);
        let Ok(reply) = reply else { return };
        if !write_within(&mut stream, &reply, shared.message_timeout).await {
            return;
        }
    }
}

/// Writes a whole reply within `timeout`; `false` when the connection is to be closed.
async fn write_within<S: AsyncWrite + Unpin>(
    stream: &mut S,
    reply: &[u8],
    timeout: Duration,
) -> bool {
    matches!(
        tokio::time::timeout(timeout, stream.write_all(reply)).await,
        Ok(Ok(()))
    )
}

/// The least time between two replies of a stream: a client asking for `maxAwaitTimeMS: 0`
/// does not get a reply loop that spins.
const MIN_STREAM_INTERVAL: Duration = Duration::from_millis(100);

/// Completes a command's jobs, asks and waits until its reply (with the interval of a stream,
/// for an awaitable `hello`); `None` when the connection is to be closed (a fail point says so,
/// a job or ask is not done by `settle_by`, or the runtime is shutting down).
async fn settle(
    session: &mut Session,
    mut step: SessionStep,
    shared: &Shared,
    peer_jobs: &Arc<Semaphore>,
    settle_by: Option<Instant>,
) -> Option<(Vec<u8>, Option<Duration>)> {
    loop {
        step = match step {
            SessionStep::Reply(body) => return Some((body, None)),
            SessionStep::ReplyAfter(wait, body) => {
                tokio::time::sleep(wait).await;
                return Some((body, None));
            }
            SessionStep::Stream(wait, body) => {
                tokio::time::sleep(wait).await;
                return Some((body, Some(wait)));
            }
            SessionStep::CloseAfter(wait) => {
                tokio::time::sleep(wait).await;
                return None;
            }
            SessionStep::Job(job) => {
                let output = blocking(move || job.run(), shared, peer_jobs, settle_by).await?;
                session.handle_job(output, SystemTime::now())
            }
            SessionStep::Ask(ask) => {
                let answer = move || mongodb_auth_io::answer::answer(&ask);
                let answer = blocking(answer, shared, peer_jobs, settle_by).await?;
                session.handle_answer(answer, SystemTime::now())
            }
            _ => return None,
        };
    }
}

/// Runs `work` on the blocking pool once it holds a permit of its peer, then one of the
/// server's; `None` unless it is done by `settle_by`. The permits go with the work, so a job
/// whose connection gave up on it still counts until it ends: a peer cannot start more than
/// its share by closing connections (its entry stays while they run: `PeerSlot`).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
    shared: &Shared,
    peer_jobs: &Arc<Semaphore>,
    settle_by: Option<Instant>,
) -> Option<T> {
    let run = async {
        let peer = peer_jobs.clone().acquire_owned().await.ok()?;
        let server = shared.jobs.clone().acquire_owned().await.ok()?;
        let running = shared.running_jobs.clone();
        tokio::task::spawn_blocking(move || {
            let _permits = (peer, server);
            let _running = Counted::new(&running);
            work()
        })
        .await
        .ok()
    };
    match settle_by {
        Some(settle_by) => tokio::time::timeout_at(settle_by.into(), run)
            .await
            .ok()
            .flatten(),
        None => run.await,
    }
}

/// The next whole request, or `None` when the connection is to be closed (closed by the client,
/// idle too long, too slow to send a request, or invalid).
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    decoder: &mut MessageDecoder,
    buffer: &mut ReadBuffer,
    shared: &Shared,
    idle_timeout: Duration,
    login_deadline: Option<Instant>,
) -> Option<wire::Message> {
    // A message may already be buffered (a client can pipeline); read only when not.
    let mut next = decoder.push(&[]);
    let mut message_deadline =
        (decoder.buffered() > 0).then(|| deadline(Instant::now(), shared.message_timeout));
    while let Ok(None) = next {
        // Waits end at instants, not after durations: one reading of the clock a wait at most.
        let until = message_deadline.unwrap_or_else(|| deadline(Instant::now(), idle_timeout));
        let until = login_deadline.map_or(until, |login| until.min(login));
        match tokio::time::timeout_at(until.into(), buffer.read_from(stream)).await {
            Ok(Ok(read)) if !read.is_empty() => next = decoder.push(read),
            _ => return None,
        }
        if message_deadline.is_none() && decoder.buffered() > 0 {
            message_deadline = Some(deadline(Instant::now(), shared.message_timeout));
        }
    }
    next.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's UNIX socket: it replaces one an earlier server left, is its owner's only, is
    /// never taken from a server still listening on it, is removed when the server stops, and
    /// never takes the place of a file that is no socket. (That a peer of another user is
    /// closed needs a second user to show, which a test run does not have.)
    #[cfg(unix)]
    #[test]
    fn the_unix_socket_replaces_a_stale_one_and_is_removed_at_the_end() {
        use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
        struct Dir(PathBuf);
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = Dir(std::env::temp_dir().join(format!(
            "mongodb-auth-net-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        )));
        std::fs::create_dir(&dir.0).expect("a new directory");
        let path = dir.0.join("server.sock");
        // What a server killed before it could clean up leaves behind.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("a socket"));
        assert!(path.exists());
        let bind = |path: &Path| {
            let config = ServerConfig::new(UserStore::new()).unix_socket(path);
            runtime.block_on(Server::bind("127.0.0.1:0", config))
        };
        let server = bind(&path).expect("the stale socket is replaced");
        let found = std::fs::symlink_metadata(&path).expect("the socket");
        assert!(found.file_type().is_socket());
        assert_eq!(found.permissions().mode() & 0o777, 0o700);
        let taken = bind(&path).expect_err("a live socket is not taken");
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
        assert!(taken.to_string().contains("server.sock"), "{taken}");
        runtime.block_on(server.shutdown());
        assert!(!path.exists(), "removed when the server stopped");

        // Dropped without a shutdown, the server removes it once its task has seen the stop.
        drop(bind(&path).expect("a new socket"));
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
        assert!(!path.exists(), "removed when the server was dropped");
        // A socket another has put in its place stays when this server stops.
        let server = bind(&path).expect("a new socket");
        std::fs::rename(&path, dir.0.join("moved.sock")).expect("moved away");
        let _another = std::os::unix::net::UnixListener::bind(&path).expect("another socket");
        runtime.block_on(server.shutdown());
        assert!(path.exists(), "another's socket stays");
        std::fs::remove_file(&path).expect("cleaned up");

        std::fs::write(&path, b"not a socket").expect("a file");
        let refused = bind(&path).expect_err("a file that is no socket stays");
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("the file"), b"not a socket");
    }

    #[test]
    fn the_read_buffer_wipes_all_that_reads_wrote() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let mut buffer = ReadBuffer::new();
        let mut plain: &[u8] = b"\0alice\0pencil";
        let read = runtime
            .block_on(buffer.read_from(&mut plain))
            .expect("a read");
        assert_eq!(read, b"\0alice\0pencil");
        // A shorter read later leaves the end of the first one behind, until the wipe.
        let mut ping: &[u8] = b"ping";
        runtime
            .block_on(buffer.read_from(&mut ping))
            .expect("a read");
        assert_eq!(buffer.bytes.get(4..13), Some(&b"ce\0pencil"[..]));
        buffer.wipe();
        assert!(buffer.bytes.iter().all(|&byte| byte == 0));
        assert_eq!(buffer.bytes.len(), ReadBuffer::LEN);
    }
}

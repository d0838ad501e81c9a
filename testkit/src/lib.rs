//! What the workspace's tests share, written once: the embedded server and logins through both
//! adapters ([`embedded`]), a SCRAM server from RFC 5802's formulas and
//! BSON helpers ([`rfc5802`]), a test DNS server ([`dns`]), an HTTP server ([`http`]), a
//! throwaway Kerberos realm ([`kdc`]), the openssl command ([`openssl`]), the Python peers
//! ([`peers`]) and `mongodb-auth serve` as a child process ([`serve`]).

pub mod dns;
pub mod embedded;
pub mod http;
pub mod kdc;
pub mod openssl;
pub mod peers;
pub mod rfc5802;
pub mod serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `command` with `input` on its standard input, and collects what it prints.
pub fn output_with_stdin(command: &mut Command, input: &[u8]) -> std::io::Result<Output> {
    use std::io::Write as _;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Dropped before the wait, so the child sees the end of its input. A child that stops
    // reading early closes the pipe: what it said is in its output.
    if let Some(mut stdin) = child.stdin.take() {
        match stdin.write_all(input) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e),
            _ => {}
        }
    }
    child.wait_with_output()
}
use std::sync::atomic::{AtomicUsize, Ordering};

/// A loopback port nothing listens on, so a connection to it is refused, for as long as this
/// lives: the port stays bound (and not listening), so no socket another test opens meanwhile
/// takes it, as one could a port found free and let go.
#[derive(Debug)]
pub struct RefusedPort {
    port: u16,
    _held: socket2::Socket,
}

impl RefusedPort {
    /// A port of 127.0.0.1, held.
    pub fn new() -> RefusedPort {
        let held = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a TCP socket");
        let loopback = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
        held.bind(&loopback.into()).expect("a loopback port");
        let port = held
            .local_addr()
            .ok()
            .and_then(|address| address.as_socket())
            .expect("the port bound")
            .port();
        RefusedPort { port, _held: held }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for RefusedPort {
    fn default() -> Self {
        RefusedPort::new()
    }
}

/// A directory of one test's files, new and empty, removed when dropped (a failing test too).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// `mongodb-auth-{name}-{pid}-{n}` under the system's temporary directory.
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mongodb-auth-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory under the temporary directory");
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

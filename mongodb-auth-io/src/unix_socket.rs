//! Writing to a UNIX domain socket whose peer may have gone, for both adapters (and the server,
//! which writes through the tokio adapter's socket).
//!
//! A write to a stream socket whose peer has closed raises `SIGPIPE`, whose default action ends
//! the process. A Rust program ignores it from its start, but a host written in another language
//! (a C or C++ program linking a driver built on this crate) may not, and std's `UnixStream`
//! writes with a plain `write(2)` before Rust 1.90 (this crate builds with 1.88); its vectored
//! writes still do. (TCP streams have long passed `MSG_NOSIGNAL`, and Apple's sockets are made
//! with `SO_NOSIGPIPE`.) A server that hung up between two messages could then end the host
//! instead of failing the connection: these writes pass `MSG_NOSIGNAL`, so the peer's leaving
//! is an `EPIPE` error like any other.

use std::io;
use std::os::fd::AsFd;
use std::task::{Context, Poll, ready};

use tokio::io::Interest;
use tokio::net::UnixStream;

/// The systems whose per-call flag std passes too (from Rust 1.90). On Apple's, std, mio and
/// socket2 make sockets with `SO_NOSIGPIPE` instead; others keep the system's behaviour.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
    target_os = "haiku",
    target_os = "hurd",
    target_os = "nto",
    target_os = "cygwin"
))]
const NO_SIGNAL: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "illumos",
    target_os = "solaris",
    target_os = "haiku",
    target_os = "hurd",
    target_os = "nto",
    target_os = "cygwin"
)))]
const NO_SIGNAL: libc::c_int = 0;

/// Sends `buf` (or a first part of it) on `socket` without raising `SIGPIPE`.
pub(crate) fn send(socket: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    socket2::SockRef::from(socket).send_with_flags(buf, NO_SIGNAL)
}

/// The tokio form of [`send`]: waits until the socket is writable, then sends; a readiness
/// that turns out stale (`WouldBlock`) is cleared and waited for again, as tokio's own writes do.
pub(crate) fn poll_send(
    stream: &UnixStream,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_io(Interest::WRITABLE, || send(stream, buf)) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            sent => return Poll::Ready(sent),
        }
    }
}

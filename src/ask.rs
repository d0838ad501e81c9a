//! What a machine asks its caller to do, when it needs I/O it does not do itself: read a file,
//! run a process, send an HTTP request. The MONGODB-AWS credential chain and the MONGODB-OIDC
//! built-in environments ask; the adapters of `mongodb-auth-io` answer, and an embedder can
//! answer with its own I/O.

use std::fmt;
use std::path::PathBuf;

use crate::secret::Secret;

/// The most of a file an answer carries: credential and token files are a few KiB.
pub const MAX_FILE_SIZE: usize = 1024 * 1024;

/// The most of an HTTP body or a process's output an answer carries.
pub const MAX_BODY_SIZE: usize = 64 * 1024;

/// What a machine needs its caller to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ask {
    /// Read this file (answer [`Answer::File`], `None` when it does not exist).
    ReadFile {
        /// The file.
        path: PathBuf,
    },
    /// Run this command line with the shell (`sh -c`; `cmd /C` on Windows) and answer
    /// [`Answer::Process`].
    RunProcess {
        /// The command line, as the profile's `credential_process` gives it.
        command: String,
    },
    /// Send this HTTP request (10 seconds at most, no redirects, the body capped at 64 KiB) and
    /// answer [`Answer::Http`].
    Http(HttpRequest),
    /// Look up a host name's addresses, following CNAMEs, and answer [`Answer::Host`] (GSSAPI's
    /// host canonicalization, rule J3).
    LookupHost {
        /// The name.
        name: String,
    },
    /// Look up the names of an address (PTR) and answer [`Answer::Names`].
    ReverseLookup {
        /// The address.
        address: std::net::IpAddr,
    },
}

/// An HTTP request of a credential source (STS, container or instance metadata).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `PUT` or `POST`.
    pub method: &'static str,
    /// The URL.
    pub url: String,
    /// The headers (an authorization token or a signature among them).
    pub headers: Vec<(String, Secret)>,
    /// The body (a web identity token, for STS).
    pub body: zeroize::Zeroizing<Vec<u8>>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The caller's answer to an [`Ask`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The file's bytes (credentials and tokens, so wiped when dropped); `None` when it does
    /// not exist.
    File(Option<zeroize::Zeroizing<Vec<u8>>>),
    /// What the process printed, and whether it succeeded.
    Process {
        /// Exit status 0.
        success: bool,
        /// Its standard output (credentials, so wiped when dropped).
        stdout: zeroize::Zeroizing<Vec<u8>>,
    },
    /// The HTTP status and body.
    Http {
        /// The status code.
        status: u16,
        /// The body (credentials, so wiped when dropped).
        body: zeroize::Zeroizing<Vec<u8>>,
    },
    /// What a host lookup found: the name at the end of the CNAME chain and the addresses.
    Host {
        /// The canonical name (the last CNAME target, or the name itself).
        canonical_name: String,
        /// The addresses, in the order of the answer.
        addresses: Vec<std::net::IpAddr>,
    },
    /// The names of a reverse lookup.
    Names(Vec<String>),
    /// The ask could not be done (unreadable file, a command that cannot start, a timeout).
    Failed(String),
}

impl fmt::Debug for Answer {
    /// A file or a process output may hold secrets: only sizes are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::File(bytes) => write!(f, "File({:?} bytes)", bytes.as_ref().map(|b| b.len())),
            Answer::Process { success, stdout } => {
                write!(
                    f,
                    "Process {{ success: {success}, stdout: {} bytes }}",
                    stdout.len()
                )
            }
            Answer::Http { status, body } => {
                write!(f, "Http {{ status: {status}, body: {} bytes }}", body.len())
            }
            Answer::Host {
                canonical_name,
                addresses,
            } => write!(f, "Host({canonical_name:?}, {addresses:?})"),
            Answer::Names(names) => write!(f, "Names({names:?})"),
            Answer::Failed(reason) => write!(f, "Failed({reason:?})"),
        }
    }
}

//! What a machine asks its caller to do, when it needs I/O it does not do itself: read a file,
//! run a process, send an HTTP request, look up a name. The MONGODB-AWS credential chain, the
//! MONGODB-OIDC built-in environments and GSSAPI's host canonicalization ask; the adapters of
//! `mongodb-auth-io` answer, and an embedder can answer with its own I/O.
//!
//! Each kind of ask has its own type and its own answer methods, so a file's bytes can only
//! answer a file read; the [`Answer`] carries the ask it answers, and a machine refuses an
//! answer to any other ask.
//!
//! ```
//! use mongodb_auth::ask::Ask;
//!
//! fn answer(ask: &Ask) -> mongodb_auth::ask::Answer {
//!     match ask {
//!         Ask::ReadFile(read) => match std::fs::read(read.path()) {
//!             Ok(bytes) => read.answer(Some(bytes.into())),
//!             Err(e) if e.kind() == std::io::ErrorKind::NotFound => read.answer(None),
//!             Err(e) => ask.fail(e.to_string()),
//!         },
//!         other => other.fail("not answered here"),
//!     }
//! }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::secret::Secret;

/// The most of a file an answer carries: credential and token files are a few KiB.
pub const MAX_FILE_SIZE: usize = 1024 * 1024;

/// The most of an HTTP body or a process's output an answer carries.
pub const MAX_BODY_SIZE: usize = 64 * 1024;

/// How long an HTTP exchange may take unless the ask says otherwise (rule K14).
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a process may run.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// How long reading a file may wait for something to read: a credential or token file is read
/// at once, and what is given up on then is a pipe or a device in a file's place (a FIFO whose
/// writer never writes, a terminal).
pub const FILE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a machine needs its caller to do. Answer with the ask's own method
/// ([`ReadFile::answer`], [`HttpRequest::answer`], ...) or, when it cannot be done, with
/// [`Ask::fail`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ask {
    /// Read a file.
    ReadFile(ReadFile),
    /// Run a program with its arguments, with no shell.
    RunProcess(RunProcess),
    /// Send an HTTP request.
    Http(HttpRequest),
    /// Look up a host name's addresses, following CNAMEs (GSSAPI's host canonicalization, rule
    /// J3).
    LookupHost(LookupHost),
    /// Look up the names of an address (PTR).
    ReverseLookup(ReverseLookup),
    /// Have a person log in in a browser: listen on the redirect URI, open the authorization
    /// URL, answer with the redirect (MONGODB-OIDC's authorization code flow).
    Browser(BrowserLogin),
    /// Tell the person where to enter a code (MONGODB-OIDC's device authorization flow).
    ShowDeviceCode(DeviceCode),
}

impl Ask {
    #[cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(dead_code))]
    pub(crate) fn read_file(path: impl Into<PathBuf>) -> Ask {
        Ask::ReadFile(ReadFile { path: path.into() })
    }

    /// `program` is the first of `words`, which must not be empty.
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    pub(crate) fn run_process(command_line: impl Into<String>, words: Vec<String>) -> Ask {
        Ask::RunProcess(RunProcess {
            command_line: command_line.into(),
            words,
        })
    }

    pub(crate) fn lookup_host(name: impl Into<String>) -> Ask {
        Ask::LookupHost(LookupHost { name: name.into() })
    }

    pub(crate) fn reverse_lookup(address: IpAddr) -> Ask {
        Ask::ReverseLookup(ReverseLookup { address })
    }

    /// The answer when the ask could not be done (an unreadable file, a command that cannot
    /// start, a timeout): `reason` says why, for the person reading the error.
    pub fn fail(&self, reason: impl Into<String>) -> Answer {
        Answer {
            ask: self.clone(),
            reply: Reply::Failed(reason.into()),
        }
    }

    /// A short description for logs (no header values, no body).
    pub fn describe(&self) -> String {
        match self {
            Ask::ReadFile(read) => format!("read {}", read.path.display()),
            Ask::RunProcess(_) => "run credential_process".to_owned(),
            Ask::Http(request) => format!("{} {}", request.method, request.url),
            Ask::LookupHost(lookup) => format!("look up {}", lookup.name),
            Ask::ReverseLookup(lookup) => format!("look up the names of {}", lookup.address),
            Ask::Browser(login) => format!("log in in a browser, back at {}", login.redirect_uri),
            Ask::ShowDeviceCode(code) => format!("show the code at {}", code.verification_uri),
        }
    }
}

/// Read this file: answer [`answer`](Self::answer), `None` when it does not exist. At most
/// [`MAX_FILE_SIZE`] bytes are taken; a pipe or a device in the file's place is waited for no
/// longer than [`FILE_TIMEOUT`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadFile {
    path: PathBuf,
}

impl ReadFile {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes (credentials and tokens: wiped when dropped), `None` when it does not
    /// exist.
    pub fn answer(&self, contents: Option<Zeroizing<Vec<u8>>>) -> Answer {
        Answer {
            ask: Ask::ReadFile(self.clone()),
            reply: Reply::File(contents),
        }
    }
}

/// Run this program with these arguments, with no shell (as botocore runs `credential_process`),
/// for at most [`PROCESS_TIMEOUT`], taking at most [`MAX_BODY_SIZE`] of its standard output.
#[derive(Clone, PartialEq, Eq)]
pub struct RunProcess {
    command_line: String,
    /// The command line split as botocore splits it: the program, then its arguments.
    words: Vec<String>,
}

impl fmt::Debug for RunProcess {
    /// A command line may carry a secret (`credential_process` arguments): only its length is
    /// shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunProcess({} characters)", self.command_line.len())
    }
}

impl RunProcess {
    /// The command line, as the profile's `credential_process` gives it: what to show, not
    /// what to run (run [`program`](Self::program) with [`arguments`](Self::arguments)).
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// The program: the line's first word, found on `PATH` when it names no directory.
    pub fn program(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    /// Its arguments, each to be passed as it is: the line split as botocore splits it (POSIX
    /// `shlex` rules; the C runtime's on Windows), with nothing expanded.
    pub fn arguments(&self) -> &[String] {
        self.words.get(1..).unwrap_or_default()
    }

    /// What the process printed (credentials: wiped when dropped), and whether it exited with
    /// status 0.
    pub fn answer(&self, success: bool, stdout: Zeroizing<Vec<u8>>) -> Answer {
        Answer {
            ask: Ask::RunProcess(self.clone()),
            reply: Reply::Process { success, stdout },
        }
    }
}

/// Send this HTTP request: no redirects, within [`timeout`](Self::timeout), the body of the
/// reply capped at [`MAX_BODY_SIZE`].
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    method: &'static str,
    url: String,
    headers: Vec<(String, Secret)>,
    body: Zeroizing<Vec<u8>>,
    timeout: Duration,
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
            .field("body", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpRequest {
    #[cfg_attr(not(any(feature = "aws", feature = "oidc")), allow(dead_code))]
    pub(crate) fn new(
        method: &'static str,
        url: impl Into<String>,
        headers: Vec<(String, Secret)>,
        body: impl Into<Zeroizing<Vec<u8>>>,
    ) -> Self {
        HttpRequest {
            method,
            url: url.into(),
            headers,
            body: body.into(),
            timeout: HTTP_TIMEOUT,
        }
    }

    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `GET`, `PUT` or `POST`.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers (an authorization token or a signature among them: they are secrets).
    pub fn headers(&self) -> &[(String, Secret)] {
        &self.headers
    }

    /// The body (a web identity token, for STS: wiped when dropped).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// How long the exchange may take, the connection included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The HTTP status and body (credentials or a token: wiped when dropped).
    pub fn answer(&self, status: u16, body: Zeroizing<Vec<u8>>) -> Answer {
        Answer {
            ask: Ask::Http(self.clone()),
            reply: Reply::Http { status, body },
        }
    }
}

/// Look up this host name: answer with the name at the end of its CNAME chain and its
/// addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupHost {
    name: String,
}

impl LookupHost {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The canonical name (the last CNAME target, or the name itself) and the addresses, in the
    /// order of the answer.
    pub fn answer(&self, canonical_name: impl Into<String>, addresses: Vec<IpAddr>) -> Answer {
        Answer {
            ask: Ask::LookupHost(self.clone()),
            reply: Reply::Host {
                canonical_name: canonical_name.into(),
                addresses,
            },
        }
    }
}

/// Look up the names of this address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReverseLookup {
    address: IpAddr,
}

impl ReverseLookup {
    /// The address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The names found (PTR records).
    pub fn answer(&self, names: Vec<String>) -> Answer {
        Answer {
            ask: Ask::ReverseLookup(self.clone()),
            reply: Reply::Names(names),
        }
    }
}

/// Have a person log in: first listen on [`redirect_uri`](Self::redirect_uri) (its loopback
/// [`host`](Self::host) and [`port`](Self::port)), then open [`url`](Self::url) in a browser,
/// and answer with the target (path and query) of the first request that
/// [`is_redirect`](Self::is_redirect), within [`timeout`](Self::timeout). Serve that one
/// request a page that says the login can go on, and close; answer any other request and wait
/// on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserLogin {
    pub(crate) url: String,
    pub(crate) redirect_uri: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) timeout: Duration,
}

impl BrowserLogin {
    /// The authorization URL to open (it carries no secret: the PKCE verifier stays here).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The redirect URI, as the provider will send the browser back to it.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The loopback host to listen on (`localhost`, or an IP address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to listen on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path the redirect comes to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How long the person has.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether a request for `request_target` is this login's redirect: it comes to
    /// [`path`](Self::path) and brings back this login's `state`. Any other request (a
    /// browser's favicon, a request a web page or another program sends to the port) is a
    /// stray, to answer and pass over while the listener waits on: a login that ended at the
    /// first request to its path could be ended by any page the person has open.
    #[cfg(feature = "oidc")]
    pub fn is_redirect(&self, request_target: &str) -> bool {
        crate::oidc::human::is_redirect(request_target, &self.path, &self.url)
    }

    /// The redirect request's target, as the browser sent it (`/redirect?code=...&state=...`).
    /// It carries the authorization code, so the answer wipes it when dropped; a `String` is
    /// moved, not copied.
    pub fn answer(&self, request_target: impl Into<String>) -> Answer {
        Answer {
            ask: Ask::Browser(self.clone()),
            reply: Reply::Redirect(Zeroizing::new(request_target.into())),
        }
    }
}

/// Tell the person to open [`verification_uri`](Self::verification_uri) and enter
/// [`user_code`](Self::user_code) (RFC 8628 section 3.3); answer once it is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCode {
    pub(crate) verification_uri: String,
    pub(crate) verification_uri_complete: Option<String>,
    pub(crate) user_code: String,
    pub(crate) expires_in: Duration,
}

impl DeviceCode {
    /// Where the person goes.
    pub fn verification_uri(&self) -> &str {
        &self.verification_uri
    }

    /// The same with the code filled in, when the provider gives one (for a QR code, say).
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.verification_uri_complete.as_deref()
    }

    /// The code the person enters (short-lived and useless without the person's login: not a
    /// secret).
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// How long the code is valid.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The code was shown.
    pub fn answer(&self) -> Answer {
        Answer {
            ask: Ask::ShowDeviceCode(self.clone()),
            reply: Reply::Shown,
        }
    }
}

/// The caller's answer to an [`Ask`], made by the ask's own method: it carries the ask it
/// answers.
#[derive(Clone, PartialEq, Eq)]
pub struct Answer {
    ask: Ask,
    reply: Reply,
}

/// What came back, of the kind the ask allows.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    File(Option<Zeroizing<Vec<u8>>>),
    Process {
        success: bool,
        stdout: Zeroizing<Vec<u8>>,
    },
    Http {
        status: u16,
        body: Zeroizing<Vec<u8>>,
    },
    Host {
        canonical_name: String,
        addresses: Vec<IpAddr>,
    },
    Names(Vec<String>),
    Redirect(Zeroizing<String>),
    Shown,
    Failed(String),
}

impl Answer {
    /// The ask this answers.
    pub fn ask(&self) -> &Ask {
        &self.ask
    }

    /// Whether the ask could not be done.
    pub fn is_failure(&self) -> bool {
        matches!(self.reply, Reply::Failed(_))
    }

    pub(crate) fn reply(&self) -> &Reply {
        &self.reply
    }

    #[cfg_attr(not(feature = "oidc"), allow(dead_code))]
    pub(crate) fn into_reply(self) -> Reply {
        self.reply
    }
}

impl fmt::Debug for Answer {
    /// A file or a process output may hold secrets: only sizes are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reply = match &self.reply {
            Reply::File(bytes) => format!("File({:?} bytes)", bytes.as_ref().map(|b| b.len())),
            Reply::Process { success, stdout } => {
                format!(
                    "Process {{ success: {success}, stdout: {} bytes }}",
                    stdout.len()
                )
            }
            Reply::Http { status, body } => {
                format!("Http {{ status: {status}, body: {} bytes }}", body.len())
            }
            Reply::Host {
                canonical_name,
                addresses,
            } => format!("Host({canonical_name:?}, {addresses:?})"),
            Reply::Names(names) => format!("Names({names:?})"),
            // The redirect carries a one-time authorization code.
            Reply::Redirect(target) => format!("Redirect({} characters)", target.len()),
            Reply::Shown => "Shown".to_owned(),
            Reply::Failed(reason) => format!("Failed({reason:?})"),
        };
        f.debug_struct("Answer")
            .field("ask", &self.ask.describe())
            .field("reply", &reply)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_carries_its_ask_and_shows_no_secret() {
        let ask = Ask::read_file("/home/ada/.aws/credentials");
        let Ask::ReadFile(read) = &ask else {
            unreachable!()
        };
        let answer = read.answer(Some(Zeroizing::new(
            b"aws_secret_access_key = s3cr3t".to_vec(),
        )));
        assert_eq!(answer.ask(), &ask);
        assert!(!format!("{answer:?}").contains("s3cr3t"));
        let process = Ask::run_process(
            "fetch --token s3cr3t",
            vec!["fetch".into(), "--token".into(), "s3cr3t".into()],
        );
        assert!(!format!("{process:?}").contains("s3cr3t"));
        assert!(ask.fail("denied").is_failure());
    }
}

//! The person at the keyboard, as MONGODB-OIDC's built-in human flows reach them: a browser
//! opened on the provider's login page, which comes back to a listener on the loopback redirect
//! URI, and a notice with the device code. Blocking code: the tokio adapter runs it on its
//! blocking pool.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mongodb_auth::ask::{Answer, BrowserLogin, DeviceCode};
use mongodb_auth::environment::deadline;
use mongodb_auth::oidc::MAX_REDIRECT_SIZE;
use zeroize::Zeroizing;

use crate::options::{ConnectOptions, Event, Observer};

/// The most of a request's head read: the longest redirect target, and room for a browser's
/// headers.
const MAX_REQUEST_HEAD: usize = MAX_REDIRECT_SIZE + 8 * 1024;

/// How long one request may take to arrive whole.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the adapters know of the person: how to open a browser, and where notices go.
#[derive(Clone, Default)]
pub(crate) struct Person {
    browser: Option<String>,
    observer: Option<Observer>,
}

impl Person {
    pub(crate) fn of(options: &ConnectOptions) -> Self {
        Person {
            browser: options.browser.clone(),
            observer: options.observer().cloned(),
        }
    }

    /// Shows the device code: as an [`Event::DeviceCode`] to the caller's observer, or on
    /// standard error when there is none (a person must see it somewhere).
    pub(crate) fn show(&self, code: &DeviceCode) -> Answer {
        match &self.observer {
            Some(observer) => observer(&Event::DeviceCode {
                verification_uri: code.verification_uri(),
                verification_uri_complete: code.verification_uri_complete(),
                user_code: code.user_code(),
            }),
            None => eprintln!(
                "To log in, open {} and enter the code {}",
                code.verification_uri(),
                code.user_code()
            ),
        }
        code.answer()
    }

    /// Listens on the redirect URI, opens the browser, and waits for the redirect.
    /// `timeout` is the login's own (a person's login is not bound by `timeoutMS`): the
    /// listener holds its port no longer.
    pub(crate) fn browse(&self, login: &BrowserLogin, timeout: Duration) -> Answer {
        log_in_with_browser(login, self.browser.as_deref(), timeout)
            .unwrap_or_else(|reason| mongodb_auth::ask::Ask::Browser(login.clone()).fail(reason))
    }
}

fn log_in_with_browser(
    login: &BrowserLogin,
    browser: Option<&str>,
    timeout: Duration,
) -> Result<Answer, String> {
    let deadline = deadline(Instant::now(), timeout);
    let listeners = listen(login)?;
    let mut browser = open(browser, login.url())?;
    let redirect = wait_for_redirect(login, &listeners, deadline, &mut browser);
    // The command may outlive the login (a browser it started): reaped when it ends, never
    // left a zombie.
    if let Ok(None) = browser.try_wait() {
        std::thread::spawn(move || browser.wait());
    }
    redirect
}

fn wait_for_redirect(
    login: &BrowserLogin,
    listeners: &[TcpListener],
    deadline: Instant,
    browser: &mut Child,
) -> Result<Answer, String> {
    // Requests that are not the redirect (a favicon, a guess at the state, whatever a web page
    // the person has open sends to the port) are answered and passed over, however many come:
    // only the login's deadline and the browser command end the wait.
    let mut turn = 0;
    loop {
        let mut stream = accept(listeners, &mut turn, deadline, browser)?;
        match read_request_target(&mut stream, deadline) {
            Ok(mut target) if login.is_redirect(&target) => {
                respond(&mut stream, "200 OK", DONE_PAGE);
                // Moved out of its wiped buffer into the answer, which wipes it in turn.
                return Ok(login.answer(std::mem::take(&mut *target)));
            }
            Ok(target) if target.split('?').next() == Some(login.path()) => {
                respond(&mut stream, "400 Bad Request", "Not this login's redirect")
            }
            Ok(_) => respond(&mut stream, "404 Not Found", "Not found"),
            Err(_) => respond(&mut stream, "400 Bad Request", "Bad request"),
        }
    }
}

const DONE_PAGE: &str = "<!doctype html><title>Logged in</title>\
    <p>The login is complete: you may close this window and go back to the program.</p>";

/// Binds the redirect URI's loopback address; for `localhost`, both `127.0.0.1` and `[::1]`
/// (either may be missing from the system). A browser may reach `localhost` through either, so
/// an address left free could be taken by another local program, which would then be sent the
/// redirect with its code and state: one already taken fails the login instead.
fn listen(login: &BrowserLogin) -> Result<Vec<TcpListener>, String> {
    let port = login.port();
    let localhost = login.host().eq_ignore_ascii_case("localhost");
    let addresses: Vec<IpAddr> = if localhost {
        vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
    } else {
        let ip = login
            .host()
            .parse::<IpAddr>()
            .map_err(|e| format!("the redirect host is not an address: {e}"))?;
        vec![ip]
    };
    let mut listeners = Vec::new();
    let mut missing = Vec::new();
    for ip in addresses {
        // The core accepts loopback redirect URIs only; nothing else is ever bound here.
        if !ip.is_loopback() {
            return Err("the redirect host is not loopback".into());
        }
        let address = SocketAddr::new(ip, port);
        match TcpListener::bind(address) {
            Ok(listener) => {
                listener
                    .set_nonblocking(true)
                    .map_err(|e| format!("cannot listen on {address}: {e}"))?;
                listeners.push(listener);
            }
            // `localhost` on a system without one of the addresses (IPv6 turned off, or not
            // there at all): no browser reaches it there either.
            Err(e) if localhost && lacks_address(&e) => {
                missing.push(format!("cannot listen on {address}: {e}"));
            }
            Err(e) => return Err(format!("cannot listen on {address}: {e}")),
        }
    }
    if listeners.is_empty() {
        return Err(missing.join("; "));
    }
    Ok(listeners)
}

/// Whether binding failed because the system has no such address: it lacks it, or the whole
/// address family. Any other failure (in use, not permitted) may be another program's doing.
fn lacks_address(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    const NO_ADDRESS_FAMILY: Option<i32> = Some(libc::EAFNOSUPPORT);
    // WSAEAFNOSUPPORT.
    #[cfg(windows)]
    const NO_ADDRESS_FAMILY: Option<i32> = Some(10047);
    #[cfg(not(any(unix, windows)))]
    const NO_ADDRESS_FAMILY: Option<i32> = None;
    error.kind() == ErrorKind::AddrNotAvailable
        || NO_ADDRESS_FAMILY.is_some_and(|code| error.raw_os_error() == Some(code))
}

/// Runs `browser` with the URL as its last argument (never through a shell's parsing of the
/// URL), or the system's opener.
fn open(browser: Option<&str>, url: &str) -> Result<Child, String> {
    let mut command = match browser {
        Some(command_line) if cfg!(windows) => {
            let mut c = Command::new("cmd");
            raw_args(&mut c, cmd_line(command_line, url)?);
            c.env(URL_VARIABLE, url);
            c
        }
        // `sh -c '<command> "$1"' sh <url>`: the command line is the caller's, the URL an
        // argument the shell never parses.
        Some(command_line) => {
            let mut c = Command::new("sh");
            c.args(["-c", &format!("{command_line} \"$1\""), "sh", url]);
            c
        }
        None if cfg!(target_os = "macos") => {
            let mut c = Command::new("open");
            c.arg(url);
            c
        }
        None if cfg!(windows) => {
            let mut c = Command::new("rundll32");
            c.args(["url.dll,FileProtocolHandler", url]);
            c
        }
        None => {
            let mut c = Command::new("xdg-open");
            c.arg(url);
            c
        }
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot open a browser: {e}"))
}

/// Where a browser command run by `cmd` finds the URL (Windows).
const URL_VARIABLE: &str = "MONGODB_AUTH_BROWSER_URL";

/// The arguments of `cmd` that run `command_line` with the URL as its last argument, on
/// Windows. `cmd` parses its command line itself, and would read the URL's `&` as the end of
/// a command and expand its `%NAME%` (sending the variable's value to whoever made the URL): so
/// the URL comes from [`URL_VARIABLE`], expanded late (`/V:ON`, `!…!`), once the line is parsed.
/// A `"` would end the argument for the program, which splits its own command line: a URL with
/// one (RFC 3986 has none) is refused. `/S` takes what follows `/C` as it is, between its outer
/// quotes; `/D` runs no AutoRun command first.
fn cmd_line(command_line: &str, url: &str) -> Result<String, String> {
    if url.contains('"') {
        return Err("the login URL contains a `\"`".into());
    }
    Ok(format!(
        "/D /V:ON /S /C \"{command_line} \"!{URL_VARIABLE}!\"\""
    ))
}

/// Gives `command` its arguments as one string, as they are: Windows programs (`cmd` among them)
/// split their own command line, and the standard library would quote this one again.
#[cfg(windows)]
fn raw_args(command: &mut Command, arguments: String) {
    use std::os::windows::process::CommandExt as _;
    command.raw_arg(arguments);
}

/// Only Windows runs a browser command through `cmd`.
#[cfg(not(windows))]
fn raw_args(command: &mut Command, arguments: String) {
    command.arg(arguments);
}

/// The next loopback connection to any of `listeners`, by `deadline`; a browser command that
/// fails (exits non-zero) ends the wait, so the login can go on with another flow. Each call
/// starts at the next listener (`turn`), so requests streaming to one keep no other waiting.
fn accept(
    listeners: &[TcpListener],
    turn: &mut usize,
    deadline: Instant,
    browser: &mut Child,
) -> Result<TcpStream, String> {
    loop {
        if let Ok(Some(status)) = browser.try_wait()
            && !status.success()
        {
            return Err(format!("the browser command failed ({status})"));
        }
        *turn = turn.wrapping_add(1);
        let (before, from) = listeners.split_at(*turn % listeners.len().max(1));
        for listener in from.iter().chain(before) {
            match listener.accept() {
                Ok((stream, peer)) if peer.ip().is_loopback() => {
                    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                    return Ok(stream);
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        if Instant::now() >= deadline {
            return Err("no redirect came back before the login timed out".into());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The target of an HTTP GET request line, reading no more than the request's head.
fn read_request_target(
    stream: &mut TcpStream,
    login_deadline: Instant,
) -> Result<Zeroizing<String>, String> {
    // The whole head by one deadline: a timeout per read would let a client that sends a byte
    // now and then hold the listener (and the login) for as long as it likes.
    let until = deadline(Instant::now(), REQUEST_TIMEOUT).min(login_deadline);
    // The target carries the authorization code: the head is read into one buffer that never
    // reallocates (a larger head is refused) and is wiped, as the chunk is.
    let mut chunk = Zeroizing::new([0u8; 1024]);
    let mut head = Zeroizing::new(Vec::with_capacity(MAX_REQUEST_HEAD + chunk.len()));
    // Where the search for the head's end starts: the bytes it has not seen, and the three
    // before them, which may begin the blank line.
    let mut searched: usize = 0;
    while !head
        .get(searched.saturating_sub(3)..)
        .unwrap_or_default()
        .windows(4)
        .any(|w| w == b"\r\n\r\n")
    {
        searched = head.len();
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the request did not come in time".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        // The socket's timeout is what is left of the deadline: a read it ends is the deadline's
        // end (std says `WouldBlock` on Unix, `TimedOut` on Windows), not an I/O failure.
        let read = match stream.read(&mut *chunk) {
            Ok(read) => read,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err("the request did not come in time".into());
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        if read == 0 {
            break;
        }
        head.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if head.len() > MAX_REQUEST_HEAD {
            return Err("the request is too large".into());
        }
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| "the request line is not UTF-8")?;
    let mut parts = line.trim_end_matches('\r').split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("GET"), Some(target), Some(version))
            if version.starts_with("HTTP/1.") && target.len() <= MAX_REDIRECT_SIZE =>
        {
            Ok(Zeroizing::new(target.to_owned()))
        }
        _ => Err("not a GET request".into()),
    }
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb_auth::ask::Ask;
    use mongodb_auth::oidc::{FlowStep, HumanFlow, HumanFlows, HumanLogin, IdpInfo};
    use zeroize::Zeroizing;

    /// The browser ask of a login whose redirect URI is a free loopback port's `/cb`.
    /// A free port below the kernel's ephemeral range, so no other test's `bind(0)` is handed
    /// it once the listener closes.
    fn quiet_port() -> u16 {
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let start = 20_000 + (std::process::id() % 5_000) as u16;
        loop {
            let port = start + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5_000;
            // Free at both loopback addresses, for the tests of a `localhost` redirect (where
            // the system has no IPv6, binding it fails and counts as free).
            let v6_free = match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
                Ok(_) => true,
                Err(e) => lacks_address(&e),
            };
            if TcpListener::bind(("127.0.0.1", port)).is_ok() && v6_free {
                return port;
            }
        }
    }

    fn browser_ask(timeout: Duration) -> BrowserLogin {
        browser_ask_at("127.0.0.1", timeout)
    }

    /// [`browser_ask`], the redirect URI's host `host`.
    fn browser_ask_at(host: &str, timeout: Duration) -> BrowserLogin {
        let port = quiet_port();
        let flows = HumanFlows::new([HumanFlow::AuthorizationCode])
            .redirect_uri(&format!("http://{host}:{port}/cb"))
            .unwrap();
        let idp = IdpInfo::new("https://idp.example").with_client_id("c");
        let (mut login, step) = HumanLogin::start(&flows, &idp, None, [1; 64], timeout).unwrap();
        let FlowStep::Ask(Ask::Http(request)) = step else {
            panic!("discovery first")
        };
        let document =
            br#"{"issuer": "https://idp.example", "token_endpoint": "https://idp.example/t",
            "authorization_endpoint": "https://idp.example/a"}"#;
        let answer = request.answer(200, Zeroizing::new(document.to_vec()));
        match login.answer(answer, std::time::SystemTime::now()).unwrap() {
            FlowStep::Ask(Ask::Browser(browser)) => browser,
            other => panic!("{other:?}"),
        }
    }

    fn get(port: u16, target: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply
    }

    /// For a `localhost` redirect URI the listener holds both loopback addresses, where the
    /// system has them: a browser may reach `localhost` through either.
    #[test]
    fn a_localhost_redirect_is_listened_for_on_both_loopback_addresses() {
        let login = browser_ask_at("localhost", Duration::from_secs(10));
        let listeners = listen(&login).unwrap();
        let addresses: Vec<SocketAddr> = listeners
            .iter()
            .map(|listener| listener.local_addr().unwrap())
            .collect();
        let port = login.port();
        assert!(addresses.contains(&(Ipv4Addr::LOCALHOST, port).into()));
        if TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok() {
            assert!(
                addresses.contains(&(Ipv6Addr::LOCALHOST, port).into()),
                "{addresses:?}"
            );
        }
    }

    /// Each accept starts at the next listener: requests streaming to one listener keep the
    /// other's waiting no longer than a turn.
    #[cfg(unix)]
    #[test]
    fn the_listeners_take_turns() {
        let listeners: Vec<TcpListener> = (0..2)
            .map(|_| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                listener.set_nonblocking(true).unwrap();
                listener
            })
            .collect();
        let port = |at: usize| listeners[at].local_addr().unwrap().port();
        // Two connections waiting at the second listener, one at the first.
        let _waiting: Vec<TcpStream> = [1, 1, 0]
            .into_iter()
            .map(|at| TcpStream::connect(("127.0.0.1", port(at))).unwrap())
            .collect();
        let mut browser = Command::new("true").spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut turn = 0;
        let mut accepted_at = || {
            let stream = accept(&listeners, &mut turn, deadline, &mut browser).unwrap();
            stream.local_addr().unwrap().port()
        };
        assert_eq!([accepted_at(), accepted_at()], [port(1), port(0)]);
    }

    /// Another program listening on either loopback address at a `localhost` redirect's port
    /// fails the login at once: a browser going to `localhost` could reach that program, and
    /// hand it the code and the state.
    #[test]
    fn a_loopback_address_another_program_holds_fails_the_login() {
        let taken_addresses: [IpAddr; 2] = [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        for taken in taken_addresses {
            let login = browser_ask_at("localhost", Duration::from_secs(1));
            // A system without IPv6 has nothing to take there.
            let Ok(_other_program) = TcpListener::bind((taken, login.port())) else {
                continue;
            };
            let error = log_in_with_browser(&login, Some("true"), login.timeout()).unwrap_err();
            let address = SocketAddr::new(taken, login.port());
            assert!(
                error.starts_with(&format!("cannot listen on {address}:")),
                "{error}"
            );
        }
    }

    #[test]
    fn the_listener_answers_this_logins_redirect_once_however_many_strays_come_first() {
        let login = browser_ask(Duration::from_secs(10));
        let port = login.port();
        let state = login
            .url()
            .split(['?', '&'])
            .find_map(|parameter| parameter.strip_prefix("state="))
            .expect("the authorization URL's state")
            .to_owned();
        let redirect = format!("/cb?code=x&state={state}");
        // The person's browser, and a web page sending requests to the port (more than the 16
        // strays the listener once took before giving up), on a thread; the browser command
        // itself does nothing.
        let browser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let strays: Vec<String> = (0..10)
                .flat_map(|_| [get(port, "/cb?code=forged&state=guess"), get(port, "/cb")])
                .chain([get(port, "/favicon.ico")])
                .collect();
            (strays, get(port, &redirect))
        });
        let answer = log_in_with_browser(&login, Some("true"), login.timeout()).unwrap();
        let (strays, done) = browser.join().unwrap();
        assert!(strays.len() > 16);
        for stray in &strays[..20] {
            assert!(stray.starts_with("HTTP/1.1 400"), "{stray}");
        }
        assert!(strays[20].starts_with("HTTP/1.1 404"), "{}", strays[20]);
        assert!(done.starts_with("HTTP/1.1 200"), "{done}");
        assert_eq!(answer, login.answer(format!("/cb?code=x&state={state}")));
        // One redirect answered, and the listener is closed: its address can be bound again
        // (a connection attempt would prove nothing if another process, say a dual-stack
        // listener on `[::]`, held the same port number). Within a second: on a loaded machine
        // the kernel may take a moment to settle the connections the listener accepted.
        let rebound = (0..50).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            TcpListener::bind(("127.0.0.1", port)).is_ok()
        });
        assert!(rebound, "the listener still holds its port");
    }

    #[test]
    fn cmd_reads_the_command_line_and_never_the_url() {
        // What `cmd` gets on Windows: the URL, `&`, `%` and all, stays in the variable.
        let url = "https://idp.example/a?response_type=code&state=%41%PATH%&x=1^2|3";
        let line = cmd_line(
            r#""C:\Program Files\Browser\browser.exe" --new-window"#,
            url,
        )
        .expect("a URL without quotes");
        assert_eq!(
            line,
            r#"/D /V:ON /S /C ""C:\Program Files\Browser\browser.exe" --new-window "!MONGODB_AUTH_BROWSER_URL!"""#
        );
        assert!(!line.contains("idp.example"));
        assert!(cmd_line("browser", "https://idp.example/a?x=\" --evil").is_err());
    }

    #[test]
    fn a_silent_request_ends_at_the_deadline_as_a_timeout() {
        // Nothing comes: the deadline ends a read, which std reports as `WouldBlock`.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        let deadline = Instant::now() + Duration::from_millis(200);
        assert_eq!(
            read_request_target(&mut stream, deadline),
            Err("the request did not come in time".into())
        );
        drop(client);
    }

    #[test]
    fn a_request_that_trickles_in_ends_at_the_deadline() {
        // A local process sends a byte every 100 ms and never ends its request's head: each
        // read is quick, so only a deadline for the whole head ends the wait.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let trickler = std::thread::spawn(move || {
            let mut client = TcpStream::connect(address).unwrap();
            for _ in 0..60 {
                if client.write_all(b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let (mut stream, _) = listener.accept().unwrap();
        let started = Instant::now();
        let read = read_request_target(&mut stream, started + Duration::from_secs(1));
        let took = started.elapsed();
        assert_eq!(read, Err("the request did not come in time".into()));
        assert!(took < Duration::from_secs(3), "took {took:?}");
        drop(stream);
        trickler.join().unwrap();
    }

    #[test]
    fn a_browser_that_never_comes_back_times_out() {
        let login = browser_ask(Duration::from_millis(300));
        let started = Instant::now();
        let error = log_in_with_browser(&login, Some("true"), login.timeout()).unwrap_err();
        assert!(error.contains("timed out"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_browser_command_that_fails_ends_the_wait() {
        let login = browser_ask(Duration::from_secs(30));
        let started = Instant::now();
        let error = log_in_with_browser(&login, Some("false"), login.timeout()).unwrap_err();
        assert!(error.contains("browser command failed"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn the_url_reaches_the_browser_command_as_one_argument() {
        let dir = std::env::temp_dir().join(format!("mongodb-auth-browser-{}", std::process::id()));
        let out = dir.with_extension("txt");
        let url = "https://idp.example/a?x=1&y=$(false)';\"";
        let mut browser = open(Some(&format!("printf %s >{}", out.display())), url).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&out).map_or(true, |s| s.len() < url.len()) {
            assert!(Instant::now() < deadline, "the browser command never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), url);
        assert!(browser.wait().unwrap().success());
        let _ = std::fs::remove_file(out);
    }
}

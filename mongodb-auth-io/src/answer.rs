//! What the machines ask, answered with blocking I/O (the tokio adapter runs these on its
//! blocking pool): a file read (capped at [`MAX_FILE_SIZE`], within [`FILE_TIMEOUT`]: a FIFO
//! in a file's place is opened without waiting for a writer), a `credential_process` run (its
//! output capped at [`MAX_BODY_SIZE`], killed after [`PROCESS_TIMEOUT`]), an HTTP exchange
//! (within the ask's timeout, no redirects), and the person of MONGODB-OIDC's human flows (the
//! system's browser and a loopback redirect listener; the device code on standard error). DNS
//! asks need a resolver: [`answer`] leaves them to the adapters' (see `dns`), and fails them
//! here.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mongodb_auth::environment::deadline;

use zeroize::Zeroizing;

use mongodb_auth::ask::{
    Answer, Ask, FILE_TIMEOUT, HttpRequest, MAX_BODY_SIZE, MAX_FILE_SIZE, PROCESS_TIMEOUT,
    ReadFile, RunProcess,
};

use crate::options::ConnectOptions;
use crate::person::Person;

/// Answers `ask` with blocking I/O; a DNS ask is failed (the adapters' resolver answers those).
pub fn answer(ask: &Ask) -> Answer {
    Answerer::default().answer(ask)
}

/// How the adapters answer the asks of one login (a connect's, or a command's
/// re-authentication): reaching the person as its options say (the browser command, the
/// observer), and within what is left of its operation's `timeoutMS`.
#[derive(Clone, Default)]
pub(crate) struct Answerer {
    person: Person,
    /// When the operation under way must be done: no ask's own timeout (a `credential_process`'s
    /// minute, an HTTP exchange's seconds, a file's wait for a pipe) may outlast it. `None`
    /// during a person's OIDC login, which `timeoutMS` does not bound.
    done_by: Option<Instant>,
}

impl Answerer {
    pub(crate) fn of(options: &ConnectOptions) -> Self {
        Answerer {
            person: Person::of(options),
            done_by: options.done_by(),
        }
    }

    /// `own`, or what is left of the operation's `timeoutMS` when that is less.
    pub(crate) fn within(&self, own: Duration) -> Duration {
        crate::options::within(self.done_by, own)
    }

    /// [`answer`], within the operation's `timeoutMS`: an ask that comes when it has run out is
    /// failed unasked.
    pub(crate) fn answer(&self, ask: &Ask) -> Answer {
        if self
            .done_by
            .is_some_and(|done_by| Instant::now() >= done_by)
        {
            return ask.fail("the operation's timeoutMS ran out before it could be answered");
        }
        match ask {
            Ask::Browser(login) => self.person.browse(login, self.within(login.timeout())),
            Ask::ShowDeviceCode(code) => self.person.show(code),
            Ask::ReadFile(read) => {
                read_file(read, self.within(FILE_TIMEOUT)).unwrap_or_else(|reason| ask.fail(reason))
            }
            Ask::RunProcess(run) => run_process(run, self.within(PROCESS_TIMEOUT))
                .unwrap_or_else(|reason| ask.fail(reason)),
            Ask::Http(request) => http(request, self.within(request.timeout()))
                .unwrap_or_else(|reason| ask.fail(reason)),
            other => other.fail("a DNS lookup is answered by the adapter's resolver"),
        }
    }
}

fn read_file(read: &ReadFile, timeout: Duration) -> Result<Answer, String> {
    match read_at_most(read.path(), MAX_FILE_SIZE, timeout) {
        Ok(bytes) => Ok(read.answer(Some(bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(read.answer(None)),
        Err(e) => Err(e.to_string()),
    }
}

/// The file at `path`, up to one byte more than `limit`, so the reader can tell a file that is
/// too large from one that fits: a path to `/dev/zero` or a disk image ends after that, instead
/// of filling memory. Wiped when dropped: the file may hold a key or a token. A file ask's
/// answer carries what it read, and the machine refuses a file that is too large. Whatever is
/// in the file's place, the read waits for nothing past `timeout` (see [`Patient`]).
fn read_at_most(
    path: &std::path::Path,
    limit: usize,
    timeout: Duration,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let file = Patient::open(path, deadline(Instant::now(), timeout))?;
    file.read_at_most(limit)
}

/// A file read without waiting past a deadline for what may never come: on Unix, a FIFO in its
/// place is opened without waiting for a writer (one that has none reads as empty), and a pipe
/// or a device with nothing to read yet, or a file another process holds a lease on, is waited
/// for in short naps until the deadline, then fails as `TimedOut`. (Elsewhere a file is opened
/// and read as the system does it.) A regular file is read as it
/// comes, however long that takes (a read the system itself never ends, on a hung network
/// mount, is not one this can stop).
struct Patient<R> {
    inner: R,
    deadline: Instant,
}

/// How long [`Patient`] naps between two tries.
const NAP: Duration = Duration::from_millis(10);

impl Patient<std::fs::File> {
    fn open(path: &std::path::Path, deadline: Instant) -> std::io::Result<Self> {
        loop {
            match open_without_waiting(path) {
                Ok(file) => {
                    return Ok(Patient {
                        inner: file,
                        deadline,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => nap_until(deadline)?,
                Err(e) => return Err(e),
            }
        }
    }

    fn read_at_most(self, limit: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
        // A pipe or a device says it is empty whatever it holds: its buffer is made as large
        // as the limit up front, not grown (which leaves copies).
        let length = self
            .inner
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map_or(u64::MAX, |metadata| metadata.len());
        read_capped(self, length, limit)
    }
}

/// Naps before another try, or fails as `TimedOut` once `deadline` has passed.
fn nap_until(deadline: Instant) -> std::io::Result<()> {
    if Instant::now() >= deadline {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "nothing came to read in time (a pipe or a device in a file's place?)",
        ));
    }
    std::thread::sleep(NAP);
    Ok(())
}

impl<R: std::io::Read> std::io::Read for Patient<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.inner.read(buffer) {
                // Read faster than a writer that trickles writes, a pipe comes here too, so
                // neither a silent writer nor a slow one holds the read past the deadline.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => nap_until(self.deadline)?,
                read => return read,
            }
        }
    }
}

/// Opens `path` to read it, without waiting: opening a FIFO waits for a writer, which may
/// never come.
#[cfg(unix)]
fn open_without_waiting(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_waiting(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// At most `limit` + 1 bytes of `reader`, in a buffer wiped when dropped and made with room for
/// `expected` bytes (or the most it may hold) up front: a buffer that grows as it fills leaves
/// the bytes it held (credentials, tokens) behind in memory, unwiped. More than `limit` bytes
/// back means the reader held too much; pass `u64::MAX` as `expected` when its size is unknown
/// (the whole `limit` + 1 is then taken up front: an `OutOfMemory` error if it cannot be).
///
/// ```
/// use mongodb_auth_io::answer::read_capped;
///
/// let fits = read_capped(&b"secret"[..], u64::MAX, 6)?;
/// assert_eq!(fits.as_slice(), b"secret");
/// let too_much = read_capped(&b"a longer secret"[..], u64::MAX, 6)?;
/// assert_eq!(too_much.len(), 7);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_capped(
    reader: impl std::io::Read,
    expected: u64,
    limit: usize,
) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let most = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let room = usize::try_from(expected.min(most)).unwrap_or(0);
    let mut bytes = Zeroizing::new(Vec::new());
    // A room no allocator gives is an error, not an abort.
    bytes
        .try_reserve_exact(room)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    reader.take(most).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The file at `path`, or an I/O error of kind `FileTooLarge` when it holds more than `limit`
/// bytes (no more than one byte over the limit is ever read), or of kind `TimedOut` when, on
/// Unix, a pipe or a device in its place has nothing to read for [`FILE_TIMEOUT`]. Every file this crate and the
/// command read for themselves goes through it.
///
/// ```
/// use mongodb_auth_io::answer::read_within;
///
/// let path = std::env::temp_dir().join(format!("read-within-{}", std::process::id()));
/// std::fs::write(&path, b"0123456789")?;
/// assert_eq!(read_within(&path, 100)?.as_slice(), b"0123456789");
/// let refused = read_within(&path, 4).unwrap_err();
/// assert_eq!(refused.kind(), std::io::ErrorKind::FileTooLarge);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn read_within(path: &std::path::Path, limit: usize) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let bytes = read_at_most(path, limit, FILE_TIMEOUT)?;
    if bytes.len() > limit {
        const MIB: usize = 1024 * 1024;
        let size = if limit.is_multiple_of(MIB) {
            format!("{} MiB", limit / MIB)
        } else {
            format!("{limit} bytes")
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("it is larger than {size}"),
        ));
    }
    Ok(bytes)
}

/// Writes `bytes` to a new file at `path` that only its owner may read (on Unix: mode 0600; on
/// other systems the directory's permissions apply). Whatever was at `path` before, a file or a
/// link, is removed first, so neither an old file's mode nor a link's target is taken on.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn http(request: &HttpRequest, timeout: Duration) -> Result<Answer, String> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0);
    // A request for this machine (a local provider, instance metadata, a container's
    // credentials) goes straight there, never in plain text through a proxy of the environment.
    if on_this_machine(request.url()) {
        config = config.proxy(None);
    }
    let agent: ureq::Agent = config.build().into();
    let mut builder = ureq::http::Request::builder()
        .method(request.method())
        .uri(request.url());
    for (name, value) in request.headers() {
        builder = builder.header(name.as_str(), value.expose());
    }
    let sent = builder
        .body(request.body())
        .map_err(|e| e.to_string())
        .and_then(|req| agent.run(req).map_err(|e| e.to_string()));
    let mut response = sent?;
    let status = response.status().as_u16();
    let body = response.body_mut();
    let expected = body.content_length().unwrap_or(u64::MAX);
    let reader = body.with_config().limit(MAX_BODY_SIZE as u64).reader();
    let body = read_capped(reader, expected, MAX_BODY_SIZE).map_err(|e| e.to_string())?;
    Ok(request.answer(status, body))
}

/// Whether `url`'s host is this machine or its link: loopback, link-local (EC2 and ECS
/// metadata), or the IPv6 addresses AWS gives them.
fn on_this_machine(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || ip.is_unicast_link_local()
                || ip.segments()[..4] == [0xfd00, 0x0ec2, 0, 0]
        }
        Err(_) => false,
    }
}

fn run_process(run: &RunProcess, timeout: Duration) -> Result<Answer, String> {
    let mut command = Command::new(run.program());
    command.args(run.arguments());
    let (success, stdout) = run_command(command, timeout)?;
    Ok(run.answer(success, stdout))
}

/// Runs `command` (no shell: botocore runs none); whether it exited with status 0, and what it
/// printed (at most [`MAX_BODY_SIZE`] + 1 bytes). Both must come within `timeout`: the process
/// is killed at the deadline, and an output that stays open after it exits (a process it
/// started in the background holds it) is not waited for past it either.
fn run_command(
    mut command: Command,
    timeout: Duration,
) -> Result<(bool, Zeroizing<Vec<u8>>), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start credential_process: {e}"))?;
    // Read on a thread, so a process that never exits can be killed at the deadline. A thread
    // left reading an output that never ends holds at most that much until it does.
    let (sender, output) = mpsc::sync_channel(1);
    let reading = match child.stdout.take() {
        Some(stdout) => std::thread::Builder::new()
            .name("credential_process output".into())
            .spawn(move || {
                let read = read_capped(stdout, u64::MAX, MAX_BODY_SIZE);
                let _ = sender.send(read.unwrap_or_default());
            })
            .map(drop)
            .map_err(|e| format!("cannot read credential_process's output: {e}")),
        None => Err("credential_process has no output to read".into()),
    };
    if let Err(reason) = reading {
        let _ = child.kill();
        let _ = child.wait();
        return Err(reason);
    }
    let deadline = deadline(Instant::now(), timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("credential_process did not finish in {timeout:?}"));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    match output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(stdout) => Ok((status.success(), stdout)),
        Err(_) => Err(format!(
            "credential_process exited, but its output was still open after {timeout:?} \
             (a process it started in the background holds it)"
        )),
    }
}

#[cfg(test)]
mod proxy_tests {
    #[test]
    fn requests_for_this_machine_are_known_as_such() {
        for here in [
            "http://127.0.0.1:8080/keys",
            "http://localhost/x",
            "http://[::1]:9/",
            "http://169.254.169.254/latest/api/token",
            "http://169.254.170.2/v2/credentials",
            "http://[fd00:ec2::23]/creds",
            "http://[fd00:ec2::254]/latest",
        ] {
            assert!(super::on_this_machine(here), "{here}");
        }
        for elsewhere in [
            "https://sts.amazonaws.com/",
            "http://10.0.0.1/",
            "http://localhost.evil.example/",
            "not a url",
        ] {
            assert!(!super::on_this_machine(elsewhere), "{elsewhere}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new, empty directory of this test process's, named after `name`.
    #[cfg(unix)]
    fn scratch_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mongodb-auth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_takes_on_neither_an_old_files_mode_nor_a_links_target() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = scratch_dir("private");
        let mode = |path: &std::path::Path| {
            std::fs::symlink_metadata(path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        // A file readable by all is replaced by one its owner only may read.
        let old = dir.join("old");
        std::fs::write(&old, "public").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&old, b"key").unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"key");
        // A link is replaced, its target left alone.
        let target = dir.join("target");
        std::fs::write(&target, "theirs").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_private(&link, b"key").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"theirs");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
        assert_eq!(mode(&link), 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A FIFO in a file's place holds no read past its deadline: one nobody writes to reads as
    /// empty at once (opening it waits for no writer), one whose writer is silent ends at the
    /// deadline, and one whose writer writes and closes reads as what it wrote.
    #[cfg(unix)]
    #[test]
    fn a_fifo_in_a_files_place_holds_no_read_past_its_deadline() {
        use std::io::Write as _;
        let dir = scratch_dir("fifo");
        let fifo = dir.join("token");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        // Each read on a thread, so a read that waits forever fails the test instead of
        // hanging it.
        let read = |timeout: Duration| {
            let (sender, receiver) = mpsc::channel();
            let path = fifo.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let read = read_at_most(&path, MAX_FILE_SIZE, timeout);
                let _ = sender.send((read, started.elapsed()));
            });
            receiver
                .recv_timeout(Duration::from_secs(20))
                .expect("the read ends")
        };
        let (nobody, took) = read(Duration::from_secs(10));
        assert!(nobody.unwrap().is_empty());
        assert!(took < Duration::from_secs(2), "{took:?}");
        // A writer (the FIFO opened for reading and writing, so the opening does not wait)
        // that never writes.
        let mut writer = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .unwrap();
        let (silent, took) = read(Duration::from_millis(300));
        assert_eq!(
            silent.unwrap_err().kind(),
            std::io::ErrorKind::TimedOut,
            "{took:?}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}");
        // One that writes and closes a moment after the read began (the FIFO opened for it
        // first: what a writer wrote is gone once nobody has the FIFO open).
        writer.write_all(b"a token").unwrap();
        let reader = Patient::open(&fifo, deadline(Instant::now(), Duration::from_secs(10)))
            .expect("opened at once");
        let closing = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(writer);
        });
        let written = reader.read_at_most(MAX_FILE_SIZE);
        closing.join().unwrap();
        assert_eq!(written.unwrap().as_slice(), b"a token");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_is_read_into_a_buffer_of_its_size_and_no_further_than_the_limit() {
        let path =
            std::env::temp_dir().join(format!("mongodb-auth-read-{}.bin", std::process::id()));
        let content: Vec<u8> = (0..100_000u32).map(|i| i.to_le_bytes()[0]).collect();
        std::fs::write(&path, &content).expect("a file");
        let read = read_at_most(&path, MAX_FILE_SIZE, FILE_TIMEOUT).expect("read");
        assert!(read.as_slice() == content.as_slice(), "the file read back");
        // A buffer that had grown while reading would hold more room than the file.
        assert_eq!(read.capacity(), 100_000);
        let capped = read_at_most(&path, 1_000, FILE_TIMEOUT).expect("read");
        assert!(capped.as_slice() == content.get(..1_001).unwrap_or_default());
        std::fs::remove_file(&path).expect("removed");
    }

    #[cfg(unix)]
    #[test]
    fn a_process_output_is_read_into_one_buffer_and_waited_for_no_longer_than_the_timeout() {
        let mut printf = Command::new("printf");
        printf.args(["%s", r#"{"Version": 1}"#]);
        let (success, stdout) =
            run_command(printf, Duration::from_secs(30)).expect("the process runs");
        assert!(success);
        assert!(stdout.as_slice() == br#"{"Version": 1}"#);
        assert_eq!(stdout.capacity(), MAX_BODY_SIZE + 1, "never regrown");

        // The shell exits at once, but a process it left in the background keeps the output
        // open for 20 s: the answer comes at the 1 s timeout, not when that process ends.
        let mut shell = Command::new("sh");
        shell.args(["-c", "printf '{}'; sleep 20 &"]);
        let started = Instant::now();
        let refused = run_command(shell, Duration::from_secs(1));
        let took = started.elapsed();
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("output was still open")),
            "{refused:?}"
        );
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }
}

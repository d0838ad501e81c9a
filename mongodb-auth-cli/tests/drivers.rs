//! Real drivers hold their clients against `mongodb-auth serve` as applications do: PyMongo and
//! the Node driver set fail points through `configureFailPoint` (a 391 on `find` makes their
//! MONGODB-OIDC login run again, `closeConnection` closes, `times: 1` fires once, `off` clears,
//! and a server without `--enable-test-commands` refuses the command), insert documents and
//! find them; PyMongo's monitor, heartbeating every 500 ms for 45 s with the server's default
//! deadlines, never fails a heartbeat nor clears its pool; the Node driver's monitor streams
//! its heartbeats (exhaust) for 10 s without a failure. PyMongo runs 100 operations at once
//! through its default pool, and fills a collection and reads it back whole, against the
//! server's default limits, with no failure. Both declare the stable API (strict) to a server
//! that requires it of every command, and log in, insert and find; one that declares none is
//! refused.
//!
//! The peers come from the test command's environments (`target/pyvenv`, `target/nodeenv`), or
//! `$MONGODB_AUTH_PYTHON` and `$MONGODB_AUTH_NODE_MODULES`. Without them these tests are
//! ignored, never passed, unless `MONGODB_AUTH_REQUIRE_PEERS=1` makes them failures.

use mongodb_auth_testkit::TempDir;
use mongodb_auth_testkit::peers::{self, NodePeer};
use mongodb_auth_testkit::serve::Serve;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use libtest_mimic::{Arguments, Failed};
use mongodb_auth_server::devpki::TokenIssuer;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

fn main() {
    let arguments = Arguments::from_args();
    let mut trials = peers::trials(
        &["pymongo"],
        vec![
            (
                "pymongo_sets_fail_points_and_logs_in_again",
                pymongo_fail_points,
            ),
            ("pymongo_monitor_stays_for_45_seconds", pymongo_monitor),
            (
                "pymongo_uses_a_full_pool_and_a_full_collection",
                pymongo_load,
            ),
            ("pymongo_declares_the_stable_api", pymongo_stable_api),
        ],
    );
    trials.extend(peers::node_trials(
        "mongodb",
        vec![
            (
                "node_driver_sets_fail_points_and_logs_in_again",
                node_fail_points,
            ),
            ("node_monitor_streams_its_heartbeats", node_monitor),
            ("node_driver_declares_the_stable_api", node_stable_api),
        ],
    ));
    libtest_mimic::run(&arguments, trials).exit();
}

/// Two servers with MONGODB-OIDC (one provider, tokens made now) and the SCRAM user alice: one
/// with test commands enabled, one without; and a file holding a good token.
struct Fixture {
    _files: TempDir,
    with_test_commands: Serve,
    without: Serve,
    token: PathBuf,
}

impl Fixture {
    fn start() -> Result<Fixture, Failed> {
        let files = TempDir::new("drivers");
        let issuer =
            TokenIssuer::generate("https://idp.drivers.test").map_err(|e| e.to_string())?;
        let now = SystemTime::now();
        let token = issuer
            .issue(
                "workload",
                "mongodb-auth-drivers",
                now,
                now + Duration::from_secs(3600),
            )
            .map_err(|e| e.to_string())?;
        let jwks = files.join("jwks.json");
        std::fs::write(&jwks, issuer.jwks()).map_err(|e| e.to_string())?;
        let token_file = files.join("token");
        std::fs::write(&token_file, token).map_err(|e| e.to_string())?;
        let jwks = jwks.to_str().unwrap_or_default().to_owned();
        let args = |test_commands: bool| {
            let mut args = vec![
                "--user",
                "alice:pencil:SCRAM-SHA-256",
                "--oidc-issuer",
                issuer.issuer(),
                "--oidc-jwks",
                &jwks,
                "--oidc-audience",
                "mongodb-auth-drivers",
            ];
            if test_commands {
                args.push("--enable-test-commands");
            }
            args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>()
        };
        let start = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Serve::start_with(BIN, &args)
        };
        Ok(Fixture {
            with_test_commands: start(args(true)),
            without: start(args(false)),
            token: token_file,
            _files: files,
        })
    }

    fn args(&self) -> Vec<String> {
        vec![
            self.with_test_commands.address.clone(),
            self.without.address.clone(),
            self.token.to_str().unwrap_or_default().to_owned(),
        ]
    }
}

/// The script's verdict: its report, and an error with the server log when a check failed.
fn verdict(output: Output, servers: Vec<Serve>) -> Result<(), Failed> {
    let logs: Vec<String> = servers.into_iter().map(Serve::stop).collect();
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || report.contains("FAILED") || !report.contains("ok:") {
        return Err(format!(
            "{report}\n{}\nserver logs:\n{}",
            String::from_utf8_lossy(&output.stderr),
            logs.join("\n---\n")
        )
        .into());
    }
    print!("{report}");
    Ok(())
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

fn pymongo_fail_points(python: &Path) -> Result<(), Failed> {
    let fixture = Fixture::start()?;
    let output = Command::new(python)
        .arg(script("pymongo_fail_points.py"))
        .args(fixture.args())
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![fixture.with_test_commands, fixture.without])
}

fn node_fail_points(node: &NodePeer) -> Result<(), Failed> {
    let fixture = Fixture::start()?;
    let output = node
        .command(&script("node_fail_points.js"))
        .args(fixture.args())
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![fixture.with_test_commands, fixture.without])
}

fn node_monitor(node: &NodePeer) -> Result<(), Failed> {
    let server = Serve::start(BIN, &["alice:pencil:SCRAM-SHA-256"]);
    let output = node
        .command(&script("node_monitor.js"))
        .args([server.address.as_str(), "10"])
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![server])
}

/// A server that requires every command to declare a stable API version.
fn requiring_api_version() -> Serve {
    Serve::start_with(
        BIN,
        &[
            "--user",
            "alice:pencil:SCRAM-SHA-256",
            "--require-api-version",
        ],
    )
}

fn pymongo_stable_api(python: &Path) -> Result<(), Failed> {
    let server = requiring_api_version();
    let output = Command::new(python)
        .arg(script("pymongo_stable_api.py"))
        .arg(server.address.as_str())
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![server])
}

fn node_stable_api(node: &NodePeer) -> Result<(), Failed> {
    let server = requiring_api_version();
    let output = node
        .command(&script("node_stable_api.js"))
        .arg(server.address.as_str())
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![server])
}

fn pymongo_monitor(python: &Path) -> Result<(), Failed> {
    // The server's default deadlines: 20 s for a login, 60 s of silence before one.
    let server = Serve::start(BIN, &["alice:pencil:SCRAM-SHA-256"]);
    let output = Command::new(python)
        .arg(script("pymongo_monitor.py"))
        .args([server.address.as_str(), "45"])
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![server])
}

fn pymongo_load(python: &Path) -> Result<(), Failed> {
    // The server's default limits, with the fail point that makes the finds overlap.
    let server = Serve::start_with(
        BIN,
        &[
            "--user",
            "alice:pencil:SCRAM-SHA-256",
            "--enable-test-commands",
        ],
    );
    let output = Command::new(python)
        .arg(script("pymongo_load.py"))
        .arg(server.address.as_str())
        .output()
        .map_err(|e| e.to_string())?;
    verdict(output, vec![server])
}

//! PyMongo, the official Python driver, logs in to `mongodb-auth serve`: SCRAM-SHA-1,
//! SCRAM-SHA-256, negotiation, the SASLprep users, refusals with code 18, and `connectionStatus`.
//!
//! PyMongo comes from `$MONGODB_AUTH_PYTHON` (an interpreter with pymongo installed) or the venv
//! the test command (`scripts/test-all.sh`) creates in `target/pyvenv`. Without it the case is
//! reported as ignored, never as passed, unless `MONGODB_AUTH_REQUIRE_PEERS=1` (set by the test
//! command) makes a missing peer a failure.

#[path = "support/serve.rs"]
mod serve;

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};
use serve::Serve;

fn python_with_pymongo() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MONGODB_AUTH_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyvenv/bin/python")),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import pymongo"])
            .status()
            .is_ok_and(|status| status.success())
    })
}

fn main() {
    let arguments = Arguments::from_args();
    let python = python_with_pymongo();
    let required = std::env::var("MONGODB_AUTH_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    let trial = match (python, required) {
        (Some(python), _) => Trial::test("pymongo_logs_in_to_mongodb_auth_serve", move || {
            pymongo_logs_in_to_mongodb_auth_serve(&python)
        }),
        (None, true) => Trial::test("pymongo_logs_in_to_mongodb_auth_serve", || {
            Err(Failed::from(
                "pymongo is required (MONGODB_AUTH_REQUIRE_PEERS=1) but no Python with pymongo was found",
            ))
        }),
        // No peer: reported as ignored, so a plain `cargo test` never counts it as passed.
        (None, false) => {
            eprintln!("pymongo not found (set MONGODB_AUTH_PYTHON or run scripts/test-all.sh)");
            Trial::test("pymongo_logs_in_to_mongodb_auth_serve", || Ok(())).with_ignored_flag(true)
        }
    };
    libtest_mimic::run(&arguments, vec![trial]).exit();
}

fn pymongo_logs_in_to_mongodb_auth_serve(python: &Path) -> Result<(), Failed> {
    let users = [
        "both:pencil",
        "sha1:sha1pw:SCRAM-SHA-1",
        "sha256:sha256pw:SCRAM-SHA-256",
        "app.appuser:apppw:SCRAM-SHA-256",
        "IX:IX:SCRAM-SHA-256",
        "%E2%85%A8:IV:SCRAM-SHA-256",
    ];
    let server = Serve::start(&users);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymongo_matrix.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(&server.address)
        .output()
        .unwrap();
    let log = server.stop();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}\nserver log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("0 failure(s)"), "{report}");

    // The server's log shows what PyMongo negotiated.
    let logged = |user: &str, mechanism: &str| {
        log.lines()
            .any(|l| l.contains(&format!("{user}@admin authenticated with {mechanism}")))
    };
    assert!(logged("both", "SCRAM-SHA-1"), "{log}");
    assert!(
        logged("both", "SCRAM-SHA-256 (speculative)"),
        "PyMongo negotiates SCRAM-SHA-256 inside hello:\n{log}"
    );
    assert!(logged("sha1", "SCRAM-SHA-1"), "{log}");
    assert!(
        !log.contains("sha1@admin authenticated with SCRAM-SHA-256"),
        "{log}"
    );
    assert!(logged("\u{2168}", "SCRAM-SHA-256"), "{log}");
    assert!(
        log.contains("nobody@admin refused: unknown user or mechanism"),
        "{log}"
    );
    assert!(log.contains("both@admin refused: wrong password"), "{log}");
    Ok(())
}

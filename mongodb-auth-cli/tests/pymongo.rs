//! PyMongo, the official Python driver, logs in to `mongodb-auth serve`: SCRAM-SHA-1,
//! SCRAM-SHA-256, negotiation, the SASLprep users, refusals with code 18, and `connectionStatus`.
//!
//! PyMongo comes from `$MONGODB_AUTH_PYTHON` (an interpreter with pymongo installed) or the venv
//! the test command (`scripts/test-all.sh`) creates in `target/pyvenv`. Without it the case is
//! reported as ignored, never as passed, unless `MONGODB_AUTH_REQUIRE_PEERS=1` (set by the test
//! command) makes a missing peer a failure.

use mongodb_auth_testkit::peers;
use mongodb_auth_testkit::serve;

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed};
use serve::Serve;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

fn main() {
    let arguments = Arguments::from_args();
    let trials = peers::trials(
        &["pymongo"],
        vec![
            (
                "pymongo_logs_in_to_mongodb_auth_serve",
                pymongo_logs_in_to_mongodb_auth_serve,
            ),
            ("pymongo_over_tls_with_x509_and_scram", pymongo_over_tls),
            ("pymongo_logs_in_with_mongodb_oidc", pymongo_oidc),
        ],
    );
    libtest_mimic::run(&arguments, trials).exit();
}

/// PyMongo logs in with MONGODB-OIDC, with a custom `OIDC_CALLBACK` and with `ENVIRONMENT:test`,
/// and gets 18 for a token with a wrong signature, one for another audience and an expired one.
/// The identity provider's key and tokens are made now.
fn pymongo_oidc(python: &Path) -> Result<(), Failed> {
    use std::time::{Duration, SystemTime};

    use mongodb_auth_server::devpki::TokenIssuer;
    let dir = mongodb_auth_testkit::TempDir::new("pymongo-oidc");
    let issuer = TokenIssuer::generate("https://idp.pymongo.test").map_err(|e| e.to_string())?;
    let stranger = TokenIssuer::generate("https://idp.pymongo.test").map_err(|e| e.to_string())?;
    let (principal, audience) = ("pymongo-workload", "mongodb-auth-pymongo");
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let write = |name: &str, content: &str| -> Result<String, Failed> {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|e| e.to_string())?;
        Ok(path.to_str().unwrap_or_default().to_owned())
    };
    let token = |issuer: &TokenIssuer, audience: &str, from, until| {
        issuer
            .issue(principal, audience, from, until)
            .map_err(|e| Failed::from(e.to_string()))
    };
    let jwks = write("jwks.json", &issuer.jwks())?;
    let good = write("good", &token(&issuer, audience, now, now + hour)?)?;
    let bad_signature = write(
        "bad-signature",
        &token(&stranger, audience, now, now + hour)?,
    )?;
    let wrong_audience = write(
        "wrong-audience",
        &token(&issuer, "another", now, now + hour)?,
    )?;
    let expired = write(
        "expired",
        &token(&issuer, audience, now - 2 * hour, now - hour)?,
    )?;
    let server = Serve::start_with(
        BIN,
        &[
            "--oidc-issuer",
            issuer.issuer(),
            "--oidc-jwks",
            &jwks,
            "--oidc-audience",
            audience,
            "--oidc-user",
            principal,
        ],
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymongo_oidc.py");
    let output = Command::new(python)
        .arg(&script)
        .args([
            server.address.as_str(),
            principal,
            &good,
            &bad_signature,
            &wrong_audience,
            &expired,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let log = server.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{stdout}\n{}\nserver log:\n{log}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    // Every refusal reached the server's check and was logged with its reason.
    for reason in ["signature", "audience", "expired"] {
        if !log
            .lines()
            .any(|l| l.contains("MONGODB-OIDC") && l.contains(reason))
        {
            return Err(format!("no refusal for `{reason}` in the server log:\n{log}").into());
        }
    }
    print!("{stdout}");
    Ok(())
}

/// PyMongo over TLS: SCRAM-SHA-256, and MONGODB-X509 with and without a username, with
/// certificates made now by `devpki`.
fn pymongo_over_tls(python: &Path) -> Result<(), Failed> {
    use mongodb_auth_server::devpki::{DevPki, Subject};
    let dir = mongodb_auth_testkit::TempDir::new("pymongo-tls");
    let pki = DevPki::new(&dir).map_err(|e| e.to_string())?;
    let (cert, key) = pki
        .server("server", &["localhost", "127.0.0.1"])
        .map_err(|e| e.to_string())?;
    let subject = "CN=pymongo,OU=Drivers,O=MongoDB,C=IS";
    let client = pki
        .client(
            "client",
            &Subject::new()
                .country("IS")
                .organization("MongoDB")
                .organizational_unit("Drivers")
                .common_name("pymongo"),
        )
        .map_err(|e| e.to_string())?;
    let stranger = pki
        .client("stranger", &Subject::new().common_name("stranger"))
        .map_err(|e| e.to_string())?;
    let path = |p: &Path| p.to_str().unwrap_or_default().to_owned();
    let server = Serve::start_with(
        BIN,
        &[
            "--user",
            "alice:pencil:SCRAM-SHA-256",
            "--tls-cert",
            &path(&cert),
            "--tls-key",
            &path(&key),
            "--tls-ca",
            &path(&pki.ca_file()),
            "--x509-user",
            subject,
        ],
    );
    let port = server
        .address
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymongo_tls.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(format!("localhost:{port}"))
        .args([
            path(&pki.ca_file()),
            path(&client),
            subject.to_owned(),
            path(&stranger),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let log = server.stop();
    let report = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !report.contains("0 failure(s)") {
        return Err(format!(
            "{report}\n{}\nserver log:\n{log}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    // The server's log shows each X.509 login, and PyMongo's first one inside hello.
    let x509 = format!("{subject}@$external authenticated with MONGODB-X509");
    if log.matches(&x509).count() < 2 || !log.contains(&format!("{x509} (speculative)")) {
        return Err(format!("the X.509 logins are not in the server log:\n{log}").into());
    }
    if !log.contains("alice@admin authenticated with SCRAM-SHA-256") {
        return Err(format!("the SCRAM login is not in the server log:\n{log}").into());
    }
    Ok(())
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
    let server = Serve::start(BIN, &users);
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

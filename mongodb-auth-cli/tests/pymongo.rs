//! PyMongo, the official Python driver, logs in to `mongodb-auth serve`: SCRAM-SHA-1,
//! SCRAM-SHA-256, negotiation, the SASLprep users, refusals with code 18, and `connectionStatus`;
//! over TLS, with MONGODB-OIDC, and through a UNIX socket; and PyMongo reads connection strings
//! as the crate does.
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
            (
                "pymongo_logs_in_over_a_unix_socket",
                pymongo_over_a_unix_socket,
            ),
            (
                "pymongo_reads_connection_strings_as_the_crate_does",
                pymongo_reads_connection_strings,
            ),
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
    if !output.status.success() || !report.lines().any(|line| line == "0 failure(s)") {
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

/// PyMongo logs in through `serve --unix-socket`, as it does to mongod's socket: a connection
/// string whose host is the socket's path, SCRAM-SHA-256 negotiated, and a wrong password
/// refused with 18.
fn pymongo_over_a_unix_socket(python: &Path) -> Result<(), Failed> {
    const SCRIPT: &str = r#"
import sys
from pymongo import MongoClient
from pymongo.errors import OperationFailure
host = sys.argv[1]
client = MongoClient(f"mongodb://alice:pencil@{host}/", serverSelectionTimeoutMS=10000)
status = client.admin.command("connectionStatus")
print("users", [(u["user"], u["db"]) for u in status["authInfo"]["authenticatedUsers"]])
print("address", client.address[0])
try:
    MongoClient(f"mongodb://alice:wrong@{host}/", serverSelectionTimeoutMS=10000).admin.command("ping")
    print("a wrong password logged in")
except OperationFailure as e:
    print("refused", e.code)
"#;
    let dir = mongodb_auth_testkit::TempDir::new("pymongo-unix");
    let socket = dir.join("serve.sock");
    let socket_path = socket.to_str().ok_or("a UTF-8 path")?;
    let server = Serve::start_with(
        BIN,
        &["--user", "alice:pencil", "--unix-socket", socket_path],
    );
    let host = mongodb_auth_testkit::embedded::unix_socket_host(&socket);
    let output = Command::new(python)
        .args(["-c", SCRIPT, &host])
        .output()
        .map_err(|e| e.to_string())?;
    let log = server.stop();
    let report = String::from_utf8_lossy(&output.stdout);
    let expected = [
        "users [('alice', 'admin')]".to_owned(),
        format!("address {socket_path}"),
        "refused 18".to_owned(),
    ];
    if !output.status.success() || expected.iter().any(|line| !report.contains(line.as_str())) {
        return Err(format!(
            "{report}\n{}\nserver log:\n{log}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    if !log.contains("alice@admin authenticated with SCRAM-SHA-256") {
        return Err(format!("the login is not in the server log:\n{log}").into());
    }
    Ok(())
}

/// Connection strings on which the crate and PyMongo must agree: `client` compares what
/// `MongoClient(uri, connect=False)` builds (accepted or not, the credential, TLS on or off),
/// `strict` whether `parse_uri(uri, validate=True)` accepts it, for strings PyMongo's client
/// only warns about where the crate refuses (auth errors are errors here). Where the spec
/// decides otherwise than PyMongo (the README's conformance section), the string is not here.
const CONNECTION_STRINGS: &[(&str, &str)] = &[
    // The credential's source, from authSource, the path (a `db.collection` path's database)
    // or the mechanism's default.
    ("client", "mongodb://alice:pencil@h/"),
    ("client", "mongodb://alice:pencil@h/app"),
    ("client", "mongodb://alice:pencil@h/app.users"),
    ("client", "mongodb://alice:pencil@h/app.users.archive"),
    ("client", "mongodb://alice:pencil@h/.app"),
    ("client", "mongodb://alice:pencil@h/app?authSource=other"),
    (
        "client",
        "mongodb://alice:pencil@h/app.users?authMechanism=PLAIN",
    ),
    ("client", "mongodb://alice:pencil@h/?authMechanism=PLAIN"),
    (
        "client",
        "mongodb://alice:pencil@h/?authMechanism=SCRAM-SHA-1",
    ),
    ("client", "mongodb://alice:pencil@h/?authMechanism=DEFAULT"),
    (
        "client",
        "mongodb://alice:pencil@h/app?authMechanism=DEFAULT&authSource=admin",
    ),
    ("client", "mongodb://h/?authMechanism=DEFAULT"),
    ("client", "mongodb://h/?authSource=app"),
    ("client", "mongodb://h/app"),
    // Percent-decoding of the userinfo.
    ("client", "mongodb://al%40ce:p%40ss%3Aw%2Frd@h/"),
    ("client", "mongodb://%E2%85%A8:IV@h/"),
    // An empty password: none, for a mechanism named.
    ("client", "mongodb://u:@h/?authMechanism=GSSAPI"),
    ("client", "mongodb://u:@h/?authMechanism=SCRAM-SHA-256"),
    ("client", "mongodb://u:@h/?authMechanism=SCRAM-SHA-1"),
    ("client", "mongodb://AKID:@h/?authMechanism=MONGODB-AWS"),
    ("client", "mongodb://CN%3Du:@h/?authMechanism=MONGODB-X509"),
    (
        "client",
        "mongodb://u:@h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:api",
    ),
    // Each mechanism's credential and properties.
    ("client", "mongodb://h/?authMechanism=MONGODB-X509"),
    (
        "client",
        "mongodb://CN%3Dclient,O%3DMongoDB@h/?authMechanism=MONGODB-X509",
    ),
    (
        "client",
        "mongodb://user%40EXAMPLE.COM@h/?authMechanism=GSSAPI",
    ),
    (
        "client",
        "mongodb://user%40EXAMPLE.COM:secret@h/?authMechanism=GSSAPI",
    ),
    (
        "client",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:other,SERVICE_REALM:EXAMPLE.COM",
    ),
    ("client", "mongodb://h/?authMechanism=MONGODB-AWS"),
    (
        "client",
        "mongodb://AKID:secret@h/?authMechanism=MONGODB-AWS",
    ),
    (
        "client",
        "mongodb://AKID:secret@h/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:token",
    ),
    (
        "client",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test",
    ),
    (
        "client",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:gcp,TOKEN_RESOURCE:https%3A%2F%2Fapi.example.com",
    ),
    (
        "client",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure,TOKEN_RESOURCE:",
    ),
    (
        "client",
        "mongodb://h/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:azure",
    ),
    ("client", "mongodb://u:p@h/?authMechanism=MONGODB-X509"),
    // `;` separates options when no `&` does, and not both.
    ("client", "mongodb://alice:pencil@h/?tls=true;appName=x"),
    (
        "client",
        "mongodb://alice:pencil@h/?authSource=app;authMechanism=SCRAM-SHA-1",
    ),
    ("client", "mongodb://alice:pencil@h/?tls=true;appName=x&w=1"),
    // TLS on or off.
    ("client", "mongodb://h/?tls=true"),
    ("client", "mongodb://h/?ssl=true"),
    ("client", "mongodb://h/?tls=false"),
    ("client", "mongodb://h/?tls=true&ssl=false"),
    ("client", "mongodb://h/?tls=true&tlsInsecure=true"),
    (
        "client",
        "mongodb://h/?tls=true&tlsAllowInvalidHostnames=true",
    ),
    // Refused by both.
    ("client", "mongodb://:@h/"),
    ("client", "mongodb://u:p@h:0/"),
    ("client", "mongodb://u:p@h:65536/"),
    // Mechanism names as written, and property lists without empty items or values.
    ("strict", "mongodb://u:p@h/?authMechanism=MONGODB-CR"),
    ("strict", "mongodb://u:p@h/?authMechanism=scram-sha-256"),
    ("strict", "mongodb://h/?authMechanism=mongodb-x509"),
    ("strict", "mongodb://u:p@h/?authMechanism=SCRAM-SHA-256"),
    (
        "strict",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:a,,SERVICE_REALM:b",
    ),
    (
        "strict",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:a,",
    ),
    (
        "strict",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=,SERVICE_NAME:a",
    ),
    (
        "strict",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:",
    ),
    (
        "strict",
        "mongodb://u@h/?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:a,SERVICE_REALM:b",
    ),
];

/// What the crate makes of `uri`, in the shape `pymongo_uris.py` prints PyMongo's.
fn crate_reading(mode: &str, uri: &str) -> serde_json::Value {
    use serde_json::json;
    let Ok(cs) = mongodb_auth::ConnectionString::parse(uri) else {
        return json!({"ok": false});
    };
    if mode == "strict" {
        return json!({"ok": true});
    }
    let credential = cs.credential().map(|credential| {
        let properties: serde_json::Map<String, serde_json::Value> = credential
            .mechanism_properties()
            .iter()
            .map(|(name, value)| (name.to_owned(), json!(value)))
            .collect();
        json!({
            "username": credential.username(),
            "password": credential.password().map(|p| p.expose()),
            "source": credential.source(),
            "mechanism": credential.mechanism().map(|m| m.as_str()),
            "properties": properties,
        })
    });
    json!({"ok": true, "tls": cs.tls_enabled(), "credential": credential})
}

/// PyMongo reads the connection strings of [`CONNECTION_STRINGS`] as the crate does: the same
/// ones accepted, and from those the same credential and TLS.
fn pymongo_reads_connection_strings(python: &Path) -> Result<(), Failed> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymongo_uris.py");
    let input = serde_json::to_vec(CONNECTION_STRINGS).map_err(|e| e.to_string())?;
    let output = mongodb_auth_testkit::output_with_stdin(Command::new(python).arg(&script), &input)
        .map_err(|e| e.to_string())?;
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    if answers.len() != CONNECTION_STRINGS.len() {
        return Err(format!(
            "{} answers to {} strings",
            answers.len(),
            CONNECTION_STRINGS.len()
        )
        .into());
    }
    let mut differences = Vec::new();
    let mut refused = 0;
    for (&(mode, uri), mut theirs) in CONNECTION_STRINGS.iter().zip(answers) {
        if let Some(answer) = theirs.as_object_mut() {
            answer.remove("error");
        }
        let ours = crate_reading(mode, uri);
        if ours["ok"] == false {
            refused += 1;
        }
        if ours != theirs {
            differences.push(format!(
                "{mode} {uri}\n  crate:   {ours}\n  PyMongo: {theirs}"
            ));
        }
    }
    // Both sides of the comparison are exercised: strings accepted and strings refused.
    if refused < 10 || refused + 10 > CONNECTION_STRINGS.len() {
        return Err(format!("{refused} of {} refused", CONNECTION_STRINGS.len()).into());
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(differences.join("\n").into())
    }
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
    assert!(
        report.lines().any(|line| line == "0 failure(s)"),
        "{report}"
    );

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

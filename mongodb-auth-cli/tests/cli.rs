//! The `mongodb-auth` command: serve, connect (exit statuses and JSON), parse, demo.

use mongodb_auth_testkit::TempDir;
use mongodb_auth_testkit::http;
use mongodb_auth_testkit::serve;

use std::process::{Command, Output, Stdio};

use mongodb_auth::ScramVariant;
use mongodb_auth::server::danger::{FailCommand, Misbehavior};
use mongodb_auth_server::ServerConfig;
use mongodb_auth_testkit::embedded::{TestServer, scram_users};
use serde_json::Value;
use serve::Serve;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

fn bin() -> Command {
    Command::new(BIN)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

/// Runs the command with `input` on its standard input.
fn run_with_input(args: &[&str], input: &str) -> Output {
    mongodb_auth_testkit::output_with_stdin(bin().args(args), input.as_bytes()).unwrap()
}

/// Runs a command that should end by itself (a `serve` that refuses its options), killed if it
/// has not in 10 s: its status then has no code.
fn run_for_at_most_10_s(args: &[&str]) -> Output {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn serve_reads_users_from_a_file() {
    let dir = TempDir::new("users");
    let file = dir.join("users");
    std::fs::write(
        &file,
        "# the users of this test\nalice:pencil\n\napp.bob:s3cret:SCRAM-SHA-256\n\
         aws-key arn:aws:iam::123456789012:user/filed=AKIAFILED:filed-secret\n",
    )
    .unwrap();
    let serve = Serve::start_with(BIN, &["--users-file", file.to_str().unwrap()]);
    let address = serve.address.clone();
    for (uri, user, db) in [
        (
            format!("mongodb://alice:pencil@{address}/"),
            "alice",
            "admin",
        ),
        (format!("mongodb://bob:s3cret@{address}/app"), "bob", "app"),
        (
            format!("mongodb://AKIAFILED:filed-secret@{address}/?authMechanism=MONGODB-AWS"),
            "arn:aws:iam::123456789012:user/filed",
            "$external",
        ),
    ] {
        let login = run(&["connect", &uri, "--json"]);
        assert_eq!(login.status.code(), Some(0), "{login:?}");
        assert_eq!(
            json(&login)["authenticatedUsers"],
            serde_json::json!([{ "user": user, "db": db }])
        );
    }
    drop(serve);

    // A bad line is named by number; its content (a password) is never repeated.
    std::fs::write(&file, "alice:pencil\nbroken-line-with-SECRET\n").unwrap();
    let refused = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--users-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
    assert!(!stderr.contains("connection string"), "{stderr}");

    // Keys for the server's own check, with STS named to check them instead: refused, not
    // dropped (their users could never log in).
    std::fs::write(&file, "aws-key arn:aws:iam::1:user/c=AKIDC:secret\n").unwrap();
    let output = run_for_at_most_10_s(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--users-file",
        file.to_str().unwrap(),
        "--aws-sts-endpoint",
        "http://127.0.0.1:9/",
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--users-file"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn serve_refuses_limits_that_would_refuse_everything() {
    for (flag, value) in [
        ("--message-timeout", "0"),
        ("--login-timeout", "0"),
        ("--max-connections", "0"),
        ("--unauthenticated-requests-per-second", "0"),
        ("--max-message-size", "1023"),
        ("--max-message-size", "48000001"),
    ] {
        let output = run_for_at_most_10_s(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--user",
            "alice:pencil",
            flag,
            value,
        ]);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{stderr}");
    }
    let zero = run(&["connect", "mongodb://127.0.0.1:9/", "--timeout", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{zero:?}");
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("--timeout"),
        "{zero:?}"
    );
}

#[test]
fn serve_then_connect() {
    let serve = Serve::start(
        BIN,
        &[
            "alice:pencil",
            "app.%E2%85%A8:I%C2%ADV:SCRAM-SHA-256",
            "old:pw:SCRAM-SHA-1",
        ],
    );
    let address = &serve.address.clone();

    // The connection string may come on standard input, out of other processes' sight.
    let from_stdin = run_with_input(
        &["connect", "-", "--json"],
        &format!("mongodb://alice:pencil@{address}/\n"),
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    assert_eq!(json(&from_stdin)["ok"], true);

    let ok = run(&[
        "connect",
        &format!("mongodb://alice:pencil@{address}/"),
        "--json",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let report = json(&ok);
    assert_eq!(report["ok"], true);
    assert_eq!(report["mechanism"], "SCRAM-SHA-256");
    assert_eq!(report["roundTrips"], 1);
    assert_eq!(
        report["authenticatedUsers"],
        serde_json::json!([{ "user": "alice", "db": "admin" }])
    );

    // NAME and PASSWORD are percent-decoded, so the SASLprep user exists as U+2168 in `app`.
    let saslprep = run(&[
        "connect",
        &format!("mongodb://%E2%85%A8:IV@{address}/app"),
        "--json",
    ]);
    assert_eq!(
        json(&saslprep)["authenticatedUsers"],
        serde_json::json!([{ "user": "\u{2168}", "db": "app" }])
    );
    let sha1 = run(&["connect", &format!("mongodb://old:pw@{address}/"), "--json"]);
    assert_eq!(json(&sha1)["mechanism"], "SCRAM-SHA-1");

    let refused = run(&[
        "connect",
        &format!("mongodb://alice:wrong@{address}/"),
        "--json",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let report = json(&refused);
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["kind"], "AuthenticationFailed");
    assert_eq!(report["error"]["code"], 18);

    // Text mode prints the steps, never the password.
    let text = run(&["connect", &format!("mongodb://alice:pencil@{address}/")]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("saslContinue") && stdout.contains("alice@admin"),
        "{stdout}"
    );
    assert!(!stdout.contains("pencil"), "{stdout}");

    // The server's auth log (stderr) has what the client was not told.
    let log = serve.stop();
    assert!(
        log.contains("alice@admin authenticated with SCRAM-SHA-256 (speculative)"),
        "{log}"
    );
    assert!(
        log.contains("SCRAM-SHA-256 login of alice@admin refused: wrong password"),
        "{log}"
    );
    assert!(!log.contains("pencil"), "{log}");
}

/// A server that never answers ends the connect at the connection string's `timeoutMS`: exit
/// 2, a timeout that names `timeoutMS` and the step it cut short, with either adapter.
#[test]
fn connect_ends_at_timeout_ms_and_says_so() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("mongodb://{}/?timeoutMS=300", silent.local_addr().unwrap());
    for adapter in [None, Some("--tokio")] {
        let mut args = vec!["connect", uri.as_str(), "--json"];
        args.extend(adapter);
        let started = std::time::Instant::now();
        let run = run(&args);
        assert_eq!(run.status.code(), Some(2), "{run:?}");
        let error = &json(&run)["error"];
        assert_eq!(error["kind"], "Timeout", "{run:?}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("(timeoutMS)") && message.contains("reading a reply"),
            "{message}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{run:?}"
        );
    }
}

/// `connect` says each warning of the connection string once, on stderr in text and in the
/// JSON report's `warnings`, with either adapter, and logs in; an unreadable `tls` is a
/// configuration error naming the option (exit 2).
#[test]
fn connect_says_each_warning_once_and_refuses_an_unreadable_tls() {
    let serve = Serve::start(BIN, &["alice:pencil"]);
    let uri = format!("mongodb://alice:pencil@{}/?fooBar=1", serve.address);
    let said = "warning: unsupported option `fooBar`";
    for adapter in [None, Some("--tokio")] {
        let mut args = vec!["connect", uri.as_str()];
        args.extend(adapter);
        let text = run(&args);
        assert_eq!(text.status.code(), Some(0), "{text:?}");
        let stderr = String::from_utf8_lossy(&text.stderr);
        assert_eq!(stderr.matches(said).count(), 1, "{stderr}");
        args.push("--json");
        let report = json(&run(&args));
        assert_eq!(
            report["warnings"],
            serde_json::json!(["unsupported option `fooBar`"])
        );
    }
    let unreadable = format!("mongodb://alice:pencil@{}/?tls=TRUE", serve.address);
    let refused = run(&["connect", &unreadable, "--json"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let error = &json(&refused)["error"];
    assert_eq!(error["kind"], "Configuration", "{refused:?}");
    assert!(
        error["message"].as_str().unwrap().contains("`tls`"),
        "{refused:?}"
    );
    serve.stop();
}

/// `serve --require-api-version` refuses a client that declares no stable API version, and
/// `connect --api-version 1` declares it with every command, with either adapter; with
/// `--api-strict` the login holds and `connectionStatus`, outside version 1, is refused.
#[test]
fn connect_declares_the_stable_api_serve_requires() {
    let serve = Serve::start_with(BIN, &["--user", "alice:pencil", "--require-api-version"]);
    let uri = format!("mongodb://alice:pencil@{}/", serve.address);
    let undeclared = run(&["connect", &uri, "--json"]);
    assert_eq!(undeclared.status.code(), Some(1), "{undeclared:?}");
    assert_eq!(json(&undeclared)["error"]["code"], 498870, "{undeclared:?}");
    for adapter in [None, Some("--tokio")] {
        let mut args = vec!["connect", &uri, "--json", "--api-version", "1"];
        args.extend(adapter);
        let declared = run(&args);
        assert_eq!(declared.status.code(), Some(0), "{declared:?}");
        assert_eq!(
            json(&declared)["authenticatedUsers"],
            serde_json::json!([{ "user": "alice", "db": "admin" }])
        );
        args.push("--api-strict");
        let strict = run(&args);
        assert_eq!(strict.status.code(), Some(0), "{strict:?}");
        let report = json(&strict);
        assert_eq!(report["mechanism"], "SCRAM-SHA-256", "{report}");
        assert!(report["authenticatedUsers"].is_null(), "{report}");
        let note = report["notes"][0].as_str().unwrap_or_default();
        assert!(
            note.contains("323") && note.contains("connectionStatus"),
            "{report}"
        );
    }
    let unknown = run(&["connect", &uri, "--api-version", "2"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    serve.stop();
}

/// The largest value each limit flag takes, as "no limit", on both sides: logins, not a panic
/// at the server's start, in its connection task or its job, or in the client. SCRAM covers the
/// timeouts; PLAIN runs a job, so it takes permits of the per-peer and the global job limits.
#[test]
fn serve_and_connect_with_the_largest_limits_there_are() {
    let forever = u64::MAX.to_string();
    let mut args = vec!["--user", "alice:pencil", "--user", "$external.ldap:pencil"];
    for flag in [
        "--login-timeout",
        "--idle-timeout",
        "--unauthenticated-idle-timeout",
        "--message-timeout",
        "--max-connections",
        "--max-connections-per-peer",
        "--max-concurrent-jobs",
        "--max-concurrent-jobs-per-peer",
    ] {
        args.extend([flag, &forever]);
    }
    let serve = Serve::start_with(BIN, &args);
    let address = &serve.address;
    for (uri, mechanism) in [
        (
            format!("mongodb://alice:pencil@{address}/"),
            "SCRAM-SHA-256",
        ),
        (
            format!("mongodb://ldap:pencil@{address}/?authMechanism=PLAIN&authSource=%24external"),
            "PLAIN",
        ),
    ] {
        let login = run(&["connect", &uri, "--json", "--timeout", &forever]);
        assert_eq!(login.status.code(), Some(0), "{login:?}");
        assert_eq!(json(&login)["mechanism"], mechanism);
    }
    let log = serve.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn connect_exit_statuses_for_usage_and_connection_errors() {
    let refused = mongodb_auth_testkit::RefusedPort::new();
    let port = refused.port();
    let unreachable = run(&[
        "connect",
        &format!("mongodb://a:b@127.0.0.1:{port}/"),
        "--json",
        "--timeout",
        "2",
    ]);
    assert_eq!(unreachable.status.code(), Some(2));
    assert_eq!(json(&unreachable)["error"]["kind"], "Io");
    // Told to wait for the server, it says so before each new pass, then gives up.
    let waited = run(&[
        "connect",
        &format!(
            "mongodb://a:b@127.0.0.1:{port}/?serverSelectionTryOnce=false\
             &serverSelectionTimeoutMS=1200"
        ),
    ]);
    let shown = String::from_utf8_lossy(&waited.stdout);
    let waits = format!("no host answered (the last, 127.0.0.1:{port}: ");
    assert!(shown.contains(&waits), "{waited:?}");
    assert_eq!(waited.status.code(), Some(2), "{waited:?}");
    let error = String::from_utf8_lossy(&waited.stderr);
    assert!(error.contains("serverSelectionTimeoutMS"), "{waited:?}");
    assert_eq!(run(&["connect", "not a uri"]).status.code(), Some(2));
    assert_eq!(run(&["connect"]).status.code(), Some(2), "missing argument");
}

/// An in-process server with user alice, misbehaving as told.
fn misbehaving_server(misbehavior: Misbehavior) -> TestServer {
    let users = scram_users(&[("admin", "alice", "pencil", &[ScramVariant::Sha256])]);
    let mut config = ServerConfig::new(users);
    config.dangerous().misbehave(Some(misbehavior));
    TestServer::start(config)
}

#[test]
fn a_server_without_connection_status_is_still_a_login() {
    // As a proxy that knows no connectionStatus answers it: 59 CommandNotFound.
    let server = misbehaving_server(Misbehavior::FailCommand(
        FailCommand::new(["connectionStatus"], 59).times(2),
    ));
    let uri = server.uri("alice:pencil@", "");
    let output = run(&["connect", &uri, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = json(&output);
    assert_eq!(report["ok"], true);
    assert_eq!(report["mechanism"], "SCRAM-SHA-256");
    assert!(report.get("authenticatedUsers").is_none(), "{report}");
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .contains("connectionStatus"),
        "{report}"
    );
    let text = run(&["connect", &uri]);
    assert_eq!(text.status.code(), Some(0), "{text:?}");
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("note: the login succeeded"), "{stdout}");
}

#[test]
fn connect_to_a_server_with_a_wrong_signature_exits_1() {
    let server = misbehaving_server(Misbehavior::WrongServerSignature);
    let uri = server.uri("alice:pencil@", "");

    let output = run(&["connect", &uri, "--json"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let report = json(&output);
    assert_eq!(report["error"]["kind"], "MutualAuthenticationFailed");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mutual authentication"),
        "{report}"
    );

    let text = run(&["connect", &uri]);
    assert_eq!(text.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text.stderr).contains("mutual authentication failed"));
}

#[test]
fn parse_redacts_secrets() {
    let output = run(&[
        "parse",
        "mongodb://AKID:S3CRET@h1,h2:27018/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:T0KEN&foo=bar",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("S3CRET") && !stdout.contains("T0KEN"),
        "{stdout}"
    );
    let report = json(&output);
    assert_eq!(report["credential"]["username"], "AKID");
    assert_eq!(report["credential"]["source"], "$external");
    assert_eq!(report["hosts"], serde_json::json!(["h1:27017", "h2:27018"]));
    assert_eq!(
        report["warnings"].as_array().unwrap().len(),
        2,
        "deprecated AWS credentials, unknown foo"
    );
    let strict = run(&[
        "parse",
        "mongodb://AKID:S3CRET@h/?authMechanism=MONGODB-AWS",
        "--strict",
    ]);
    assert_eq!(strict.status.code(), Some(2));
    let from_stdin = run_with_input(&["parse", "-", "--json"], "mongodb://u:S3CRET@h/app\r\n");
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    assert_eq!(json(&from_stdin)["credential"]["username"], "u");
    assert_eq!(json(&from_stdin)["credential"]["source"], "app");
    let too_long = run_with_input(&["parse", "-"], &"x".repeat(64 * 1024 + 1));
    assert_eq!(too_long.status.code(), Some(2), "{too_long:?}");
    assert!(
        String::from_utf8_lossy(&too_long.stderr).contains("more than 65536 bytes"),
        "{too_long:?}"
    );
    let not_text = mongodb_auth_testkit::output_with_stdin(
        bin().args(["parse", "-"]),
        b"mongodb://u:S3CRET\xff@h/app",
    )
    .unwrap();
    assert_eq!(not_text.status.code(), Some(2), "{not_text:?}");
    assert!(
        String::from_utf8_lossy(&not_text.stderr).contains("no UTF-8 text"),
        "{not_text:?}"
    );
}

#[test]
fn a_demo_whose_reader_has_gone_still_removes_its_keys() {
    use std::io::BufRead as _;
    let mut child = bin()
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let dir = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| demo_certificates_dir(&line))
        .expect("the demo names its certificates' directory");
    assert!(dir.exists());
    // Gone while the TLS logins are still to be printed.
    drop(lines);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(141));
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn output_nobody_reads_ends_the_command_quietly() {
    // The reading end is closed before the command writes, as `| head -1` leaves it.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = bin()
        .args(["parse", "mongodb://h/"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(141), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
}

/// The directory `demo` says it made its certificates in.
fn demo_certificates_dir(line: &str) -> Option<std::path::PathBuf> {
    let (_, after) = line.split_once("(certificates in ")?;
    Some(after.split_once(')')?.0.into())
}

#[test]
fn demo_exits_zero() {
    let output = run(&["demo"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let dir = stdout.lines().find_map(demo_certificates_dir);
    assert!(dir.is_some_and(|dir| !dir.exists()), "{stdout}");
    assert!(
        stdout.contains("all 15 logins behaved as expected"),
        "{stdout}"
    );
    // A second TLS connection through one connector resumes the session.
    assert!(
        stdout.contains("full TLS handshake in") && stdout.contains("TLS session resumed in"),
        "{stdout}"
    );
    // The OIDC logins: a token from the callback, the cached one inside hello, a refusal.
    assert!(
        stdout.contains("ok MONGODB-OIDC, 1 round trip(s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok MONGODB-OIDC (speculative), 0 round trip(s)"),
        "{stdout}"
    );
    // No KDC is given here: the demo says what it skipped and why.
    assert!(stdout.contains("GSSAPI: skipped: "), "{stdout}");
    for password in ["pencil", "hunter2", "s3cret"] {
        assert!(!stdout.contains(password), "{password} printed: {stdout}");
    }
}

/// `mongodb-auth aws-credentials` in a controlled environment: only `vars` (and PATH).
fn aws_credentials(vars: &[(&str, &str)], extra: &[&str]) -> Value {
    let mut command = bin();
    command
        .env_clear()
        // No test may reach the link-local instance metadata address.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["aws-credentials", "--json"])
        .args(extra);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    json(&output)
}

#[test]
fn aws_credentials_takes_its_connection_string_from_stdin_and_exits_2_for_a_bad_one() {
    let from_stdin = run_with_input(
        &["aws-credentials", "--json", "--uri", "-"],
        "mongodb://AKIASTDIN:stdin-secret@h/?authMechanism=MONGODB-AWS\n",
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{from_stdin:?}");
    let report = json(&from_stdin);
    assert_eq!(report["accessKeyId"], "AKIASTDIN");
    assert!(!String::from_utf8_lossy(&from_stdin.stdout).contains("stdin-secret"));
    let bad = run(&["aws-credentials", "--json", "--uri", "not a uri"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert_eq!(json(&bad)["ok"], false);
}

#[test]
fn aws_credentials_says_where_credentials_came_from() {
    let home = TempDir::new("aws-home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    let script = home.join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROCESS\", \"SecretAccessKey\": \"process-secret\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    )
    .unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n",
    )
    .unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile proc]\ncredential_process = sh {}\n[profile cfg]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = config-secret\n[profile sso]\nsso_session = corp\n",
            script.display()
        ),
    )
    .unwrap();
    let home_var = home.to_str().unwrap();
    // (variables, extra arguments, the source expected, its access key id)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str, &'a str);
    let cases: [Case; 5] = [
        (
            &[
                ("HOME", home_var),
                ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                ("AWS_SECRET_ACCESS_KEY", "env-secret"),
            ],
            &[],
            "environment",
            "AKIAENV",
        ),
        (
            &[("HOME", home_var)],
            &[],
            "shared-credentials-file",
            "AKIAFILE",
        ),
        (
            &[("HOME", home_var), ("AWS_PROFILE", "proc")],
            &[],
            "process",
            "AKIAPROCESS",
        ),
        (
            &[("HOME", home_var)],
            &["--profile", "cfg"],
            "config-file",
            "AKIACONFIG",
        ),
        // A profile chosen with --profile shuts the environment's keys out, as in boto3.
        (
            &[
                ("HOME", home_var),
                ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            &["--profile", "cfg"],
            "config-file",
            "AKIACONFIG",
        ),
    ];
    for (vars, extra, source, key) in cases {
        let report = aws_credentials(vars, extra);
        assert_eq!(report["source"], source, "{report}");
        assert_eq!(report["accessKeyId"], key, "{report}");
        let printed = report.to_string();
        assert!(!printed.contains("secret"), "no secret printed: {printed}");
    }
    // Explicit credentials of a connection string come before the environment's.
    let explicit = aws_credentials(
        &[
            ("HOME", home_var),
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ],
        &[
            "--uri",
            "mongodb://AKIAURI:uri-secret@h/?authMechanism=MONGODB-AWS",
        ],
    );
    assert_eq!(
        (
            explicit["source"].as_str(),
            explicit["accessKeyId"].as_str()
        ),
        (Some("explicit"), Some("AKIAURI")),
        "{explicit}"
    );
    let process = aws_credentials(&[("HOME", home_var), ("AWS_PROFILE", "proc")], &[]);
    assert_eq!(process["expiration"], "2099-01-01T00:00:00Z");
    // A profile with an sso_session but no account or role is not an SSO source (botocore's
    // rule); with nothing else, nothing is found, and every source says why.
    let sso = aws_credentials(
        &[
            ("HOME", home_var),
            ("AWS_PROFILE", "sso"),
            ("AWS_SHARED_CREDENTIALS_FILE", ""),
        ],
        &[],
    );
    assert_eq!(sso["ok"], false);
    let message = sso["error"]["message"].as_str().unwrap();
    for passed in [
        "sso: the profile has no sso_account_id or sso_role_name",
        "shared-credentials-file: no file",
        "ec2: AWS_EC2_METADATA_DISABLED is true",
    ] {
        assert!(message.contains(passed), "{passed}: {sso}");
    }

    // A login whose credentials come from the shared credentials file, through the adapters'
    // answers to the chain's asks, checked by the server's local STS.
    let serve = Serve::start_with(
        BIN,
        &[
            "--aws-key",
            "arn:aws:iam::123456789012:user/filed=AKIAFILE:file-secret",
        ],
    );
    let mut connect = bin();
    connect
        .env_clear()
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home_var)
        .args([
            "connect",
            &format!("mongodb://{}/?authMechanism=MONGODB-AWS", serve.address),
            "--json",
        ]);
    let login = connect.output().unwrap();
    assert_eq!(login.status.code(), Some(0), "{login:?}");
    assert_eq!(
        json(&login)["authenticatedUsers"],
        serde_json::json!([{ "user": "arn:aws:iam::123456789012:user/filed", "db": "$external" }])
    );
}

/// The file `aws sso login` writes for sso-session `corp`: the SHA-1 of the session's name
/// (`printf corp | sha1sum`), as botocore names it.
const CORP_SESSION_TOKEN_FILE: &str = "ee0bfd2552fbd840c02cc48b6e823320543c450f.json";
/// The file of a legacy profile with sso_start_url `https://stale.awsapps.com/start`: the
/// SHA-1 of the URL (`printf https://stale.awsapps.com/start | sha1sum`).
const STALE_START_URL_TOKEN_FILE: &str = "1ce04512b8c9dcf684162c1bb732f239305bbfff.json";

#[test]
fn an_sso_profile_logs_in_through_the_portal_and_an_expired_token_says_to_sign_in() {
    let home = TempDir::new("sso-home");
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n\
         [profile stale]\nsso_start_url = https://stale.awsapps.com/start\nsso_region = eu-west-1\nsso_account_id = 111122223333\nsso_role_name = Dev\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n",
    )
    .unwrap();
    std::fs::write(
        cache.join(CORP_SESSION_TOKEN_FILE),
        r#"{"accessToken": "cached-token", "expiresAt": "2099-01-01T00:00:00Z", "startUrl": "https://corp.awsapps.com/start", "region": "eu-west-1"}"#,
    )
    .unwrap();
    std::fs::write(
        cache.join(STALE_START_URL_TOKEN_FILE),
        r#"{"accessToken": "old-token", "expiresAt": "2020-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    // The portal: the role's credentials for the token `aws sso login` cached, 401 otherwise.
    let portal = http::HttpServer::start(Box::new(|method, path, headers| {
        let token = headers
            .iter()
            .find(|(name, _)| name == "x-amz-sso_bearer_token")
            .map(|(_, value)| value.as_str());
        match (method, path, token) {
            (
                "GET",
                "/federation/credentials?role_name=Dev&account_id=111122223333",
                Some("cached-token"),
            ) => (
                200,
                r#"{"roleCredentials": {"accessKeyId": "ASIASSODEV", "secretAccessKey": "sso-secret", "sessionToken": "sso-session-token", "expiration": 4070908800000}}"#.into(),
            ),
            _ => (401, "{}".into()),
        }
    }));
    let home_var = home.to_str().unwrap();
    let portal_url = format!("http://{}", portal.address);
    let vars = |profile| {
        [
            ("HOME", home_var),
            ("AWS_PROFILE", profile),
            ("AWS_ENDPOINT_URL_SSO", portal_url.as_str()),
        ]
    };

    let report = aws_credentials(&vars("dev"), &[]);
    assert_eq!(
        (report["source"].as_str(), report["accessKeyId"].as_str()),
        (Some("sso"), Some("ASIASSODEV")),
        "{report}"
    );
    assert_eq!(report["expiration"], "2099-01-01T00:00:00Z", "{report}");
    assert!(!report.to_string().contains("sso-secret"), "{report}");

    let expired = aws_credentials(&vars("stale"), &[]);
    assert_eq!(expired["ok"], false, "{expired}");
    assert_eq!(expired["error"]["kind"], "Configuration", "{expired}");
    let message = expired["error"]["message"].as_str().unwrap();
    for said in [
        "AWS credentials from sso failed",
        "the SSO token of profile `stale` expired and could not be refreshed",
        "run `aws sso login --profile stale`",
        "environment: AWS_ACCESS_KEY_ID is not set",
        "web-identity: no web identity token file",
    ] {
        assert!(message.contains(said), "{said}: {message}");
    }

    // The role's keys log in to a server that knows them, with each adapter.
    let serve = Serve::start_with(
        BIN,
        &[
            "--aws-key",
            "arn:aws:iam::111122223333:role/Dev=ASIASSODEV:sso-secret:sso-session-token",
        ],
    );
    for adapter in [None, Some("--tokio")] {
        let mut connect = bin();
        connect
            .env_clear()
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(vars("dev"))
            .args([
                "connect",
                &format!("mongodb://{}/?authMechanism=MONGODB-AWS", serve.address),
                "--json",
            ])
            .args(adapter);
        let login = connect.output().unwrap();
        assert_eq!(login.status.code(), Some(0), "{adapter:?}: {login:?}");
        assert_eq!(
            json(&login)["authenticatedUsers"][0]["user"],
            "arn:aws:iam::111122223333:role/Dev",
            "{adapter:?}"
        );
    }
}

#[test]
fn aws_credentials_from_container_and_instance_metadata_endpoints() {
    let credentials = |key: &str| {
        format!(
            "{{\"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \"endpoint-secret\", \"Token\": \"endpoint-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}}"
        )
    };
    let container = credentials("AKIACONTAINER");
    let instance = credentials("AKIAINSTANCE");
    let endpoint = http::HttpServer::start(Box::new(move |method, path, headers| {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        match (method, path) {
            ("GET", "/ecs/creds") if header("authorization") == Some("container-token") => {
                (200, container.clone())
            }
            ("GET", "/ecs/creds") => (401, "no token".into()),
            ("PUT", "/latest/api/token")
                if header("x-aws-ec2-metadata-token-ttl-seconds").is_some() =>
            {
                (200, "imds-token".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/")
                if header("x-aws-ec2-metadata-token") == Some("imds-token") =>
            {
                (200, "the-role".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/the-role")
                if header("x-aws-ec2-metadata-token") == Some("imds-token") =>
            {
                (200, instance.clone())
            }
            _ => (404, "not found".into()),
        }
    }));
    let home = TempDir::new("aws-empty");
    let token_file = home.join("token");
    std::fs::write(&token_file, "container-token\n").unwrap();
    let base = format!("http://{}", endpoint.address);
    let full_uri = format!("{base}/ecs/creds");
    let home_var = home.to_str().unwrap();
    // The container endpoint, its token from a file (which wins over the variable).
    let report = aws_credentials(
        &[
            ("HOME", home_var),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.to_str().unwrap(),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token"),
        ],
        &[],
    );
    assert_eq!(report["source"], "container", "{report}");
    assert_eq!(report["accessKeyId"], "AKIACONTAINER");
    assert_eq!(report["sessionToken"], true);
    assert!(!report.to_string().contains("endpoint-"), "{report}");
    // A non-200 reply names the endpoint and its status.
    let refused = aws_credentials(
        &[
            ("HOME", home_var),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
        ],
        &[],
    );
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("HTTP 401") && message.contains("/ecs/creds"),
        "{refused}"
    );
    // Plain HTTP to anywhere but loopback and the AWS addresses is refused before any request.
    let remote = aws_credentials(
        &[
            ("HOME", home_var),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://192.0.2.1/creds",
            ),
        ],
        &[],
    );
    assert_eq!(remote["ok"], false, "{remote}");
    // EC2 instance metadata, IMDSv2, through the endpoint override (the helper turns EC2 off,
    // so it is turned back on for this case only).
    let mut command = bin();
    command
        .env_clear()
        .env("HOME", home_var)
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)
        .args(["aws-credentials", "--json"]);
    let report = json(&command.output().unwrap());
    assert_eq!(report["source"], "ec2", "{report}");
    assert_eq!(report["accessKeyId"], "AKIAINSTANCE");
    assert_eq!(report["expiration"], "2099-01-01T00:00:00Z");
}

#[test]
fn a_credential_source_that_hangs_is_a_timeout_that_names_it() {
    // Accepts, reads, never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hanging", listener.local_addr().unwrap());
    // Detached: it holds the connection well past the client's 10 s timeout.
    std::thread::spawn(move || {
        let held = listener.accept();
        std::thread::sleep(std::time::Duration::from_secs(60));
        drop(held);
    });
    let started = std::time::Instant::now();
    let report = aws_credentials(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &url)], &[]);
    let message = report["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("container") && message.contains("/hanging"),
        "{report}"
    );
    assert!(message.to_lowercase().contains("time"), "{report}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "bounded by the 10 s timeout, not by the server"
    );
}

/// `connect` with `ENVIRONMENT:test` reads `OIDC_TOKEN_FILE` and logs in to `serve`, whose
/// `--oidc-*` flags trust the key that signed the token; the report names the token's source. A
/// token from another key is refused with exit status 1.
#[test]
fn connect_with_mongodb_oidc_environment_test() {
    use std::time::{Duration, SystemTime};

    use mongodb_auth_server::devpki::TokenIssuer;
    let dir = TempDir::new("cli-oidc");
    let issuer = TokenIssuer::generate("https://idp.cli.test").unwrap();
    let now = SystemTime::now();
    let until = now + Duration::from_secs(600);
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, issuer.jwks()).unwrap();
    let token = dir.join("token");
    std::fs::write(
        &token,
        issuer.issue("cli-workload", "cli-aud", now, until).unwrap(),
    )
    .unwrap();
    let stranger = dir.join("stranger");
    let other = TokenIssuer::generate("https://idp.cli.test").unwrap();
    std::fs::write(
        &stranger,
        other.issue("cli-workload", "cli-aud", now, until).unwrap(),
    )
    .unwrap();
    let server = Serve::start_with(
        BIN,
        &[
            "--oidc-issuer",
            "https://idp.cli.test",
            "--oidc-jwks",
            jwks.to_str().unwrap(),
            "--oidc-audience",
            "cli-aud",
        ],
    );
    let uri = format!(
        "mongodb://{}/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test",
        server.address
    );
    let output = bin()
        .args(["connect", &uri, "--json"])
        .env("OIDC_TOKEN_FILE", &token)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    assert_eq!(report["mechanism"], "MONGODB-OIDC");
    assert_eq!(report["oidcTokenSource"], "ENVIRONMENT:test");
    assert_eq!(report["authenticatedUsers"][0]["user"], "oidc/cli-workload");
    assert_eq!(report["authenticatedUsers"][0]["db"], "$external");
    let refused = bin()
        .args(["connect", &uri, "--json"])
        .env("OIDC_TOKEN_FILE", &stranger)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(json(&refused)["error"]["code"], 18);
    let log = server.stop();
    assert!(log.contains("signature"), "{log}");
}

/// `serve --oidc-issuer URL` with no `--oidc-jwks` finds the keys from the issuer's discovery
/// document and `jwks_uri`, as mongod does; when the provider rotates to a key of a new `kid`,
/// the next token with it logs in without a restart; a discovery document for another issuer
/// is refused at start.
#[test]
fn serve_finds_the_issuers_keys_and_follows_a_rotation() {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, SystemTime};

    use mongodb_auth_server::devpki::TokenIssuer;
    let dir = TempDir::new("cli-oidc-discovery");
    let now = SystemTime::now();
    let until = now + Duration::from_secs(600);
    // The provider: its discovery document and its current key set, on loopback.
    let published: Arc<Mutex<(String, String)>> = Arc::default();
    let served = published.clone();
    let provider = http::HttpServer::start(Box::new(move |method, path, _| {
        let (document, jwks) = served.lock().unwrap().clone();
        match (method, path) {
            ("GET", "/.well-known/openid-configuration") => (200, document),
            ("GET", "/jwks") => (200, jwks),
            _ => (404, String::new()),
        }
    }));
    let issuer_url = format!("http://{}", provider.address);
    let first = TokenIssuer::generate(issuer_url.as_str())
        .unwrap()
        .key_id("key-1");
    let second = TokenIssuer::generate(issuer_url.as_str())
        .unwrap()
        .key_id("key-2");
    let document =
        |issuer: &str| format!(r#"{{"issuer": "{issuer}", "jwks_uri": "{issuer_url}/jwks"}}"#);
    *published.lock().unwrap() = (document(&issuer_url), first.jwks());

    let server = Serve::start_with(
        BIN,
        &[
            "--oidc-issuer",
            &issuer_url,
            "--oidc-audience",
            "cli-aud",
            "--oidc-request-scope",
            "openid",
        ],
    );
    let uri = format!(
        "mongodb://{}/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:test",
        server.address
    );
    let login = |issuer: &TokenIssuer, name: &str| {
        let token = dir.join(name);
        std::fs::write(&token, issuer.issue(name, "cli-aud", now, until).unwrap()).unwrap();
        bin()
            .args(["connect", &uri, "--json"])
            .env("OIDC_TOKEN_FILE", &token)
            .output()
            .unwrap()
    };
    let before = login(&first, "before-rotation");
    assert_eq!(
        json(&before)["authenticatedUsers"][0]["user"],
        "oidc/before-rotation",
        "{before:?}"
    );
    // The provider rotates: only the second key is published now.
    published.lock().unwrap().1 = second.jwks();
    let after = login(&second, "after-rotation");
    assert_eq!(
        json(&after)["authenticatedUsers"][0]["user"],
        "oidc/after-rotation",
        "{after:?}"
    );
    server.stop();

    // A discovery document that names another issuer is not the issuer's: serve refuses it.
    published.lock().unwrap().0 = document("https://impostor.example");
    let refused = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--oidc-issuer",
            &issuer_url,
            "--oidc-audience",
            "cli-aud",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("https://impostor.example"), "{stderr}");
    // And an issuer that is plain http to another host is refused before any request.
    let insecure = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--oidc-issuer",
            "http://idp.example.com",
            "--oidc-audience",
            "cli-aud",
        ])
        .output()
        .unwrap();
    assert_eq!(insecure.status.code(), Some(2), "{insecure:?}");
    assert!(
        String::from_utf8_lossy(&insecure.stderr).contains("neither https nor http to a loopback"),
        "{insecure:?}"
    );
}

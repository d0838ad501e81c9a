//! GSSAPI against a real KDC: a throwaway MIT realm on loopback, `mongodb-auth serve` as the
//! Kerberos service (`mongodb/localhost`), and clients in processes of their own (Kerberos reads
//! its configuration and caches from the environment): our blocking and tokio adapters through
//! `mongodb-auth connect`, and PyMongo.
//!
//! Without the Kerberos programs the cases are reported as ignored, never as passed, unless
//! `MONGODB_AUTH_REQUIRE_PEERS=1` (set by the test command) makes that a failure.

use mongodb_auth_testkit::dns;
use mongodb_auth_testkit::kdc;
use mongodb_auth_testkit::peers;
use mongodb_auth_testkit::serve;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use kdc::{Kdc, file};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use serve::Serve;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

struct Fixture {
    kdc: Kdc,
    _server: Serve,
    port: String,
    alice_cache: String,
    bob_keytab: String,
}

/// `mongodb-auth serve` as the Kerberos service `service`, with the realm's keytab, accepting
/// `users`.
fn serve_kerberos(kdc: &Kdc, service: &str, users: &[&str]) -> Serve {
    let keytab = kdc.server_keytab();
    let principals: Vec<String> = users.iter().map(|u| Kdc::principal(u)).collect();
    let mut args = vec![
        "--gssapi-keytab",
        keytab.to_str().unwrap(),
        "--gssapi-service",
        service,
    ];
    for principal in &principals {
        args.extend(["--gssapi-user", principal.as_str()]);
    }
    Serve::start_with_env(
        BIN,
        &args,
        &[
            ("KRB5_CONFIG", kdc.config.to_str().unwrap()),
            ("KRB5RCACHENAME", "none:"),
        ],
    )
}

fn fixture() -> Fixture {
    let kdc = Kdc::start(
        &["localhost", "canonical.test"],
        &[
            ("alice", "alice-pw"),
            ("bob", "bob-pw"),
            ("carol", "carol-pw"),
        ],
    );
    let alice_cache = file(&kdc.kinit("alice", "alice-pw"));
    let bob_keytab = file(&kdc.client_keytab("bob"));
    let server = serve_kerberos(&kdc, "mongodb", &["alice", "bob"]);
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    Fixture {
        kdc,
        _server: server,
        port,
        alice_cache,
        bob_keytab,
    }
}

impl Fixture {
    /// `mongodb-auth connect --json` in a process with these Kerberos settings (no ticket cache
    /// unless one is given).
    fn connect(&self, uri: &str, env: &[(&str, &str)], extra: &[&str]) -> (Option<i32>, Value) {
        let mut command = Command::new(BIN);
        command
            .args(["connect", "--json", "--timeout", "10"])
            .args(extra)
            .arg(uri)
            .env("KRB5_CONFIG", &self.kdc.config)
            .env("KRB5CCNAME", file(&self.kdc.path("no-such-cache")))
            .env_remove("KRB5_CLIENT_KTNAME");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code(), report)
    }

    fn uri(&self, userinfo: &str, properties: &str) -> String {
        let mut uri = format!(
            "mongodb://{userinfo}@localhost:{}/?authMechanism=GSSAPI",
            self.port
        );
        if !properties.is_empty() {
            uri.push_str("&authMechanismProperties=");
            uri.push_str(properties);
        }
        uri
    }
}

fn user(name: &str) -> String {
    Kdc::principal(name).replace('@', "%40")
}

/// Both adapters log in as `principal`.
fn logs_in(f: &Fixture, uri: &str, env: &[(&str, &str)], principal: &str) -> Result<(), Failed> {
    for adapter in [&[][..], &["--tokio"][..]] {
        let (code, report) = f.connect(uri, env, adapter);
        if code != Some(0) {
            return Err(format!("{adapter:?}: exit {code:?}: {report}").into());
        }
        let users = &report["authenticatedUsers"];
        if report["mechanism"] != "GSSAPI"
            || users[0]["user"] != principal
            || users[0]["db"] != "$external"
        {
            return Err(format!("{adapter:?}: {report}").into());
        }
    }
    Ok(())
}

/// The login fails with the error variant `detail` starts with (or the server's `code`).
fn fails(
    f: &Fixture,
    uri: &str,
    env: &[(&str, &str)],
    exit: i32,
    expected: &str,
) -> Result<(), Failed> {
    let (code, report) = f.connect(uri, env, &[]);
    let detail = report["error"]["detail"].as_str().unwrap_or_default();
    if code != Some(exit) || !detail.starts_with(expected) {
        return Err(format!("expected exit {exit} and {expected}: exit {code:?}, {report}").into());
    }
    Ok(())
}

fn ticket_cache(f: &Fixture) -> Result<(), Failed> {
    let env = [("KRB5CCNAME", f.alice_cache.as_str())];
    logs_in(
        f,
        &f.uri(&user("alice"), ""),
        &env,
        &Kdc::principal("alice"),
    )
}

fn client_keytab(f: &Fixture) -> Result<(), Failed> {
    let env = [("KRB5_CLIENT_KTNAME", f.bob_keytab.as_str())];
    logs_in(f, &f.uri(&user("bob"), ""), &env, &Kdc::principal("bob"))
}

fn password(f: &Fixture) -> Result<(), Failed> {
    // No ticket cache exists (KRB5CCNAME names a missing file) and no keytab is set.
    let uri = f.uri(&format!("{}:alice-pw", user("alice")), "");
    logs_in(f, &uri, &[], &Kdc::principal("alice"))
}

fn wrong_password(f: &Fixture) -> Result<(), Failed> {
    let uri = f.uri(&format!("{}:not-the-password", user("alice")), "");
    fails(f, &uri, &[], 1, "Gssapi(Credentials")
}

fn unknown_principal(f: &Fixture) -> Result<(), Failed> {
    // carol is in the KDC, not a user of the server: mongod's answer, 18.
    let uri = f.uri(&format!("{}:carol-pw", user("carol")), "");
    fails(f, &uri, &[], 1, "Server { code: 18")?;
    // A principal the KDC does not know cannot get a credential at all.
    let uri = f.uri(&format!("{}:pw", user("dave")), "");
    fails(f, &uri, &[], 1, "Gssapi(Credentials")
}

fn wrong_service_name(f: &Fixture) -> Result<(), Failed> {
    let env = [("KRB5CCNAME", f.alice_cache.as_str())];
    let uri = f.uri(&user("alice"), "SERVICE_NAME:other");
    fails(f, &uri, &env, 2, "Gssapi(UnknownService")
}

/// A server that serves another service refuses a ticket for `mongodb/localhost` (18), even
/// though its keytab can read it.
fn a_ticket_for_another_service_is_refused(f: &Fixture) -> Result<(), Failed> {
    let other = serve_kerberos(&f.kdc, "other", &["alice"]);
    let port = other.address.rsplit(':').next().unwrap_or_default();
    let uri = format!(
        "mongodb://{}@localhost:{port}/?authMechanism=GSSAPI",
        user("alice")
    );
    let env = [("KRB5CCNAME", f.alice_cache.as_str())];
    fails(f, &uri, &env, 1, "Server { code: 18")?;
    let log = other.stop();
    if !log.contains("another service") {
        return Err(format!("the server log does not say why: {log}").into());
    }
    Ok(())
}

/// `alias.test` is a CNAME of `canonical.test`, whose service principal is in the keytab; none
/// exists for `alias.test`. With `forward`, the client asks for the canonical name's ticket.
fn canonicalize_forward(f: &Fixture) -> Result<(), Failed> {
    let dns = dns::DnsServer::start(vec![
        dns::Answer::Cname {
            name: "alias.test".into(),
            target: "canonical.test".into(),
        },
        dns::Answer::A {
            name: "canonical.test".into(),
            ip: std::net::Ipv4Addr::LOCALHOST,
        },
    ]);
    let env = [("KRB5CCNAME", f.alice_cache.as_str())];
    let dns_server = dns.address.to_string();
    let uri = |properties: &str| {
        format!(
            "mongodb://{}@alias.test:{}/?authMechanism=GSSAPI{properties}",
            user("alice"),
            f.port
        )
    };
    let forward = uri("&authMechanismProperties=CANONICALIZE_HOST_NAME:forward");
    for adapter in [
        &["--dns-server", &dns_server][..],
        &["--tokio", "--dns-server", &dns_server][..],
    ] {
        let (code, report) = f.connect(&forward, &env, adapter);
        if code != Some(0) || report["authenticatedUsers"][0]["user"] != Kdc::principal("alice") {
            return Err(format!("{adapter:?}: exit {code:?}: {report}").into());
        }
    }
    // Without canonicalization the service principal is mongodb/alias.test, which the KDC lacks.
    let (code, report) = f.connect(&uri(""), &env, &["--dns-server", &dns_server]);
    let detail = report["error"]["detail"].as_str().unwrap_or_default();
    if code != Some(2) || !detail.contains("alias.test") {
        return Err(format!("without canonicalization: exit {code:?}: {report}").into());
    }
    Ok(())
}

/// PyMongo (with pykerberos, `pymongo[gssapi]`) logs in after `kinit`.
fn pymongo(f: &Fixture, python: &Path) -> Result<(), Failed> {
    let script = "import sys\n\
        from pymongo import MongoClient\n\
        c = MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000)\n\
        s = c.admin.command('connectionStatus')\n\
        print([(u['user'], u['db']) for u in s['authInfo']['authenticatedUsers']])\n";
    let output = Command::new(python)
        .args(["-c", script, &f.uri(&user("alice"), "")])
        .env("KRB5_CONFIG", &f.kdc.config)
        .env("KRB5CCNAME", &f.alice_cache)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!("[('{}', '$external')]", Kdc::principal("alice"));
    if !output.status.success() || stdout.trim() != expected {
        return Err(format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(())
}

/// `mongodb-auth demo`, given the realm, adds a GSSAPI login with a password.
fn demo(f: &Fixture) -> Result<(), Failed> {
    let output = Command::new(BIN)
        .arg("demo")
        .env("KRB5_CONFIG", &f.kdc.config)
        .env("KRB5_KTNAME", file(&f.kdc.server_keytab()))
        .env("KRB5RCACHENAME", "none:")
        .env("KRB5CCNAME", file(&f.kdc.path("no-such-cache")))
        .env(
            "MONGODB_AUTH_DEMO_GSSAPI",
            format!("{}:alice-pw", Kdc::principal("alice")),
        )
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // 15 logins, and the GSSAPI one counted.
    if !output.status.success()
        || !stdout.contains("ok GSSAPI")
        || !stdout.contains("all 16 logins behaved as expected")
        || stdout.contains("alice-pw")
    {
        return Err(stdout.into_owned().into());
    }
    Ok(())
}

type Case = fn(&Fixture) -> Result<(), Failed>;

fn main() {
    let arguments = Arguments::from_args();
    let cases: [(&str, Case); 9] = [
        (
            "blocking_and_tokio_log_in_with_a_ticket_cache",
            ticket_cache,
        ),
        (
            "blocking_and_tokio_log_in_with_a_client_keytab",
            client_keytab,
        ),
        ("a_password_logs_in_with_no_ticket_cache", password),
        ("a_wrong_password_is_a_credentials_error", wrong_password),
        ("an_unknown_principal_is_refused", unknown_principal),
        (
            "a_wrong_service_name_is_an_unknown_service_error",
            wrong_service_name,
        ),
        (
            "canonicalize_host_name_forward_picks_the_canonical_principal",
            canonicalize_forward,
        ),
        ("demo_logs_in_with_gssapi_when_given_a_realm", demo),
        (
            "a_ticket_for_another_service_is_refused",
            a_ticket_for_another_service_is_refused,
        ),
    ];
    let required = std::env::var("MONGODB_AUTH_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    let present = kdc::tools_present();
    let fixture = present.then(|| Arc::new(fixture()));
    let python = peers::python_with(&["pymongo", "kerberos"]);
    let mut trials: Vec<Trial> = cases
        .into_iter()
        .map(|(name, case)| match (&fixture, required) {
            (Some(f), _) => {
                let f = f.clone();
                Trial::test(name, move || case(&f))
            }
            (None, true) => Trial::test(name, || {
                Err("the Kerberos programs (krb5-kdc, krb5-admin-server, krb5-user) are required".into())
            }),
            (None, false) => Trial::test(name, || Ok(())).with_ignored_flag(true),
        })
        .collect();
    let name = "pymongo_logs_in_with_gssapi_after_kinit";
    trials.push(match (&fixture, python, required) {
        (Some(f), Some(python), _) => {
            let f = f.clone();
            Trial::test(name, move || pymongo(&f, &python))
        }
        (_, _, true) => Trial::test(name, || {
            Err("the Kerberos programs and a Python with pymongo[gssapi] are required".into())
        }),
        _ => Trial::test(name, || Ok(())).with_ignored_flag(true),
    });
    if !present && !required {
        eprintln!(
            "no Kerberos programs (krb5kdc, kdb5_util, kadmin.local, kinit): the GSSAPI cases are ignored"
        );
    }
    let conclusion = libtest_mimic::run(&arguments, trials);
    // The realm and the server stop before the process exits.
    drop(fixture);
    conclusion.exit();
}

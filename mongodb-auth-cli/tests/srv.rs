//! `mongodb-auth connect 'mongodb+srv://...' --dns-server 127.0.0.1:PORT`: a DNS server started
//! here answers SRV, TXT and A records for a test domain, and the command logs in through it
//! over TLS to `mongodb-auth serve`, with SCRAM and with X.509.

use mongodb_auth_testkit::dns;
use mongodb_auth_testkit::serve;

use std::net::Ipv4Addr;
use std::process::Command;

use dns::{Answer, DnsServer};
use mongodb_auth_server::devpki::{DevPki, Subject};
use serde_json::Value;
use serve::Serve;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

fn connect(uri: &str, dns: &DnsServer) -> (Option<i32>, Value, String) {
    let output = Command::new(BIN)
        .args(["connect", uri, "--json", "--timeout", "5", "--dns-server"])
        .arg(dns.address.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.code(), report, stdout)
}

#[test]
fn the_command_logs_in_through_srv_over_tls() {
    let dir = mongodb_auth_testkit::TempDir::new("srv");
    let pki = DevPki::new(&dir).unwrap();
    let (cert, key) = pki
        .server(
            "server",
            &["host1.cluster0.test.build", "host1.cluster1.test.build"],
        )
        .unwrap();
    let client = pki
        .client("client", &Subject::new().common_name("srv-client"))
        .unwrap();
    let ca = pki.ca_file();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    let serve = Serve::start_with(
        BIN,
        &[
            "--user",
            "app.bob:builder:SCRAM-SHA-256",
            "--tls-cert",
            &path(&cert),
            "--tls-key",
            &path(&key),
            "--tls-ca",
            &path(&ca),
            "--x509-user",
            "CN=srv-client",
        ],
    );
    let port: u16 = serve.address.rsplit(':').next().unwrap().parse().unwrap();
    let localhost = Ipv4Addr::LOCALHOST;
    let dns = DnsServer::start(vec![
        Answer::Srv {
            name: "_mongodb._tcp.cluster0.test.build".into(),
            target: "host1.cluster0.test.build".into(),
            port,
        },
        Answer::Txt {
            name: "cluster0.test.build".into(),
            strings: vec!["authSource=app".into()],
        },
        Answer::A {
            name: "host1.cluster0.test.build".into(),
            ip: localhost,
        },
        Answer::Srv {
            name: "_mongodb._tcp.cluster1.test.build".into(),
            target: "host1.cluster1.test.build".into(),
            port,
        },
        Answer::A {
            name: "host1.cluster1.test.build".into(),
            ip: localhost,
        },
        Answer::Srv {
            name: "_mongodb._tcp.evil.test.build".into(),
            target: "host.elsewhere.org".into(),
            port,
        },
    ]);

    // SCRAM: the TXT record's authSource=app applies (bob exists only in app), and TLS is on
    // because the string is mongodb+srv.
    let (code, report, stdout) = connect(
        &format!(
            "mongodb+srv://bob:builder@cluster0.test.build/?tlsCAFile={}",
            path(&ca)
        ),
        &dns,
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(report["mechanism"], "SCRAM-SHA-256");
    assert_eq!(
        report["authenticatedUsers"],
        serde_json::json!([{ "user": "bob", "db": "app" }])
    );
    assert_eq!(report["tls"]["peerSubject"], "CN=server");
    assert!(
        report["tls"]["version"]
            .as_str()
            .unwrap()
            .starts_with("TLSv1.")
    );

    // Three logins through one connector (`--repeat 3`) look the seeds up once: the records'
    // 60 s TTL has not run out, so the second and third connections use the kept seed list.
    let seeds_uri = format!(
        "mongodb+srv://bob:builder@cluster0.test.build/?tlsCAFile={}",
        path(&ca)
    );
    let asked = |repeat: &str| {
        let before = dns.queries();
        let output = Command::new(BIN)
            .args([
                "connect",
                &seeds_uri,
                "--json",
                "--timeout",
                "5",
                "--repeat",
                repeat,
            ])
            .args(["--dns-server", &dns.address.to_string()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        dns.queries() - before
    };
    let once = asked("1");
    assert!(once >= 2, "SRV and TXT at least: {once}");
    assert_eq!(asked("3"), once, "three logins, one resolution");

    // X.509 with speculative authentication: no round trip after hello.
    let (code, report, stdout) = connect(
        &format!(
            "mongodb+srv://cluster1.test.build/?authMechanism=MONGODB-X509&tlsCAFile={}&tlsCertificateKeyFile={}",
            path(&ca),
            path(&client)
        ),
        &dns,
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(report["mechanism"], "MONGODB-X509");
    assert_eq!(report["roundTrips"], 0);
    assert_eq!(report["speculative"], true);
    assert_eq!(report["tls"]["clientSubject"], "CN=srv-client");
    assert_eq!(
        report["authenticatedUsers"],
        serde_json::json!([{ "user": "CN=srv-client", "db": "$external" }])
    );

    // A target outside the parent domain is refused before any connection.
    let (code, report, stdout) = connect(
        &format!(
            "mongodb+srv://bob:builder@evil.test.build/?tlsCAFile={}",
            path(&ca)
        ),
        &dns,
    );
    assert_eq!(code, Some(2), "{stdout}");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(message.contains("host.elsewhere.org"), "{message}");

    // A name the server does not know: the error names it.
    let (code, report, _) = connect("mongodb+srv://bob:builder@nowhere.test.build/", &dns);
    assert_eq!(code, Some(2));
    assert_eq!(report["error"]["kind"], "Dns");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("_mongodb._tcp.nowhere.test.build"),
        "{message}"
    );
    drop(serve);
}

//! TLS as deployments present it, with certificates the `openssl` tool makes now: a private CA
//! trusted only through `SSL_CERT_FILE`, the default `openssl req -x509` certificate (`CA:TRUE`)
//! named in `tlsCAFile`, and revocation lists in `tlsCRLFile`. One table of cases runs through
//! `mongodb-auth connect` with both adapters, to a host and through `mongodb+srv`, so the
//! environment of each case is its own process's; PyMongo, run on the same cases, must give
//! every verdict ours gives.

use mongodb_auth_testkit::dns::{Answer, DnsServer};
use mongodb_auth_testkit::embedded::{TestServer, scram_users};
use mongodb_auth_testkit::openssl::{OpensslCa, self_signed};
use mongodb_auth_testkit::{TempDir, peers};

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Failed, Trial};
use mongodb_auth::ScramVariant;
use mongodb_auth_io::tls;
use mongodb_auth_server::ServerConfig;
use serde_json::Value;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

/// The servers' names under `mongodb+srv`: `<server>.tls.test` resolves to the host
/// `<server>1.tls.test`, which every certificate names through `*.tls.test`.
const SRV_DOMAIN: &str = "tls.test";

fn main() {
    let arguments = Arguments::from_args();
    let mut trials = vec![
        Trial::test("each_case_in_both_adapters_to_a_host_and_through_srv", ours),
        Trial::test(
            "revocation_options_this_client_cannot_honour_are_refused",
            refused_options,
        ),
        Trial::test(
            "repeated_connects_through_one_connector_resume_tls",
            repeated_connects_resume,
        ),
    ];
    trials.extend(peers::trials(
        &["pymongo"],
        vec![("pymongo_gives_the_same_verdicts", pymongo_agrees)],
    ));
    libtest_mimic::run(&arguments, trials).exit();
}

/// The certificates, the servers presenting them and the DNS server naming them; made once.
struct Deployments {
    files: TempDir,
    corp_ca: PathBuf,
    self_signed: PathBuf,
    elsewhere: PathBuf,
    revoking: PathBuf,
    not_revoking: PathBuf,
    /// Revokes nothing, and its nextUpdate is in 2020.
    expired_list: PathBuf,
    /// `(name, server)`: `corp` (issued by the private CA), `self` (self-signed for this host)
    /// and `elsewhere` (self-signed for another name).
    servers: Vec<(&'static str, TestServer)>,
    dns: DnsServer,
}

fn deployments() -> &'static Deployments {
    static DEPLOYMENTS: OnceLock<Deployments> = OnceLock::new();
    DEPLOYMENTS.get_or_init(|| {
        let files = TempDir::new("tls-trust");
        let names = format!("DNS:localhost,IP:127.0.0.1,DNS:*.{SRV_DOMAIN}");
        let ca = OpensslCa::new(&files.join("corp"));
        let (corp_cert, corp_key) = ca.server_for("server", &names);
        let not_revoking = ca.revocation_list("clean", &[]);
        let revoking = ca.revocation_list("revoked", &[&corp_cert]);
        let expired_list = ca.expired_revocation_list("expired");
        let (self_cert, self_key) = self_signed(&files, "self", &names);
        let (elsewhere_cert, elsewhere_key) =
            self_signed(&files, "elsewhere", "DNS:elsewhere.example");
        let server = |cert: &Path, key: &Path| {
            let users = scram_users(&[("admin", "alice", "pencil", &[ScramVariant::Sha256])]);
            TestServer::start(
                ServerConfig::new(users).tls(tls::server_config(cert, key, None, None).unwrap()),
            )
        };
        let servers = vec![
            ("corp", server(&corp_cert, &corp_key)),
            ("self", server(&self_cert, &self_key)),
            ("elsewhere", server(&elsewhere_cert, &elsewhere_key)),
        ];
        let mut records = Vec::new();
        for (name, server) in &servers {
            let host = format!("{name}1.{SRV_DOMAIN}");
            records.push(Answer::Srv {
                name: format!("_mongodb._tcp.{name}.{SRV_DOMAIN}"),
                target: host.clone(),
                port: server.address().port(),
            });
            records.push(Answer::A {
                name: host,
                ip: Ipv4Addr::LOCALHOST,
            });
        }
        Deployments {
            corp_ca: ca.ca_file(),
            self_signed: self_cert,
            elsewhere: elsewhere_cert,
            revoking,
            not_revoking,
            expired_list,
            servers,
            dns: DnsServer::start(records),
            files,
        }
    })
}

impl Deployments {
    fn port(&self, server: &str) -> u16 {
        self.servers
            .iter()
            .find(|(name, _)| *name == server)
            .map(|(_, s)| s.address().port())
            .unwrap()
    }
}

/// A case: the server, its TLS options, the `SSL_CERT_FILE` of the process, and the verdict:
/// `None` logs in, `Some(problem)` is refused for that problem (a `CertificateProblem`).
struct Case {
    name: &'static str,
    server: &'static str,
    options: Vec<(&'static str, PathBuf)>,
    ssl_cert_file: Option<PathBuf>,
    refused_for: Option<&'static str>,
}

fn cases(d: &Deployments) -> Vec<Case> {
    let case = |name, server, options: &[(&'static str, &PathBuf)], file: Option<&PathBuf>| Case {
        name,
        server,
        options: options.iter().map(|(k, v)| (*k, (*v).clone())).collect(),
        ssl_cert_file: file.cloned(),
        refused_for: None,
    };
    let refused = |mut case: Case, problem| {
        case.refused_for = Some(problem);
        case
    };
    vec![
        case(
            "a private CA trusted through SSL_CERT_FILE",
            "corp",
            &[],
            Some(&d.corp_ca),
        ),
        refused(
            case("the same CA, unknown to the system", "corp", &[], None),
            "UnknownIssuer",
        ),
        case(
            "the default openssl req -x509 certificate (CA:TRUE) in tlsCAFile",
            "self",
            &[("tlsCAFile", &d.self_signed)],
            None,
        ),
        refused(
            case(
                "a self-signed certificate for another name in tlsCAFile",
                "elsewhere",
                &[("tlsCAFile", &d.elsewhere)],
                None,
            ),
            "NameMismatch",
        ),
        refused(
            case(
                "a self-signed certificate, tlsCAFile naming another one",
                "self",
                &[("tlsCAFile", &d.elsewhere)],
                None,
            ),
            "CaUsedAsEndEntity",
        ),
        refused(
            case(
                "a self-signed certificate nobody named",
                "self",
                &[],
                Some(&d.corp_ca),
            ),
            "CaUsedAsEndEntity",
        ),
        refused(
            case(
                "a CRL revoking the server's certificate",
                "corp",
                &[("tlsCAFile", &d.corp_ca), ("tlsCRLFile", &d.revoking)],
                None,
            ),
            "Revoked",
        ),
        case(
            "a CRL of the same CA that does not revoke it",
            "corp",
            &[("tlsCAFile", &d.corp_ca), ("tlsCRLFile", &d.not_revoking)],
            None,
        ),
        refused(
            case(
                "a self-signed certificate in tlsCAFile, with a tlsCRLFile that cannot cover it",
                "self",
                &[
                    ("tlsCAFile", &d.self_signed),
                    ("tlsCRLFile", &d.not_revoking),
                ],
                None,
            ),
            "UnknownRevocationStatus",
        ),
        refused(
            case(
                "a CRL of the same CA, past its nextUpdate",
                "corp",
                &[("tlsCAFile", &d.corp_ca), ("tlsCRLFile", &d.expired_list)],
                None,
            ),
            "revocation list of tlsCRLFile has expired",
        ),
    ]
}

fn query(options: &[(&str, PathBuf)]) -> String {
    options
        .iter()
        .map(|(key, path)| format!("&{key}={}", path.display()))
        .collect()
}

/// `mongodb-auth connect --json` in a process whose trust store is `ssl_cert_file` (none: no
/// `SSL_CERT_FILE` or `SSL_CERT_DIR`, the platform's bundle).
fn connect(uri: &str, ssl_cert_file: Option<&Path>, extra: &[&str]) -> Value {
    let mut command = Command::new(BIN);
    command
        .args(["connect", uri, "--json", "--timeout", "5"])
        .args(extra)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    if let Some(file) = ssl_cert_file {
        command.env("SSL_CERT_FILE", file);
    }
    let output = command.output().unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        Value::String(format!(
            "not JSON: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    })
}

/// `connect --repeat 3`: one connector, so the first handshake is a full one and the next two
/// resume it, with each adapter, to a host and through `mongodb+srv` (whose seeds the connector
/// keeps).
fn repeated_connects_resume() -> Result<(), Failed> {
    let d = deployments();
    let dns = d.dns.address.to_string();
    let options = query(&[("tlsCAFile", d.self_signed.clone())]);
    let direct = format!(
        "mongodb://alice:pencil@localhost:{}/?tls=true{options}",
        d.port("self")
    );
    let srv = format!("mongodb+srv://alice:pencil@self.{SRV_DOMAIN}/?authSource=admin{options}");
    let mut failures = Vec::new();
    for uri in [&direct, &srv] {
        for adapter in [&[][..], &["--tokio"][..]] {
            let extra: Vec<&str> = adapter
                .iter()
                .copied()
                .chain(["--dns-server", &dns, "--repeat", "3"])
                .collect();
            let report = connect(uri, None, &extra);
            let resumed: Vec<Value> = report["logins"]
                .as_array()
                .map(|logins| logins.iter().map(|l| l["tlsResumed"].clone()).collect())
                .unwrap_or_default();
            if resumed != [Value::Bool(false), Value::Bool(true), Value::Bool(true)]
                || report["tls"]["resumed"] != true
            {
                failures.push(format!("{uri} {adapter:?}: {report}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

/// Whether `report` is the verdict `case` expects; why not, if it is not.
fn check(case: &Case, report: &Value) -> Result<(), String> {
    let message = report["error"]["message"].as_str().unwrap_or_default();
    // A person reads the message: never a library's enum dumped with Debug.
    if message.contains("Other(") || message.contains("OtherError") {
        return Err(format!("a debug dump for a message: {message}"));
    }
    match case.refused_for {
        None if report["ok"] == true => Ok(()),
        Some(problem)
            if report["ok"] == false
                && report["error"]["kind"] == "Tls"
                && report["error"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(problem)) =>
        {
            Ok(())
        }
        _ => Err(format!("expected {:?}, got {report}", case.refused_for)),
    }
}

fn ours() -> Result<(), Failed> {
    let d = deployments();
    let dns = d.dns.address.to_string();
    let mut failures = Vec::new();
    for case in cases(d) {
        let options = query(&case.options);
        let direct = format!(
            "mongodb://alice:pencil@localhost:{}/?tls=true{options}",
            d.port(case.server)
        );
        let srv = format!(
            "mongodb+srv://alice:pencil@{}.{SRV_DOMAIN}/?authSource=admin{options}",
            case.server
        );
        for (route, uri) in [("host", &direct), ("mongodb+srv", &srv)] {
            for adapter in [&[][..], &["--tokio"][..]] {
                let extra: Vec<&str> = adapter
                    .iter()
                    .copied()
                    .chain(["--dns-server", &dns])
                    .collect();
                let report = connect(uri, case.ssl_cert_file.as_deref(), &extra);
                if let Err(why) = check(&case, &report) {
                    failures.push(format!("{} ({route}, {adapter:?}): {why}", case.name));
                }
                // Whom the client trusted is said in the TLS facts of a login.
                if report["ok"] == true {
                    let trust = report["tls"]["trust"].as_str().unwrap_or_default();
                    let expected = match &case.ssl_cert_file {
                        Some(file) => format!("SSL_CERT_FILE `{}`", file.display()),
                        None => "tlsCAFile".to_owned(),
                    };
                    if !trust.contains(&expected) {
                        failures.push(format!("{}: trust {trust:?}", case.name));
                    }
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

fn refused_options() -> Result<(), Failed> {
    let d = deployments();
    let base = format!(
        "mongodb://alice:pencil@localhost:{}/?tls=true&tlsCAFile={}",
        d.port("corp"),
        d.corp_ca.display()
    );
    let crl = format!("&tlsCRLFile={}", d.not_revoking.display());
    let mut failures = Vec::new();
    // Each query, and the option the refusal must name (`None`: the login goes through).
    for (query, refusal) in [
        (
            "&tlsDisableOCSPEndpointCheck=false".to_owned(),
            Some("tlsDisableOCSPEndpointCheck=false"),
        ),
        ("&tlsDisableOCSPEndpointCheck=true".to_owned(), None),
        (
            "&tlsDisableCertificateRevocationCheck=false".to_owned(),
            Some("tlsDisableCertificateRevocationCheck=false"),
        ),
        (
            format!("&tlsDisableCertificateRevocationCheck=false{crl}"),
            None,
        ),
        (
            format!("&tlsDisableCertificateRevocationCheck=true{crl}"),
            Some("tlsDisableCertificateRevocationCheck=true"),
        ),
        (
            "&tlsDisableCertificateRevocationCheck=true".to_owned(),
            None,
        ),
        (
            format!("&tlsAllowInvalidCertificates=true{crl}"),
            Some("tlsCRLFile"),
        ),
    ] {
        let report = connect(&format!("{base}{query}"), None, &[]);
        let verdict_holds = match refusal {
            None => report["ok"] == true,
            Some(option) => {
                report["error"]["kind"] == "Configuration"
                    && report["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains(&format!("{option}: ")))
            }
        };
        if !verdict_holds {
            failures.push(format!("{query}: {report}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

/// Whether PyMongo's refusal `said` names `problem` (a `CertificateProblem`, or our text for an
/// expired list) as OpenSSL, under Python's `ssl`, words it.
fn openssl_says(problem: &str, said: &str) -> bool {
    let words: &[&str] = match problem {
        "UnknownIssuer" => &["unable to get local issuer certificate"],
        "NameMismatch" => &["hostname mismatch"],
        "CaUsedAsEndEntity" => &["self-signed certificate", "self signed certificate"],
        "Revoked" => &["certificate revoked"],
        "UnknownRevocationStatus" => &["unable to get certificate crl"],
        "revocation list of tlsCRLFile has expired" => &["crl has expired"],
        _ => return false,
    };
    let said = said.to_ascii_lowercase();
    said.contains("certificate verify failed") && words.iter().any(|w| said.contains(w))
}

fn pymongo_agrees(python: &Path) -> Result<(), Failed> {
    let d = deployments();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pymongo_tls_trust.py");
    let mut failures = Vec::new();
    for case in cases(d) {
        let mut command = Command::new(python);
        command
            .arg(&script)
            .arg(format!("localhost:{}", d.port(case.server)))
            .args(
                case.options
                    .iter()
                    .map(|(key, path)| format!("{key}={}", path.display())),
            )
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some(file) = &case.ssl_cert_file {
            command.env("SSL_CERT_FILE", file);
        }
        let output = command.output().map_err(|e| e.to_string())?;
        let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        let logged_in = said == "ok";
        // A refusal agrees only when it is for the same problem as ours, in OpenSSL's words: a
        // timeout, a failed login or another certificate problem would refuse alike.
        let certificate_refused = case
            .refused_for
            .is_some_and(|problem| openssl_says(problem, &said));
        if logged_in != case.refused_for.is_none()
            || (!logged_in && !certificate_refused)
            || !output.status.success()
        {
            failures.push(format!(
                "{}: PyMongo says {said:?} (ours: {}){}",
                case.name,
                case.refused_for.unwrap_or("logs in"),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    let _ = &d.files;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

//! The official MongoDB specification tests, one named test per JSON case.
//!
//! The data is not part of this repository (it has its own licence). It is read from
//! `$MONGODB_SPECS`, by default `../shared/specifications` beside the crate: a copy of the
//! `source/` folder of https://github.com/mongodb/specifications, laid out as `auth/tests/...`,
//! `connection-string/tests/...` and so on.
//!
//! The unified auth tests run through the adapters against the embedded server (`unified.rs`).
//!
//! Run: `cargo test --test spec` (add `-- --list` to see every case, `-- NAME` to run some).

mod dns;
mod unified;

use mongodb_auth::random::SystemRandom;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use mongodb_auth::{ConnectionString, ExplicitAwsCredentials, Host, ParseOptions, Warning};
use serde_json::{Map, Value};

fn main() {
    let args = Arguments::from_args();
    let root = spec_root();
    if !root.join("auth").is_dir() {
        eprintln!(
            "spec data not found at {}.\n\
             Set MONGODB_SPECS to a copy of the `source/` folder of \
             https://github.com/mongodb/specifications (the folder holding auth/, \
             connection-string/, uri-options/ and initial-dns-seedlist-discovery/).",
            root.display()
        );
        std::process::exit(1);
    }
    let mut trials = Vec::new();
    trials.extend(auth_trials(&root));
    for file in json_files(&root.join("connection-string/tests")) {
        trials.extend(uri_trials(&root, &file));
    }
    for file in json_files(&root.join("uri-options/tests")) {
        trials.extend(uri_trials(&root, &file));
    }
    trials.extend(seedlist_trials(&root));
    trials.extend(unified::trials(&root));
    libtest_mimic::run(&args, trials).exit();
}

fn spec_root() -> PathBuf {
    match std::env::var_os("MONGODB_SPECS") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/specifications"),
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    // An empty or moved folder would otherwise run nothing and pass.
    assert!(!files.is_empty(), "no spec file in {}", dir.display());
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cases of a spec file: its `tests`, which must be a list of at least one (a renamed key or
/// a cut-short file would otherwise run nothing and pass).
fn cases(path: &Path) -> Vec<Value> {
    match load(path)["tests"].as_array() {
        Some(cases) if !cases.is_empty() => cases.clone(),
        _ => panic!("{}: no list of tests", path.display()),
    }
}

/// `uri-options/tests/auth-options.json` -> `uri-options/auth-options`.
fn label(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file).with_extension("");
    relative
        .to_string_lossy()
        .replace("/tests/", "/")
        .replace("/tests", "")
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(what().into()) }
}

// ---------------------------------------------------------------------------------------------
// auth/tests/legacy/connection-string.json

/// The MONGODB-AWS cases about explicit credentials, each under the policy it was written for,
/// and the other policy's outcome (which the crate defines: see `ExplicitAwsCredentials`).
///
/// The first two were written before the 2025-09-30 rule and expect the credentials to be
/// accepted (the crate's default, as the PyMongo documentation describes them); the strict
/// profile rejects them. The next was written for the new rule; the default accepts it with a
/// deprecation warning.
const AWS_POLICY_CASES: &[(&str, bool, bool, bool)] = &[
    // (description, valid upstream, valid with Deprecated, valid with Rejected)
    (
        "should use username and password if specified (MONGODB-AWS)",
        true,
        true,
        false,
    ),
    (
        "should use username, password and session token if specified (MONGODB-AWS)",
        true,
        true,
        false,
    ),
    (
        "should throw an exception if username and password provided (MONGODB-AWS)",
        false,
        true,
        false,
    ),
    (
        "should throw an exception if username provided (MONGODB-AWS)",
        false,
        false,
        false,
    ),
    (
        "should throw an exception if username and no password (MONGODB-AWS)",
        false,
        false,
        false,
    ),
    (
        "should throw an exception if AWS_SESSION_TOKEN provided (MONGODB-AWS)",
        false,
        false,
        false,
    ),
];

fn auth_trials(root: &Path) -> Vec<Trial> {
    let file = root.join("auth/tests/legacy/connection-string.json");
    let name = label(root, &file);
    let mut trials = Vec::new();
    let mut special_cases_met = 0;
    for case in cases(&file) {
        let description = case["description"].as_str().unwrap_or_default().to_owned();
        let upstream_valid = case["valid"].as_bool().unwrap_or(false);
        let policies = match AWS_POLICY_CASES.iter().find(|(d, ..)| *d == description) {
            Some(&(_, upstream, deprecated, rejected)) => {
                // The table was written against what upstream says; if that changes, so must
                // the table.
                assert_eq!(
                    upstream_valid, upstream,
                    "{description}: upstream now expects valid={upstream_valid}"
                );
                special_cases_met += 1;
                vec![
                    (
                        "deprecated-explicit-aws",
                        ExplicitAwsCredentials::Deprecated,
                        deprecated,
                    ),
                    ("strict", ExplicitAwsCredentials::Rejected, rejected),
                ]
            }
            None => vec![("", ExplicitAwsCredentials::Deprecated, upstream_valid)],
        };
        for (suffix, policy, valid) in policies {
            let case = case.clone();
            let test_name = match suffix {
                "" => format!("{name}: {description}"),
                _ => format!("{name}: {description} [{suffix}]"),
            };
            trials.push(Trial::test(test_name, move || {
                run_auth_case(&case, policy, valid)
            }));
        }
    }
    // A description renamed upstream would otherwise leave its row unused, and the case run
    // under the default policy only.
    assert_eq!(
        special_cases_met,
        AWS_POLICY_CASES.len(),
        "a row of AWS_POLICY_CASES matches no case of {}",
        file.display()
    );
    trials
}

fn run_auth_case(case: &Value, policy: ExplicitAwsCredentials, valid: bool) -> Result<(), Failed> {
    let uri = case["uri"].as_str().unwrap_or_default();
    let options = ParseOptions::default().explicit_aws_credentials(policy);
    let parsed = ConnectionString::parse_with(uri, options);
    let cs = match (parsed, valid) {
        (Err(_), false) => return Ok(()),
        (Ok(cs), false) => return Err(format!("parsed, expected an error: {cs:?}").into()),
        (Err(e), true) => return Err(format!("expected valid, got: {e}").into()),
        (Ok(cs), true) => cs,
    };
    let expected = &case["credential"];
    if expected.is_null() && case["valid"] == Value::Bool(false) {
        // Written as invalid under the other policy: upstream has no credential to compare, so
        // check what accepting explicit AWS credentials means.
        let credential = cs.credential().ok_or("accepted, but no credential")?;
        check(
            credential.mechanism().map(|m| m.as_str()) == Some("MONGODB-AWS"),
            || format!("{credential:?}"),
        )?;
        check(
            credential.username().is_some() && credential.password().is_some(),
            || format!("{credential:?}"),
        )?;
        return check(
            cs.warnings().contains(&Warning::DeprecatedAwsCredentials),
            || format!("no deprecation warning: {:?}", cs.warnings()),
        );
    }
    let Some(credential) = cs.credential() else {
        return check(expected.is_null(), || {
            format!("no credential, expected {expected}")
        });
    };
    check(!expected.is_null(), || {
        format!("expected no credential, got {credential:?}")
    })?;
    check(
        credential.username() == expected["username"].as_str(),
        || {
            format!(
                "username {:?}, expected {}",
                credential.username(),
                expected["username"]
            )
        },
    )?;
    let password = credential.password().map(|p| p.expose().to_owned());
    check(password.as_deref() == expected["password"].as_str(), || {
        format!("password differs, expected {}", expected["password"])
    })?;
    check(
        Some(credential.source()) == expected["source"].as_str(),
        || {
            format!(
                "source {:?}, expected {}",
                credential.source(),
                expected["source"]
            )
        },
    )?;
    let mechanism = credential.mechanism().map(|m| m.as_str());
    check(mechanism == expected["mechanism"].as_str(), || {
        format!(
            "mechanism {mechanism:?}, expected {}",
            expected["mechanism"]
        )
    })?;
    let props = credential.mechanism_properties();
    let want = expected["mechanism_properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    check(props.len() == want.len(), || {
        format!("mechanism properties {props:?}, expected {want:?}")
    })?;
    for (key, value) in &want {
        check(props.get(key) == value.as_str(), || {
            format!("property {key} = {:?}, expected {value}", props.get(key))
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// connection-string/tests/*.json and uri-options/tests/*.json

fn uri_trials(root: &Path, file: &Path) -> Vec<Trial> {
    let name = label(root, file);
    cases(file)
        .into_iter()
        .map(|case| {
            let description = case["description"].as_str().unwrap_or_default().to_owned();
            Trial::test(format!("{name}: {description}"), move || {
                run_uri_case(&case)
            })
        })
        .collect()
}

fn run_uri_case(case: &Value) -> Result<(), Failed> {
    let uri = case["uri"].as_str().unwrap_or_default();
    let valid = case["valid"].as_bool().unwrap_or(false);
    let cs = match (ConnectionString::parse(uri), valid) {
        (Err(_), false) => return Ok(()),
        (Ok(cs), false) => return Err(format!("parsed, expected an error: {cs:?}").into()),
        (Err(e), true) => return Err(format!("expected valid, got: {e}").into()),
        (Ok(cs), true) => cs,
    };
    if let Some(warning) = case["warning"].as_bool() {
        check(cs.warnings().is_empty() != warning, || {
            format!("warnings {:?}, expected some: {warning}", cs.warnings())
        })?;
    }
    if let Some(hosts) = case["hosts"].as_array() {
        check_hosts(cs.hosts(), hosts)?;
    }
    if let Some(auth) = case["auth"].as_object() {
        check_auth(&cs, auth)?;
    }
    if let Some(options) = case["options"].as_object() {
        for (key, expected) in options {
            check_option(&cs, key, expected)?;
        }
    }
    Ok(())
}

fn check_hosts(actual: &[Host], expected: &[Value]) -> Result<(), Failed> {
    check(actual.len() == expected.len(), || {
        format!("hosts {actual:?}, expected {expected:?}")
    })?;
    for (host, want) in actual.iter().zip(expected) {
        let kind = match host {
            Host::Name { .. } => "hostname",
            Host::Ipv4 { .. } => "ipv4",
            Host::Ipv6 { .. } => "ip_literal",
            Host::Unix { .. } => "unix",
            _ => "unknown",
        };
        check(Some(kind) == want["type"].as_str(), || {
            format!("{host:?} is not of type {}", want["type"])
        })?;
        check(Some(host.host().as_str()) == want["host"].as_str(), || {
            format!("{host:?}, expected {want}")
        })?;
        // `"port": null` says the URI gives none: the parser must not make one up.
        if let Some(port) = want.get("port") {
            check(host.port().map(u64::from) == port.as_u64(), || {
                format!("{host:?}, expected port {port}")
            })?;
        }
    }
    Ok(())
}

/// `auth` of the connection-string tests: the userinfo and the database path.
fn check_auth(cs: &ConnectionString, auth: &Map<String, Value>) -> Result<(), Failed> {
    let username = cs.credential().and_then(|c| c.username());
    let password = cs
        .credential()
        .and_then(|c| c.password())
        .map(|p| p.expose().to_owned());
    check(username == auth["username"].as_str(), || {
        format!("username {username:?}, expected {}", auth["username"])
    })?;
    check(password.as_deref() == auth["password"].as_str(), || {
        format!("password differs, expected {}", auth["password"])
    })?;
    check(cs.database() == auth["db"].as_str(), || {
        format!("db {:?}, expected {}", cs.database(), auth["db"])
    })
}

/// Compares one expected option, through the typed accessor for auth and TLS options and as the
/// raw value for the options the crate passes through.
fn check_option(cs: &ConnectionString, key: &str, expected: &Value) -> Result<(), Failed> {
    let tls = cs.tls();
    let credential = cs.credential();
    let flag = |v: Option<bool>| v.map(Value::Bool).unwrap_or(Value::Null);
    let text = |v: Option<&str>| {
        v.map(|s| Value::String(s.to_owned()))
            .unwrap_or(Value::Null)
    };
    let path = |v: &Option<PathBuf>| text(v.as_ref().and_then(|p| p.to_str()));
    let actual = match key.to_ascii_lowercase().as_str() {
        "authmechanism" => text(credential.and_then(|c| c.mechanism()).map(|m| m.as_str())),
        "authsource" => text(cs.auth_source()),
        "authmechanismproperties" => {
            let props = credential
                .map(|c| c.mechanism_properties().clone())
                .unwrap_or_default();
            Value::Object(
                props
                    .iter()
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect(),
            )
        }
        "tls" | "ssl" => Value::Bool(cs.tls_enabled()),
        "tlscafile" => path(&tls.ca_file),
        "tlscertificatekeyfile" => path(&tls.certificate_key_file),
        "tlscertificatekeyfilepassword" => text(
            tls.certificate_key_file_password
                .as_ref()
                .map(|p| p.expose()),
        ),
        "tlsallowinvalidcertificates" => flag(tls.allow_invalid_certificates),
        "tlsallowinvalidhostnames" => flag(tls.allow_invalid_hostnames),
        "tlsinsecure" => flag(tls.insecure),
        "tlsdisableocspendpointcheck" => flag(tls.disable_ocsp_endpoint_check),
        "tlsdisablecertificaterevocationcheck" => flag(tls.disable_certificate_revocation_check),
        "readpreferencetags" => {
            let sets: Vec<Value> = cs.option_values(key).map(tag_set).collect();
            Value::Array(sets)
        }
        _ => return check_raw_option(cs, key, expected),
    };
    let same = match (&actual, expected) {
        // Property maps compare without regard to order.
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && b.iter().all(|(k, v)| a.get(k) == Some(v))
        }
        _ => actual == *expected,
    };
    check(same, || {
        format!("option {key} = {actual}, expected {expected}")
    })
}

fn tag_set(value: &str) -> Value {
    let pairs = value
        .split(',')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| pair.split_once(':'))
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())));
    Value::Object(pairs.collect())
}

/// A pass-through option is kept as its decoded string; the JSON gives the typed value, which is
/// written back the way the URI spells it.
fn check_raw_option(cs: &ConnectionString, key: &str, expected: &Value) -> Result<(), Failed> {
    let want = match expected {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        other => return Err(format!("option {key}: cannot compare expected value {other}").into()),
    };
    let actual = cs.option(key);
    check(actual == Some(want.as_str()), || {
        format!("option {key} = {actual:?}, expected {want:?}")
    })
}

// ---------------------------------------------------------------------------------------------
// initial-dns-seedlist-discovery/tests/**/*.json

fn seedlist_trials(root: &Path) -> Vec<Trial> {
    let records = dns::Records::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("spec-tests/dns-records.txt"),
    );
    let dir = root.join("initial-dns-seedlist-discovery/tests");
    json_files(&dir)
        .into_iter()
        .map(|file| {
            let name = label(root, &file);
            let case = load(&file);
            let records = records.clone();
            Trial::test(name, move || run_seedlist_case(&case, &records))
        })
        .collect()
}

/// Everything a case asserts that needs no server: the error, the seeds, their number, the
/// options and the parsed credential. `hosts`, `numHosts` and `ping` describe the topology a
/// driver discovers by connecting to the seeds, which is beyond a URI parser; they are not
/// asserted.
fn run_seedlist_case(case: &Value, records: &dns::Records) -> Result<(), Failed> {
    let uri = case["uri"].as_str().unwrap_or_default();
    let expect_error = case["error"].as_bool().unwrap_or(false);
    let resolved = ConnectionString::parse(uri).and_then(|cs| {
        let query = cs.srv_query().ok_or_else(|| mongodb_auth::Error::Srv {
            rule: "not an SRV URI".into(),
        })?;
        cs.resolve_srv(
            &records.srv(&query.srv_name),
            &records.txt(&query.txt_name),
            &mut SystemRandom,
        )
    });
    let cs = match (resolved, expect_error) {
        (Err(_), true) => return Ok(()),
        (Ok(cs), true) => return Err(format!("resolved, expected an error: {cs:?}").into()),
        (Err(e), false) => return Err(format!("expected success, got: {e}").into()),
        (Ok(cs), false) => cs,
    };
    let seeds: Vec<String> = cs.hosts().iter().map(ToString::to_string).collect();
    if let Some(expected) = case["seeds"].as_array() {
        let mut want: Vec<&str> = expected.iter().filter_map(Value::as_str).collect();
        let mut got: Vec<&str> = seeds.iter().map(String::as_str).collect();
        want.sort_unstable();
        got.sort_unstable();
        check(got == want, || format!("seeds {got:?}, expected {want:?}"))?;
    }
    if let Some(n) = case["numSeeds"].as_u64() {
        check(seeds.len() as u64 == n, || {
            format!("{} seeds, expected {n}", seeds.len())
        })?;
    }
    if let Some(options) = case["options"].as_object() {
        for (key, expected) in options {
            check_option(&cs, key, expected)?;
        }
    }
    if let Some(parsed) = case["parsed_options"].as_object() {
        let credential = cs.credential();
        for (key, expected) in parsed {
            let actual = match key.as_str() {
                "user" => credential.and_then(|c| c.username()).map(str::to_owned),
                "password" => credential
                    .and_then(|c| c.password())
                    .map(|p| p.expose().to_owned()),
                "db" | "auth_database" | "defaultDatabase" => cs.database().map(str::to_owned),
                other => return Err(format!("unknown parsed option {other}").into()),
            };
            check(actual.as_deref() == expected.as_str(), || {
                format!("{key} = {actual:?}, expected {expected}")
            })?;
        }
    }
    Ok(())
}

//! The layer line, checked the way a driver author would: under every feature of the core, its
//! dependency tree holds no HTTP client, TLS library, DNS resolver, socket or runtime I/O crate,
//! no argument parser and no certificate generator. Those belong to the crates above it.
//! (`aws-sigv4` brings `tokio` for its sleep trait, without any I/O feature: no `mio`, no
//! `socket2`, which is what this checks.)

use std::collections::BTreeSet;
use std::process::Command;

/// What never comes into the core.
const FORBIDDEN: [&str; 15] = [
    "ureq",
    "reqwest",
    "hyper",
    "rustls",
    "ring",
    "aws-lc-rs",
    "webpki-roots",
    "hickory-resolver",
    "hickory-proto",
    "tokio-rustls",
    "mio",
    "socket2",
    "clap",
    "rcgen",
    "libgssapi",
];

/// The core's features, each checked alone, then all together.
const FEATURES: [&str; 4] = ["aws", "oidc", "x509-subject", "server"];

/// The crates of the core's normal dependency tree (build and dev dependencies left out).
fn tree(features: &[&str]) -> BTreeSet<String> {
    let mut command = Command::new(env!("CARGO"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "-q",
            "-p",
            "mongodb-auth",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--no-default-features"]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn assert_no_io(features: &[&str]) -> BTreeSet<String> {
    let crates = tree(features);
    let found: Vec<_> = crates
        .iter()
        .filter(|name| FORBIDDEN.contains(&name.as_str()) || name.starts_with("hickory-"))
        .collect();
    assert!(
        found.is_empty(),
        "the core with features {features:?} depends on {found:?}"
    );
    assert!(crates.contains("mongodb-auth"), "{crates:?}");
    crates
}

#[test]
fn the_core_depends_on_no_io_crate_under_any_feature() {
    let bare = assert_no_io(&[]);
    for feature in FEATURES {
        let with = assert_no_io(&[feature]);
        assert!(with.is_superset(&bare), "{feature} drops a crate");
    }
    assert_no_io(&FEATURES);
}

#[test]
fn the_check_sees_what_is_above_the_line() {
    // The adapters' crate does bring them: if `cargo tree` stopped reporting crates, the test
    // above would pass for nothing.
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "-q",
            "-p",
            "mongodb-auth-io",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none"])
        .output()
        .expect("cargo runs");
    let crates: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    for name in ["rustls", "tokio", "ureq", "hickory-resolver"] {
        assert!(crates.contains(name), "{name} not in {crates:?}");
    }
}

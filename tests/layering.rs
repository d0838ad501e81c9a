//! The layer line, checked the way a driver author would: under every feature of the core, its
//! dependency tree holds no HTTP client, TLS library, DNS resolver, socket or runtime I/O crate,
//! no argument parser and no certificate generator. Those belong to the crates above it.
//! (`aws-sigv4` brings `tokio` for its sleep trait, without any I/O feature: no `mio`, no
//! `socket2`, which is what this checks.) And no crate that the shipped crates link comes in two
//! versions, but those listed with their reason.

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

/// What `cargo tree --offline -q --prefix none` prints with `args`: a crate a line.
fn cargo_tree(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "-q", "--prefix", "none"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The crate names of a `cargo tree` listing.
fn names(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The crates of the core's normal dependency tree (build and dev dependencies left out).
fn tree(features: &[&str]) -> BTreeSet<String> {
    let mut args = vec![
        "-p",
        "mongodb-auth",
        "-e",
        "normal",
        "--no-default-features",
    ];
    let features = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    names(&cargo_tree(&args))
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
    let crates = names(&cargo_tree(&["-p", "mongodb-auth-io", "-e", "normal"]));
    for name in ["rustls", "tokio", "ureq", "hickory-resolver"] {
        assert!(crates.contains(name), "{name} not in {crates:?}");
    }
}

/// The crates linked in two versions, each with why that cannot be helped yet. Everything else
/// is linked once: a second version is twice the code to build, audit and ship.
const LINKED_TWICE: [(&str, &str); 6] = [
    (
        "http",
        "aws-sigv4 1.3 signs with http 0.2 while the aws-smithy crates under it use 1.x; the \
         first aws-sigv4 without http 0.2 (1.6) needs Rust 1.94, above this workspace's 1.88",
    ),
    (
        "http-body",
        "the same: aws-smithy-types carries a body type for each http",
    ),
    (
        "getrandom",
        "ring 0.17, under rustls, reads 0.2; rand 0.9 and ahash, under bson, read 0.3",
    ),
    (
        "der",
        "pkcs5 0.7 reads encrypted keys with 0.7, because 0.8 decrypts with a second sha2, hmac \
         and pbkdf2; certificates need 0.8 (see below)",
    ),
    ("spki", "the same, under pkcs8 0.10 and x509-cert 0.3"),
    ("const-oid", "the same"),
];

#[test]
fn no_crate_is_linked_twice_but_the_explained_ones() {
    let mut seen = BTreeSet::new();
    for package in [
        "mongodb-auth",
        "mongodb-auth-io",
        "mongodb-auth-server",
        "mongodb-auth-cli",
    ] {
        // Proc macros run in the compiler and are not linked; the ecosystem is moving from syn
        // 2 to 3, so syn is built twice for now.
        let twice = names(&cargo_tree(&[
            "-p",
            package,
            "--all-features",
            "-e",
            "normal,no-proc-macro",
            "--duplicates",
            "--depth",
            "0",
        ]));
        let unexplained: Vec<_> = twice
            .iter()
            .filter(|name| !LINKED_TWICE.iter().any(|(known, _)| known == name))
            .collect();
        assert!(
            unexplained.is_empty(),
            "{package} links {unexplained:?} in two versions"
        );
        seen.extend(twice);
    }
    // An explanation outlives its reason only until this fails.
    for (name, why) in LINKED_TWICE {
        assert!(seen.contains(name), "{name} is linked once now ({why})");
    }
}

#[test]
fn certificates_are_read_with_a_der_that_sorts_in_n_log_n() {
    // der 0.7 sorts each SET OF by insertion (RustCrypto/formats#2319): a 60 KB certificate
    // name of attributes in reverse order takes a second to parse, against a millisecond with
    // 0.8. The core parses certificates that peers send (an unknown issuer's, for the error),
    // so its der is 0.8 or later.
    let listing = cargo_tree(&[
        "-p",
        "mongodb-auth",
        "--no-default-features",
        "--features",
        "x509-subject",
        "-e",
        "normal",
    ]);
    let versions: BTreeSet<&str> = listing
        .lines()
        .filter_map(|line| line.strip_prefix("der v"))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest))
        .collect();
    let version = match Vec::from_iter(&versions).as_slice() {
        [version] => **version,
        _ => panic!("the core should link one der: {versions:?}"),
    };
    let (major, minor) = version.split_once('.').unwrap_or((version, ""));
    let minor = minor.split('.').next().unwrap_or(minor);
    assert!(
        major != "0" || minor.parse::<u32>().is_ok_and(|minor| minor >= 8),
        "the core reads certificates with der {version}"
    );
}

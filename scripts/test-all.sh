#!/usr/bin/env bash
# Every test of the workspace, with what the tests need installed first: the Python peers
# (PyMongo) into a venv under target/, the Node driver under target/, cargo-fuzz for building
# the fuzz targets. Formatting and
# lints come first, then what a crate user would check (each feature of the core alone, its
# declared rust-version, the docs, the packages), then every fuzz target is built (so none can
# rot), then `cargo test --workspace --all-features`, in which a missing peer is a failure, never
# a pass. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# A run from a clean clone never reuses incremental state; it was 1.4 GB of the run's disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

export MONGODB_SPECS="${MONGODB_SPECS:-$(cd .. && pwd)/shared/specifications}"
if [ ! -d "$MONGODB_SPECS/auth" ]; then
    echo "spec data not found at $MONGODB_SPECS (set MONGODB_SPECS)" >&2
    exit 1
fi

# Debian packages: a Kerberos realm for the GSSAPI tests (KDC, admin tools, kinit), and what
# feature `gssapi` builds against (MIT krb5's headers; libclang for bindgen).
packages=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev libclang-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null ||
        { $sudo apt-get update -q >/dev/null &&
          $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
fi

# Python peers in a venv under target/ (pymongo[gssapi] builds pykerberos against libkrb5-dev).
venv=target/pyvenv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "pymongo[gssapi]==4.20.0" "pykerberos==1.2.4" "pymongo-auth-aws==1.3.0" \
    "moto[server]==5.2.5" "boto3==1.44.8"
export MONGODB_AUTH_PYTHON="$PWD/$venv/bin/python"

# The Node driver, under target/ (Node and npm from Debian when the machine has none).
if ! command -v npm >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null ||
        { $sudo apt-get update -q >/dev/null &&
          $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null; }
fi
# With it, panva's oidc-provider: the real OpenID provider of the MONGODB-OIDC human flows.
node_driver=7.0.0
oidc_provider=9.13.3
nodeenv=target/nodeenv
if ! grep -qs "\"version\": \"$node_driver\"" "$nodeenv/node_modules/mongodb/package.json" ||
    ! grep -qs "\"version\": \"$oidc_provider\"" "$nodeenv/node_modules/oidc-provider/package.json"; then
    mkdir -p "$nodeenv"
    (cd "$nodeenv" && npm install --no-audit --no-fund --silent \
        "mongodb@$node_driver" "oidc-provider@$oidc_provider")
fi
export MONGODB_AUTH_NODE_MODULES="$PWD/$nodeenv/node_modules"
# mongosh, the official shell, apart (its own driver version), for its built-in OIDC human flow.
mongosh_version=2.12.0
mongoshenv=target/mongoshenv
if ! grep -qs "\"version\": \"$mongosh_version\"" "$mongoshenv/node_modules/mongosh/package.json"; then
    mkdir -p "$mongoshenv"
    (cd "$mongoshenv" && npm install --no-audit --no-fund --silent "mongosh@$mongosh_version")
fi
export MONGODB_AUTH_MONGOSH="$PWD/$mongoshenv/node_modules/.bin/mongosh"
export MONGODB_AUTH_REQUIRE_PEERS=1

cargo fmt --all --check
cargo clippy --workspace --all-features --all-targets -- -D warnings

# The core as a driver adds it: with no feature and each feature alone (tests/layering.rs
# checks that none of them brings I/O). Then every crate on the rust-version they declare: a
# driver may embed the adapters or the server as well as the core.
for features in "" aws oidc x509-subject server; do
    cargo clippy --quiet -p mongodb-auth --no-default-features ${features:+--features "$features"} \
        -- -D warnings
done
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
rustup toolchain list | grep -q "^$msrv" || rustup toolchain install "$msrv" --profile minimal
cargo "+$msrv" check --quiet --workspace --all-features
# One test whose failure depends on the toolchain runs on the declared one too: std's
# `UnixStream` wrote with a plain write(2), which raises SIGPIPE, before Rust 1.90, so only there
# would this test catch the adapters writing a UNIX socket without MSG_NOSIGNAL.
cargo "+$msrv" test --quiet --test hardening \
    a_unix_socket_write_to_a_peer_that_hung_up_fails_and_ends_no_host
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --workspace --all-features --no-deps
# Every published crate packages and builds from its package alone. Cargo verifies a crate that
# depends on another of ours by unpacking that one from a temporary registry into the cargo
# home, in a directory named after the registry's path and the version, and it reuses a copy
# it finds there: a cargo home kept between runs from the same checkout path would verify
# against an earlier commit's sources (seen on CI: a method added since was missing). Those
# copies go first.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rm -rf "$cargo_home"/registry/src/*/mongodb-auth{,-io,-server,-cli}-[0-9]*
# A crate's package carries no profile unless it is the workspace's root, so the check builds
# of the others would link full debug info into every dependency: that was 0.5 GB of the run's
# disk, for builds nobody debugs.
CARGO_PROFILE_DEV_DEBUG=false cargo package --quiet --workspace --exclude mongodb-auth-testkit

# The fuzz targets need the nightly toolchain and cargo-fuzz.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
(cd fuzz && cargo +nightly fuzz build)

cargo test --workspace --all-features

# What the run left on disk, so a CI log shows when it grows (the runner's disk is not large).
du -sh "${CARGO_TARGET_DIR:-target}" fuzz/target 2>/dev/null || true

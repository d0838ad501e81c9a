#!/usr/bin/env bash
# Every test, with what the tests need installed first: the Python peers (PyMongo) into a venv
# under target/, cargo-fuzz for building the fuzz targets. Formatting and lints come first, then
# every fuzz target is built (so none can rot), then `cargo test --all-features`, in which a
# missing peer is a failure, never a pass. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

export MONGODB_SPECS="${MONGODB_SPECS:-$(cd .. && pwd)/shared/specifications}"
if [ ! -d "$MONGODB_SPECS/auth" ]; then
    echo "spec data not found at $MONGODB_SPECS (set MONGODB_SPECS)" >&2
    exit 1
fi

# Python peers in a venv under target/.
venv=target/pyvenv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "pymongo==4.20.0" "pymongo-auth-aws==1.3.0" "moto[server]==5.2.5" "boto3==1.44.8"
export MONGODB_AUTH_PYTHON="$PWD/$venv/bin/python"
export MONGODB_AUTH_REQUIRE_PEERS=1

cargo fmt --check
cargo clippy --all-features --all-targets -- -D warnings

# The fuzz targets need the nightly toolchain and cargo-fuzz.
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
(cd fuzz && cargo +nightly fuzz build)

cargo test --all-features

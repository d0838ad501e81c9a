//! Finding the Python peers (PyMongo, pymongo-auth-aws, moto) and turning peer tests into
//! libtest-mimic trials: with the peer they run; without it they are reported as ignored, never
//! as passed, unless `MONGODB_AUTH_REQUIRE_PEERS=1` (set by `scripts/test-all.sh`) makes a
//! missing peer a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Failed, Trial};

/// A Python that imports every one of `modules`: `$MONGODB_AUTH_PYTHON`, or the venv the test
/// command makes in `target/pyvenv`.
pub fn python_with(modules: &[&str]) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MONGODB_AUTH_PYTHON").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pyvenv/bin/python")),
    ];
    let script = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", &script])
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// A peer test: its name and what it runs with the Python found.
pub type Case = (&'static str, fn(&Path) -> Result<(), Failed>);

/// The trials of `cases`, which need a Python with `modules`.
pub fn trials(modules: &[&'static str], cases: Vec<Case>) -> Vec<Trial> {
    let python = python_with(modules);
    let required = std::env::var("MONGODB_AUTH_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    if python.is_none() && !required {
        eprintln!(
            "no Python with {modules:?} (set MONGODB_AUTH_PYTHON or run scripts/test-all.sh): \
             the peer tests are ignored"
        );
    }
    cases
        .into_iter()
        .map(|(name, case)| match (&python, required) {
            (Some(python), _) => {
                let python = python.clone();
                Trial::test(name, move || case(&python))
            }
            (None, true) => {
                let message = format!(
                    "{modules:?} are required (MONGODB_AUTH_REQUIRE_PEERS=1) but no Python has them"
                );
                Trial::test(name, move || Err(Failed::from(message)))
            }
            (None, false) => Trial::test(name, || Ok(())).with_ignored_flag(true),
        })
        .collect()
}

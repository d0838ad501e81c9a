//! Finding the peers (PyMongo, pymongo-auth-aws, moto in Python; the Node driver, mongosh) and turning
//! peer tests into libtest-mimic trials: with the peer they run; without it they are reported as ignored, never
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

/// A peer test: its name and what it runs with the peer found (a Python, a Node).
pub type Case<P = Path> = (&'static str, fn(&P) -> Result<(), Failed>);

/// The trials of `cases`, which need a Python with `modules`.
pub fn trials(modules: &[&'static str], cases: Vec<Case>) -> Vec<Trial> {
    peer_trials(
        python_with(modules),
        &format!("a Python with {modules:?} (set MONGODB_AUTH_PYTHON or run scripts/test-all.sh)"),
        cases,
    )
}

/// Node and the `node_modules` directory that holds `module`: `$MONGODB_AUTH_NODE_MODULES`,
/// or where the test command installs it (`target/nodeenv/node_modules`).
pub fn node_with(module: &str) -> Option<NodePeer> {
    let modules = std::env::var_os("MONGODB_AUTH_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/nodeenv/node_modules")
        });
    let found = Command::new("node")
        .args(["-e", &format!("require({module:?})")])
        .env("NODE_PATH", &modules)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    found.then_some(NodePeer { modules })
}

/// A Node that can `require` the modules of `modules`.
#[derive(Clone, Debug)]
pub struct NodePeer {
    /// The `node_modules` directory.
    pub modules: PathBuf,
}

impl NodePeer {
    /// `node script args...`, with the modules found.
    pub fn command(&self, script: &Path) -> Command {
        let mut command = Command::new("node");
        command.arg(script).env("NODE_PATH", &self.modules);
        command
    }
}

/// The trials of `cases`, which need Node with the npm package `module`.
pub fn node_trials(module: &str, cases: Vec<Case<NodePeer>>) -> Vec<Trial> {
    peer_trials(
        node_with(module),
        &format!(
            "Node with the npm package {module:?} (set MONGODB_AUTH_NODE_MODULES or run scripts/test-all.sh)"
        ),
        cases,
    )
}

/// mongosh beside a Node with the npm package `module`: `$MONGODB_AUTH_MONGOSH`, or where the
/// test command installs it (`target/mongoshenv/node_modules/.bin/mongosh`).
#[derive(Clone, Debug)]
pub struct MongoshPeer {
    /// The Node with the module.
    pub node: NodePeer,
    /// The `mongosh` command.
    pub mongosh: PathBuf,
}

/// The trials of `cases`, which need mongosh and Node with the npm package `module`.
pub fn mongosh_trials(module: &str, cases: Vec<Case<MongoshPeer>>) -> Vec<Trial> {
    let mongosh = std::env::var_os("MONGODB_AUTH_MONGOSH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/mongoshenv/node_modules/.bin/mongosh")
        });
    let runs = Command::new(&mongosh)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    let peer = node_with(module)
        .filter(|_| runs)
        .map(|node| MongoshPeer { node, mongosh });
    peer_trials(
        peer,
        &format!(
            "mongosh and Node with the npm package {module:?} (set MONGODB_AUTH_MONGOSH and MONGODB_AUTH_NODE_MODULES or run scripts/test-all.sh)"
        ),
        cases,
    )
}

/// With the peer they run; without it they are ignored, or failures when peers are required.
fn peer_trials<T, P>(peer: Option<T>, missing: &str, cases: Vec<Case<P>>) -> Vec<Trial>
where
    T: std::borrow::Borrow<P> + Clone + Send + 'static,
    P: ?Sized + 'static,
{
    let required = std::env::var("MONGODB_AUTH_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    if peer.is_none() && !required {
        eprintln!("no {missing}: the peer tests are ignored");
    }
    cases
        .into_iter()
        .map(|(name, case)| match (&peer, required) {
            (Some(peer), _) => {
                let peer = peer.clone();
                Trial::test(name, move || case(peer.borrow()))
            }
            (None, true) => {
                let message = format!("{missing} is required (MONGODB_AUTH_REQUIRE_PEERS=1)");
                Trial::test(name, move || Err(Failed::from(message)))
            }
            (None, false) => Trial::test(name, || Ok(())).with_ignored_flag(true),
        })
        .collect()
}

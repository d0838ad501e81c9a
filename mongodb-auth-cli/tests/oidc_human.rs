//! MONGODB-OIDC with a person, against a real OpenID provider no one here wrote: panva's
//! `oidc-provider` on loopback (`oidc_provider.js`), with the person played by a script that
//! follows redirects, signs in, consents and enters device codes (`oidc_person.js`).
//! `mongodb-auth serve` finds the provider's keys from its discovery document (no JWKS file),
//! and `connect --oidc-flows` logs in with the code flow and with the device flow; a second
//! run with the same token cache needs no person, and with an expired access token goes
//! through the refresh token. A forged redirect is passed over; the person's refusal, a
//! provider that is down, a discovery document naming another issuer, an `http` issuer that is
//! not loopback and a device code that expires are each a clear error, and no token reaches the
//! server. mongosh logs in to the same server
//! with its own built-in flows, the device flow and the code flow (its `--browser` is the
//! person).
//!
//! Node and the npm package `oidc-provider` come from the test command's environment
//! (`target/nodeenv`, or `$MONGODB_AUTH_NODE_MODULES`). Without them these tests are ignored,
//! never passed, unless `MONGODB_AUTH_REQUIRE_PEERS=1` makes them failures.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed};
use mongodb_auth_server::devpki::TokenIssuer;
use mongodb_auth_testkit::TempDir;
use mongodb_auth_testkit::http::HttpServer;
use mongodb_auth_testkit::peers::{self, MongoshPeer, NodePeer};
use mongodb_auth_testkit::serve::Serve;
use serde_json::Value;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");
const AUDIENCE: &str = "urn:mongodb-auth:human";
const SCOPE: &str = "mongodb";
const CLIENT_ID: &str = "mongodb-auth-test";

fn main() {
    let arguments = Arguments::from_args();
    let mut trials = peers::node_trials(
        "oidc-provider",
        vec![
            (
                "device_flow_logs_in_and_the_token_cache_spares_the_person_next_time",
                device_flow_and_token_cache,
            ),
            ("code_flow_logs_in_through_the_browser", code_flow),
            (
                "a_browser_that_fails_falls_back_to_the_device_flow",
                browser_fallback,
            ),
            (
                "failures_are_clear_errors_and_no_token_reaches_the_server",
                failures,
            ),
        ],
    );
    trials.extend(peers::mongosh_trials(
        "oidc-provider",
        vec![
            (
                "mongosh_logs_in_with_its_own_device_flow",
                mongosh_device_flow,
            ),
            (
                "mongosh_logs_in_with_its_own_browser_flow",
                mongosh_browser_flow,
            ),
        ],
    ));
    libtest_mimic::run(&arguments, trials).exit();
}

/// mongosh, the official shell, logs in to `serve` with its own built-in device flow against
/// the same provider: the server's IdpInfo (issuer, clientId, requestScopes) is what the
/// official tool expects. The person enters the code mongosh shows.
fn mongosh_device_flow(peer: &MongoshPeer) -> Result<(), Failed> {
    mongosh_logs_in(
        peer,
        &["--oidcFlows=device-auth"],
        "urn:ietf:params:oauth:grant-type:device_code",
    )
}

/// mongosh's authorization code flow, its `--browser` pointed at the person.
fn mongosh_browser_flow(peer: &MongoshPeer) -> Result<(), Failed> {
    let browser = format!(
        "--browser=node {} alice",
        shell_quote(&script("oidc_person.js").to_string_lossy())
    );
    let redirect = format!(
        "--oidcRedirectUri=http://127.0.0.1:{}/redirect",
        free_port()?
    );
    mongosh_logs_in(
        peer,
        &["--oidcFlows=auth-code", &browser, &redirect],
        "authorization_code",
    )
}

/// mongosh with `flows` logs in to `serve` through the provider as oidc/alice with one grant
/// of `grant`; a device code it prints is entered by the person.
fn mongosh_logs_in(peer: &MongoshPeer, flows: &[&str], grant: &str) -> Result<(), Failed> {
    let provider = Provider::start(&peer.node, 600)?;
    let server = serve(&provider.issuer, None);
    let home = TempDir::new("mongosh-home");
    let uri = format!("mongodb://{}/?authMechanism=MONGODB-OIDC", server.address);
    let mut child = Command::new(&peer.mongosh)
        .arg(uri.as_str())
        .args(flows)
        .args([
            "--quiet",
            "--eval",
            "JSON.stringify(db.runCommand({connectionStatus: 1}).authInfo.authenticatedUsers)",
        ])
        // Its logs and history go to a home of its own.
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("mongosh: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // mongosh prints a device code on stdout, then the result.
    let (lines, output) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut uri, mut code, mut printed, mut entered) = (None, None, String::new(), false);
    while let Ok(line) = output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        printed.push_str(&line);
        printed.push('\n');
        let last = line.split_whitespace().last().map(str::to_owned);
        if line.contains("complete authentication:") {
            uri = last;
        } else if line.contains("code on that page:") {
            code = last;
        }
        if let (false, Some(uri), Some(code)) = (entered, &uri, &code) {
            entered = true;
            let status = peer
                .node
                .command(&script("oidc_person.js"))
                .args(["alice", uri, code])
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("the person could not enter the code: {status}").into());
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let logged_in = r#"[{"user":"oidc/alice","db":"$external"}]"#;
    let grants = provider.grants();
    if !printed.contains(logged_in) || grants != [grant] {
        return Err(format!(
            "mongosh did not log in (grants {grants:?}):\n{printed}\n{}",
            server.stop()
        )
        .into());
    }
    Ok(())
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// The provider, killed on drop; the grants it honoured are read from its output.
struct Provider {
    child: Child,
    issuer: String,
    grants: mpsc::Receiver<String>,
}

impl Provider {
    fn start(node: &NodePeer, device_code_ttl: u64) -> Result<Provider, Failed> {
        let mut child = node
            .command(&script("oidc_provider.js"))
            .args([AUDIENCE, SCOPE, CLIENT_ID])
            .env("DEVICE_CODE_TTL", device_code_ttl.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (lines, grants) = mpsc::channel();
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        reader.read_line(&mut first).map_err(|e| e.to_string())?;
        let issuer = serde_json::from_str::<Value>(&first)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_owned))
            .ok_or_else(|| format!("the provider did not start: {first:?}"))?;
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line)
                    && let Some(grant) = value["grant"].as_str()
                {
                    let _ = lines.send(grant.to_owned());
                }
            }
        });
        Ok(Provider {
            child,
            issuer,
            grants,
        })
    }

    /// The grants honoured since the last call.
    fn grants(&self) -> Vec<String> {
        // Its output is a line per grant, written before the token reply goes out.
        std::thread::sleep(Duration::from_millis(100));
        self.grants.try_iter().collect()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve` trusting `issuer` for alice, with the IdpInfo of the human flow.
fn serve(issuer: &str, jwks: Option<&Path>) -> Serve {
    let mut args = vec![
        "--oidc-issuer",
        issuer,
        "--oidc-audience",
        AUDIENCE,
        "--oidc-client-id",
        CLIENT_ID,
        "--oidc-request-scope",
        SCOPE,
        "--oidc-user",
        "alice",
    ];
    let jwks = jwks.map(|p| p.to_string_lossy().into_owned());
    if let Some(jwks) = &jwks {
        args.extend(["--oidc-jwks", jwks.as_str()]);
    }
    Serve::start_with(BIN, &args)
}

/// What a `connect` run printed, and the device codes it showed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
    device_codes: usize,
}

/// `connect` to `address` with the human `flows` and these extra arguments; when it shows a
/// device code, the person enters it (if `person` is set).
fn connect(
    node: &NodePeer,
    address: &str,
    flows: &str,
    extra: &[&str],
    person: Option<&str>,
) -> Result<Run, Failed> {
    let uri = format!("mongodb://{address}/?authMechanism=MONGODB-OIDC");
    connect_to(node, &uri, flows, extra, person)
}

/// [`connect`], to a connection string of the caller's.
fn connect_to(
    node: &NodePeer,
    uri: &str,
    flows: &str,
    extra: &[&str],
    person: Option<&str>,
) -> Result<Run, Failed> {
    let mut child = Command::new(BIN)
        .args(["connect", uri, "--oidc-flows", flows, "--timeout", "20"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let node = node.clone();
    let person = person.map(str::to_owned);
    let watcher = std::thread::spawn(move || {
        let (mut text, mut codes) = (String::new(), 0);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && event["event"] == "deviceFlow"
            {
                codes += 1;
                if let Some(login) = &person {
                    let uri = event["verificationUri"].as_str().unwrap_or_default();
                    let code = event["userCode"].as_str().unwrap_or_default();
                    let entered = node
                        .command(&script("oidc_person.js"))
                        .args([login, uri, code])
                        .status();
                    text.push_str(&format!("person: {entered:?}\n"));
                }
            }
            text.push_str(&line);
            text.push('\n');
        }
        (text, codes)
    });
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("connect did not finish in 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stderr, device_codes) = watcher.join().map_err(|_| "the watcher panicked")?;
    let stdout = reader.join().map_err(|_| "the reader panicked")?;
    Ok(Run {
        ok: status.success(),
        stdout,
        stderr,
        device_codes,
    })
}

fn report(run: &Run) -> Result<Value, Failed> {
    serde_json::from_str(run.stdout.trim())
        .map_err(|e| format!("not one JSON object ({e}): {}\n{}", run.stdout, run.stderr).into())
}

fn expect_alice(run: &Run) -> Result<(), Failed> {
    let report = report(run)?;
    let users = &report["authenticatedUsers"];
    if !run.ok || users[0]["user"] != "oidc/alice" || users[0]["db"] != "$external" {
        return Err(format!("not logged in as oidc/alice: {report}\n{}", run.stderr).into());
    }
    Ok(())
}

fn device_flow_and_token_cache(node: &NodePeer) -> Result<(), Failed> {
    let provider = Provider::start(node, 600)?;
    // No JWKS file: the server finds the provider's keys from its discovery document.
    let server = serve(&provider.issuer, None);
    let files = TempDir::new("oidc-human");
    let cache = files.join("tokens.json");
    let cache_arg = cache.to_string_lossy().into_owned();
    // The tokio adapter (the code flow's test too); the fallback and failure tests use the
    // blocking one.
    let args = [
        "--json",
        "--tokio",
        "--oidc-token-cache",
        cache_arg.as_str(),
    ];

    let first = connect(node, &server.address, "device-auth", &args, Some("alice"))?;
    expect_alice(&first)?;
    if first.device_codes != 1 || !first.stderr.contains("To log in, open http://127.0.0.1") {
        return Err(format!("the device code was not shown once:\n{}", first.stderr).into());
    }
    let grants = provider.grants();
    if grants != ["urn:ietf:params:oauth:grant-type:device_code"] {
        return Err(format!("grants of the first login: {grants:?}").into());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cache)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o777 != 0o600 {
            return Err(format!("the token cache is mode {:o}", mode & 0o777).into());
        }
    }
    let saved: Value = serde_json::from_slice(&std::fs::read(&cache).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let entry = saved["entries"]
        .as_object()
        .and_then(|entries| entries.values().next())
        .cloned()
        .ok_or("the token cache has no entry")?;
    if entry["refreshToken"].as_str().is_none_or(str::is_empty) {
        return Err(format!(
            "no refresh token was kept: {:?}",
            entry.as_object().map(|o| o.keys().collect::<Vec<_>>())
        )
        .into());
    }

    // A second process with the same cache: the access token, no person, no grant.
    let second = connect(node, &server.address, "device-auth", &args, None)?;
    expect_alice(&second)?;
    let grants = provider.grants();
    if second.device_codes != 0 || !grants.is_empty() {
        return Err(format!(
            "the cached access token was not used: {} codes, grants {grants:?}",
            second.device_codes
        )
        .into());
    }

    // The access token expired: the refresh token, still no person.
    let mut expired = saved.clone();
    if let Some(entries) = expired["entries"].as_object_mut() {
        for entry in entries.values_mut() {
            entry["expiresAt"] = Value::from(1);
        }
    }
    std::fs::write(&cache, expired.to_string()).map_err(|e| e.to_string())?;
    let third = connect(node, &server.address, "device-auth", &args, None)?;
    expect_alice(&third)?;
    let grants = provider.grants();
    if third.device_codes != 0 || grants != ["refresh_token"] {
        return Err(format!(
            "the refresh token was not used: {} codes, grants {grants:?}",
            third.device_codes
        )
        .into());
    }
    Ok(())
}

fn code_flow(node: &NodePeer) -> Result<(), Failed> {
    let provider = Provider::start(node, 600)?;
    let server = serve(&provider.issuer, None);
    let port = free_port()?;
    let redirect = format!("http://127.0.0.1:{port}/redirect");
    let browser = format!(
        "{} {} alice",
        shell_quote("node"),
        shell_quote(&script("oidc_person.js").to_string_lossy())
    );
    let run = connect(
        node,
        &server.address,
        "auth-code,device-auth",
        &[
            "--json",
            // The tokio adapter: the browser and its listener on the blocking pool.
            "--tokio",
            "--oidc-token-cache",
            "none",
            "--browser",
            &browser,
            "--oidc-redirect-uri",
            &redirect,
        ],
        None,
    )?;
    expect_alice(&run)?;
    let grants = provider.grants();
    if run.device_codes != 0 || grants != ["authorization_code"] {
        return Err(format!("the code flow was not the one used: grants {grants:?}").into());
    }

    // A person who takes longer than `timeoutMS` (the browser comes back after 4 s; the
    // connection string allows 3 s) still logs in, with either adapter: the auth specification
    // keeps a person's login out of the client-side operations timeout.
    let uri = format!(
        "mongodb://{}/?authMechanism=MONGODB-OIDC&timeoutMS=3000",
        server.address
    );
    let slow_browser = format!("sleep 4; {browser}");
    for adapter in [&[][..], &["--tokio"][..]] {
        let redirect = format!("http://127.0.0.1:{}/redirect", free_port()?);
        let args = [
            "--json",
            "--oidc-token-cache",
            "none",
            "--browser",
            &slow_browser,
            "--oidc-redirect-uri",
            &redirect,
        ];
        let run = connect_to(
            node,
            &uri,
            "auth-code",
            &[&args[..], adapter].concat(),
            None,
        )?;
        expect_alice(&run).map_err(|e| format!("{adapter:?}: {e:?}"))?;
    }
    Ok(())
}

fn browser_fallback(node: &NodePeer) -> Result<(), Failed> {
    let provider = Provider::start(node, 600)?;
    let server = serve(&provider.issuer, None);
    let redirect = format!("http://127.0.0.1:{}/redirect", free_port()?);
    let args = [
        "--json",
        "--oidc-token-cache",
        "none",
        "--browser",
        "false",
        "--oidc-redirect-uri",
        &redirect,
    ];
    let run = connect(
        node,
        &server.address,
        "auth-code,device-auth",
        &args,
        Some("alice"),
    )?;
    expect_alice(&run)?;
    let grants = provider.grants();
    if run.device_codes != 1 || grants != ["urn:ietf:params:oauth:grant-type:device_code"] {
        return Err(format!("no fallback to the device flow: grants {grants:?}").into());
    }
    Ok(())
}

fn failures(node: &NodePeer) -> Result<(), Failed> {
    let files = TempDir::new("oidc-human-failures");
    let expect_refusal = |run: &Run, says: &str| -> Result<(), Failed> {
        // Text mode: every command sent is printed; the token would go in saslContinue. The
        // principal step's saslStart shows the commands were printed at all.
        let printed = run.stdout.contains("saslStart");
        if run.ok || !run.stderr.contains(says) || !printed || run.stdout.contains("saslContinue") {
            return Err(format!(
                "expected {says:?}, the principal's saslStart and no saslContinue:\n{}\n{}",
                run.stdout, run.stderr
            )
            .into());
        }
        Ok(())
    };
    let no_cache = ["--oidc-token-cache", "none"];

    // A forged redirect (another state, as any web page could send) is answered 400 and passed
    // over; the login waits for the redirect that brings back its state, here the person's
    // refusal. A "browser" that does not see the 400 exits 3, a failure the login reports.
    let provider = Provider::start(node, 3)?;
    let server = serve(&provider.issuer, None);
    let port = free_port()?;
    let redirect = format!("http://127.0.0.1:{port}/redirect");
    let forger = format!(
        "node -e {}",
        shell_quote(&format!(
            "const state = new URL(process.argv[1]).searchParams.get('state'); \
             (async () => {{ \
               const forged = await fetch('{redirect}?code=stolen&state=forged'); \
               if (forged.status !== 400) process.exit(3); \
               await fetch('{redirect}?error=access_denied&state=' + encodeURIComponent(state)); \
             }})()"
        ))
    );
    let run = connect(
        node,
        &server.address,
        "auth-code",
        &[
            &no_cache[..],
            &["--browser", &forger, "--oidc-redirect-uri", &redirect],
        ]
        .concat(),
        None,
    )?;
    expect_refusal(&run, "the identity provider refused: access_denied")?;

    // A device code nobody enters expires (the provider's lives 3 s).
    let run = connect(node, &server.address, "device-auth", &no_cache, None)?;
    expect_refusal(&run, "device code expired")?;
    if run.device_codes != 0 || !run.stderr.contains("enter the code") {
        return Err("the code was shown in text, not as JSON, without --json".into());
    }

    // The provider is down.
    drop(provider);
    let run = connect(node, &server.address, "device-auth", &no_cache, None)?;
    expect_refusal(&run, "openid-configuration")?;

    // A discovery document naming another issuer, and an http issuer that is not loopback:
    // the server has a JWKS file, so only the client reads the document.
    let jwks = files.join("jwks.json");
    let keys = TokenIssuer::generate("https://elsewhere.example").map_err(|e| e.to_string())?;
    std::fs::write(&jwks, keys.jwks()).map_err(|e| e.to_string())?;
    let liar = HttpServer::start(Box::new(|_: &str, _: &str, _: &[(String, String)]| {
        let document = r#"{"issuer": "https://elsewhere.example",
            "token_endpoint": "https://elsewhere.example/t",
            "device_authorization_endpoint": "https://elsewhere.example/d"}"#;
        (200, document.to_owned())
    }));
    let liar_issuer = format!("http://{}", liar.address);
    let server = serve(&liar_issuer, Some(&jwks));
    let run = connect(node, &server.address, "device-auth", &no_cache, None)?;
    expect_refusal(&run, "not `http://127.0.0.1")?;
    let server = serve("http://idp.example", Some(&jwks));
    let run = connect(node, &server.address, "device-auth", &no_cache, None)?;
    expect_refusal(&run, "neither https nor http to a loopback host")?;
    Ok(())
}

fn free_port() -> Result<u16, Failed> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string().into())
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

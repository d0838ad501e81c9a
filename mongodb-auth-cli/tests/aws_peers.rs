//! MONGODB-AWS against independent peers:
//!
//! - a differential test: for 250 random cases, our `a` and `d` are byte-identical to what
//!   pymongo-auth-aws (botocore's SigV4 signer) computes with its clock pinned;
//! - end to end through moto (a real SigV4 verifier, its signature checking on): `serve` forwards
//!   to moto's STS; our blocking and tokio clients, PyMongo and `mongodb-auth connect` log in with
//!   an IAM user's key and with assumed-role credentials; a wrong secret, a tampered nonce and a
//!   temporary key without its token get 18;
//! - where the credential chain sends STS requests, against boto3 in every combination of the
//!   settings that choose it;
//! - how a `credential_process` line is split into a program and its arguments, against
//!   botocore's two splitters, on random lines of quotes, escapes and spaces;
//! - which profiles a config file holds and their settings, against botocore's reader, on random
//!   files of headers, keys, comments and continuations.

use mongodb_auth_testkit::http;
use mongodb_auth_testkit::output_with_stdin;
use mongodb_auth_testkit::peers;
use mongodb_auth_testkit::serve;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use libtest_mimic::{Arguments, Failed};
use mongodb_auth::aws::{self, Credentials, SignedRequest};
use mongodb_auth::environment::MapEnvironment;
use mongodb_auth::random::{SecureRandom, SystemRandom};
use mongodb_auth::{AuthOptions, Command as DbCommand, ErrorKind, Secret};
use mongodb_auth_io::ConnectOptions;
use mongodb_auth_io::blocking;
use serde_json::{Value, json};
use serve::Serve;

/// The command under test.
const BIN: &str = env!("CARGO_BIN_EXE_mongodb-auth");

fn main() {
    let arguments = Arguments::from_args();
    let trials = peers::trials(
        &["pymongo_auth_aws", "moto", "boto3"],
        vec![
            ("differential_against_pymongo_auth_aws", differential),
            ("end_to_end_through_moto", through_moto),
            (
                "credential_chain_agrees_with_boto3",
                chain_agrees_with_boto3,
            ),
            (
                "sts_endpoints_agree_with_boto3",
                sts_endpoints_agree_with_boto3,
            ),
            (
                "command_lines_split_as_botocore_splits_them",
                command_lines_split_as_botocore_splits_them,
            ),
            (
                "config_files_read_as_botocore_reads_them",
                config_files_read_as_botocore_reads_them,
            ),
        ],
    );
    libtest_mimic::run(&arguments, trials).exit();
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/aws_peers.py")
}

/// Runs `aws_peers.py SUBCOMMAND` with `cases` on its standard input, one JSON a line; returns its
/// answers, one JSON a line, which must be one for each case.
fn python_answers(python: &Path, subcommand: &str, cases: &[Value]) -> Result<Vec<Value>, String> {
    let input: String = cases.iter().map(|case| format!("{case}\n")).collect();
    let output = output_with_stdin(
        Command::new(python).arg(script()).arg(subcommand),
        input.as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let answers: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if answers.len() != cases.len() {
        return Err(format!(
            "aws_peers.py {subcommand} answered {} of {} cases",
            answers.len(),
            cases.len()
        ));
    }
    Ok(answers)
}

/// The variables of a differential case (`{"env": {...}}`), for the chain.
fn environment_of(case: &Value) -> MapEnvironment {
    case["env"]
        .as_object()
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Each case where `ours` and boto3's answer disagree. A failure is an answer too: both must
/// fail (what each calls it may differ), or give the same answer.
fn differences_from_boto3(
    cases: &[Value],
    theirs: &[Value],
    mut ours: impl FnMut(&Value) -> Value,
) -> Vec<String> {
    let verdict = |answer: &Value| match answer.get("error") {
        Some(_) => json!("error"),
        None => answer.clone(),
    };
    cases
        .iter()
        .zip(theirs)
        .filter_map(|(case, theirs)| {
            let ours = ours(case);
            (verdict(&ours) != verdict(theirs))
                .then(|| format!("{case}\n  ours  {ours}\n  boto3 {theirs}"))
        })
        .collect()
}

/// Prints how many of `cases` (`what`: environments, lines, files) differ, with `summary`; an
/// error listing them if any.
fn agreed(differences: &[String], cases: usize, what: &str, summary: &str) -> Result<(), Failed> {
    eprintln!(
        "{cases} {what}, {} differences; {summary}",
        differences.len()
    );
    if differences.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of {cases} {what} differ:\n{}",
        differences.len(),
        differences.join("\n")
    )
    .into())
}

fn random_below(bound: u32) -> u32 {
    let mut bytes = [0u8; 4];
    SystemRandom.fill(&mut bytes);
    u32::from_le_bytes(bytes) % bound
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[random_below(alphabet.len() as u32) as usize]))
        .collect()
}

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_host() -> String {
    let regions = ["us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2"];
    match random_below(4) {
        0 => "sts.amazonaws.com".to_owned(),
        1 => format!(
            "sts.{}.amazonaws.com",
            regions[random_below(regions.len() as u32) as usize]
        ),
        2 => "localhost".to_owned(),
        _ => {
            let labels = 2 + random_below(3) as usize;
            (0..labels)
                .map(|_| {
                    random_text(
                        b"abcdefghijklmnopqrstuvwxyz0123456789-",
                        1 + random_below(12) as usize,
                    )
                })
                .collect::<Vec<_>>()
                .join(".")
        }
    }
}

fn differential(python: &Path) -> Result<(), Failed> {
    const CASES: usize = 250;
    let mut cases = Vec::new();
    for i in 0..CASES {
        let temporary = i % 2 == 1;
        let mut nonce = [0u8; 64];
        SystemRandom.fill(&mut nonce);
        cases.push(json!({
            "access_key_id": format!("{}{}", if temporary { "ASIA" } else { "AKIA" }, random_text(UPPER_ALNUM, 16)),
            "secret_access_key": random_text(BASE64_CHARS, 40),
            "session_token": temporary.then(|| random_text(BASE64_CHARS, 100 + random_below(300) as usize)),
            "server_nonce": BASE64.encode(nonce),
            "host": random_host(),
            // 2000-01-01 to 2029-12-31.
            "epoch": 946_684_800 + u64::from(random_below(946_080_000)),
        }));
    }
    let theirs = python_answers(python, "sign", &cases)?;
    let mut differences = Vec::new();
    for (case, theirs) in cases.iter().zip(&theirs) {
        let text = |key: &str| case[key].as_str().unwrap_or_default().to_owned();
        let credentials = Credentials::new(
            text("access_key_id"),
            Secret::new(text("secret_access_key")),
            case["session_token"].as_str().map(Secret::new),
        );
        let nonce = BASE64
            .decode(text("server_nonce"))
            .map_err(|e| e.to_string())?;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(case["epoch"].as_u64().unwrap_or(0));
        let ours = SignedRequest::sign(&nonce, &text("host"), &credentials, at)
            .map_err(|e| e.to_string())?;
        let ours = json!({ "a": ours.authorization(), "d": ours.date() });
        if ours["a"] != theirs["a"]
            || ours["d"] != theirs["d"]
            || case["session_token"] != theirs.get("t").cloned().unwrap_or(Value::Null)
        {
            differences.push(format!("case {case}:\n  ours   {ours}\n  theirs {theirs}"));
        }
    }
    if differences.is_empty() {
        eprintln!("{CASES} cases, 0 differences");
        Ok(())
    } else {
        Err(format!(
            "{} of {CASES} cases differ:\n{}",
            differences.len(),
            differences.join("\n")
        )
        .into())
    }
}

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start(python: &Path) -> Result<Moto, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let moto_server = python.with_file_name("moto_server");
        let child = Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", moto_server.display()))?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}/"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err("moto_server did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aws_options(access_key_id: &str, secret: &str, token: Option<&str>) -> ConnectOptions {
    let mut variables = vec![
        ("AWS_ACCESS_KEY_ID", access_key_id.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", secret.to_owned()),
    ];
    if let Some(token) = token {
        variables.push(("AWS_SESSION_TOKEN", token.to_owned()));
    }
    let environment = MapEnvironment::from_iter(variables);
    let mut options = ConnectOptions::default()
        .auth_options(AuthOptions::default().with_environment(environment));
    options.read_timeout = Some(Duration::from_secs(15));
    options
}

/// Logs in with both adapters; returns the users each saw, or the error kind.
fn login_both(
    uri: &str,
    options: impl Fn() -> ConnectOptions,
) -> [Result<Vec<(String, String)>, ErrorKind>; 2] {
    let blocking = blocking::connect(uri, options())
        .and_then(|mut c| c.authenticated_users())
        .map_err(|e| e.kind());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let tokio = runtime.block_on(async {
        let mut connection = mongodb_auth_io::tokio::connect(uri, options()).await?;
        connection.authenticated_users().await
    });
    [blocking, tokio.map_err(|e| e.kind())]
}

fn through_moto(python: &Path) -> Result<(), Failed> {
    let moto = Moto::start(python)?;
    let setup = Command::new(python)
        .arg(script())
        .args(["moto-setup", &moto.endpoint])
        .output()
        .map_err(|e| e.to_string())?;
    if !setup.status.success() {
        return Err(format!("moto setup: {}", String::from_utf8_lossy(&setup.stderr)).into());
    }
    let keys: Value = serde_json::from_slice(&setup.stdout).map_err(|e| e.to_string())?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let (user_arn, role_arn) = (text(&keys["user_arn"]), text(&keys["role_arn"]));
    let (key, secret) = (
        text(&keys["access_key_id"]),
        text(&keys["secret_access_key"]),
    );
    let temporary = &keys["temporary"];
    let (temp_key, temp_secret, temp_token) = (
        text(&temporary["access_key_id"]),
        text(&temporary["secret_access_key"]),
        text(&temporary["session_token"]),
    );
    let server = Serve::start_with(
        BIN,
        &[
            "--aws-sts-endpoint",
            &moto.endpoint,
            "--aws-user",
            &user_arn,
            "--aws-user",
            &role_arn,
        ],
    );
    let uri = format!("mongodb://{}/?authMechanism=MONGODB-AWS", server.address);
    let external = |arn: &str| Ok(vec![(arn.to_owned(), "$external".to_owned())]);
    let mut problems = Vec::new();
    let cases = [
        (
            "the IAM user's key",
            login_both(&uri, || aws_options(&key, &secret, None)),
            external(&user_arn),
        ),
        (
            "assumed-role credentials with their token (the role's user)",
            login_both(&uri, || {
                aws_options(&temp_key, &temp_secret, Some(&temp_token))
            }),
            external(&role_arn),
        ),
        (
            "a wrong secret",
            login_both(&uri, || aws_options(&key, "not-the-secret", None)),
            Err(ErrorKind::AuthenticationFailed),
        ),
        (
            "a temporary key without its token",
            login_both(&uri, || aws_options(&temp_key, &temp_secret, None)),
            Err(ErrorKind::AuthenticationFailed),
        ),
    ];
    for (what, got, want) in cases {
        for (adapter, got) in ["blocking", "tokio"].iter().zip(got) {
            if got != want {
                problems.push(format!(
                    "{what} ({adapter}): got {got:?}, expected {want:?}"
                ));
            }
        }
    }
    match tampered_nonce(&server.address, &key, &secret) {
        Ok(18) => {}
        other => problems.push(format!("a tampered nonce: got {other:?}, expected code 18")),
    }

    // PyMongo, with the credentials in its environment.
    let pymongo = Command::new(python)
        .args([
            "-c",
            "import sys, json\nfrom pymongo import MongoClient\n\
             c = MongoClient(sys.argv[1], serverSelectionTimeoutMS=15000)\n\
             print(json.dumps(c.admin.command('connectionStatus')['authInfo']['authenticatedUsers']))",
            &uri,
        ])
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .map_err(|e| e.to_string())?;
    let pymongo_users: Value = serde_json::from_slice(&pymongo.stdout).unwrap_or(Value::Null);
    if pymongo_users != json!([{ "user": user_arn, "db": "$external" }]) {
        problems.push(format!(
            "PyMongo: {pymongo_users} {}",
            String::from_utf8_lossy(&pymongo.stderr)
        ));
    }

    // The command, with the credentials in its environment.
    let connect = Command::new(BIN)
        .args(["connect", &uri, "--json"])
        .env("AWS_ACCESS_KEY_ID", &key)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .map_err(|e| e.to_string())?;
    let report: Value = serde_json::from_slice(&connect.stdout).unwrap_or(Value::Null);
    if report["authenticatedUsers"] != json!([{ "user": user_arn, "db": "$external" }])
        || report["mechanism"] != "MONGODB-AWS"
    {
        problems.push(format!("mongodb-auth connect: {report}"));
    }
    // The credential chain against moto's STS: a profile with role_arn (AssumeRole, signed with
    // the source profile's keys), web identity from the environment and from a profile (how
    // EKS and CI systems write ~/.aws/config); each logs in as the role's user, with each
    // adapter.
    let home = mongodb_auth_testkit::TempDir::new("moto-home");
    std::fs::create_dir_all(home.join(".aws")).map_err(|e| e.to_string())?;
    std::fs::write(
        home.join(".aws/credentials"),
        format!("[base]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    )
    .map_err(|e| e.to_string())?;
    let token_file = home.join("web-identity-token");
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile role]\nrole_arn = {role_arn}\nsource_profile = base\n\
             [profile ci]\nrole_arn = {role_arn}\nweb_identity_token_file = {}\nrole_session_name = ci-job\n",
            token_file.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(&token_file, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0.")
        .map_err(|e| e.to_string())?;
    let home_var = home.to_str().unwrap_or_default().to_owned();
    let token_var = token_file.to_str().unwrap_or_default().to_owned();
    let chain_cases: [(&str, Vec<(&str, &str)>); 3] = [
        ("assume-role", vec![("AWS_PROFILE", "role")]),
        (
            "web-identity",
            vec![
                ("AWS_WEB_IDENTITY_TOKEN_FILE", token_var.as_str()),
                ("AWS_ROLE_ARN", role_arn.as_str()),
            ],
        ),
        ("web-identity", vec![("AWS_PROFILE", "ci")]),
    ];
    for (source, vars) in &chain_cases {
        let run = |args: &[&str]| {
            // AssumeRoleWithWebIdentity is unsigned, as in AWS; moto with its signature checking on
            // would refuse it, so it is let through once per run.
            if *source == "web-identity" {
                let _ = ureq::post(format!("{}moto-api/reset-auth", moto.endpoint))
                    .header("Content-Type", "text/plain")
                    .send("1");
            }
            let mut command = Command::new(BIN);
            command
                .env_clear()
                .env("HOME", &home_var)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_ENDPOINT_URL_STS", &moto.endpoint)
                // An endpoint of one's own needs a region to sign for, in boto3 as here.
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .args(args);
            for (name, value) in vars {
                command.env(name, value);
            }
            command.output()
        };
        let report: Value = run(&["aws-credentials", "--json"])
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null);
        if report["source"] != *source || report["sessionToken"] != true {
            problems.push(format!("aws-credentials for {source}: {report}"));
        }
        for adapter in [
            &["connect", &uri, "--json"][..],
            &["connect", &uri, "--json", "--tokio"],
        ] {
            let login: Value = run(adapter)
                .ok()
                .and_then(|o| serde_json::from_slice(&o.stdout).ok())
                .unwrap_or(Value::Null);
            if login["authenticatedUsers"] != json!([{ "user": role_arn, "db": "$external" }]) {
                problems.push(format!(
                    "a login with {source} credentials ({vars:?}, {adapter:?}): {login}"
                ));
            }
        }
    }
    // Instance metadata (IMDSv2, on loopback through the endpoint override) handing out the IAM
    // user's key: the login is the user's.
    let imds_credentials = format!(
        "{{\"Code\": \"Success\", \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \"{secret}\", \"Token\": \"\", \"Expiration\": \"2099-01-01T00:00:00Z\"}}"
    );
    let imds = http::HttpServer::start(Box::new(move |method, path, headers| {
        let token = headers
            .iter()
            .any(|(n, v)| n == "x-aws-ec2-metadata-token" && v == "t0k3n");
        match (method, path, token) {
            ("PUT", "/latest/api/token", _) => (200, "t0k3n".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/", true) => {
                (200, "alice-role".into())
            }
            ("GET", "/latest/meta-data/iam/security-credentials/alice-role", true) => {
                (200, imds_credentials.clone())
            }
            _ => (401, String::new()),
        }
    }));
    let login: Value = Command::new(BIN)
        .env_clear()
        .env("HOME", &home_var)
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{}", imds.address),
        )
        .args(["connect", &uri, "--json"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or(Value::Null);
    if login["authenticatedUsers"] != json!([{ "user": user_arn, "db": "$external" }]) {
        problems.push(format!(
            "a login with instance-metadata credentials: {login}"
        ));
    }

    let log = server.stop();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}\nserver log:\n{log}", problems.join("\n")).into())
    }
}

/// A MONGODB-AWS conversation by hand whose server nonce is changed (its last byte) before
/// signing: the server forwards the request with the nonce it sent, so STS must refuse it.
/// Returns the server's error code.
fn tampered_nonce(address: &str, key: &str, secret: &str) -> Result<i32, String> {
    let mut connection = blocking::connect(
        format!("mongodb://{address}/").as_str(),
        ConnectOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let (client_first, client) = aws::ClientFirst::start(&mut SystemRandom);
    let mut start = bson::rawdoc! { "saslStart": 1, "mechanism": "MONGODB-AWS" };
    start.append(bson::raw::cstr!("payload"), binary(&client_first));
    let reply = connection
        .run_command(&DbCommand::new("$external", start.into_bytes()))
        .map_err(|e| e.to_string())?;
    let reply = bson::Document::from_reader(reply.as_slice()).map_err(|e| e.to_string())?;
    let conversation = reply.get_i32("conversationId").map_err(|e| e.to_string())?;
    let server_first = reply
        .get_binary_generic("payload")
        .map_err(|e| e.to_string())?;
    let mut tampered =
        bson::Document::from_reader(server_first.as_slice()).map_err(|e| e.to_string())?;
    let mut nonce = tampered
        .get_binary_generic("s")
        .map_err(|e| e.to_string())?
        .clone();
    if let Some(last) = nonce.last_mut() {
        *last ^= 1;
    }
    tampered.insert(
        "s",
        bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: nonce,
        },
    );
    let client_final = client
        .finish(
            &tampered.to_vec().map_err(|e| e.to_string())?,
            &Credentials::new(key, secret, None),
            SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
    let mut next = bson::rawdoc! { "saslContinue": 1, "conversationId": conversation };
    next.append(bson::raw::cstr!("payload"), binary(&client_final));
    let reply = connection
        .run_command(&DbCommand::new("$external", next.into_bytes()))
        .map_err(|e| e.to_string())?;
    let reply = bson::Document::from_reader(reply.as_slice()).map_err(|e| e.to_string())?;
    reply.get_i32("code").map_err(|e| format!("{e}: {reply}"))
}

fn binary(bytes: &[u8]) -> bson::RawBinaryRef<'_> {
    bson::RawBinaryRef {
        subtype: bson::spec::BinarySubtype::Generic,
        bytes,
    }
}

/// Writes the homes the generated environments point at; returns (home, profiles it defines).
fn write_homes(root: &Path) -> Vec<(PathBuf, Vec<&'static str>)> {
    let process = |home: &Path, key: &str| {
        let script = home.join("creds.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{key}\", \"SecretAccessKey\": \"s\", \"SessionToken\": \"t\"}}'\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    };
    let write = |home: &Path, credentials: Option<&str>, config: &str| {
        std::fs::create_dir_all(home.join(".aws")).unwrap();
        if let Some(credentials) = credentials {
            std::fs::write(home.join(".aws/credentials"), credentials).unwrap();
        }
        std::fs::write(home.join(".aws/config"), config).unwrap();
    };
    let a = root.join("a");
    std::fs::create_dir_all(&a).unwrap();
    let a_process = process(&a, "AKIAPROCESSA");
    // A process that says how it was called: its key is the number of its arguments and the
    // arguments joined with commas. Its line has what a shell would read and botocore passes
    // as written (a quoted space, a variable, a `#`, a `|`, a `;`).
    let arguments_process = a.join("args.sh");
    std::fs::write(
        &arguments_process,
        "#!/bin/sh\nIFS=,\necho \"{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"$#:$*\\\", \\\"SecretAccessKey\\\": \\\"s\\\"}\"\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&arguments_process, std::fs::Permissions::from_mode(0o755))
            .unwrap();
    }
    write(
        &a,
        Some(
            "[default]\naws_access_key_id = AKIACREDDEFAULT\naws_secret_access_key = s\n\n[dev]\naws_access_key_id = AKIACREDDEV\naws_secret_access_key = s\naws_session_token = t\n",
        ),
        &format!(
            "[default]\nregion = us-east-1\n[profile dev]\nregion = eu-west-1\n[profile cfg]\naws_access_key_id = AKIACONFIGCFG\naws_secret_access_key = s\n[profile proc]\ncredential_process = {}\n[profile proc-args]\ncredential_process = {} 'a b' $HOME #c x|y \"d;e\"\n",
            a_process.display(),
            arguments_process.display(),
        ),
    );
    let b = root.join("b");
    std::fs::create_dir_all(&b).unwrap();
    let b_process = process(&b, "AKIAPROCESSB");
    write(
        &b,
        None,
        &format!(
            "[default]\naws_access_key_id = AKIACONFIGDEFAULT\naws_secret_access_key = s\n[profile proc]\ncredential_process = {}\n",
            b_process.display()
        ),
    );
    let c = root.join("c");
    std::fs::create_dir_all(&c).unwrap();
    write(
        &c,
        Some("[default]\naws_access_key_id = AKIACREDC\naws_secret_access_key = s\n"),
        "[default]\n",
    );
    // A home without keys, so the container and instance-metadata sources come into play.
    let d = root.join("d");
    std::fs::create_dir_all(&d).unwrap();
    write(&d, None, "[default]\nregion = us-east-1\n");
    // Roles (AssumeRole through every kind of source, web identity), SSO of both forms.
    let e = root.join("e");
    std::fs::create_dir_all(e.join(".aws/sso/cache")).unwrap();
    std::fs::write(e.join("token"), "a-web-identity-token").unwrap();
    let token = e.join("token");
    let token = token.display();
    let role = |name: &str| format!("arn:aws:iam::123456789012:role/{name}");
    write(
        &e,
        Some(&format!(
            "[default]\naws_access_key_id = AKIACREDE\naws_secret_access_key = s\n[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = s\n[creds-role]\nrole_arn = {}\nsource_profile = base\n",
            role("credsrole")
        )),
        &format!(
            "[default]\nregion = us-east-1\n\
             [profile ar]\nrole_arn = {ar}\nsource_profile = base\n\
             [profile ar-opts]\nrole_arn = {opts}\nsource_profile = base\nexternal_id = ext\nrole_session_name = sess\nduration_seconds = 900\n\
             [profile ar-env]\nrole_arn = {env}\ncredential_source = Environment\n\
             [profile ar-ecs]\nrole_arn = {ecs}\ncredential_source = EcsContainer\n\
             [profile ar-imds]\nrole_arn = {imds}\ncredential_source = Ec2InstanceMetadata\n\
             [profile ar-chain]\nrole_arn = {chain}\nsource_profile = ar\n\
             [profile ar-wi-source]\nrole_arn = {wisource}\nsource_profile = wi\n\
             [profile ar-self]\nrole_arn = {own}\nsource_profile = ar-self\naws_access_key_id = AKIASELF\naws_secret_access_key = s\n\
             [profile ar-loop]\nrole_arn = {looping}\nsource_profile = ar-loop2\n\
             [profile ar-loop2]\nrole_arn = {looping}\nsource_profile = ar-loop\n\
             [profile ar-both]\nrole_arn = {ar}\nsource_profile = base\ncredential_source = Environment\n\
             [profile ar-none]\nrole_arn = {ar}\n\
             [profile ar-ghost]\nrole_arn = {ar}\nsource_profile = ghost\n\
             [profile wi]\nrole_arn = {wi}\nweb_identity_token_file = {token}\nrole_session_name = wisess\n\
             [profile wi-norole]\nweb_identity_token_file = {token}\n\
             [profile sso-new]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\
             [profile sso-old]\nsso_start_url = https://old.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 222222222222\nsso_role_name = Ops\n\
             [profile sso-expired]\nsso_start_url = https://expired.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 333333333333\nsso_role_name = Ops\n\
             [profile sso-missing]\nsso_start_url = https://missing.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 444444444444\nsso_role_name = Ops\n\
             [profile sso-partial]\nsso_account_id = 555555555555\n",
            ar = role("ar"),
            opts = role("opts"),
            env = role("arenv"),
            ecs = role("arecs"),
            imds = role("arimds"),
            chain = role("archain"),
            wisource = role("arwisource"),
            own = role("arself"),
            looping = role("loop"),
            wi = role("wi"),
        ),
    );
    let cache = e.join(".aws/sso/cache");
    let sso_token = |key: &str, access: &str, expires: &str| {
        let name = hex_sha1(key);
        std::fs::write(
            cache.join(format!("{name}.json")),
            format!(
                r#"{{"startUrl": "{key}", "region": "us-east-1", "accessToken": "{access}", "expiresAt": "{expires}"}}"#
            ),
        )
        .unwrap();
    };
    sso_token("corp", "good", "2099-01-01T00:00:00Z");
    sso_token(
        "https://old.awsapps.com/start",
        "good",
        "2099-01-01T00:00:00Z",
    );
    sso_token(
        "https://expired.awsapps.com/start",
        "good",
        "2020-01-01T00:00:00Z",
    );
    let roles = vec![
        "default",
        "base",
        "creds-role",
        "ar",
        "ar-opts",
        "ar-env",
        "ar-ecs",
        "ar-imds",
        "ar-chain",
        "ar-wi-source",
        "ar-self",
        "ar-loop",
        "ar-both",
        "ar-none",
        "ar-ghost",
        "wi",
        "wi-norole",
        "sso-new",
        "sso-old",
        "sso-expired",
        "sso-missing",
        "sso-partial",
    ];
    vec![
        (a, vec!["default", "dev", "cfg", "proc", "proc-args"]),
        (b, vec!["default", "proc"]),
        (c, vec!["default"]),
        (d.clone(), vec!["default"]),
        (d, vec!["default"]),
        (e.clone(), roles.clone()),
        (e, roles),
    ]
}

/// The SHA-1 of `text` in hex, as botocore names SSO token files.
fn hex_sha1(text: &str) -> String {
    let output = output_with_stdin(&mut Command::new("sha1sum"), text.as_bytes()).unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A generator of the differential's environments: a fixed seed, so a run can be repeated.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, bound: usize) -> usize {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % bound as u64) as usize
    }
}

/// The stand-ins of every endpoint the chain may call, on loopback: the container and
/// instance-metadata (IMDSv2) credentials, STS (AssumeRole and AssumeRoleWithWebIdentity,
/// answered with a key named after the role, so boto3 and the crate get the same one), and the
/// SSO portal.
fn endpoints() -> http::HttpServer {
    http::HttpServer::start_with_requests(Box::new(|request| {
        let credentials = |key: &str| {
            format!(
                r#"{{"Code": "Success", "AccessKeyId": "{key}", "SecretAccessKey": "s", "Token": "t", "Expiration": "2099-01-01T00:00:00Z"}}"#
            )
        };
        let path = request.path.split('?').next().unwrap_or_default();
        match (request.method.as_str(), path) {
            ("GET", "/container") => (200, credentials("AKIACONTAINER")),
            ("PUT", "/latest/api/token") => (200, "imds-token".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "role".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/role") => {
                (200, credentials("AKIAINSTANCE"))
            }
            ("POST", "/") => {
                let form = String::from_utf8_lossy(&request.body).into_owned();
                let value = |key: &str| {
                    form.split('&')
                        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
                        .unwrap_or_default()
                        .to_owned()
                };
                let action = value("Action");
                if action == "AssumeRole" && request.header("authorization").is_none() {
                    return (403, "unsigned".into());
                }
                let role = value("RoleArn")
                    .rsplit("%2F")
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase()
                    .replace('-', "");
                let kind = if action == "AssumeRole" {
                    "ROLE"
                } else {
                    "WEBID"
                };
                (
                    200,
                    format!(
                        r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result><Credentials><AccessKeyId>ASIA{kind}{role}</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></{action}Result></{action}Response>"#
                    ),
                )
            }
            ("GET", "/federation/credentials") => match request.header("x-amz-sso_bearer_token") {
                Some("good") => {
                    let account = request
                        .path
                        .split(['?', '&'])
                        .find_map(|p| p.strip_prefix("account_id="))
                        .unwrap_or_default()
                        .to_owned();
                    (
                        200,
                        format!(
                            r#"{{"roleCredentials": {{"accessKeyId": "ASIASSO{account}", "secretAccessKey": "s", "sessionToken": "t", "expiration": 4070908800000}}}}"#
                        ),
                    )
                }
                _ => (
                    401,
                    r#"{"message": "Session token not found or invalid"}"#.into(),
                ),
            },
            _ => (404, String::new()),
        }
    }))
}

fn chain_agrees_with_boto3(python: &Path) -> Result<(), Failed> {
    use mongodb_auth::aws::{ChainStep, CredentialChain, Source};
    // Another seed, or more environments: MONGODB_AUTH_DIFFERENTIAL_SEED and _CASES.
    let number = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = number("MONGODB_AUTH_DIFFERENTIAL_SEED", 0x5eed);
    let wanted = usize::try_from(number("MONGODB_AUTH_DIFFERENTIAL_CASES", 250)).unwrap_or(250);
    let mut random = Seeded(seed);
    let root = mongodb_auth_testkit::TempDir::new("boto3");
    let homes = write_homes(&root);
    let token_file = homes
        .last()
        .map(|(home, _)| home.join("token"))
        .unwrap_or_default();
    let endpoints = endpoints();
    let local = format!("http://{}", endpoints.address);
    let mut cases = Vec::new();
    for _ in 0..wanted {
        let mut pick = |items: usize| random.below(items);
        let (home, profiles) = &homes[pick(homes.len())];
        let mut env = serde_json::Map::new();
        env.insert("HOME".into(), json!(home.to_str().unwrap_or_default()));
        for variable in ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSO"] {
            env.insert(variable.into(), json!(local));
        }
        // With its endpoint overridden, boto3's STS client needs a region to sign for (it
        // would use the global endpoint's otherwise).
        env.insert("AWS_DEFAULT_REGION".into(), json!("us-east-1"));
        // Never the link-local address: EC2 is off, or its endpoint is the local one.
        if pick(3) == 0 {
            env.insert("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), json!(local));
        } else {
            env.insert("AWS_EC2_METADATA_DISABLED".into(), json!("true"));
        }
        if pick(3) == 0 {
            env.insert(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
                json!(format!("{local}/container")),
            );
        }
        match pick(5) {
            1 => {
                env.insert("AWS_ACCESS_KEY_ID".into(), json!("AKIAENVIRONMENT"));
                env.insert("AWS_SECRET_ACCESS_KEY".into(), json!("s"));
            }
            2 => {
                env.insert("AWS_ACCESS_KEY_ID".into(), json!("AKIAENVTOKEN"));
                env.insert("AWS_SECRET_ACCESS_KEY".into(), json!("s"));
                env.insert("AWS_SESSION_TOKEN".into(), json!("t"));
            }
            3 => {
                env.insert("AWS_ACCESS_KEY_ID".into(), json!(""));
            }
            _ => {}
        }
        // Web identity from the environment: a token file, with its role or without, and a
        // session name or not.
        if pick(6) == 0 {
            env.insert(
                "AWS_WEB_IDENTITY_TOKEN_FILE".into(),
                json!(token_file.to_str().unwrap_or_default()),
            );
            if pick(4) != 0 {
                env.insert(
                    "AWS_ROLE_ARN".into(),
                    json!("arn:aws:iam::123456789012:role/envwi"),
                );
            }
            if pick(2) == 0 {
                env.insert("AWS_ROLE_SESSION_NAME".into(), json!("envsession"));
            }
        }
        for variable in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"] {
            if pick(2) == 0 {
                env.insert(variable.into(), json!(profiles[pick(profiles.len())]));
            }
        }
        if pick(8) == 0 {
            env.insert("AWS_SHARED_CREDENTIALS_FILE".into(), json!(""));
        }
        let profile = (pick(4) == 0).then(|| profiles[pick(profiles.len())]);
        cases.push(json!({ "env": env, "profile": profile }));
    }

    let theirs = python_answers(python, "boto3-chain", &cases)?;
    let boto3_method = |source: Source| match source {
        Source::Environment => "env",
        Source::AssumeRole => "assume-role",
        Source::WebIdentity => "assume-role-with-web-identity",
        Source::SharedCredentialsFile => "shared-credentials-file",
        Source::Process => "custom-process",
        Source::ConfigFile => "config-file",
        Source::Container => "container-role",
        Source::Ec2 => "iam-role",
        other => other.as_str(),
    };
    let differences = differences_from_boto3(&cases, &theirs, |case| {
        let mut chain = CredentialChain::new(std::sync::Arc::new(environment_of(case)));
        if let Some(profile) = case["profile"].as_str() {
            chain = chain.profile(profile);
        }
        let ours = (|| -> mongodb_auth::Result<_> {
            let mut step = chain.step()?;
            loop {
                step = match step {
                    ChainStep::Ask(ask) => chain.answer(mongodb_auth_io::answer::answer(&ask))?,
                    ChainStep::Done(resolved) => return Ok(resolved),
                    other => panic!("unexpected {other:?}"),
                };
            }
        })();
        match ours {
            Ok(resolved) => json!({
                "method": boto3_method(resolved.source),
                "access_key": resolved.credentials.access_key_id(),
            }),
            Err(mongodb_auth::Error::Aws(mongodb_auth::AwsError::NoCredentials { .. })) => {
                Value::Null
            }
            Err(error) => json!({ "error": error.to_string() }),
        }
    });
    // How often each of boto3's verdicts came up: every source must have been hit.
    let mut histogram = std::collections::BTreeMap::new();
    for answer in &theirs {
        let name = match answer {
            Value::Null => "none".to_owned(),
            answer if answer.get("error").is_some() => "error".to_owned(),
            answer => answer["method"].as_str().unwrap_or("?").to_owned(),
        };
        *histogram.entry(name).or_insert(0) += 1;
    }
    agreed(
        &differences,
        cases.len(),
        "environments",
        &format!("seed {seed:#x}; boto3's verdicts: {histogram:?}"),
    )?;
    let missed: Vec<&str> = [
        "env",
        "assume-role",
        "assume-role-with-web-identity",
        "sso",
        "shared-credentials-file",
        "custom-process",
        "config-file",
        "container-role",
        "iam-role",
        "error",
        "none",
    ]
    .into_iter()
    .filter(|name| !histogram.contains_key(*name))
    .collect();
    if !missed.is_empty() && cases.len() >= 200 {
        return Err(format!("no environment came to {missed:?}: widen the generator").into());
    }
    // The process of `proc-args` got its arguments as botocore split them, and so did ours
    // (the answers agree), at least once.
    let split_as_written = theirs
        .iter()
        .any(|answer| answer["access_key"] == "5:a b,$HOME,#c,x|y,d;e");
    if !split_as_written && cases.len() >= 200 {
        return Err("no environment ran the profile proc-args: widen the generator".into());
    }
    Ok(())
}

/// Where the first STS request of an AssumeRole goes, and the region it is signed for, in every
/// combination of what chooses them: `AWS_DEFAULT_REGION`, `AWS_REGION` (which botocore does not
/// read), `AWS_STS_REGIONAL_ENDPOINTS`, the profile's `region` and `sts_regional_endpoints`, and
/// an endpoint of one's own. boto3 answers without sending anything; the chain's ask is taken
/// and not answered.
fn sts_endpoints_agree_with_boto3(python: &Path) -> Result<(), Failed> {
    use mongodb_auth::ask::Ask;
    use mongodb_auth::aws::{ChainStep, CredentialChain};
    let home = mongodb_auth_testkit::TempDir::new("sts-endpoints");
    std::fs::create_dir_all(home.join(".aws")).map_err(|e| e.to_string())?;
    std::fs::write(
        home.join(".aws/credentials"),
        "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = s\n",
    )
    .map_err(|e| e.to_string())?;
    let role = "role_arn = arn:aws:iam::123456789012:role/r\nsource_profile = base\n";
    let mut config = String::new();
    let mut profiles = Vec::new();
    for region in [
        None,
        Some("eu-west-3"),
        Some("ap-east-1"),
        Some("cn-north-1"),
    ] {
        for mode in [None, Some("legacy"), Some("regional")] {
            let name = format!("r-{}-{}", region.unwrap_or("none"), mode.unwrap_or("none"));
            config.push_str(&format!("[profile {name}]\n{role}"));
            if let Some(region) = region {
                config.push_str(&format!("region = {region}\n"));
            }
            if let Some(mode) = mode {
                config.push_str(&format!("sts_regional_endpoints = {mode}\n"));
            }
            profiles.push(name);
        }
    }
    std::fs::write(home.join(".aws/config"), config).map_err(|e| e.to_string())?;
    let home_var = home.to_str().unwrap_or_default().to_owned();
    // Every profile, default region and mode; `AWS_REGION` on every third case and an endpoint
    // of one's own on every seventh, strides prime to the five modes, so both meet each mode.
    let mut cases = Vec::new();
    for profile in &profiles {
        for default_region in [
            None,
            Some("eu-west-1"),
            Some("us-gov-west-1"),
            Some("aws-global"),
            Some("aws-cn-global"),
        ] {
            for mode in [
                None,
                Some(""),
                Some("regional"),
                Some("legacy"),
                Some("bogus"),
            ] {
                let index = cases.len();
                let mut env = serde_json::Map::new();
                env.insert("HOME".into(), json!(home_var));
                env.insert("AWS_PROFILE".into(), json!(profile));
                env.insert("AWS_EC2_METADATA_DISABLED".into(), json!("true"));
                let mut set = |name: &str, value: Option<&str>| {
                    if let Some(value) = value {
                        env.insert(name.into(), json!(value));
                    }
                };
                set("AWS_DEFAULT_REGION", default_region);
                set("AWS_STS_REGIONAL_ENDPOINTS", mode);
                set("AWS_REGION", (index % 3 == 1).then_some("eu-central-1"));
                set(
                    "AWS_ENDPOINT_URL_STS",
                    (index % 7 == 0).then_some("http://127.0.0.1:9/"),
                );
                cases.push(json!({ "env": env }));
            }
        }
    }
    let theirs = python_answers(python, "sts-endpoint", &cases)?;
    let differences = differences_from_boto3(&cases, &theirs, |case| {
        let mut chain = CredentialChain::new(std::sync::Arc::new(environment_of(case)));
        (|| -> mongodb_auth::Result<Value> {
            let mut step = chain.step()?;
            loop {
                step = match step {
                    ChainStep::Ask(Ask::Http(request)) => {
                        let authorization = request
                            .headers()
                            .iter()
                            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                            .map(|(_, value)| value.expose().to_owned())
                            .unwrap_or_default();
                        let region = authorization
                            .split("Credential=")
                            .nth(1)
                            .and_then(|scope| scope.split('/').nth(2))
                            .map(str::to_owned);
                        return Ok(json!({ "url": request.url(), "region": region }));
                    }
                    ChainStep::Ask(ask) => chain.answer(mongodb_auth_io::answer::answer(&ask))?,
                    other => return Ok(json!({ "error": format!("{other:?}") })),
                };
            }
        })()
        .unwrap_or_else(|error| json!({ "error": error.to_string() }))
    });
    let endpoints_seen: std::collections::BTreeSet<&str> = theirs
        .iter()
        .map(|answer| answer["url"].as_str().unwrap_or("an error"))
        .collect();
    agreed(
        &differences,
        cases.len(),
        "environments",
        &format!("boto3's endpoints: {endpoints_seen:?}"),
    )?;
    // The matrix must have reached every kind of answer, or it shows less than it says.
    for expected in [
        "https://sts.amazonaws.com/",
        "https://sts.eu-west-1.amazonaws.com/",
        "https://sts.eu-west-3.amazonaws.com/",
        "https://sts.cn-north-1.amazonaws.com.cn/",
        "http://127.0.0.1:9/",
        "an error",
    ] {
        if !endpoints_seen.contains(expected) {
            return Err(format!("no environment came to {expected}").into());
        }
    }
    Ok(())
}

/// 600 random lines of the characters that matter to a splitter (quotes, backslashes, four kinds
/// of space, `#`, `$`, `|`, a letter beyond ASCII): our POSIX and Windows splitters give the
/// words, or the refusal, that `shlex.split` and botocore's Windows splitter give.
fn command_lines_split_as_botocore_splits_them(python: &Path) -> Result<(), Failed> {
    use mongodb_auth::fuzzing::{split_posix, split_windows};
    const ALPHABET: &[char] = &[
        ' ', '\t', '\r', '\n', '\'', '"', '\\', '#', '$', '|', 'a', 'b', 'é',
    ];
    let mut random = Seeded(0x5_9117);
    let cases: Vec<Value> = (0..600)
        .map(|_| {
            let length = random.below(16);
            let line: String = (0..length)
                .map(|_| ALPHABET[random.below(ALPHABET.len())])
                .collect();
            json!({ "line": line })
        })
        .collect();
    let theirs = python_answers(python, "split", &cases)?;
    let answer = |split: Result<Vec<String>, &'static str>| match split {
        Ok(words) => json!(words),
        Err(refusal) => json!({ "error": refusal }),
    };
    let mut differences = Vec::new();
    let mut refused = 0;
    for (case, theirs) in cases.iter().zip(&theirs) {
        let line = case["line"].as_str().unwrap_or_default();
        for (rules, ours) in [
            ("posix", answer(split_posix(line))),
            ("windows", answer(split_windows(line))),
        ] {
            let same = match (ours.get("error"), theirs[rules].get("error")) {
                (Some(_), Some(_)) => {
                    refused += 1;
                    true
                }
                (None, None) => ours == theirs[rules],
                _ => false,
            };
            if !same {
                differences.push(format!(
                    "{rules} {line:?}\n  ours     {ours}\n  botocore {}",
                    theirs[rules]
                ));
            }
        }
    }
    agreed(
        &differences,
        cases.len() * 2,
        "splits (lines by each platform's rules)",
        &format!("{refused} refused by both"),
    )?;
    if refused == 0 {
        return Err("no line was refused: widen the generator".into());
    }
    Ok(())
}

/// 400 random config files of lines that have mattered: headers botocore reads its own way
/// (quoted names, two spaces, `[profile default]`, text after `]`, a prefix with no space,
/// `[DEFAULT]`, a `[` that starts a key), repeated sections and keys, comments at any
/// indentation, blank lines, continuations and a lone `\r`. The profiles and their settings
/// (or the refusal) must be botocore's.
fn config_files_read_as_botocore_reads_them(python: &Path) -> Result<(), Failed> {
    use mongodb_auth::fuzzing::aws_config_profiles;
    const LINES: &[&str] = &[
        "[default]",
        "[profile dev]",
        "[profile  dev]",
        "[profile \"my dev\"]",
        "[profile 'q x']",
        "[profile default]",
        "[profilex x]",
        "[profile a b]",
        "[ profile dev ]",
        "[profile dev] trailing",
        "[profile \"open]",
        "[sso-session s]",
        "[other]",
        "[DEFAULT]",
        "[x=1",
        "region = r3\routput = text",
        "region = r1",
        "region: r2",
        "OUTPUT = json # not a comment",
        "k =",
        "  continued = line",
        "  # indented comment",
        "# comment",
        "; comment",
        "",
    ];
    let mut random = Seeded(0xc0_f19);
    let cases: Vec<Value> = (0..400)
        .map(|_| {
            let count = 1 + random.below(8);
            let text: String = (0..count)
                .map(|_| format!("{}\n", LINES[random.below(LINES.len())]))
                .collect();
            json!({ "text": text })
        })
        .collect();
    let theirs = python_answers(python, "config-profiles", &cases)?;
    let differences = differences_from_boto3(&cases, &theirs, |case| {
        match aws_config_profiles(case["text"].as_str().unwrap_or_default()) {
            Ok(profiles) => Value::Object(
                profiles
                    .into_iter()
                    .map(|(name, settings)| {
                        let settings = settings
                            .into_iter()
                            .map(|(key, value)| (key, Value::String(value)))
                            .collect();
                        (name, Value::Object(settings))
                    })
                    .collect(),
            ),
            Err(error) => json!({ "error": error.to_string() }),
        }
    });
    let refused = theirs
        .iter()
        .filter(|answer| answer.get("error").is_some())
        .count();
    let quoted = theirs
        .iter()
        .filter(|answer| answer.get("my dev").is_some())
        .count();
    agreed(
        &differences,
        cases.len(),
        "files",
        &format!("{refused} refused by botocore, {quoted} with the quoted profile"),
    )?;
    if refused == 0 || quoted == 0 {
        return Err(
            "the files never came to a refusal or a quoted name: widen the generator".into(),
        );
    }
    Ok(())
}

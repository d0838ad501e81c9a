//! `mongodb-auth`: demo, serve, connect and parse, for a person debugging a login.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use mongodb_auth::adapter::{ConnectOptions, Event};
use mongodb_auth::random::SystemRandom;
use mongodb_auth::server::{
    Server, ServerConfig, User, UserStore, parse_user_spec, read_users_file,
};
use mongodb_auth::{
    AuthOptions, ConnectionString, Error, ErrorKind, ParseOptions, REDACTED, ScramVariant, Secret,
    blocking,
};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "mongodb-auth",
    version,
    about = "MongoDB authentication, step by step"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the embedded server with demo users and log in with every mechanism, printing each
    /// step (secrets redacted). Exits non-zero if any login goes wrong.
    Demo,
    /// Run the embedded server.
    Serve {
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:27017")]
        listen: String,
        /// A user: NAME:PASSWORD[:MECH[,MECH...]]; NAME may be db.name (default db admin); NAME
        /// and PASSWORD are percent-decoded; MECH is SCRAM-SHA-1 or SCRAM-SHA-256 (default both).
        /// Other processes can read a command line: prefer --users-file for real passwords.
        #[arg(long = "user", required_unless_present = "users_file")]
        users: Vec<String>,
        /// A file of users, one NAME:PASSWORD[:MECH,...] a line (blank lines and # comments
        /// skipped).
        #[arg(long)]
        users_file: Option<std::path::PathBuf>,
        /// Close connections idle for this many seconds.
        #[arg(long, default_value_t = 300)]
        idle_timeout: u64,
        /// Close connections that have not logged in after this many seconds.
        #[arg(long, default_value_t = 20)]
        login_timeout: u64,
        /// Serve at most this many connections at once.
        #[arg(long, default_value_t = 256)]
        max_connections: usize,
        /// Serve at most this many connections from one peer address.
        #[arg(long, default_value_t = 64)]
        max_connections_per_peer: usize,
    },
    /// Log in to a server. Exit status: 0 logged in; 1 the server refused the login, or failed
    /// to prove it knows the password; 2 usage or connection error.
    Connect {
        /// The connection string.
        uri: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Seconds allowed for connecting and for each read and write.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Do not start the conversation inside hello.
        #[arg(long)]
        no_speculative: bool,
    },
    /// Parse a connection string and print what it configures, secrets redacted.
    Parse {
        /// The connection string.
        uri: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Reject MONGODB-AWS credentials in the URI (the 2025 auth spec) instead of warning.
        #[arg(long)]
        strict: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => demo(),
        Command::Serve {
            listen,
            users,
            users_file,
            idle_timeout,
            login_timeout,
            max_connections,
            max_connections_per_peer,
        } => {
            let limits = Limits {
                idle_timeout: Duration::from_secs(idle_timeout),
                login_timeout: Duration::from_secs(login_timeout),
                max_connections,
                max_connections_per_peer,
            };
            serve(&listen, &users, users_file.as_deref(), &limits)
        }
        Command::Connect {
            uri,
            json,
            timeout,
            no_speculative,
        } => connect(&uri, json, timeout, no_speculative),
        Command::Parse { uri, json, strict } => parse(&uri, json, strict),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

// --- serve -----------------------------------------------------------------------------------

struct Limits {
    idle_timeout: Duration,
    login_timeout: Duration,
    max_connections: usize,
    max_connections_per_peer: usize,
}

fn load_users(
    specs: &[String],
    users_file: Option<&std::path::Path>,
) -> mongodb_auth::Result<UserStore> {
    let mut users = UserStore::new();
    if let Some(path) = users_file {
        for user in read_users_file(path, &mut SystemRandom)? {
            users.insert(user);
        }
    }
    for spec in specs {
        users.insert(parse_user_spec(spec, &mut SystemRandom)?);
    }
    Ok(users)
}

fn serve(
    listen: &str,
    specs: &[String],
    users_file: Option<&std::path::Path>,
    limits: &Limits,
) -> ExitCode {
    let users = match load_users(specs, users_file) {
        Ok(users) => users,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The auth log goes to stderr, so stdout stays the address line alone.
    let mut config = ServerConfig::new(users).auth_log(|event| eprintln!("{event}"));
    config.idle_timeout = limits.idle_timeout;
    config.login_timeout = limits.login_timeout;
    config.max_connections = limits.max_connections;
    config.max_connections_per_peer = limits.max_connections_per_peer;
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match Server::bind(listen, config).await {
            Ok(server) => {
                // The first line is the address, for scripts that wait for it.
                println!("listening on {}", server.local_addr());
                server.run_forever().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                ExitCode::from(2)
            }
        }
    })
}

// --- connect ---------------------------------------------------------------------------------

/// 1 for a login the server refused or a server that failed mutual authentication, 2 otherwise.
fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::AuthenticationFailed
        | ErrorKind::MutualAuthenticationFailed
        | ErrorKind::Server => 1,
        _ => 2,
    }
}

fn error_json(error: &Error) -> Value {
    let code = match error {
        Error::Server { code, .. } => json!(code),
        _ => Value::Null,
    };
    json!({ "kind": format!("{:?}", error.kind()), "code": code, "message": error.to_string() })
}

fn connect(uri: &str, as_json: bool, timeout: u64, no_speculative: bool) -> ExitCode {
    let timeout = Duration::from_secs(timeout);
    let mut options =
        ConnectOptions::default().auth_options(AuthOptions::default().speculative(!no_speculative));
    options.connect_timeout = timeout;
    options.read_timeout = timeout;
    options.write_timeout = timeout;
    if !as_json {
        options = options.observe(print_event);
    }
    let started = Instant::now();
    let result = blocking::connect(uri, options).and_then(|mut connection| {
        let users = connection.authenticated_users()?;
        Ok((connection, users))
    });
    match result {
        Ok((connection, users)) => {
            let outcome = connection.outcome();
            let mechanism = outcome.mechanism.map(|m| m.as_str());
            if as_json {
                let users: Vec<Value> = users
                    .iter()
                    .map(|(user, db)| json!({ "user": user, "db": db }))
                    .collect();
                let report = json!({
                    "ok": true,
                    "mechanism": mechanism,
                    "roundTrips": outcome.round_trips,
                    "speculative": outcome.speculative,
                    "authenticatedUsers": users,
                });
                println!("{report}");
            } else {
                println!(
                    "ok: {} in {} round trip(s) after hello{}, {:.1} ms; the server reports {}",
                    mechanism.unwrap_or("no authentication"),
                    outcome.round_trips,
                    if outcome.speculative {
                        " (speculative)"
                    } else {
                        ""
                    },
                    started.elapsed().as_secs_f64() * 1000.0,
                    describe_users(&users),
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            if as_json {
                println!("{}", json!({ "ok": false, "error": error_json(&error) }));
            } else {
                eprintln!("error: {error}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

fn describe_users(users: &[(String, String)]) -> String {
    if users.is_empty() {
        return "no authenticated user".into();
    }
    users
        .iter()
        .map(|(user, db)| format!("{user}@{db}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_event(event: &Event<'_>) {
    match event {
        Event::Connected { address } => println!("    connected to {address}"),
        Event::Sent {
            command,
            db,
            op,
            auth_fields,
            bytes,
        } => {
            let extra = if auth_fields.is_empty() {
                String::new()
            } else {
                format!(" + {}", auth_fields.join(", "))
            };
            println!("    -> {command} on {db} via {op} ({bytes} bytes){extra}");
        }
        Event::Received { bytes, speculative } => {
            let extra = if *speculative {
                ", speculativeAuthenticate answered"
            } else {
                ""
            };
            println!("    <- reply ({bytes} bytes){extra}");
        }
        Event::Reauthenticating { command } => {
            println!("    !! {command} needs re-authentication (391): logging in again");
        }
        Event::DerivedKey {
            iterations,
            elapsed,
        } => {
            println!(
                "    .. PBKDF2, {iterations} iterations: {:.1} ms",
                elapsed.as_secs_f64() * 1000.0
            );
        }
        _ => {}
    }
}

// --- parse -----------------------------------------------------------------------------------

fn parse(uri: &str, as_json: bool, strict: bool) -> ExitCode {
    let options = if strict {
        ParseOptions::strict()
    } else {
        ParseOptions::default()
    };
    let cs = match ConnectionString::parse_with(uri, options) {
        Ok(cs) => cs,
        Err(error) => {
            if as_json {
                println!("{}", json!({ "ok": false, "error": error_json(&error) }));
            } else {
                eprintln!("error: {error}");
            }
            return ExitCode::from(2);
        }
    };
    let credential = cs.credential().map(|c| {
        let properties: serde_json::Map<String, Value> = c
            .mechanism_properties()
            .iter()
            .map(|(k, v)| {
                let shown = if k == "AWS_SESSION_TOKEN" {
                    REDACTED
                } else {
                    v
                };
                (k.to_owned(), json!(shown))
            })
            .collect();
        json!({
            "username": c.username(),
            "password": c.password().map(|_| REDACTED),
            "source": c.source(),
            "mechanism": c.mechanism().map(|m| m.as_str()),
            "mechanismProperties": properties,
        })
    });
    let options: Vec<Value> = cs
        .options()
        .iter()
        .map(|o| json!({ "key": o.key(), "value": if o.is_sensitive() { REDACTED } else { o.value() } }))
        .collect();
    let report = json!({
        "ok": true,
        "uri": cs.to_string(),
        "srv": cs.is_srv(),
        "hosts": cs.hosts().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "database": cs.database(),
        "credential": credential,
        "tls": cs.tls_enabled(),
        "options": options,
        "warnings": cs.warnings().iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    if as_json {
        println!("{report}");
    } else {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    ExitCode::SUCCESS
}

// --- demo ------------------------------------------------------------------------------------

struct Login {
    title: &'static str,
    user: &'static str,
    password: &'static str,
    query: &'static str,
    /// The mechanism the login must end with; `None`: the server must refuse it.
    expect: Option<&'static str>,
}

const DEMO_LOGINS: &[Login] = &[
    Login {
        title: "negotiated default (speculative SCRAM-SHA-256 inside hello)",
        user: "alice",
        password: "pencil",
        query: "",
        expect: Some("SCRAM-SHA-256"),
    },
    Login {
        title: "SCRAM-SHA-1",
        user: "alice",
        password: "pencil",
        query: "?authMechanism=SCRAM-SHA-1",
        expect: Some("SCRAM-SHA-1"),
    },
    Login {
        title: "SCRAM-SHA-256 (keys from the cache: no PBKDF2)",
        user: "alice",
        password: "pencil",
        query: "?authMechanism=SCRAM-SHA-256",
        expect: Some("SCRAM-SHA-256"),
    },
    Login {
        title: "negotiated for a SCRAM-SHA-1-only user (the server drops the speculative attempt)",
        user: "bob",
        password: "hunter2",
        query: "",
        expect: Some("SCRAM-SHA-1"),
    },
    Login {
        title: "PLAIN (LDAP-style, against $external)",
        user: "carol",
        password: "s3cret",
        query: "?authMechanism=PLAIN&authSource=$external",
        expect: Some("PLAIN"),
    },
    Login {
        title: "SASLprep: user \u{2168} with password I\u{00AD}V (prepared to IV)",
        user: "%E2%85%A8",
        password: "I%C2%ADV",
        query: "?authMechanism=SCRAM-SHA-256",
        expect: Some("SCRAM-SHA-256"),
    },
    Login {
        title: "wrong password (must be refused)",
        user: "alice",
        password: "not-pencil",
        query: "",
        expect: None,
    },
];

fn demo_users() -> mongodb_auth::Result<UserStore> {
    let mut rng = SystemRandom;
    let both = [ScramVariant::Sha1, ScramVariant::Sha256];
    let mut users = UserStore::new();
    users.insert(User::new(
        "admin",
        "alice",
        &Secret::new("pencil"),
        &both,
        &mut rng,
    )?);
    users.insert(User::new(
        "admin",
        "bob",
        &Secret::new("hunter2"),
        &[ScramVariant::Sha1],
        &mut rng,
    )?);
    users.insert(User::new(
        "$external",
        "carol",
        &Secret::new("s3cret"),
        &[ScramVariant::Sha256],
        &mut rng,
    )?);
    users.insert(User::new(
        "admin",
        "\u{2168}",
        &Secret::new("IV"),
        &[ScramVariant::Sha256],
        &mut rng,
    )?);
    Ok(users)
}

fn demo() -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let users = match demo_users() {
        Ok(users) => users,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match runtime.block_on(Server::bind("127.0.0.1:0", ServerConfig::new(users))) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot start the embedded server: {e}");
            return ExitCode::from(2);
        }
    };
    let address = server.local_addr();
    println!("embedded server listening on {address}");
    println!(
        "users: alice (SCRAM-SHA-1, SCRAM-SHA-256), bob (SCRAM-SHA-1), carol in $external, \u{2168} (SCRAM-SHA-256)\n"
    );

    let mut failures = 0;
    for (index, login) in DEMO_LOGINS.iter().enumerate() {
        let uri = format!(
            "mongodb://{}:{}@{address}/{}",
            login.user, login.password, login.query
        );
        let shown = ConnectionString::parse(&uri)
            .map(|cs| cs.to_string())
            .unwrap_or_else(|_| uri.clone());
        println!("[{}/{}] {}", index + 1, DEMO_LOGINS.len(), login.title);
        println!("    {shown}");
        let started = Instant::now();
        let result =
            blocking::connect(uri.as_str(), ConnectOptions::default().observe(print_event))
                .and_then(|mut connection| Ok((connection.authenticated_users()?, connection)));
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        match (result, login.expect) {
            (Ok((users, connection)), Some(expected)) => {
                let outcome = connection.outcome();
                let mechanism = outcome.mechanism.map_or("none", |m| m.as_str());
                let good = mechanism == expected && !users.is_empty();
                if !good {
                    failures += 1;
                }
                println!(
                    "    {} {mechanism}{}, {} round trip(s) after hello, {elapsed:.1} ms; connectionStatus: {}\n",
                    if good { "ok" } else { "FAILED, expected" },
                    if outcome.speculative {
                        " (speculative)"
                    } else {
                        ""
                    },
                    outcome.round_trips,
                    describe_users(&users),
                );
            }
            (Err(error), None) if error.kind() == ErrorKind::AuthenticationFailed => {
                println!("    ok, refused as it should be: {error} ({elapsed:.1} ms)\n");
            }
            (Ok(_), None) => {
                failures += 1;
                println!("    FAILED: the server accepted a wrong password\n");
            }
            (Err(error), _) => {
                failures += 1;
                println!("    FAILED: {error}\n");
            }
        }
    }
    runtime.block_on(server.shutdown());
    if failures == 0 {
        println!("all {} logins behaved as expected", DEMO_LOGINS.len());
        ExitCode::SUCCESS
    } else {
        println!("{failures} of {} logins went wrong", DEMO_LOGINS.len());
        ExitCode::FAILURE
    }
}

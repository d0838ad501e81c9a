//! `connect`: log in anywhere, with either adapter, and report what happened.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use mongodb_auth::credential::Flow;
use mongodb_auth::oidc::{HumanFlow, HumanFlows, OidcClient};
use mongodb_auth::{
    AuthOptions, ConnectionString, CredentialOptions, Error, ServerApi, ServerApiVersion,
};
use mongodb_auth_io::tls::TlsInfo;
use mongodb_auth_io::{ConnectOptions, Connector, Event, blocking};
use serde_json::{Value, json};

use crate::{exit_code, report_error, runtime, token_cache};

/// How `connect` logs in and reports.
#[derive(clap::Args, Debug)]
pub(crate) struct Flags {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds allowed for connecting and for each read and write, at least 1 (default: the
    /// connection string's connectTimeoutMS and socketTimeoutMS, else 10 to connect and 30 for
    /// each read and write; the TLS handshake and hello get no more than the connect timeout
    /// until a host answers). Unlike socketTimeoutMS, it still applies under timeoutMS.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    /// Do not start the conversation inside hello.
    #[arg(long)]
    no_speculative: bool,
    /// Send every DNS query (the SRV and TXT records of mongodb+srv, then the host names) to
    /// this server instead of the system's resolver.
    #[arg(long, value_name = "IP:PORT")]
    dns_server: Option<SocketAddr>,
    /// Log in with the tokio adapter instead of the blocking one.
    #[arg(long)]
    tokio: bool,
    /// Log in this many times, one connection after another through one connector, as a
    /// client's pool would: the later logins resume the TLS session and use the caches.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// MONGODB-OIDC with a person at the keyboard: the built-in human flows to try, in order
    /// (`auth-code`, `device-auth`), instead of a callback of one's own.
    #[arg(long, value_delimiter = ',', value_name = "FLOWS")]
    oidc_flows: Vec<String>,
    /// The command that opens the login page of the auth-code flow, run by the shell with the
    /// URL as its last argument (default: the system's browser).
    #[arg(long, value_name = "CMD", requires = "oidc_flows")]
    browser: Option<String>,
    /// Where the browser comes back: http to a loopback host, with a port.
    #[arg(long, value_name = "URI", requires = "oidc_flows",
          default_value = mongodb_auth::oidc::DEFAULT_REDIRECT_URI)]
    oidc_redirect_uri: String,
    /// The file that keeps the tokens between runs (on Unix, created readable by its owner
    /// only), or `none`. Default: mongodb-auth/oidc-tokens.json under $XDG_CACHE_HOME, else ~/.cache.
    #[arg(long, value_name = "PATH|none", requires = "oidc_flows")]
    oidc_token_cache: Option<String>,
    /// Declare this stable API version (`1`): the first message is then `hello` over OP_MSG,
    /// and every command carries it, as mongosh's --apiVersion.
    #[arg(long, value_name = "VERSION")]
    api_version: Option<ServerApiVersion>,
    /// With --api-version: refuse commands outside the version (apiStrict).
    #[arg(long, requires = "api_version")]
    api_strict: bool,
    /// With --api-version: refuse commands the version deprecates (apiDeprecationErrors).
    #[arg(long, requires = "api_version")]
    api_deprecation_errors: bool,
}

/// The stable API `--api-version` declares, with the flags given (and only those: one left
/// out is the server's default, not sent).
fn server_api(flags: &Flags) -> Option<ServerApi> {
    let mut api = ServerApi::new(flags.api_version?);
    if flags.api_strict {
        api = api.strict(true);
    }
    if flags.api_deprecation_errors {
        api = api.deprecation_errors(true);
    }
    Some(api)
}

/// The human flows `--oidc-flows` names, with the redirect URI.
fn human_flows(flags: &Flags) -> Result<Option<HumanFlows>, Error> {
    if flags.oidc_flows.is_empty() {
        return Ok(None);
    }
    let flows = flags
        .oidc_flows
        .iter()
        .map(|name| name.parse::<HumanFlow>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        HumanFlows::new(flows).redirect_uri(&flags.oidc_redirect_uri)?,
    ))
}

pub(crate) fn connect(uri: &str, flags: &Flags) -> ExitCode {
    let (as_json, use_tokio, repeat) = (flags.json, flags.tokio, flags.repeat);
    let timeout = flags.timeout.map(Duration::from_secs);
    let mut auth = AuthOptions::default().speculative(!flags.no_speculative);
    let flows = match human_flows(flags) {
        Ok(flows) => flows,
        Err(error) => {
            report_error(&error, &[], as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    // The human flows' client cache, filled from the token cache file and written back to it.
    let oidc_client = OidcClient::new();
    let human = flows.is_some();
    if let Some(flows) = flows {
        auth = auth
            .oidc_human_flows(flows)
            .oidc_client(oidc_client.clone());
    }
    let mut options = ConnectOptions::default().auth_options(auth);
    options.browser = flags.browser.clone();
    options.connect_timeout = timeout;
    options.read_timeout = timeout;
    options.write_timeout = timeout;
    options.dns_server = flags.dns_server;
    options.server_api = server_api(flags);
    // Which source gave the MONGODB-OIDC token, for the report.
    let token_source: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = token_source.clone();
    options = options.observe(move |event| {
        // The person must see the device code whatever the output format.
        if let Event::DeviceCode {
            verification_uri,
            user_code,
            ..
        } = event
        {
            eprintln!("To log in, open {verification_uri} and enter the code {user_code}");
            if as_json {
                eprintln!(
                    "{}",
                    json!({ "event": "deviceFlow", "verificationUri": verification_uri, "userCode": user_code })
                );
            }
        }
        if let Event::OidcToken { environment, .. } = event {
            let source = environment.map_or("callback".to_owned(), |e| format!("ENVIRONMENT:{e}"));
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(source);
        }
        if !as_json {
            print_event(event);
        }
    });
    // Every option the parser did not take is said, never dropped in silence.
    let parsed = if human {
        ConnectionString::parse_with_credential_options(
            uri,
            CredentialOptions::new().oidc_callback(Flow::Human),
        )
    } else {
        ConnectionString::parse(uri)
    };
    let cs = match parsed {
        Ok(cs) => cs,
        Err(error) => {
            report_error(&error, &[], as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    // Shown in text by the connector's warning events; the JSON report lists them.
    let warnings: Vec<String> = cs.warnings().iter().map(ToString::to_string).collect();
    let connector = match Connector::new(&cs, options) {
        Ok(connector) => connector,
        Err(error) => {
            report_error(&error, &warnings, as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    let tokio_runtime = match use_tokio.then(runtime).transpose() {
        Ok(runtime) => runtime,
        Err(source) => {
            let error = Error::Io {
                operation: "starting the runtime",
                source,
            };
            report_error(&error, &warnings, as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    let token_cache = if human {
        token_cache::path(flags.oidc_token_cache.as_deref())
    } else {
        None
    }
    .map(|path| (path, token_cache::key(&cs)));
    if let Some((path, key)) = &token_cache
        && let Some(saved) = token_cache::load(path, key)
    {
        oidc_client.restore(saved, SystemTime::now());
    }
    let logins = run_logins(&connector, tokio_runtime.as_ref(), repeat);
    if let Some((path, key)) = &token_cache
        && let Err(e) = token_cache::store(path, key, &oidc_client.saved_tokens())
    {
        eprintln!(
            "warning: the OIDC tokens could not be kept in {}: {e}",
            path.display()
        );
    }
    let (logins, last) = match logins {
        Ok(done) => done,
        Err(error) => {
            report_error(&error, &warnings, as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    let Some((outcome, tls_info, users, elapsed)) = last else {
        return ExitCode::from(2);
    };
    // The verdict is the login's: a server without connectionStatus (some proxies) only means
    // nobody can say which users the login authenticated.
    let (users, note) = match users {
        Ok(users) => (Some(users), None),
        Err(error) => (
            None,
            Some(format!(
                "the login succeeded; connectionStatus, which would list the authenticated users, failed: {error}"
            )),
        ),
    };
    let mechanism = outcome.mechanism.map(|m| m.as_str());
    if as_json {
        let mut report = json!({
            "ok": true,
            "mechanism": mechanism,
            "roundTrips": outcome.round_trips,
            "speculative": outcome.speculative,
            "tls": tls_info.as_ref().map(tls_json),
        });
        if let Some(source) = token_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            report["oidcTokenSource"] = json!(source);
        }
        if let Some(users) = &users {
            report["authenticatedUsers"] = users
                .iter()
                .map(|(user, db)| json!({ "user": user, "db": db }))
                .collect();
        }
        if let Some(note) = &note {
            report["notes"] = json!([note]);
        }
        if !warnings.is_empty() {
            report["warnings"] = json!(warnings);
        }
        if logins.len() > 1 {
            report["logins"] = json!(logins);
        }
        say!("{report}");
    } else {
        for (n, login) in logins
            .iter()
            .enumerate()
            .take(logins.len().saturating_sub(1))
        {
            say!(
                "login {}: {:.1} ms{}",
                n + 1,
                login["elapsedMs"].as_f64().unwrap_or_default(),
                match login["tlsResumed"].as_bool() {
                    Some(true) => ", TLS session resumed",
                    Some(false) => ", full TLS handshake",
                    None => "",
                }
            );
        }
        say!(
            "ok: {} in {} round trip(s) after hello{}, {:.1} ms; {}",
            mechanism.unwrap_or("no authentication"),
            outcome.round_trips,
            if outcome.speculative {
                " (speculative)"
            } else {
                ""
            },
            elapsed.as_secs_f64() * 1000.0,
            match &users {
                Some(users) => format!("the server reports {}", describe_users(users)),
                None => "the server cannot say which users are authenticated".to_owned(),
            },
        );
        if let Some(note) = note {
            say!("note: {note}");
        }
    }
    ExitCode::SUCCESS
}

pub(crate) fn tls_json(info: &TlsInfo) -> Value {
    json!({
        "version": info.protocol_version,
        "peerSubject": info.peer_subject,
        "clientSubject": info.client_subject,
        "trust": info.trust.to_string(),
        "resumed": info.resumed,
    })
}

pub(crate) fn describe_tls(info: &TlsInfo) -> String {
    format!(
        "TLS {}{}; server certificate: {}; client certificate: {}; trusted: {}",
        info.protocol_version,
        if info.resumed {
            " (session resumed)"
        } else {
            ""
        },
        info.peer_subject.as_deref().unwrap_or("none"),
        info.client_subject.as_deref().unwrap_or("none"),
        info.trust,
    )
}

pub(crate) fn describe_users(users: &[(String, String)]) -> String {
    if users.is_empty() {
        return "no authenticated user".into();
    }
    users
        .iter()
        .map(|(user, db)| format!("{user}@{db}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn print_event(event: &Event<'_>) {
    match event {
        Event::Warning { warning } => eprintln!("warning: {warning}"),
        Event::Connected { address } => say!("    connected to {address}"),
        Event::TlsEstablished { info } => say!("    {}", describe_tls(info)),
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
            say!("    -> {command} on {db} via {op} ({bytes} bytes){extra}");
        }
        Event::Received { bytes, speculative } => {
            let extra = if *speculative {
                ", speculativeAuthenticate answered"
            } else {
                ""
            };
            say!("    <- reply ({bytes} bytes){extra}");
        }
        Event::OidcToken {
            environment,
            from_cache,
        } => {
            let source =
                environment.map_or("the callback".to_owned(), |e| format!("ENVIRONMENT:{e}"));
            let cached = if *from_cache {
                " (cached by another connection)"
            } else {
                ""
            };
            say!("    .. OIDC access token from {source}{cached}");
        }
        Event::Reauthenticating { command } => {
            say!("    !! {command} needs re-authentication (391): logging in again");
        }
        Event::DerivedKey {
            iterations,
            elapsed,
        } => {
            say!(
                "    .. PBKDF2, {iterations} iterations: {:.1} ms",
                elapsed.as_secs_f64() * 1000.0
            );
        }
        Event::WaitingForHost {
            host,
            failure,
            pause,
        } => {
            say!(
                "    .. no host answered (the last, {host}: {failure}); again in {} ms",
                pause.as_millis()
            );
        }
        _ => {}
    }
}

/// What one login reports: its outcome, its TLS, the authenticated users (or why connectionStatus
/// failed), and how long it took.
type Login = (
    mongodb_auth::handshake::Outcome,
    Option<TlsInfo>,
    Result<Vec<(String, String)>, Error>,
    Duration,
);

/// Logs in `repeat` times through the one connector (the later logins resume TLS and reuse the
/// caches): each login's figures, and the last login.
fn run_logins(
    connector: &Connector,
    tokio_runtime: Option<&tokio::runtime::Runtime>,
    repeat: u32,
) -> Result<(Vec<Value>, Option<Login>), Error> {
    let mut logins = Vec::new();
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let login = match tokio_runtime {
            Some(rt) => rt.block_on(async {
                let mut connection = mongodb_auth_io::tokio::connect_with(connector).await?;
                let elapsed = started.elapsed();
                let users = connection.authenticated_users().await;
                Ok((
                    connection.outcome().clone(),
                    connection.tls().cloned(),
                    users,
                    elapsed,
                ))
            }),
            None => blocking::connect_with(connector).map(|mut connection| {
                let elapsed = started.elapsed();
                let users = connection.authenticated_users();
                (
                    connection.outcome().clone(),
                    connection.tls().cloned(),
                    users,
                    elapsed,
                )
            }),
        };
        match login {
            Ok(login) => {
                logins.push(json!({
                    "elapsedMs": login.3.as_secs_f64() * 1000.0,
                    "roundTrips": login.0.round_trips,
                    "tlsResumed": login.1.as_ref().map(|tls| tls.resumed),
                }));
                last = Some(login);
            }
            Err(error) => return Err(error),
        }
    }
    Ok((logins, last))
}

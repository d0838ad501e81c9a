//! `connect`: log in anywhere, with either adapter, and report what happened.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mongodb_auth::{AuthOptions, ConnectionString, Error};
use mongodb_auth_io::tls::TlsInfo;
use mongodb_auth_io::{ConnectOptions, Event, blocking};
use serde_json::{Value, json};

use crate::{error_json, exit_code, runtime};

pub(crate) fn connect(
    uri: &str,
    as_json: bool,
    timeout: u64,
    no_speculative: bool,
    dns_server: Option<SocketAddr>,
    use_tokio: bool,
) -> ExitCode {
    let timeout = Duration::from_secs(timeout);
    let mut options =
        ConnectOptions::default().auth_options(AuthOptions::default().speculative(!no_speculative));
    options.connect_timeout = timeout;
    options.read_timeout = timeout;
    options.write_timeout = timeout;
    options.dns_server = dns_server;
    // Which source gave the MONGODB-OIDC token, for the report.
    let token_source: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = token_source.clone();
    options = options.observe(move |event| {
        if let Event::OidcToken { environment, .. } = event {
            let source = environment.map_or("callback".to_owned(), |e| format!("ENVIRONMENT:{e}"));
            *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(source);
        }
        if !as_json {
            print_event(event);
        }
    });
    // Every option the parser did not take is said, never dropped in silence.
    let cs = match ConnectionString::parse(uri) {
        Ok(cs) => cs,
        Err(error) => {
            report_error(&error, &[], as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    let warnings: Vec<String> = cs.warnings().iter().map(ToString::to_string).collect();
    if !as_json {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
    }
    let started = Instant::now();
    let login = if use_tokio {
        runtime()
            .map_err(|source| Error::Io {
                operation: "starting the runtime",
                source,
            })
            .and_then(|rt| {
                rt.block_on(async {
                    let mut connection = mongodb_auth_io::tokio::connect(&cs, options).await?;
                    let users = connection.authenticated_users().await;
                    Ok((
                        connection.outcome().clone(),
                        connection.tls().cloned(),
                        users,
                    ))
                })
            })
    } else {
        blocking::connect(&cs, options).map(|mut connection| {
            let users = connection.authenticated_users();
            (
                connection.outcome().clone(),
                connection.tls().cloned(),
                users,
            )
        })
    };
    let (outcome, tls_info, users) = match login {
        Ok(login) => login,
        Err(error) => {
            report_error(&error, &warnings, as_json);
            return ExitCode::from(exit_code(&error));
        }
    };
    let elapsed = started.elapsed();
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
        println!("{report}");
    } else {
        println!(
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
            println!("note: {note}");
        }
    }
    ExitCode::SUCCESS
}

fn report_error(error: &Error, warnings: &[String], as_json: bool) {
    if as_json {
        let mut report = json!({ "ok": false, "error": error_json(error) });
        if !warnings.is_empty() {
            report["warnings"] = json!(warnings);
        }
        println!("{report}");
    } else {
        eprintln!("error: {error}");
    }
}

pub(crate) fn tls_json(info: &TlsInfo) -> Value {
    json!({
        "version": info.protocol_version,
        "peerSubject": info.peer_subject,
        "clientSubject": info.client_subject,
        "trust": info.trust.to_string(),
    })
}

pub(crate) fn describe_tls(info: &TlsInfo) -> String {
    format!(
        "TLS {}; server certificate: {}; client certificate: {}; trusted: {}",
        info.protocol_version,
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
        Event::Connected { address } => println!("    connected to {address}"),
        Event::TlsEstablished { info } => println!("    {}", describe_tls(info)),
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
            println!("    .. OIDC access token from {source}{cached}");
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

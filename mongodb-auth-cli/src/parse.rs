//! `parse`: the parsed connection string and credential, secrets redacted.

use std::process::ExitCode;

use mongodb_auth::{ConnectionString, ParseOptions, REDACTED};
use serde_json::{Value, json};

use crate::report_error;

pub(crate) fn parse(uri: &str, as_json: bool, strict: bool) -> ExitCode {
    let options = if strict {
        ParseOptions::strict()
    } else {
        ParseOptions::default()
    };
    let cs = match ConnectionString::parse_with(uri, options) {
        Ok(cs) => cs,
        Err(error) => {
            report_error(&error, &[], as_json);
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
        say!("{report}");
    } else {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => say!("{text}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    ExitCode::SUCCESS
}

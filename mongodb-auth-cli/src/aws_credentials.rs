//! `aws-credentials`: where MONGODB-AWS credentials come from, and every source tried.

use std::process::ExitCode;
use std::sync::Arc;

use mongodb_auth::{ConnectionString, Error};
use serde_json::{Value, json};

use crate::report_error;

pub(crate) fn aws_credentials(
    as_json: bool,
    profile: Option<String>,
    uri: Option<&str>,
) -> ExitCode {
    use mongodb_auth::aws::Credentials;
    use mongodb_auth::aws::{ChainStep, CredentialChain};
    use mongodb_auth::environment::SystemEnvironment;
    let mut chain = CredentialChain::new(Arc::new(SystemEnvironment));
    if let Some(profile) = profile {
        chain = chain.profile(profile);
    }
    if let Some(uri) = uri {
        let cs = match ConnectionString::parse(uri) {
            Ok(cs) => cs,
            Err(error) => {
                report_error(&error, &[], as_json);
                return ExitCode::from(2);
            }
        };
        chain = chain.explicit(cs.credential().and_then(Credentials::from_credential));
    }
    let resolved = (|| {
        let mut step = chain.step()?;
        loop {
            step = match step {
                ChainStep::Ask(ask) => chain.answer(mongodb_auth_io::answer::answer(&ask))?,
                ChainStep::Done(resolved) => return Ok(resolved),
                other => {
                    return Err(Error::Unsupported {
                        what: format!("{other:?}"),
                    });
                }
            };
        }
    })();
    match resolved {
        Ok(resolved) => {
            let credentials = &resolved.credentials;
            let expiration = credentials
                .expiration()
                .map(mongodb_auth::aws::format_rfc3339);
            let tried: Vec<Value> = resolved
                .tried
                .iter()
                .map(|t| json!({ "source": t.source.as_str(), "outcome": t.outcome }))
                .collect();
            if as_json {
                say!(
                    "{}",
                    json!({
                        "ok": true,
                        "source": resolved.source.as_str(),
                        "accessKeyId": credentials.access_key_id(),
                        "expiration": expiration,
                        "sessionToken": credentials.session_token().is_some(),
                        "tried": tried,
                    })
                );
            } else {
                for t in &resolved.tried {
                    say!("    {:<24} {}", t.source.as_str(), t.outcome);
                }
                say!(
                    "source: {}; access key id: {}; session token: {}; expires: {}",
                    resolved.source,
                    credentials.access_key_id(),
                    if credentials.session_token().is_some() {
                        "yes"
                    } else {
                        "no"
                    },
                    expiration.as_deref().unwrap_or("never"),
                );
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            report_error(&error, &[], as_json);
            ExitCode::from(1)
        }
    }
}

//! The JSON bodies credentials come in: `credential_process` output (version 1), and, later, the
//! container and instance-metadata endpoints, which use the same field names.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::Credentials;
use super::time::parse_rfc3339;
use crate::error::AwsError;
use crate::secret::{Secret, SecretJson};
use zeroize::Zeroizing;

/// The largest body read.
pub const MAX_BODY: usize = crate::ask::MAX_BODY_SIZE;

fn malformed(rule: &'static str) -> AwsError {
    AwsError::MalformedCredentials(rule)
}

/// `Expiration`: an RFC 3339 string or epoch seconds.
fn expiration(value: Option<&Value>) -> Result<Option<SystemTime>, AwsError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse_rfc3339(text)
            .map(Some)
            .ok_or(malformed("Expiration is not an RFC 3339 time")),
        Some(Value::Number(seconds)) => seconds
            .as_u64()
            .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            .map(Some)
            .ok_or(malformed("Expiration is not a time")),
        Some(_) => Err(malformed("Expiration is not a time")),
    }
}

/// Credentials from a JSON object with `AccessKeyId`, `SecretAccessKey`, the token under
/// `token_field` (`Token` for container and instance-metadata replies), and `Expiration`.
pub fn credentials_object(body: &[u8], token_field: &str) -> Result<Credentials, AwsError> {
    let value = parse(body, "the body is not JSON")?;
    credentials_of(&value, token_field)
}

/// `credential_process` output: `{"Version": 1, "AccessKeyId", "SecretAccessKey",
/// "SessionToken"?, "Expiration"?}`.
pub fn process_credentials(stdout: &[u8]) -> Result<Credentials, AwsError> {
    let value = parse(stdout, "the output is not JSON")?;
    // botocore's test is Python's `version != 1`, which `1.0` and `true` pass and `"1"` fails.
    let version_one = match value.get("Version") {
        Some(Value::Number(version)) => version.as_f64() == Some(1.0),
        Some(Value::Bool(version)) => *version,
        _ => false,
    };
    if !version_one {
        return Err(malformed("the output's Version is not 1"));
    }
    credentials_of(&value, "SessionToken")
}

/// A reply of at most [`MAX_BODY`] as a JSON document that is wiped when dropped; `not_json`
/// names the refusal of one that is not JSON.
pub(crate) fn parse(
    body: &[u8],
    not_json: &'static str,
) -> Result<Zeroizing<SecretJson>, AwsError> {
    if body.len() > MAX_BODY {
        return Err(malformed("the body is larger than 64 KiB"));
    }
    SecretJson::parse(body).ok_or(malformed(not_json))
}

fn credentials_of(value: &Value, token_field: &str) -> Result<Credentials, AwsError> {
    let text = |key: &str| match value.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.as_str())),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(_)) => Ok(None),
        Some(_) => Err(malformed("a credential field is not a string")),
    };
    let access_key_id = text("AccessKeyId")?.ok_or(malformed("no AccessKeyId"))?;
    let secret = text("SecretAccessKey")?.ok_or(malformed("no SecretAccessKey"))?;
    let token = text(token_field)?.map(Secret::new);
    let mut credentials = Credentials::new(access_key_id, Secret::new(secret), token);
    if let Some(at) = expiration(value.get("Expiration"))? {
        credentials = credentials.with_expiration(at);
    }
    Ok(credentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_output() {
        let ok = br#"{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2023-11-14T22:13:20Z"}"#;
        let credentials = process_credentials(ok).unwrap();
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.session_token().unwrap().expose(), "t");
        assert_eq!(
            credentials.expiration(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let epoch = br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "s", "Expiration": 1700000000}"#;
        assert!(process_credentials(epoch).unwrap().expiration().is_some());
        // Whatever Python's `version != 1` lets through, as botocore reads it.
        for version in ["1.0", "1e0", "true"] {
            let output =
                format!(r#"{{"Version": {version}, "AccessKeyId": "A", "SecretAccessKey": "s"}}"#);
            assert!(process_credentials(output.as_bytes()).is_ok(), "{version}");
        }
        for bad in [
            &br#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "s"}"#[..],
            br#"{"Version": "1", "AccessKeyId": "A", "SecretAccessKey": "s"}"#,
            br#"{"Version": 1.5, "AccessKeyId": "A", "SecretAccessKey": "s"}"#,
            br#"{"Version": false, "AccessKeyId": "A", "SecretAccessKey": "s"}"#,
            br#"{"Version": 1, "SecretAccessKey": "s"}"#,
            br#"{"Version": 1, "AccessKeyId": "A"}"#,
            br#"{"Version": 1, "AccessKeyId": 5, "SecretAccessKey": "s"}"#,
            br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "s", "Expiration": "soon"}"#,
            b"not json",
            b"",
        ] {
            assert!(
                process_credentials(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

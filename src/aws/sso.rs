//! IAM Identity Center (SSO) credentials, as botocore finds them: a profile's `sso_account_id`
//! and `sso_role_name`, its portal (`sso_start_url`, `sso_region`) either in the profile (the
//! legacy form) or in the `[sso-session NAME]` it names; the access token `aws sso login` left
//! in `~/.aws/sso/cache/<sha1 of the session name or start URL>.json`; then the portal's
//! `GetRoleCredentials`. A token of the session form that is within 15 minutes of expiry is
//! refreshed with its refresh token (`CreateToken` of the SSO OIDC service), as boto3 does; the
//! refreshed token is used, not written back.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha1::{Digest, Sha1};

use super::Credentials;
use super::time::parse_rfc3339;
use crate::error::AwsError;
use crate::secret::{Secret, SecretJson};
use zeroize::Zeroizing;

/// How close to its expiry a session token is refreshed.
pub(crate) const REFRESH_WINDOW: Duration = Duration::from_secs(15 * 60);

fn malformed(rule: &'static str) -> AwsError {
    AwsError::MalformedCredentials(rule)
}

/// The file name under `~/.aws/sso/cache` that holds the token of `session_name` (the session
/// form) or `start_url` (the legacy form).
pub(crate) fn token_file_name(start_url: &str, session_name: Option<&str>) -> String {
    let key = session_name.unwrap_or(start_url);
    let digest = Sha1::digest(key.as_bytes());
    let mut name = String::with_capacity(45);
    for byte in digest {
        name.push_str(&format!("{byte:02x}"));
    }
    name.push_str(".json");
    name
}

/// A cached SSO access token.
pub struct CachedToken {
    /// The access token.
    pub access_token: Secret,
    /// When it expires.
    pub expires_at: SystemTime,
    /// What a refresh needs, when the file has it all: the refresh token, the client id and
    /// secret, and until when the client registration holds.
    pub refresh: Option<Refresh>,
}

/// What refreshing a session token takes. `Debug` shows no secret.
#[derive(Debug)]
pub struct Refresh {
    /// The refresh token.
    pub refresh_token: Secret,
    /// The registered client's id.
    pub client_id: String,
    /// The registered client's secret.
    pub client_secret: Secret,
    /// Until when the registration holds.
    pub registration_expires_at: SystemTime,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("expires_at", &self.expires_at)
            .field("refreshable", &self.refresh.is_some())
            .finish_non_exhaustive()
    }
}

/// A JSON object that holds tokens, wiped when dropped.
fn object(body: &[u8], what: &'static str) -> Result<Zeroizing<SecretJson>, AwsError> {
    let json = super::json::parse(body, what)?;
    if !json.is_object() {
        return Err(malformed(what));
    }
    Ok(json)
}

fn string<'a>(map: &'a Value, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// Reads a token file: `accessToken` and `expiresAt` (RFC 3339) are required.
pub fn read_token(body: &[u8]) -> Result<CachedToken, AwsError> {
    let map = object(body, "the SSO token file is not a JSON object")?;
    let access_token =
        string(&map, "accessToken").ok_or(malformed("the SSO token has no accessToken"))?;
    let expires_at = string(&map, "expiresAt")
        .and_then(parse_rfc3339)
        .ok_or(malformed("the SSO token has no expiresAt time"))?;
    let refresh = match (
        string(&map, "refreshToken"),
        string(&map, "clientId"),
        string(&map, "clientSecret"),
        string(&map, "registrationExpiresAt").and_then(parse_rfc3339),
    ) {
        (
            Some(refresh_token),
            Some(client_id),
            Some(client_secret),
            Some(registration_expires_at),
        ) => Some(Refresh {
            refresh_token: Secret::new(refresh_token),
            client_id: client_id.to_owned(),
            client_secret: Secret::new(client_secret),
            registration_expires_at,
        }),
        _ => None,
    };
    Ok(CachedToken {
        access_token: Secret::new(access_token),
        expires_at,
        refresh,
    })
}

/// The body of `CreateToken` that refreshes `refresh`, built in one buffer of its final size:
/// it holds the client secret and the refresh token, and a reallocation, or a JSON tree built
/// first, would leave copies of them behind.
pub(crate) fn refresh_request(refresh: &Refresh) -> Zeroizing<Vec<u8>> {
    let fields = [
        ("grantType", "refresh_token"),
        ("clientId", refresh.client_id.as_str()),
        ("clientSecret", refresh.client_secret.expose()),
        ("refreshToken", refresh.refresh_token.expose()),
    ];
    // Writing into a counter or a `Vec` cannot fail.
    crate::secret::write_at_final_size(|out| {
        out.write_all(b"{")?;
        for (index, (name, value)) in fields.iter().enumerate() {
            if index > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, name)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, value)?;
        }
        out.write_all(b"}")
    })
    .unwrap_or_default()
}

/// `CreateToken`'s reply: the new access token and when it expires (`expiresIn` seconds from
/// `now`).
pub fn read_refreshed(body: &[u8], now: SystemTime) -> Result<(Secret, SystemTime), AwsError> {
    let map = object(body, "the CreateToken reply is not a JSON object")?;
    let token =
        string(&map, "accessToken").ok_or(malformed("the CreateToken reply has no accessToken"))?;
    let seconds = map
        .get("expiresIn")
        .and_then(Value::as_u64)
        .ok_or(malformed("the CreateToken reply has no expiresIn"))?;
    let at = now
        .checked_add(Duration::from_secs(seconds))
        .ok_or(malformed(
            "the CreateToken reply's expiresIn is out of range",
        ))?;
    Ok((Secret::new(token), at))
}

/// `GetRoleCredentials`' reply: `{"roleCredentials": {accessKeyId, secretAccessKey,
/// sessionToken, expiration (milliseconds)}}`.
pub fn read_role_credentials(body: &[u8]) -> Result<Credentials, AwsError> {
    let map = object(body, "the GetRoleCredentials reply is not a JSON object")?;
    let Some(role @ Value::Object(_)) = map.get("roleCredentials") else {
        return Err(malformed(
            "the GetRoleCredentials reply has no roleCredentials",
        ));
    };
    let field = |key: &str| string(role, key).filter(|s| !s.is_empty());
    let access_key_id = field("accessKeyId").ok_or(malformed("no accessKeyId"))?;
    let secret = field("secretAccessKey").ok_or(malformed("no secretAccessKey"))?;
    let token = field("sessionToken").map(Secret::new);
    let mut credentials = Credentials::new(access_key_id, Secret::new(secret), token);
    if let Some(millis) = role.get("expiration").and_then(Value::as_u64)
        && let Some(at) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(millis))
    {
        credentials = credentials.with_expiration(at);
    }
    Ok(credentials)
}

/// `application/x-www-form-urlencoded` escaping of a query parameter.
pub(crate) fn query_escape(value: &str) -> String {
    super::sts::form(&[("", value)])
        .strip_prefix('=')
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_names_are_botocores() {
        // sha1("corp") and sha1 of the start URL, as `aws sso login` names the files.
        assert_eq!(
            token_file_name("https://x.awsapps.com/start", Some("corp")),
            format!("{}.json", "ee0bfd2552fbd840c02cc48b6e823320543c450f")
        );
        assert_eq!(
            token_file_name("https://x.awsapps.com/start", None),
            token_file_name("ignored", Some("https://x.awsapps.com/start"))
        );
    }

    #[test]
    fn a_refresh_request_is_json_built_at_its_final_size() {
        // Quotes, backslashes and control characters are escaped, up to six bytes for one.
        let secret = "c\"s\\\u{1}\u{7f}é";
        let refresh = Refresh {
            refresh_token: Secret::new("r\u{0}t".repeat(300)),
            client_id: "client\n".to_owned(),
            client_secret: Secret::new(secret),
            registration_expires_at: SystemTime::UNIX_EPOCH,
        };
        let body = refresh_request(&refresh);
        // A reallocation would have left its capacity above its length.
        assert_eq!(body.capacity(), body.len());
        let json: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "grantType": "refresh_token",
                "clientId": "client\n",
                "clientSecret": secret,
                "refreshToken": "r\u{0}t".repeat(300),
            })
        );
    }

    #[test]
    fn tokens_and_replies_are_read_or_refused() {
        let token = read_token(
            br#"{"accessToken": "at", "expiresAt": "2099-01-01T00:00:00Z", "refreshToken": "rt",
                 "clientId": "c", "clientSecret": "cs", "registrationExpiresAt": "2099-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(token.access_token.expose(), "at");
        assert!(token.refresh.is_some());
        assert!(read_token(br#"{"accessToken": "at"}"#).is_err());
        assert!(read_token(b"[]").is_err());
        let credentials = read_role_credentials(
            br#"{"roleCredentials": {"accessKeyId": "ASIA", "secretAccessKey": "s", "sessionToken": "t", "expiration": 4070908800000}}"#,
        )
        .unwrap();
        assert_eq!(credentials.access_key_id(), "ASIA");
        assert!(read_role_credentials(br#"{"roleCredentials": {}}"#).is_err());
        let now = SystemTime::UNIX_EPOCH;
        let (fresh, at) =
            read_refreshed(br#"{"accessToken": "new", "expiresIn": 3600}"#, now).unwrap();
        assert_eq!(
            (fresh.expose(), at),
            ("new", now + Duration::from_secs(3600))
        );
        assert!(read_refreshed(br#"{"accessToken": "new"}"#, now).is_err());
    }
}

//! MONGODB-AWS (feature `aws`): the client signs an STS `GetCallerIdentity` request with AWS
//! Signature Version 4 (through the `aws-sigv4` crate); the server forwards it to STS, and STS
//! accepting the signature is the login (rules K1 to K6).
//!
//! Sans-IO: the client nonce comes from the caller's [`SecureRandom`], the signing time is an
//! argument, and the credentials are a value ([`Credentials`]).
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use mongodb_auth::aws::{self, Credentials};
//! use mongodb_auth::random;
//!
//! let mut fixed = random::from_fn(|bytes: &mut [u8]| bytes.fill(7));
//! let (client_first, client) = aws::ClientFirst::start(&mut fixed);
//! // The server answers with its nonce (ours + 32 bytes) and the STS host to sign for.
//! let mut nonce = vec![7u8; 32];
//! nonce.extend_from_slice(&[9u8; 32]);
//! let mut server_first = bson::rawdoc! { "h": "sts.amazonaws.com" };
//! server_first.append(bson::raw::cstr!("s"), bson::RawBinaryRef {
//!     subtype: bson::spec::BinarySubtype::Generic, bytes: &nonce });
//! let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let client_final = client.finish(server_first.as_bytes(), &credentials, now)?;
//! let doc = bson::RawDocument::from_bytes(&client_final).unwrap();
//! assert_eq!(doc.get_str("d").unwrap(), "20231114T221320Z");
//! assert!(doc.get_str("a").unwrap().starts_with(
//!     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/sts/aws4_request, \
//!      SignedHeaders=content-length;content-type;host;x-amz-date;x-mongodb-gs2-cb-flag;x-mongodb-server-nonce, "));
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

mod cache;
pub(crate) mod chain;
pub(crate) mod command_line;
pub(crate) mod ini;
pub(crate) mod json;
mod provider;
pub(crate) mod request;
pub(crate) mod sso;
pub(crate) mod sts;
pub(crate) mod time;

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::raw::cstr;
use bson::{RawBsonRef, RawDocument, rawdoc};

use crate::command::binary;
use crate::environment::Environment;
use crate::error::{AwsError, Result};
use crate::random::SecureRandom;
use crate::secret::Secret;

pub use cache::{CredentialCache, REFRESH_WINDOW};
pub use chain::{ChainStep, CredentialChain, Resolved, Source, Tried};
pub use provider::{CredentialProvider, ProviderOutput, ProviderRequest};
pub use request::SignedRequest;
pub use time::format_rfc3339;

/// The mechanism name on the wire.
pub const MECHANISM: &str = "MONGODB-AWS";

/// `p`: the GS2 channel-binding flag `n`, as a number.
const GS2_CB_FLAG: i32 = 110;
const CLIENT_NONCE_LEN: usize = 32;
const SERVER_NONCE_LEN: usize = 64;

/// AWS credentials: an access key id, its secret, and the session token of temporary
/// credentials. The secret and the token are never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    expiration: Option<SystemTime>,
}

impl Credentials {
    /// Credentials; `session_token` for temporary ones.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<Secret>,
        session_token: Option<Secret>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            expiration: None,
        }
    }

    /// When temporary credentials stop working.
    pub fn with_expiration(mut self, expiration: SystemTime) -> Self {
        self.expiration = Some(expiration);
        self
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (or its legacy name
    /// `AWS_SECURITY_TOKEN`), read now (rule K9: never cached). An empty access key id counts as
    /// unset; a key without its secret is an error.
    pub fn from_environment(env: &dyn Environment) -> Result<Option<Self>, AwsError> {
        let set = |name: &str| env.populated(name);
        let Some(access_key_id) = set("AWS_ACCESS_KEY_ID") else {
            return Ok(None);
        };
        let secret = set("AWS_SECRET_ACCESS_KEY").ok_or(AwsError::IncompleteCredentials {
            origin: "environment",
            rule: "AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY",
        })?;
        let token = set("AWS_SESSION_TOKEN")
            .or_else(|| set("AWS_SECURITY_TOKEN"))
            .map(Secret::new);
        Ok(Some(Credentials::new(
            access_key_id,
            Secret::new(secret),
            token,
        )))
    }

    /// The explicit credentials of a connection string's credential (the deprecated path):
    /// username, password and the `AWS_SESSION_TOKEN` property; `None` without both.
    pub fn from_credential(credential: &crate::credential::Credential) -> Option<Self> {
        let token = credential
            .mechanism_properties()
            .get("AWS_SESSION_TOKEN")
            .map(Secret::new);
        Some(Credentials::new(
            credential.username()?,
            credential.password()?.clone(),
            token,
        ))
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key.
    pub fn secret_access_key(&self) -> &Secret {
        &self.secret_access_key
    }

    /// The session token, for temporary credentials.
    pub fn session_token(&self) -> Option<&Secret> {
        self.session_token.as_ref()
    }

    /// When they expire, if known.
    pub fn expiration(&self) -> Option<SystemTime> {
        self.expiration
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Client-first was sent: `{r: <32 random bytes>, p: 110}` (rule K1).
pub struct ClientFirst {
    nonce: [u8; CLIENT_NONCE_LEN],
}

impl ClientFirst {
    /// Draws the client nonce and returns the client-first payload (BSON) and the state.
    pub fn start(random: &mut (impl SecureRandom + ?Sized)) -> (Vec<u8>, ClientFirst) {
        let mut nonce = [0u8; CLIENT_NONCE_LEN];
        random.fill(&mut nonce);
        let mut payload = rawdoc! {};
        payload.append(cstr!("r"), binary(&nonce));
        payload.append(cstr!("p"), GS2_CB_FLAG);
        (payload.into_bytes(), ClientFirst { nonce })
    }

    /// The client nonce.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// Checks server-first (rule K2) and returns client-final `{a, d[, t]}` (rule K3): the
    /// `GetCallerIdentity` request signed for `h` at `now`.
    pub fn finish(
        self,
        server_first: &[u8],
        credentials: &Credentials,
        now: SystemTime,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let (server_nonce, host) = parse_server_first(server_first, &self.nonce)?;
        let signed = SignedRequest::sign(&server_nonce, &host, credentials, now)?;
        // The session token is a secret: room for everything up front, so no reallocation leaves
        // a copy behind, and the bytes are wiped when dropped.
        let token = credentials.session_token().map(Secret::expose);
        let capacity = 64 + signed.authorization().len() + token.map_or(0, str::len);
        let mut payload = crate::command::document_with_capacity(capacity);
        payload.append(cstr!("a"), signed.authorization());
        payload.append(cstr!("d"), signed.date());
        if let Some(token) = token {
            payload.append(cstr!("t"), token);
        }
        Ok(zeroize::Zeroizing::new(payload.into_bytes()))
    }
}

impl fmt::Debug for ClientFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFirst").finish_non_exhaustive()
    }
}

/// Reads server-first: `s` (64 bytes extending the client nonce) and `h` (a valid host).
pub fn parse_server_first(
    server_first: &[u8],
    client_nonce: &[u8],
) -> Result<(Vec<u8>, String), AwsError> {
    let doc = RawDocument::from_bytes(server_first)
        .map_err(|_| AwsError::MalformedServerFirst("not a BSON document"))?;
    let nonce = match doc.get("s") {
        Ok(Some(RawBsonRef::Binary(binary))) => binary.bytes,
        Ok(None) => return Err(AwsError::MalformedServerFirst("no `s` field")),
        _ => return Err(AwsError::MalformedServerFirst("`s` is not binary")),
    };
    let host = match doc.get("h") {
        Ok(Some(RawBsonRef::String(host))) => host,
        Ok(None) => return Err(AwsError::MalformedServerFirst("no `h` field")),
        _ => return Err(AwsError::MalformedServerFirst("`h` is not a string")),
    };
    if nonce.len() != SERVER_NONCE_LEN {
        return Err(AwsError::ServerNonceLength { len: nonce.len() });
    }
    if nonce.get(..CLIENT_NONCE_LEN) != Some(client_nonce) {
        return Err(AwsError::ServerNonceMismatch);
    }
    validate_host(host)?;
    Ok((nonce.to_vec(), host.to_owned()))
}

/// Rule K2: 1 to 255 bytes, no empty label, no leading or trailing dot.
pub fn validate_host(host: &str) -> Result<(), AwsError> {
    let rule = if host.is_empty() {
        "the host is empty"
    } else if host.len() > 255 {
        "the host is longer than 255 bytes"
    } else if host.starts_with('.') || host.ends_with('.') {
        "the host starts or ends with a dot"
    } else if host.split('.').any(str::is_empty) {
        "the host has an empty label"
    } else {
        return Ok(());
    };
    Err(AwsError::InvalidHost {
        host: host.chars().take(64).collect(),
        rule,
    })
}

/// Rule K5: the region to sign for. The global STS host is `us-east-1`; a host with a dot names
/// its region in its second label; a host without one is `us-east-1`.
///
/// ```
/// use mongodb_auth::aws::region_for_host;
///
/// assert_eq!(region_for_host("sts.us-west-2.amazonaws.com")?, "us-west-2");
/// assert_eq!(region_for_host("sts.amazonaws.com")?, "us-east-1");
/// assert!(region_for_host("sts..com").is_err());
/// # Ok::<(), mongodb_auth::error::AwsError>(())
/// ```
pub fn region_for_host(host: &str) -> Result<String, AwsError> {
    validate_host(host)?;
    if host == "sts.amazonaws.com" || host == "aws.amazonaws.com" {
        return Ok("us-east-1".to_owned());
    }
    Ok(host.split('.').nth(1).unwrap_or("us-east-1").to_owned())
}

/// The SCRAM-like first message's nonce, base64, as the signed header carries it.
pub(crate) fn encode_nonce(nonce: &[u8]) -> String {
    BASE64.encode(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::MapEnvironment;

    #[test]
    fn regions_of_the_spec_examples() {
        for (host, region) in [
            ("sts.amazonaws.com", "us-east-1"),
            ("sts.us-west-2.amazonaws.com", "us-west-2"),
            ("sts.us-west-2.amazonaws.com.ch", "us-west-2"),
            ("example.com", "com"),
            ("localhost", "us-east-1"),
        ] {
            assert_eq!(region_for_host(host).unwrap(), region, "{host}");
        }
        let long = "a".repeat(256);
        for host in [
            "sts..com",
            ".amazonaws.com",
            "sts.amazonaws.",
            "",
            long.as_str(),
        ] {
            assert!(
                matches!(region_for_host(host), Err(AwsError::InvalidHost { .. })),
                "{host}"
            );
        }
    }

    fn server_first(s: &[u8], h: &str) -> Vec<u8> {
        let mut doc = rawdoc! { "h": h };
        doc.append(cstr!("s"), binary(s));
        doc.into_bytes()
    }

    #[test]
    fn each_bad_server_first_is_its_own_error() {
        let client = [7u8; 32];
        let mut good = client.to_vec();
        good.extend_from_slice(&[1; 32]);
        assert!(parse_server_first(&server_first(&good, "sts.amazonaws.com"), &client).is_ok());
        assert_eq!(
            parse_server_first(&server_first(&good[..63], "sts.amazonaws.com"), &client),
            Err(AwsError::ServerNonceLength { len: 63 })
        );
        let mut other = good.clone();
        other[0] ^= 1;
        assert_eq!(
            parse_server_first(&server_first(&other, "sts.amazonaws.com"), &client),
            Err(AwsError::ServerNonceMismatch)
        );
        for host in ["", "a..b", ".a", "a."] {
            assert!(matches!(
                parse_server_first(&server_first(&good, host), &client),
                Err(AwsError::InvalidHost { .. })
            ));
        }
        let missing_h = {
            let mut doc = rawdoc! {};
            doc.append(cstr!("s"), binary(&good));
            doc.into_bytes()
        };
        assert_eq!(
            parse_server_first(&missing_h, &client),
            Err(AwsError::MalformedServerFirst("no `h` field"))
        );
        assert_eq!(
            parse_server_first(&rawdoc! { "s": "x", "h": "a" }.into_bytes(), &client),
            Err(AwsError::MalformedServerFirst("`s` is not binary"))
        );
        assert_eq!(
            parse_server_first(b"junk", &client),
            Err(AwsError::MalformedServerFirst("not a BSON document"))
        );
    }

    #[test]
    fn environment_credentials() {
        let env = MapEnvironment::from([
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        let credentials = Credentials::from_environment(&env).unwrap().unwrap();
        assert_eq!(credentials.access_key_id(), "AKID");
        assert_eq!(credentials.session_token().unwrap().expose(), "token");
        let debug = format!("{credentials:?}");
        assert!(
            !debug.contains("secret\"") && !debug.contains("token\""),
            "{debug}"
        );
        let empty = MapEnvironment::from([("AWS_ACCESS_KEY_ID", "")]);
        assert_eq!(Credentials::from_environment(&empty).unwrap(), None);
        let half = MapEnvironment::from([("AWS_ACCESS_KEY_ID", "AKID")]);
        assert!(Credentials::from_environment(&half).is_err());
    }
}

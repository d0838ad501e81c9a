//! An OpenID provider's discovery document (OpenID Connect Discovery 1.0): where its keys and
//! endpoints are, read as untrusted input and checked as a careful client and server check it.

use crate::ask::{Answer, Ask, HttpRequest, Reply};
use crate::error::OidcError;

/// The largest discovery document read.
pub const MAX_DISCOVERY_SIZE: usize = 256 * 1024;

/// What a provider's discovery document says, checked: it is the issuer's own (its `issuer` is
/// the one asked for, byte for byte, section 4.3), and every endpoint it names is `https`, or
/// `http` to a loopback host.
///
/// ```
/// use mongodb_auth::oidc::ProviderMetadata;
///
/// let url = ProviderMetadata::discovery_url("https://idp.example.com/tenant/");
/// assert_eq!(url, "https://idp.example.com/tenant/.well-known/openid-configuration");
/// let document = br#"{"issuer": "https://idp.example.com/tenant/",
///     "jwks_uri": "https://idp.example.com/tenant/keys"}"#;
/// let metadata = ProviderMetadata::parse(document, "https://idp.example.com/tenant/")?;
/// assert_eq!(metadata.jwks_uri(), Some("https://idp.example.com/tenant/keys"));
/// assert!(ProviderMetadata::parse(document, "https://evil.example.com/").is_err());
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderMetadata {
    issuer: String,
    jwks_uri: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
}

impl ProviderMetadata {
    /// Where the issuer publishes its document: the issuer, then
    /// `/.well-known/openid-configuration` (one slash between them).
    pub fn discovery_url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }

    /// The ask that fetches `issuer`'s discovery document, once the issuer is checked to be
    /// https (or http to a loopback host).
    pub fn document_request(issuer: &str) -> Result<Ask, OidcError> {
        check_endpoint(issuer)?;
        Ok(get(ProviderMetadata::discovery_url(issuer)))
    }

    /// The ask that fetches the provider's signing keys, when the document names them.
    pub fn keys_request(&self) -> Option<Ask> {
        self.jwks_uri.clone().map(get)
    }

    /// Reads a discovery document fetched for `expected_issuer`.
    pub fn parse(document: &[u8], expected_issuer: &str) -> Result<Self, OidcError> {
        let malformed = |rule| OidcError::MalformedDiscovery { rule };
        if document.len() > MAX_DISCOVERY_SIZE {
            return Err(malformed("is larger than 256 KiB"));
        }
        let serde_json::Value::Object(fields) =
            serde_json::from_slice(document).map_err(|_| malformed("is not JSON"))?
        else {
            return Err(malformed("is not a JSON object"));
        };
        let text = |name: &'static str| match fields.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(malformed("has a field that should be a string and is not")),
        };
        let issuer = text("issuer")?.ok_or(malformed("has no issuer"))?;
        if issuer != expected_issuer {
            return Err(OidcError::IssuerMismatch {
                expected: expected_issuer.to_owned(),
                found: shorten(&issuer),
            });
        }
        let endpoint = |name: &'static str| -> Result<Option<String>, OidcError> {
            let url = text(name)?;
            if let Some(url) = &url {
                check_endpoint(url)?;
            }
            Ok(url)
        };
        Ok(ProviderMetadata {
            jwks_uri: endpoint("jwks_uri")?,
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            device_authorization_endpoint: endpoint("device_authorization_endpoint")?,
            issuer,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where the provider's signing keys are (`jwks_uri`).
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// The authorization endpoint (the code flow's browser step).
    pub fn authorization_endpoint(&self) -> Option<&str> {
        self.authorization_endpoint.as_deref()
    }

    /// The token endpoint.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.token_endpoint.as_deref()
    }

    /// The device authorization endpoint (RFC 8628).
    pub fn device_authorization_endpoint(&self) -> Option<&str> {
        self.device_authorization_endpoint.as_deref()
    }
}

/// The body of the answer to one of [`ProviderMetadata`]'s asks: a 200 reply's, or why there is
/// none (the provider could not be reached, or answered another status).
pub fn fetched_body(answer: &Answer) -> Result<&[u8], OidcError> {
    match answer.reply() {
        Reply::Http { status: 200, body } => Ok(body),
        _ => Err(unavailable(answer)),
    }
}

/// Why an answer holds no usable reply: the ask failed, the provider answered a status that is
/// of no use, or the answer is of another kind.
pub(crate) fn unavailable(answer: &Answer) -> OidcError {
    let reason = match answer.reply() {
        Reply::Failed(reason) => reason.clone(),
        Reply::Http { status, .. } => format!("it answered HTTP {status}"),
        _ => "the answer is not of the kind asked for".to_owned(),
    };
    OidcError::ProviderUnavailable {
        what: answer.ask().describe(),
        reason,
    }
}

fn get(url: String) -> Ask {
    Ask::Http(HttpRequest::new("GET", url, Vec::new(), Vec::new()))
}

/// An issuer or endpoint URL a token or key may travel over: `https`, or plain `http` only to a
/// loopback host (a provider on the same machine, as in tests and local development).
pub fn check_endpoint(url: &str) -> Result<(), OidcError> {
    let insecure = || OidcError::InsecureEndpoint { url: shorten(url) };
    // What URL parsers disagree on is refused: a backslash (a path separator to WHATWG
    // parsers, so `http://evil\@localhost/` is evil's), blanks and controls, and user
    // information before the host.
    if url.bytes().any(|b| b == b'\\' || b <= b' ' || b == 0x7f) {
        return Err(insecure());
    }
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(insecure()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(insecure());
    }
    let host = host_of(authority);
    if https {
        return if host.is_empty() {
            Err(insecure())
        } else {
            Ok(())
        };
    }
    if is_loopback_host(host) {
        Ok(())
    } else {
        Err(insecure())
    }
}

/// Whether `host` (no port, no brackets) is this machine: `localhost` or a loopback address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host of a URL's authority (no user information): without its port, an IPv6 address
/// without its brackets.
fn host_of(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    }
}

/// At most 128 characters of text a peer chose, for an error.
pub(crate) fn shorten(text: &str) -> String {
    text.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_must_be_the_one_asked_for() {
        let document = |issuer: &str| {
            format!(r#"{{"issuer": "{issuer}", "jwks_uri": "https://i.example/keys"}}"#)
        };
        assert!(
            ProviderMetadata::parse(
                document("https://i.example").as_bytes(),
                "https://i.example"
            )
            .is_ok()
        );
        for other in [
            "https://i.example/",
            "https://I.example",
            "https://other.example",
        ] {
            assert!(
                matches!(
                    ProviderMetadata::parse(document(other).as_bytes(), "https://i.example"),
                    Err(OidcError::IssuerMismatch { .. })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn endpoints_are_https_or_loopback_http() {
        for good in [
            "https://idp.example/keys",
            "http://localhost:8080/keys",
            "http://127.0.0.1/keys",
            "http://[::1]:9000/keys",
            "http://127.0.0.2/",
        ] {
            assert_eq!(check_endpoint(good), Ok(()), "{good}");
        }
        for bad in [
            "http://idp.example/keys",
            "http://localhost.evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://user@idp.example/",
            "http://evil.example\\@localhost/keys",
            "http://evil.example\\@127.0.0.1/",
            "http://user@localhost/",
            "https://user@idp.example/",
            "http://localhost /",
            "http://local\nhost/",
            "ftp://localhost/",
            "https://",
            "javascript:alert(1)",
            "",
        ] {
            assert!(
                matches!(check_endpoint(bad), Err(OidcError::InsecureEndpoint { .. })),
                "{bad}"
            );
        }
        let document = br#"{"issuer": "https://i.example", "jwks_uri": "http://i.example/keys"}"#;
        assert!(matches!(
            ProviderMetadata::parse(document, "https://i.example"),
            Err(OidcError::InsecureEndpoint { .. })
        ));
    }

    #[test]
    fn malformed_documents_are_refused() {
        for document in [
            &b"[]"[..],
            b"not json",
            br#"{"jwks_uri": "https://i.example/k"}"#,
            br#"{"issuer": 1}"#,
            br#"{"issuer": "https://i.example", "jwks_uri": 5}"#,
        ] {
            assert!(ProviderMetadata::parse(document, "https://i.example").is_err());
        }
        let big = vec![b' '; MAX_DISCOVERY_SIZE + 1];
        assert!(matches!(
            ProviderMetadata::parse(&big, "https://i.example"),
            Err(OidcError::MalformedDiscovery { .. })
        ));
    }
}

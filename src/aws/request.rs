//! The STS `GetCallerIdentity` request of MONGODB-AWS (rule K4): signed by the client, rebuilt
//! by the server from the client's `{a, d, t}`, and checked there.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::{Credentials, encode_nonce, region_for_host};
use crate::error::AwsError;

/// The body every MONGODB-AWS request carries (43 bytes).
pub const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// The headers that must be signed (rule K4), lower-case, `x-amz-security-token` aside.
#[cfg(any(test, feature = "server"))]
pub const REQUIRED_SIGNED_HEADERS: [&str; 6] = [
    "content-length",
    "content-type",
    "host",
    "x-amz-date",
    "x-mongodb-gs2-cb-flag",
    "x-mongodb-server-nonce",
];

/// A signed `GetCallerIdentity` request, as sent to STS: its headers (the signature's among
/// them) and body.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    host: String,
    headers: Vec<(String, String)>,
}

/// The headers of the request before signing.
fn unsigned_headers(server_nonce: &[u8], host: &str) -> Vec<(String, String)> {
    [
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("Content-Length", GET_CALLER_IDENTITY.len().to_string()),
        ("Host", host.to_owned()),
        ("X-MongoDB-Server-Nonce", encode_nonce(server_nonce)),
        ("X-MongoDB-GS2-CB-Flag", "n".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

impl SignedRequest {
    /// Signs the request for `host` with `credentials` at `now` (SigV4, service `sts`, the
    /// region of [`region_for_host`]).
    pub fn sign(
        server_nonce: &[u8],
        host: &str,
        credentials: &Credentials,
        now: SystemTime,
    ) -> Result<Self, AwsError> {
        let region = region_for_host(host)?;
        let mut headers = unsigned_headers(server_nonce, host);
        let added = sign_sts_post(
            &format!("https://{host}/"),
            &headers,
            GET_CALLER_IDENTITY.as_bytes(),
            credentials,
            &region,
            now,
        )?;
        headers.extend(added);
        Ok(SignedRequest {
            host: host.to_owned(),
            headers,
        })
    }

    /// The request a client signed, rebuilt from its client-final `{a, d, t}` and the
    /// conversation's server nonce and host (as the server forwards it to STS).
    pub fn from_client(
        server_nonce: &[u8],
        host: &str,
        authorization: &str,
        date: &str,
        session_token: Option<&str>,
    ) -> Self {
        let mut headers = unsigned_headers(server_nonce, host);
        headers.push(("X-Amz-Date".to_owned(), date.to_owned()));
        if let Some(token) = session_token {
            headers.push(("X-Amz-Security-Token".to_owned(), token.to_owned()));
        }
        headers.push(("Authorization".to_owned(), authorization.to_owned()));
        SignedRequest {
            host: host.to_owned(),
            headers,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Authorization`.
    pub fn authorization(&self) -> &str {
        self.header("Authorization").unwrap_or_default()
    }

    /// `X-Amz-Date`.
    pub fn date(&self) -> &str {
        self.header("X-Amz-Date").unwrap_or_default()
    }

    /// The host the request is for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Every header, as sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &'static str {
        GET_CALLER_IDENTITY
    }
}

impl Drop for SignedRequest {
    /// The headers hold the session token of temporary credentials.
    fn drop(&mut self) {
        for (_, value) in &mut self.headers {
            zeroize::Zeroize::zeroize(value);
        }
    }
}

impl std::fmt::Debug for SignedRequest {
    /// The signature and the session token are not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedRequest")
            .field("host", &self.host)
            .field("date", &self.date())
            .finish_non_exhaustive()
    }
}

/// Signs a POST to STS at `url` (SigV4, service `sts`): the headers to add (`Authorization`,
/// `X-Amz-Date`, and `X-Amz-Security-Token` with a session token).
pub(crate) fn sign_sts_post(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, AwsError> {
    if !super::time::signable(now) {
        return Err(AwsError::Signing(
            "the clock reads a time an X-Amz-Date cannot carry (before 1970 or after 9999)"
                .to_owned(),
        ));
    }
    // aws-sigv4 takes the Host it signs from the URL when no header gives it, and panics
    // (`expect`) when the URL has none: an `AWS_ENDPOINT_URL_STS` of `/sts`, say.
    let authority = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next());
    if authority.is_none_or(str::is_empty)
        && !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        return Err(AwsError::Signing(format!(
            "the STS endpoint `{}` names no host",
            url.chars().take(128).collect::<String>()
        )));
    }
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key().expose(),
        credentials
            .session_token()
            .map(|token| token.expose().to_owned()),
        None,
        "mongodb-auth",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AwsError::Signing(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| AwsError::Signing(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| AwsError::Signing(e.to_string()))?
        .into_parts();
    let (added, _) = instructions.into_parts();
    Ok(added
        .into_iter()
        .map(|header| {
            let name = match header.name() {
                "authorization" => "Authorization",
                "x-amz-date" => "X-Amz-Date",
                "x-amz-security-token" => "X-Amz-Security-Token",
                other => other,
            };
            (name.to_owned(), header.value().to_owned())
        })
        .collect())
}

/// The parts of a SigV4 `Authorization` header, which the server side reads.
#[cfg(any(test, feature = "server"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key id of `Credential=`.
    pub access_key_id: &'a str,
    /// `yyyymmdd` of the credential scope.
    pub date: &'a str,
    /// The region of the scope.
    pub region: &'a str,
    /// The service of the scope.
    pub service: &'a str,
    /// `SignedHeaders=`, in order.
    pub signed_headers: Vec<&'a str>,
    /// `Signature=`, hex.
    pub signature: &'a str,
}

#[cfg(any(test, feature = "server"))]
impl<'a> Authorization<'a> {
    /// Parses `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
    /// SignedHeaders=a;b;c, Signature=HEX`.
    pub fn parse(header: &'a str) -> Result<Self, AwsError> {
        let malformed = AwsError::MalformedClientFinal;
        let rest = header
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or(malformed("the authorization is not AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (slot, value) = if let Some(value) = part.strip_prefix("Credential=") {
                (&mut credential, value)
            } else if let Some(value) = part.strip_prefix("SignedHeaders=") {
                (&mut signed, value)
            } else if let Some(value) = part.strip_prefix("Signature=") {
                (&mut signature, value)
            } else {
                return Err(malformed("an unknown part in the authorization"));
            };
            // STS might read another copy than this server checked.
            if slot.replace(value).is_some() {
                return Err(malformed("a part of the authorization is repeated"));
            }
        }
        let credential = credential.ok_or(malformed("no Credential= in the authorization"))?;
        let mut scope = credential.split('/');
        let (
            Some(access_key_id),
            Some(date),
            Some(region),
            Some(service),
            Some("aws4_request"),
            None,
        ) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        )
        else {
            return Err(malformed(
                "the credential scope is not KEY/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        let signature = signature.ok_or(malformed("no Signature= in the authorization"))?;
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed("the signature is not 64 hex digits"));
        }
        Ok(Authorization {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed
                .ok_or(malformed("no SignedHeaders= in the authorization"))?
                .split(';')
                .collect(),
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::secret::Secret;

    #[test]
    fn a_post_to_an_endpoint_without_a_host_is_refused_not_signed() {
        let credentials = Credentials::new("AKID", "secret", None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let sign = |url: &str, headers: &[(String, String)]| {
            sign_sts_post(
                url,
                headers,
                b"Action=AssumeRole",
                &credentials,
                "us-east-1",
                now,
            )
        };
        // aws-sigv4 would panic on each of these: no authority in the URL, no Host header.
        for url in ["/sts", "", "https://", "https:///path", "sts"] {
            assert_eq!(
                sign(url, &[]),
                Err(AwsError::Signing(format!(
                    "the STS endpoint `{url}` names no host"
                ))),
                "{url:?}"
            );
        }
        assert!(sign("https://sts.example.com/", &[]).is_ok());
        assert!(sign("http://127.0.0.1:4566", &[]).is_ok());
        let host = [("Host".to_owned(), "sts.example.com".to_owned())];
        assert!(sign("/", &host).is_ok(), "a Host header is enough");
    }

    #[test]
    fn every_required_header_is_signed_and_the_token_too() {
        let nonce = [3u8; 64];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for token in [None, Some(Secret::new("token"))] {
            let credentials = Credentials::new("AKID", "secret", token.clone());
            let signed =
                SignedRequest::sign(&nonce, "sts.amazonaws.com", &credentials, now).unwrap();
            let authorization = Authorization::parse(signed.authorization()).unwrap();
            let mut expected: Vec<&str> = REQUIRED_SIGNED_HEADERS.to_vec();
            if token.is_some() {
                expected.insert(4, "x-amz-security-token");
            }
            assert_eq!(authorization.signed_headers, expected);
            assert_eq!(
                (
                    authorization.access_key_id,
                    authorization.region,
                    authorization.service
                ),
                ("AKID", "us-east-1", "sts")
            );
            assert_eq!(signed.date(), "20231114T221320Z");
            // The server's rebuilt request is the same request.
            let rebuilt = SignedRequest::from_client(
                &nonce,
                "sts.amazonaws.com",
                signed.authorization(),
                signed.date(),
                token.as_ref().map(Secret::expose),
            );
            let sorted = |r: &SignedRequest| {
                let mut h = r.headers().to_vec();
                h.sort();
                h
            };
            assert_eq!(sorted(&rebuilt), sorted(&signed));
        }
    }

    #[test]
    fn a_clock_an_amz_date_cannot_carry_is_an_error_not_a_panic() {
        let credentials = Credentials::new("AKID", "secret", None);
        let sign = |now| SignedRequest::sign(&[3; 64], "sts.amazonaws.com", &credentials, now);
        let last = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
        assert_eq!(sign(last).unwrap().date(), "99991231T235959Z");
        for now in [
            last + Duration::from_secs(1),
            crate::environment::end_of_time(),
            SystemTime::UNIX_EPOCH - Duration::from_secs(1),
        ] {
            assert!(matches!(sign(now), Err(AwsError::Signing(_))), "{now:?}");
        }
    }

    /// The signature pymongo-auth-aws (botocore) computes for these inputs, recorded once; the
    /// differential test against it covers hundreds more.
    #[test]
    fn a_recorded_botocore_signature() {
        let nonce: Vec<u8> = (0u8..64).collect();
        let credentials = Credentials::new("AKIAEXAMPLE", "SECRETEXAMPLE", None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signed = SignedRequest::sign(&nonce, "sts.amazonaws.com", &credentials, now).unwrap();
        assert_eq!(
            signed.authorization(),
            "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20231114/us-east-1/sts/aws4_request, \
             SignedHeaders=content-length;content-type;host;x-amz-date;x-mongodb-gs2-cb-flag;x-mongodb-server-nonce, \
             Signature=fce95d1494f43ee13f2c967a29d9e742d0d9a7b3fc9869a9f3216adad70d2b40"
        );
    }

    #[test]
    fn authorization_parsing() {
        let header = "AWS4-HMAC-SHA256 Credential=AKID/20231114/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let parsed = Authorization::parse(header).unwrap();
        assert_eq!(parsed.signed_headers, ["host", "x-amz-date"]);
        for bad in [
            "",
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/20231114/us-east-1/sts, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/d/r/s/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=AKID/20231114/us-east-1/sts/aws4_request, SignedHeaders=host, SignedHeaders=x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad}");
        }
    }
}

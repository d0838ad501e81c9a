//! What the credential chain says to STS: the endpoint (global, regional, or overridden as the
//! AWS SDKs allow), the form bodies of `AssumeRole` and `AssumeRoleWithWebIdentity`, and the
//! credentials in STS's XML reply.

use std::time::SystemTime;

use zeroize::Zeroizing;

use super::Credentials;
use super::time::parse_rfc3339;
use crate::error::AwsError;
use crate::secret::Secret;

/// The text of the first `<name>...</name>` element of an STS reply (no attributes, no
/// nesting: what STS sends for `Arn`, `Code` and the fields of `Credentials`).
pub fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let length = xml.get(start..)?.find(&close)?;
    xml.get(start..start + length)
}

/// Where STS requests go, and the region they are signed for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsEndpoint {
    /// The URL.
    pub url: String,
    /// The signing region.
    pub region: String,
}

/// Whether `region` can name a region in a host name, as botocore checks it: letters, digits
/// and inner hyphens, at most 63 characters. Anything else (a `/`, a `#`, a `.`) would move the
/// request, and what it carries, to another host.
pub fn valid_region(region: &str) -> bool {
    let bytes = region.as_bytes();
    let inner_ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-';
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(inner_ok)
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`; else the regional endpoint when
/// `AWS_STS_REGIONAL_ENDPOINTS=regional` and a region is known (`AWS_REGION`,
/// `AWS_DEFAULT_REGION`, the profile's `region`); else the global one. A region that is not
/// one ([`valid_region`]) is refused.
pub fn endpoint(
    var: impl Fn(&str) -> Option<String>,
    profile_region: Option<&str>,
) -> Result<StsEndpoint, AwsError> {
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| profile_region.map(str::to_owned));
    if let Some(region) = region.as_deref().filter(|region| !valid_region(region)) {
        return Err(AwsError::Misconfigured {
            what: "the region".into(),
            rule: format!(
                "`{}` is not a region name",
                region.chars().take(64).collect::<String>()
            ),
        });
    }
    if let Some(url) = var("AWS_ENDPOINT_URL_STS").or_else(|| var("AWS_ENDPOINT_URL")) {
        return Ok(StsEndpoint {
            url,
            region: region.unwrap_or_else(|| "us-east-1".to_owned()),
        });
    }
    Ok(
        match (var("AWS_STS_REGIONAL_ENDPOINTS").as_deref(), region) {
            (Some("regional"), Some(region)) => StsEndpoint {
                url: format!("https://sts.{region}.amazonaws.com/"),
                region,
            },
            _ => StsEndpoint {
                url: "https://sts.amazonaws.com/".to_owned(),
                region: "us-east-1".to_owned(),
            },
        },
    )
}

/// An `application/x-www-form-urlencoded` body of `pairs`.
///
/// The form is built in one buffer of its final size, wiped when dropped: it may carry a web
/// identity token, and pieces copied and joined would leave it behind.
pub fn form(pairs: &[(&str, &str)]) -> Zeroizing<String> {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let encoded = |text| percent_encoding::utf8_percent_encode(text, SET);
    let encoded_len = |text| encoded(text).map(str::len).sum::<usize>();
    let length = pairs
        .iter()
        .map(|(key, value)| encoded_len(key) + 1 + encoded_len(value))
        .sum::<usize>()
        + pairs.len().saturating_sub(1);
    let mut form = Zeroizing::new(String::with_capacity(length));
    for (at, (key, value)) in pairs.iter().enumerate() {
        if at > 0 {
            form.push('&');
        }
        form.extend(encoded(key));
        form.push('=');
        form.extend(encoded(value));
    }
    form
}

/// The `Credentials` of an `AssumeRole` or `AssumeRoleWithWebIdentity` reply.
pub fn credentials_from_reply(xml: &str) -> Result<Credentials, AwsError> {
    let missing = AwsError::MalformedCredentials;
    let credentials =
        xml_element(xml, "Credentials").ok_or(missing("no Credentials in the reply"))?;
    let field = |name: &str| xml_element(credentials, name).map(str::trim);
    let access_key_id = field("AccessKeyId").ok_or(missing("no AccessKeyId in the reply"))?;
    let secret = field("SecretAccessKey").ok_or(missing("no SecretAccessKey in the reply"))?;
    let token = field("SessionToken").ok_or(missing("no SessionToken in the reply"))?;
    let mut result = Credentials::new(access_key_id, Secret::new(secret), Some(Secret::new(token)));
    if let Some(expiration) = field("Expiration") {
        let at: SystemTime =
            parse_rfc3339(expiration).ok_or(missing("Expiration is not an RFC 3339 time"))?;
        result = result.with_expiration(at);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    #[test]
    fn regions_are_host_name_labels() {
        for good in ["us-east-1", "eu-west-1", "cn-north-1", "a", "us-gov-west-1"] {
            assert!(super::valid_region(good), "{good}");
        }
        for bad in [
            "",
            "-us",
            "us-",
            "evil.example",
            "evil.example/x#",
            "us east",
            "a@b",
            &"a".repeat(64),
        ] {
            assert!(!super::valid_region(bad), "{bad}");
        }
        let var = |name: &str| match name {
            "AWS_REGION" => Some("evil.example/x#".to_owned()),
            "AWS_STS_REGIONAL_ENDPOINTS" => Some("regional".to_owned()),
            _ => None,
        };
        assert!(matches!(
            super::endpoint(var, None),
            Err(crate::error::AwsError::Misconfigured { .. })
        ));
    }

    use super::*;

    #[test]
    fn endpoints() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            endpoint(vars(&[]), None).unwrap().url,
            "https://sts.amazonaws.com/"
        );
        assert_eq!(
            endpoint(
                vars(&[("AWS_STS_REGIONAL_ENDPOINTS", "regional")]),
                Some("eu-west-1")
            ),
            Ok(StsEndpoint {
                url: "https://sts.eu-west-1.amazonaws.com/".into(),
                region: "eu-west-1".into()
            })
        );
        assert_eq!(
            endpoint(vars(&[("AWS_REGION", "us-west-2")]), None)
                .unwrap()
                .url,
            "https://sts.amazonaws.com/",
            "regional only when asked"
        );
        let local = endpoint(
            vars(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
                ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2/"),
            ]),
            None,
        );
        assert_eq!(local.unwrap().url, "http://127.0.0.1:2/");
    }

    #[test]
    fn bodies_and_replies() {
        let body = form(&[("A", "b c"), ("RoleArn", "arn:aws:iam::1:role/r")]);
        assert_eq!(
            body.as_str(),
            "A=b%20c&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr"
        );
        assert_eq!(body.capacity(), body.len(), "built at its final size");
        let reply = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let credentials = credentials_from_reply(reply).unwrap();
        assert_eq!(credentials.access_key_id(), "ASIA");
        assert!(credentials.expiration().is_some());
        assert!(credentials_from_reply("<Error><Code>AccessDenied</Code></Error>").is_err());
    }
}

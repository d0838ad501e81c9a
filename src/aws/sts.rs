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

/// The regions whose STS requests botocore sends to the global endpoint when
/// `sts_regional_endpoints` is `legacy`: those the global endpoint served before regional ones.
const LEGACY_GLOBAL_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "aws-global",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// The domain of a region's service endpoints: its partition's (`cn-north-1` is in China's,
/// `amazonaws.com.cn`), `amazonaws.com` for the commercial and GovCloud regions and any name
/// no partition claims, as botocore's partition table says: first each partition's own
/// `*-global` name, then the shape of its region names.
pub fn dns_suffix(region: &str) -> &'static str {
    const PARTITIONS: [(Option<&str>, &[&str], &str); 6] = [
        (Some("aws-cn-global"), &["cn"], "amazonaws.com.cn"),
        (None, &["eusc", "de"], "amazonaws.eu"),
        (Some("aws-iso-global"), &["us", "iso"], "c2s.ic.gov"),
        (Some("aws-iso-b-global"), &["us", "isob"], "sc2s.sgov.gov"),
        (Some("aws-iso-e-global"), &["eu", "isoe"], "cloud.adc-e.uk"),
        (Some("aws-iso-f-global"), &["us", "isof"], "csp.hci.ic.gov"),
    ];
    let parts: Vec<&str> = region.split('-').collect();
    // `<prefix>-<word>-<number>`, the shape every partition's regions have.
    let shaped = |prefix: &[&str]| {
        parts.len() == prefix.len() + 2
            && parts.starts_with(prefix)
            && parts.get(prefix.len()).is_some_and(|word| !word.is_empty())
            && parts
                .last()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    PARTITIONS
        .iter()
        .find(|(global, prefix, _)| *global == Some(region) || shaped(prefix))
        .map_or("amazonaws.com", |(_, _, suffix)| suffix)
}

/// Where STS requests go, as botocore chooses (and so PyMongo, through boto3):
/// - `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, signed for the region, which must then
///   be set;
/// - else the region's own endpoint, `sts.<region>.<partition's domain>`, unless
///   `sts_regional_endpoints` (`AWS_STS_REGIONAL_ENDPOINTS`, else the profile's setting) is
///   `legacy` and the region is one of [`LEGACY_GLOBAL_REGIONS`]; any value but `regional` or
///   `legacy` is refused;
/// - the global endpoint, `sts.amazonaws.com` signed for `us-east-1`, when no region is set.
///
/// The region is `AWS_DEFAULT_REGION`, else the profile's `region`: botocore does not read
/// `AWS_REGION`. A region that is not one ([`valid_region`]) is refused, an empty one too;
/// `aws-global` is the global endpoint's own name. An empty `sts_regional_endpoints` is
/// `regional` (an empty variable hides the profile's setting), an empty endpoint URL none.
/// FIPS and dual-stack endpoints (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`) are
/// not chosen: name one with `AWS_ENDPOINT_URL_STS`.
///
/// `var` gives the environment's variables as set, empty ones included.
pub fn endpoint(
    var: impl Fn(&str) -> Option<String>,
    profile: impl Fn(&str) -> Option<String>,
) -> Result<StsEndpoint, AwsError> {
    let misconfigured = |what: &str, rule: String| AwsError::Misconfigured {
        what: what.into(),
        rule,
    };
    let region = var("AWS_DEFAULT_REGION").or_else(|| profile("region"));
    if let Some(region) = region.as_deref().filter(|region| !valid_region(region)) {
        return Err(misconfigured(
            "the region",
            format!(
                "`{}` is not a region name",
                region.chars().take(64).collect::<String>()
            ),
        ));
    }
    // Checked even when an endpoint of one's own makes it moot, as botocore checks it.
    let mode = var("AWS_STS_REGIONAL_ENDPOINTS").or_else(|| profile("sts_regional_endpoints"));
    let legacy = match mode.as_deref() {
        None | Some("" | "regional") => false,
        Some("legacy") => true,
        Some(other) => {
            return Err(misconfigured(
                "sts_regional_endpoints",
                format!(
                    "`{}` is neither `regional` nor `legacy`",
                    other.chars().take(64).collect::<String>()
                ),
            ));
        }
    };
    let set = |name: &str| var(name).filter(|value| !value.is_empty());
    if let Some(url) = set("AWS_ENDPOINT_URL_STS").or_else(|| set("AWS_ENDPOINT_URL")) {
        let region = region.ok_or_else(|| {
            misconfigured(
                "AWS_ENDPOINT_URL_STS",
                "an endpoint of one's own needs a region to sign for (AWS_DEFAULT_REGION, or \
                 the profile's `region`)"
                    .to_owned(),
            )
        })?;
        return Ok(StsEndpoint { url, region });
    }
    let global = |region: &str| {
        region == "aws-global" || (legacy && LEGACY_GLOBAL_REGIONS.contains(&region))
    };
    Ok(match region {
        Some(region) if !global(&region) => StsEndpoint {
            url: format!("https://sts.{region}.{}/", dns_suffix(&region)),
            region,
        },
        _ => StsEndpoint {
            url: "https://sts.amazonaws.com/".to_owned(),
            region: "us-east-1".to_owned(),
        },
    })
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
            "AWS_DEFAULT_REGION" => Some("evil.example/x#".to_owned()),
            _ => None,
        };
        assert!(matches!(
            super::endpoint(var, |_: &str| None),
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
        let none = |_: &str| None;
        let url = |found: Result<StsEndpoint, AwsError>| found.unwrap().url;
        // botocore's choices (the peer test `sts_endpoints_agree_with_boto3` asks boto3 itself).
        assert_eq!(url(endpoint(vars(&[]), none)), "https://sts.amazonaws.com/");
        assert_eq!(
            endpoint(vars(&[("AWS_DEFAULT_REGION", "eu-west-1")]), none),
            Ok(StsEndpoint {
                url: "https://sts.eu-west-1.amazonaws.com/".into(),
                region: "eu-west-1".into()
            })
        );
        assert_eq!(
            url(endpoint(vars(&[("AWS_REGION", "us-west-2")]), none)),
            "https://sts.amazonaws.com/",
            "botocore does not read AWS_REGION"
        );
        let legacy = vars(&[("AWS_STS_REGIONAL_ENDPOINTS", "legacy")]);
        let profile =
            |region: &'static str| move |key: &str| (key == "region").then(|| region.to_owned());
        assert_eq!(
            url(endpoint(legacy, profile("eu-west-1"))),
            "https://sts.amazonaws.com/"
        );
        assert_eq!(
            url(endpoint(legacy, profile("ap-east-1"))),
            "https://sts.ap-east-1.amazonaws.com/",
            "a region the global endpoint never served"
        );
        assert_eq!(
            url(endpoint(vars(&[]), |key: &str| match key {
                "region" => Some("eu-west-3".to_owned()),
                "sts_regional_endpoints" => Some("legacy".to_owned()),
                _ => None,
            })),
            "https://sts.amazonaws.com/"
        );
        assert_eq!(
            url(endpoint(vars(&[]), profile("cn-north-1"))),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert!(matches!(
            endpoint(vars(&[("AWS_STS_REGIONAL_ENDPOINTS", "bogus")]), none),
            Err(AwsError::Misconfigured { .. })
        ));
        // `aws-global` is the global endpoint in either mode; an empty mode is `regional`, and
        // an empty variable hides the profile's `legacy`.
        assert_eq!(
            url(endpoint(
                vars(&[("AWS_DEFAULT_REGION", "aws-global")]),
                none
            )),
            "https://sts.amazonaws.com/"
        );
        let legacy_profile = |key: &str| match key {
            "region" => Some("eu-west-3".to_owned()),
            "sts_regional_endpoints" => Some("legacy".to_owned()),
            _ => None,
        };
        assert_eq!(
            url(endpoint(
                vars(&[("AWS_STS_REGIONAL_ENDPOINTS", "")]),
                legacy_profile
            )),
            "https://sts.eu-west-3.amazonaws.com/"
        );
        assert!(
            matches!(
                endpoint(vars(&[("AWS_DEFAULT_REGION", "")]), none),
                Err(AwsError::Misconfigured { .. })
            ),
            "an empty region, as botocore refuses it"
        );
        let local = endpoint(
            vars(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1/"),
                ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2/"),
            ]),
            profile("us-east-1"),
        );
        assert_eq!(url(local), "http://127.0.0.1:2/");
        assert!(
            matches!(
                endpoint(
                    vars(&[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2/")]),
                    none
                ),
                Err(AwsError::Misconfigured { .. })
            ),
            "no region to sign for"
        );
    }

    #[test]
    fn each_partition_has_its_domain() {
        for (region, suffix) in [
            ("us-east-1", "amazonaws.com"),
            ("us-gov-west-1", "amazonaws.com"),
            ("cn-northwest-1", "amazonaws.com.cn"),
            ("eusc-de-east-1", "amazonaws.eu"),
            ("us-iso-east-1", "c2s.ic.gov"),
            ("us-isob-east-1", "sc2s.sgov.gov"),
            ("eu-isoe-west-1", "cloud.adc-e.uk"),
            ("us-isof-south-1", "csp.hci.ic.gov"),
            // Shapes no partition claims: the commercial one's domain, as botocore falls back.
            ("cn-north", "amazonaws.com"),
            ("cn-north-1-x", "amazonaws.com"),
            ("cn--1", "amazonaws.com"),
            ("moon-1", "amazonaws.com"),
            // Each partition's own global name.
            ("aws-cn-global", "amazonaws.com.cn"),
            ("aws-iso-b-global", "sc2s.sgov.gov"),
            ("aws-us-gov-global", "amazonaws.com"),
        ] {
            assert_eq!(dns_suffix(region), suffix, "{region}");
        }
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

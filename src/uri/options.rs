//! Connection options: the typed TLS options, the raw pass-through options and their validation,
//! and the warnings parsing produces.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::handshake::check_app_name;
use crate::secret::Secret;

/// Something parsing ignored or accepted under protest. Parsing never prints: warnings are
/// returned for the caller to log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// An option key this crate does not know. It is kept among the raw options, for an
    /// embedding driver that may know it.
    UnknownOption {
        /// The key as written.
        key: String,
    },
    /// A known option with a value of the wrong type or range; the option is ignored.
    InvalidValue {
        /// The key as written.
        key: String,
        /// The value as decoded.
        value: String,
        /// What the option takes.
        expected: &'static str,
    },
    /// A non-string option with an empty value; the connection-string spec says to ignore it.
    EmptyValue {
        /// The key as written.
        key: String,
    },
    /// An option given more than once; the last value wins.
    RepeatedOption {
        /// The key as written (its last spelling).
        key: String,
    },
    /// An option that has no effect in this connection string.
    IgnoredOption {
        /// The key.
        key: String,
        /// Why it has no effect.
        reason: &'static str,
    },
    /// A deprecated option that still works.
    DeprecatedOption {
        /// The key as written.
        key: String,
        /// What to use instead.
        replacement: &'static str,
    },
    /// The same server appears twice in the host list; the repeat is dropped.
    DuplicateHost {
        /// The host, as `host:port`.
        host: String,
    },
    /// An `authMechanismProperties` value contains a comma. A comma cannot be given safely in the
    /// URI (it separates properties); set such a value in code.
    CommaInPropertyValue {
        /// The property name.
        property: String,
    },
    /// MONGODB-AWS credentials were given in the URI or options; accepted (the default policy),
    /// but the auth spec has required them to come from the environment since 2025-09-30.
    DeprecatedAwsCredentials,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::UnknownOption { key } => write!(f, "unsupported option `{key}`"),
            Warning::InvalidValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "unsupported value `{value}` for option `{key}` (expected {expected}); ignored"
            ),
            Warning::EmptyValue { key } => write!(f, "option `{key}` has an empty value; ignored"),
            Warning::RepeatedOption { key } => {
                write!(
                    f,
                    "option `{key}` is given more than once; the last value wins"
                )
            }
            Warning::IgnoredOption { key, reason } => {
                write!(f, "option `{key}` is ignored: {reason}")
            }
            Warning::DeprecatedOption { key, replacement } => {
                write!(f, "option `{key}` is deprecated; use {replacement}")
            }
            Warning::DuplicateHost { host } => {
                write!(
                    f,
                    "host `{host}` is listed more than once; the repeat is ignored"
                )
            }
            Warning::CommaInPropertyValue { property } => write!(
                f,
                "authMechanismProperties value of `{property}` contains a comma; a value with a \
                 comma must be set in code, not in the connection string"
            ),
            Warning::DeprecatedAwsCredentials => f.write_str(
                "MONGODB-AWS credentials in the connection string or options are deprecated; set \
                 them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                 AWS_SESSION_TOKEN) or use a credential provider",
            ),
        }
    }
}

/// A connection option this crate does not interpret, kept for the embedding driver.
#[derive(Clone, PartialEq, Eq)]
pub struct UriOption {
    key: String,
    value: OptionValue,
}

#[derive(Clone, PartialEq, Eq)]
enum OptionValue {
    Plain(String),
    Sensitive(Secret),
}

impl UriOption {
    pub(crate) fn new(key: String, value: String) -> Self {
        let value = if kind_of(&key) == Some(Kind::Secret) {
            OptionValue::Sensitive(Secret::new(value))
        } else {
            OptionValue::Plain(value)
        };
        UriOption { key, value }
    }

    /// The key with its original spelling (percent-decoded).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The percent-decoded value.
    pub fn value(&self) -> &str {
        match &self.value {
            OptionValue::Plain(v) => v,
            OptionValue::Sensitive(s) => s.expose(),
        }
    }

    /// Whether the value is a secret (e.g. `proxyPassword`), redacted by `Debug`.
    pub fn is_sensitive(&self) -> bool {
        matches!(self.value, OptionValue::Sensitive(_))
    }
}

impl fmt::Debug for UriOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            OptionValue::Plain(v) => write!(f, "{}={v:?}", self.key),
            OptionValue::Sensitive(s) => write!(f, "{}={s:?}", self.key),
        }
    }
}

/// The TLS options of a connection string. `None` means "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsOptions {
    /// `tls` (or its alias `ssl`).
    pub enabled: Option<bool>,
    /// `tlsCertificateKeyFile`: PEM file with the client certificate and its private key.
    pub certificate_key_file: Option<PathBuf>,
    /// `tlsCertificateKeyFilePassword`: decrypts the private key.
    pub certificate_key_file_password: Option<Secret>,
    /// `tlsCAFile`: PEM file of the certificate authorities to trust.
    pub ca_file: Option<PathBuf>,
    /// `tlsCRLFile` (PyMongo's option): PEM file of certificate revocation lists; the server's
    /// certificate must be listed as not revoked by its issuer's list.
    pub crl_file: Option<PathBuf>,
    /// `tlsAllowInvalidCertificates`.
    pub allow_invalid_certificates: Option<bool>,
    /// `tlsAllowInvalidHostnames`.
    pub allow_invalid_hostnames: Option<bool>,
    /// `tlsInsecure`: both of the above.
    pub insecure: Option<bool>,
    /// `tlsDisableOCSPEndpointCheck`.
    pub disable_ocsp_endpoint_check: Option<bool>,
    /// `tlsDisableCertificateRevocationCheck`.
    pub disable_certificate_revocation_check: Option<bool>,
}

impl TlsOptions {
    /// No option given.
    pub fn new() -> Self {
        TlsOptions::default()
    }

    /// `tls`.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// `tlsCAFile`.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// `tlsCRLFile`.
    pub fn crl_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.crl_file = Some(path.into());
        self
    }

    /// `tlsCertificateKeyFile`.
    pub fn certificate_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.certificate_key_file = Some(path.into());
        self
    }

    /// `tlsCertificateKeyFilePassword`.
    pub fn certificate_key_file_password(mut self, password: impl Into<Secret>) -> Self {
        self.certificate_key_file_password = Some(password.into());
        self
    }

    /// `tlsAllowInvalidCertificates`.
    pub fn allow_invalid_certificates(mut self, allow: bool) -> Self {
        self.allow_invalid_certificates = Some(allow);
        self
    }

    /// `tlsAllowInvalidHostnames`.
    pub fn allow_invalid_hostnames(mut self, allow: bool) -> Self {
        self.allow_invalid_hostnames = Some(allow);
        self
    }

    /// `tlsInsecure`.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = Some(insecure);
        self
    }

    /// The options of `code` that are set, over these (in-code options win, as in PyMongo),
    /// checked against the conflict rules of the uri-options spec.
    pub(crate) fn merged(&self, code: &TlsOptions) -> Result<TlsOptions> {
        fn pick<T: Clone>(code: &Option<T>, uri: &Option<T>) -> Option<T> {
            code.clone().or_else(|| uri.clone())
        }
        let merged = TlsOptions {
            enabled: pick(&code.enabled, &self.enabled),
            certificate_key_file: pick(&code.certificate_key_file, &self.certificate_key_file),
            certificate_key_file_password: pick(
                &code.certificate_key_file_password,
                &self.certificate_key_file_password,
            ),
            ca_file: pick(&code.ca_file, &self.ca_file),
            crl_file: pick(&code.crl_file, &self.crl_file),
            allow_invalid_certificates: pick(
                &code.allow_invalid_certificates,
                &self.allow_invalid_certificates,
            ),
            allow_invalid_hostnames: pick(
                &code.allow_invalid_hostnames,
                &self.allow_invalid_hostnames,
            ),
            insecure: pick(&code.insecure, &self.insecure),
            disable_ocsp_endpoint_check: pick(
                &code.disable_ocsp_endpoint_check,
                &self.disable_ocsp_endpoint_check,
            ),
            disable_certificate_revocation_check: pick(
                &code.disable_certificate_revocation_check,
                &self.disable_certificate_revocation_check,
            ),
        };
        let given = merged.given();
        let builder = TlsBuilder {
            options: merged,
            given,
            ..TlsBuilder::default()
        };
        builder.finish()
    }

    /// The canonical names of the options that are set, `tls` aside.
    fn given(&self) -> Vec<&'static str> {
        [
            ("tlsCertificateKeyFile", self.certificate_key_file.is_some()),
            (
                "tlsCertificateKeyFilePassword",
                self.certificate_key_file_password.is_some(),
            ),
            ("tlsCAFile", self.ca_file.is_some()),
            ("tlsCRLFile", self.crl_file.is_some()),
            (
                "tlsAllowInvalidCertificates",
                self.allow_invalid_certificates.is_some(),
            ),
            (
                "tlsAllowInvalidHostnames",
                self.allow_invalid_hostnames.is_some(),
            ),
            ("tlsInsecure", self.insecure.is_some()),
            (
                "tlsDisableOCSPEndpointCheck",
                self.disable_ocsp_endpoint_check.is_some(),
            ),
            (
                "tlsDisableCertificateRevocationCheck",
                self.disable_certificate_revocation_check.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// Whether any option other than `tls` itself was given.
    pub fn has_settings(&self) -> bool {
        self.certificate_key_file.is_some()
            || self.certificate_key_file_password.is_some()
            || self.ca_file.is_some()
            || self.crl_file.is_some()
            || self.allow_invalid_certificates.is_some()
            || self.allow_invalid_hostnames.is_some()
            || self.insecure.is_some()
            || self.disable_ocsp_endpoint_check.is_some()
            || self.disable_certificate_revocation_check.is_some()
    }

    /// Whether the certificate chain is to be checked (`tlsInsecure` and
    /// `tlsAllowInvalidCertificates` turn it off).
    pub fn verify_certificates(&self) -> bool {
        !(self.insecure == Some(true) || self.allow_invalid_certificates == Some(true))
    }

    /// Whether the server's name is to be checked against its certificate.
    pub fn verify_hostnames(&self) -> bool {
        !(self.insecure == Some(true) || self.allow_invalid_hostnames == Some(true))
    }
}

/// How a known option's value is checked. Values that pass are kept as written (decoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    /// `appName`: a string of at most
    /// [`MAX_APP_NAME_LEN`](crate::handshake::MAX_APP_NAME_LEN) bytes ([`check_app_name`]),
    /// which is all a server takes.
    AppName,
    /// A string whose value must not be printed (`proxyPassword`).
    Secret,
    Bool,
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// `maxStalenessSeconds`: `-1` (no check), or at least 90 seconds (the least a server's
    /// staleness can be measured to, as the max staleness specification has it).
    Staleness,
    OneOf(&'static [&'static str]),
    /// `w`: a non-negative integer or any string.
    WriteConcern,
    /// `readPreferenceTags`: `key:value` pairs separated by commas, or empty; repeatable.
    TagSet,
    /// `compressors`: a comma-separated list of names.
    NameList,
    /// `srvServiceName`: an SRV service name as RFC 6335 has it (letters, digits and single
    /// hyphens within, at least one letter), which the seedlist discovery specification lets
    /// run past RFC 6335's 15 characters to 62, the most a DNS label with its `_` takes.
    /// Another value is refused when parsed, not ignored.
    ServiceName,
}

impl Kind {
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Text | Kind::Secret => "a string",
            Kind::AppName => "a string of at most 128 bytes",
            Kind::Bool => "`true` or `false`",
            Kind::Int(0, _) => "a non-negative integer",
            Kind::Int(1, _) => "a positive integer",
            Kind::Int(..) => "an integer in range",
            Kind::Staleness => "-1 or an integer of at least 90",
            Kind::OneOf(_) => "one of the documented values",
            Kind::WriteConcern => "a non-negative integer or a string",
            Kind::TagSet => "`key:value` pairs separated by commas",
            Kind::NameList => "names separated by commas",
            Kind::ServiceName => {
                "an SRV service name: letters, digits and single hyphens within, a letter among \
                 them, at most 62 characters"
            }
        }
    }

    /// Whether a repeated key adds to a list rather than replacing the value.
    pub(crate) fn is_list(self) -> bool {
        self == Kind::TagSet
    }

    /// Whether the decoded value is valid for this kind.
    pub(crate) fn accepts(self, value: &str) -> bool {
        match self {
            Kind::Text | Kind::Secret => true,
            Kind::AppName => check_app_name(value).is_ok(),
            Kind::Bool => parse_bool(value).is_some(),
            Kind::Int(min, max) => parse_int(value).is_some_and(|n| (min..=max).contains(&n)),
            Kind::Staleness => {
                parse_int(value).is_some_and(|n| n == -1 || (90..=MAX_INT).contains(&n))
            }
            Kind::OneOf(values) => values.iter().any(|v| v.eq_ignore_ascii_case(value)),
            Kind::WriteConcern => parse_int(value).is_none_or(|n| n >= 0),
            Kind::TagSet => {
                value.is_empty()
                    || value.split(',').all(|pair| {
                        pair.split_once(':')
                            .is_some_and(|(k, v)| !k.is_empty() && !v.is_empty())
                    })
            }
            Kind::NameList => value.split(',').all(|name| !name.is_empty()),
            Kind::ServiceName => {
                (1..=62).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && value.bytes().any(|b| b.is_ascii_alphabetic())
                    && !value.starts_with('-')
                    && !value.ends_with('-')
                    && !value.contains("--")
            }
        }
    }

    /// Whether an empty value means "ignore the key" (integers, booleans and enumerations).
    pub(crate) fn ignores_empty(self) -> bool {
        matches!(
            self,
            Kind::Bool | Kind::Int(..) | Kind::Staleness | Kind::OneOf(_) | Kind::NameList
        )
    }
}

/// `true` / `false` only: the legacy spellings (`1`, `yes`, ...) are deprecated and the option
/// tests treat them as invalid.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_int(value: &str) -> Option<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

const MAX_INT: i64 = i32::MAX as i64;
const NON_NEGATIVE: Kind = Kind::Int(0, MAX_INT);

/// The options of the URI options spec that this crate passes through, with the type each takes.
/// Auth and TLS options are typed separately (see [`super::parse`]).
const PASS_THROUGH: &[(&str, Kind)] = &[
    ("appName", Kind::AppName),
    ("compressors", Kind::NameList),
    ("connectTimeoutMS", NON_NEGATIVE),
    ("directConnection", Kind::Bool),
    ("enableOverloadRetargeting", Kind::Bool),
    ("heartbeatFrequencyMS", Kind::Int(500, MAX_INT)),
    ("journal", Kind::Bool),
    ("loadBalanced", Kind::Bool),
    ("localThresholdMS", NON_NEGATIVE),
    ("maxAdaptiveRetries", NON_NEGATIVE),
    ("maxConnecting", Kind::Int(1, MAX_INT)),
    ("maxIdleTimeMS", NON_NEGATIVE),
    ("maxPoolSize", NON_NEGATIVE),
    ("maxStalenessSeconds", Kind::Staleness),
    ("minPoolSize", NON_NEGATIVE),
    ("proxyHost", Kind::Text),
    ("proxyPassword", Kind::Secret),
    ("proxyPort", Kind::Int(0, 65535)),
    ("proxyUsername", Kind::Text),
    ("readConcernLevel", Kind::Text),
    (
        "readPreference",
        Kind::OneOf(&[
            "primary",
            "primaryPreferred",
            "secondary",
            "secondaryPreferred",
            "nearest",
        ]),
    ),
    ("readPreferenceTags", Kind::TagSet),
    ("replicaSet", Kind::Text),
    ("retryReads", Kind::Bool),
    ("retryWrites", Kind::Bool),
    (
        "serverMonitoringMode",
        Kind::OneOf(&["auto", "stream", "poll"]),
    ),
    ("serverSelectionTimeoutMS", NON_NEGATIVE),
    ("serverSelectionTryOnce", Kind::Bool),
    ("socketTimeoutMS", NON_NEGATIVE),
    ("srvMaxHosts", NON_NEGATIVE),
    ("srvServiceName", Kind::ServiceName),
    // A 64-bit integer, as the client-side operations timeout specification defines it.
    ("timeoutMS", Kind::Int(0, i64::MAX)),
    ("w", Kind::WriteConcern),
    ("waitQueueTimeoutMS", NON_NEGATIVE),
    ("wTimeoutMS", Kind::Int(0, i64::MAX)),
    ("zlibCompressionLevel", Kind::Int(-1, 9)),
];

/// The kind of a pass-through option, looked up case-insensitively.
pub(crate) fn kind_of(key: &str) -> Option<Kind> {
    PASS_THROUGH
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, kind)| *kind)
}

/// The TLS option keys and which pairs of them may not be combined (uri-options spec: any
/// combination of the two, whatever the values, is an error).
pub(crate) const TLS_CONFLICTS: &[(&str, &str)] = &[
    ("tlsInsecure", "tlsAllowInvalidCertificates"),
    ("tlsInsecure", "tlsAllowInvalidHostnames"),
    ("tlsInsecure", "tlsDisableOCSPEndpointCheck"),
    ("tlsInsecure", "tlsDisableCertificateRevocationCheck"),
    ("tlsAllowInvalidCertificates", "tlsDisableOCSPEndpointCheck"),
    (
        "tlsAllowInvalidCertificates",
        "tlsDisableCertificateRevocationCheck",
    ),
    (
        "tlsDisableOCSPEndpointCheck",
        "tlsDisableCertificateRevocationCheck",
    ),
];

/// Collects the TLS options while the query is read.
#[derive(Default)]
pub(crate) struct TlsBuilder {
    pub(crate) options: TlsOptions,
    /// (`tls` or `ssl` as spelled, value), to check the two agree.
    enabled_by: Vec<(String, bool)>,
    /// Canonical names of the options given with a valid value, for the conflict rules.
    given: Vec<&'static str>,
    /// The first `tls` or `ssl` whose value is neither `true` nor `false` (key and value as
    /// written): refused, not ignored.
    unreadable_switch: Option<(String, String)>,
    /// Another TLS setting was given with a value that could not be read, and ignored: TLS
    /// was meant all the same.
    unreadable_setting: bool,
}

impl TlsBuilder {
    /// Takes the option if it is a TLS option; returns whether it was one.
    pub(crate) fn take(&mut self, key: &str, value: &str, warnings: &mut Vec<Warning>) -> bool {
        const BOOLS: [&str; 7] = [
            "tls",
            "ssl",
            "tlsAllowInvalidCertificates",
            "tlsAllowInvalidHostnames",
            "tlsInsecure",
            "tlsDisableOCSPEndpointCheck",
            "tlsDisableCertificateRevocationCheck",
        ];
        const PATHS: [&str; 4] = [
            "tlsCertificateKeyFile",
            "tlsCertificateKeyFilePassword",
            "tlsCAFile",
            "tlsCRLFile",
        ];
        let Some(canonical) = BOOLS
            .iter()
            .chain(PATHS.iter())
            .find(|name| name.eq_ignore_ascii_case(key))
            .copied()
        else {
            return false;
        };
        let is_switch = matches!(canonical, "tls" | "ssl");
        if is_switch && parse_bool(value).is_none() {
            self.unreadable_switch
                .get_or_insert_with(|| (key.to_owned(), value.to_owned()));
            return true;
        }
        if value.is_empty() {
            // The setting is ignored, as the connection-string specification says; TLS is not:
            // a TLS setting means TLS, whatever its value.
            self.unreadable_setting = true;
            warnings.push(Warning::EmptyValue {
                key: key.to_owned(),
            });
            return true;
        }
        if BOOLS.contains(&canonical) {
            let Some(flag) = parse_bool(value) else {
                self.unreadable_setting = true;
                warnings.push(Warning::InvalidValue {
                    key: key.to_owned(),
                    value: value.to_owned(),
                    expected: Kind::Bool.expected(),
                });
                return true;
            };
            let o = &mut self.options;
            match canonical {
                "tls" | "ssl" => {
                    self.enabled_by.push((key.to_owned(), flag));
                    o.enabled = Some(flag);
                }
                "tlsAllowInvalidCertificates" => o.allow_invalid_certificates = Some(flag),
                "tlsAllowInvalidHostnames" => o.allow_invalid_hostnames = Some(flag),
                "tlsInsecure" => o.insecure = Some(flag),
                "tlsDisableOCSPEndpointCheck" => o.disable_ocsp_endpoint_check = Some(flag),
                _ => o.disable_certificate_revocation_check = Some(flag),
            }
        } else {
            let o = &mut self.options;
            match canonical {
                "tlsCertificateKeyFile" => o.certificate_key_file = Some(value.into()),
                "tlsCAFile" => o.ca_file = Some(value.into()),
                "tlsCRLFile" => o.crl_file = Some(value.into()),
                _ => o.certificate_key_file_password = Some(Secret::new(value)),
            }
        }
        if !self.given.contains(&canonical) {
            self.given.push(canonical);
        }
        true
    }

    /// Applies the conflict rules of the uri-options spec; and refuses a `tls` or `ssl` that
    /// is neither `true` nor `false` (empty included), where the connection-string
    /// specification would ignore it with a warning: ignored, `tls=TRUE` or `ssl=1` would leave
    /// a `mongodb://` connection in plain text, its password with it. (PyMongo's `MongoClient`
    /// warns and goes on without TLS; its strict `parse_uri` refuses.)
    pub(crate) fn finish(mut self) -> Result<TlsOptions> {
        if self.unreadable_setting && self.options.enabled.is_none() {
            // Said in so many words, so that the connection string printed back means TLS too.
            self.options.enabled = Some(true);
        }
        if let Some((key, value)) = self.unreadable_switch {
            return Err(Error::InvalidOption {
                option: key,
                rule: format!(
                    "`{value}` is neither `true` nor `false` (in lower case); it is refused \
                     rather than ignored, which would turn TLS off"
                ),
            });
        }
        if let Some((first, a)) = self.enabled_by.first()
            && let Some((second, _)) = self.enabled_by.iter().find(|(_, b)| b != a)
        {
            return Err(Error::ConflictingOptions {
                first: first.clone(),
                second: second.clone(),
                rule: "`tls` and `ssl` are aliases and must agree",
            });
        }
        for (a, b) in TLS_CONFLICTS {
            if self.given.contains(a) && self.given.contains(b) {
                return Err(Error::ConflictingOptions {
                    first: (*a).to_owned(),
                    second: (*b).to_owned(),
                    rule: "they may not be combined, whatever their values",
                });
            }
        }
        if self.options.enabled == Some(false)
            && let Some(setting) = self.given.iter().find(|g| !matches!(**g, "tls" | "ssl"))
        {
            return Err(Error::ConflictingOptions {
                first: "tls=false".into(),
                second: (*setting).to_owned(),
                rule: "a TLS setting has no meaning when TLS is off",
            });
        }
        Ok(self.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::MAX_APP_NAME_LEN;

    #[test]
    fn kinds_accept_what_the_spec_allows() {
        assert!(Kind::Bool.accepts("true") && !Kind::Bool.accepts("1"));
        let longest = "é".repeat(MAX_APP_NAME_LEN / 2);
        assert!(Kind::AppName.accepts(&longest) && !Kind::AppName.accepts(&format!("{longest}x")));
        assert!(
            Kind::AppName
                .expected()
                .contains(&MAX_APP_NAME_LEN.to_string())
        );
        assert!(
            NON_NEGATIVE.accepts("0") && !NON_NEGATIVE.accepts("-2") && !NON_NEGATIVE.accepts("x")
        );
        assert!(!NON_NEGATIVE.accepts("99999999999999999999999"));
        assert!(Kind::Int(-1, 9).accepts("-1") && !Kind::Int(-1, 9).accepts("10"));
        assert!(Kind::WriteConcern.accepts("majority") && !Kind::WriteConcern.accepts("-1"));
        assert!(Kind::TagSet.accepts("dc:ny,rack:1") && Kind::TagSet.accepts(""));
        assert!(!Kind::TagSet.accepts("invalid"));
        assert!(!Kind::Int(0, 5).accepts("+3"));
    }

    #[test]
    fn proxy_password_is_redacted() {
        let opt = UriOption::new("proxyPassword".into(), "s3cret".into());
        assert!(opt.is_sensitive());
        assert!(!format!("{opt:?}").contains("s3cret"));
        assert_eq!(opt.value(), "s3cret");
    }
}

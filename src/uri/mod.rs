//! `mongodb://` and `mongodb+srv://` connection strings.
//!
//! Parsing follows the connection-string, URI-options, auth and initial-DNS-seedlist-discovery
//! specs. It does no I/O: a `mongodb+srv` URI yields the DNS names to look up
//! ([`ConnectionString::srv_query`]) and takes the records back as data
//! ([`ConnectionString::resolve_srv`]).

mod host;
mod options;
pub(crate) mod percent;
mod srv;

use std::collections::HashSet;

use std::fmt;
use zeroize::Zeroizing;

pub use host::{DEFAULT_PORT, Host};
pub use options::{TlsOptions, UriOption, Warning};
pub use srv::{SrvQuery, SrvRecord, TxtRecord};

use crate::credential::{
    AuthInput, Credential, CredentialOptions, ExplicitAwsCredentials, is_code_only_property,
};
use crate::error::{Error, Result};
use crate::secret::{REDACTED, Secret};
use options::{Kind, TlsBuilder, kind_of, parse_bool, parse_int};

const SCHEME: &str = "mongodb://";
const SRV_SCHEME: &str = "mongodb+srv://";

/// How to parse: policies the spec leaves to the application.
///
/// ```
/// use mongodb_auth::{ConnectionString, ExplicitAwsCredentials, ParseOptions};
///
/// let uri = "mongodb://AKID:secret@host/?authMechanism=MONGODB-AWS";
/// assert!(ConnectionString::parse(uri).is_ok()); // accepted, with a deprecation warning
/// let strict = ParseOptions::default().explicit_aws_credentials(ExplicitAwsCredentials::Rejected);
/// assert!(ConnectionString::parse_with(uri, strict).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    explicit_aws_credentials: ExplicitAwsCredentials,
}

impl ParseOptions {
    /// The strict profile of the 2025 auth spec: explicit AWS credentials are rejected.
    pub fn strict() -> Self {
        Self::default().explicit_aws_credentials(ExplicitAwsCredentials::Rejected)
    }

    /// What to do with MONGODB-AWS credentials given in the URI (default: accept with a warning).
    pub fn explicit_aws_credentials(mut self, policy: ExplicitAwsCredentials) -> Self {
        self.explicit_aws_credentials = policy;
        self
    }
}

/// A parsed and validated connection string.
///
/// `Debug` and `Display` never show a password, a key password, a proxy password or an AWS
/// session token; [`ConnectionString::to_uri`] gives the full URI back, wrapped in a [`Secret`].
///
/// ```
/// use mongodb_auth::ConnectionString;
///
/// let cs = ConnectionString::parse("mongodb://alice:s%40cret@db1:27018,db2/app?replicaSet=rs0")?;
/// let credential = cs.credential().unwrap();
/// assert_eq!(credential.username(), Some("alice"));
/// assert_eq!(credential.password().unwrap().expose(), "s@cret");
/// assert_eq!(credential.source(), "app");
/// assert_eq!(cs.hosts().len(), 2);
/// assert_eq!(cs.option("replicaset"), Some("rs0"));
/// assert!(!format!("{cs:?}").contains("s@cret"));
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionString {
    srv: Option<SrvState>,
    hosts: Vec<Host>,
    database: Option<String>,
    auth: AuthInput,
    credential: Option<Credential>,
    tls: TlsOptions,
    options: Vec<UriOption>,
    warnings: Vec<Warning>,
    aws_policy: ExplicitAwsCredentials,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct SrvState {
    hostname: String,
    resolved: bool,
}

impl ConnectionString {
    /// Parses with the default [`ParseOptions`].
    pub fn parse(uri: &str) -> Result<Self> {
        Self::parse_with(uri, ParseOptions::default())
    }

    /// Parses a connection string.
    pub fn parse_with(uri: &str, parse_options: ParseOptions) -> Result<Self> {
        let mut cs = Self::parse_unvalidated(uri, parse_options)?;
        cs.revalidate_credential()?;
        Ok(cs)
    }

    /// Parses `uri` with in-code credential settings merged in before the credential is
    /// validated: for what only code can give, which the URI alone would be invalid without
    /// (a MONGODB-OIDC callback in place of `ENVIRONMENT`).
    ///
    /// ```
    /// use mongodb_auth::credential::Flow;
    /// use mongodb_auth::{ConnectionString, CredentialOptions};
    ///
    /// let uri = "mongodb://db.example.com/?authMechanism=MONGODB-OIDC";
    /// assert!(ConnectionString::parse(uri).is_err()); // neither ENVIRONMENT nor a callback
    /// let cs = ConnectionString::parse_with_credential_options(
    ///     uri,
    ///     CredentialOptions::new().oidc_callback(Flow::Machine),
    /// )?;
    /// assert_eq!(cs.credential().unwrap().source(), "$external");
    /// # Ok::<(), mongodb_auth::Error>(())
    /// ```
    pub fn parse_with_credential_options(uri: &str, code: CredentialOptions) -> Result<Self> {
        Self::parse_unvalidated(uri, ParseOptions::default())?.with_credential_options(code)
    }

    /// Everything but the credential's validation.
    fn parse_unvalidated(uri: &str, parse_options: ParseOptions) -> Result<Self> {
        let (is_srv, rest) = strip_scheme(uri)?;
        // The host information ends at the first `/` or `?`; `?` may follow it directly
        // (`mongodb://example.com?tls=true`).
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (path, query) = match tail.strip_prefix('/') {
            Some(after_slash) => match after_slash.split_once('?') {
                Some((path, query)) => (path, query),
                None => (after_slash, ""),
            },
            None => ("", tail.strip_prefix('?').unwrap_or("")),
        };

        // An `@` after the host list means a `/` or `?` in the username or password ended it
        // early. Say so without echoing anything: the text around it is part of a password.
        if path.contains('@')
            || query
                .split(['&', ';'])
                .any(|pair| pair.split('=').next().is_some_and(|k| k.contains('@')))
        {
            return Err(Error::InvalidUserinfo {
                rule: CUT_SHORT_USERINFO,
            });
        }

        let mut auth = AuthInput::default();
        let hosts_part = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => {
                let (username, password) = parse_userinfo(userinfo)?;
                auth.credential_given = true;
                auth.username = Some(username);
                auth.password = password;
                hosts
            }
            None => authority,
        };

        let mut warnings = Vec::new();
        // With no `@` before the first `/` or `?` and one after it in an option value, the
        // "host list" may be a userinfo cut short (`alice:pa?ss=1@db`): if it does not parse as
        // hosts, its text is not repeated.
        let cut_short = !authority.contains('@') && tail.contains('@');
        let hosts = parse_hosts(hosts_part, &mut warnings).map_err(|e| match e {
            Error::InvalidHost { .. } if cut_short => Error::InvalidUserinfo {
                rule: CUT_SHORT_USERINFO,
            },
            other => other,
        })?;
        let srv = if is_srv {
            Some(SrvState {
                hostname: srv_hostname(&hosts)?,
                resolved: false,
            })
        } else {
            None
        };
        let database = parse_database(path)?;

        let separator = option_separator(query)?;
        let mut tls = TlsBuilder::default();
        let mut options = Vec::new();
        let mut gssapi_service_name = None;
        let mut seen: HashSet<String> = HashSet::new();
        for (at, pair) in query
            .split(separator)
            .filter(|pair| !pair.is_empty())
            .enumerate()
        {
            // Named by its place, not its text: a pair without `=` is often the end of a
            // password whose `&` was not escaped.
            let (raw_key, raw_value) = pair.split_once('=').ok_or_else(|| {
                Error::option(
                    format!("#{}", at + 1),
                    "an option must be written `key=value` (a `&` in a value as `%26`)",
                )
            })?;
            let key = percent::decode(raw_key).map_err(|e| Error::option(raw_key, e.rule()))?;
            let lower = key.to_ascii_lowercase();
            let first_time = seen.insert(lower.clone());
            if !first_time && kind_of(&key).is_none_or(|k| !k.is_list()) {
                warnings.push(Warning::RepeatedOption { key: key.clone() });
            }
            if lower == "authmechanismproperties" {
                // Split before decoding, so an encoded `,` or `:` stays inside its value.
                auth.properties = parse_mechanism_properties(raw_value, &mut warnings)?;
                continue;
            }
            // Wiped when dropped: it may be a password (`tlsCertificateKeyFilePassword`), which
            // is kept as a copy in a `Secret`.
            let mut value = Zeroizing::new(
                percent::decode(raw_value).map_err(|e| Error::option(&key, e.rule()))?,
            );
            match lower.as_str() {
                // PyMongo's name for negotiation, as if no mechanism were named.
                "authmechanism" if *value == "DEFAULT" => {
                    auth.default_named = true;
                    auth.mechanism = None;
                }
                "authmechanism" => {
                    auth.default_named = false;
                    auth.mechanism = Some(value.parse()?);
                }
                // Refused, not ignored: ignored, it would send the lookup to `_mongodb._tcp`,
                // another service than the one named.
                "srvservicename" if !Kind::ServiceName.accepts(&value) => {
                    return Err(Error::option(key, Kind::ServiceName.expected()));
                }
                "authsource" => {
                    if value.is_empty() {
                        return Err(Error::option(key, "must not be empty"));
                    }
                    auth.source = Some(std::mem::take(&mut *value));
                }
                "gssapiservicename" => {
                    warnings.push(Warning::DeprecatedOption {
                        key,
                        replacement: "authMechanismProperties=SERVICE_NAME:<name>",
                    });
                    gssapi_service_name = Some(std::mem::take(&mut *value));
                }
                _ if tls.take(&key, &value, &mut warnings) => {}
                _ => match kind_of(&key) {
                    Some(kind) if value.is_empty() && kind.ignores_empty() => {
                        warnings.push(Warning::EmptyValue { key });
                    }
                    Some(kind) if !kind.accepts(&value) => warnings.push(Warning::InvalidValue {
                        key,
                        value: std::mem::take(&mut *value),
                        expected: kind.expected(),
                    }),
                    Some(_) => options.push(UriOption::new(key, std::mem::take(&mut *value))),
                    None => {
                        warnings.push(Warning::UnknownOption { key: key.clone() });
                        options.push(UriOption::new(key, std::mem::take(&mut *value)));
                    }
                },
            }
        }
        if let Some(name) = gssapi_service_name {
            // The newer spelling wins when both are given.
            if !auth.properties.contains("SERVICE_NAME") {
                auth.properties.insert("SERVICE_NAME", name);
            }
        }

        let cs = ConnectionString {
            srv,
            hosts,
            database,
            auth,
            credential: None,
            tls: tls.finish()?,
            options,
            warnings,
            aws_policy: parse_options.explicit_aws_credentials,
        };
        cs.check_option_rules()?;
        Ok(cs)
    }

    /// Merges in-code credential settings over the URI's (in-code wins, properties combine) and
    /// validates the result as the URI's own would be.
    pub fn with_credential_options(mut self, code: CredentialOptions) -> Result<Self> {
        self.auth.merge(&code.input);
        if let Some(policy) = code.aws_credentials {
            self.aws_policy = policy;
        }
        self.revalidate_credential()?;
        Ok(self)
    }

    /// Merges in-code TLS settings over the URI's (in-code wins) and checks the result against
    /// the same conflict rules as the URI's own options.
    ///
    /// ```
    /// use mongodb_auth::{ConnectionString, TlsOptions};
    ///
    /// let cs = ConnectionString::parse("mongodb://db.example.com/?tls=true")?
    ///     .with_tls_options(TlsOptions::new().ca_file("/etc/ssl/private-ca.pem"))?;
    /// assert_eq!(cs.tls().ca_file.as_deref(), Some(std::path::Path::new("/etc/ssl/private-ca.pem")));
    /// assert!(ConnectionString::parse("mongodb://h/?tlsInsecure=true")?
    ///     .with_tls_options(TlsOptions::new().allow_invalid_hostnames(true))
    ///     .is_err());
    /// # Ok::<(), mongodb_auth::Error>(())
    /// ```
    pub fn with_tls_options(mut self, code: TlsOptions) -> Result<Self> {
        self.tls = self.tls.merged(&code)?;
        Ok(self)
    }

    fn revalidate_credential(&mut self) -> Result<()> {
        self.credential = self.auth.validate(
            self.database.as_deref(),
            self.aws_policy,
            &mut self.warnings,
        )?;
        Ok(())
    }

    /// Whether this is a `mongodb+srv://` connection string.
    pub fn is_srv(&self) -> bool {
        self.srv.is_some()
    }

    /// The hosts: as written, or for `mongodb+srv` the SRV name until
    /// [`resolve_srv`](Self::resolve_srv) replaced it with the discovered seeds.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The database path of the URI (`/app` gives `app`), percent-decoded.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The validated credential; `None` when the connection string configures no authentication.
    pub fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    /// `authSource` as given (in the URI, a TXT record or code), even when there is no credential.
    pub fn auth_source(&self) -> Option<&str> {
        self.auth.source.as_deref()
    }

    /// The TLS options as given.
    pub fn tls(&self) -> &TlsOptions {
        &self.tls
    }

    /// Whether to use TLS: as `tls`/`ssl` says; otherwise on for `mongodb+srv` (the seedlist spec's
    /// default) or when any other TLS option is given (a CA file or a client certificate means
    /// nothing without TLS); otherwise off.
    pub fn tls_enabled(&self) -> bool {
        self.tls
            .enabled
            .unwrap_or(self.srv.is_some() || self.tls.has_settings())
    }

    /// The options this crate does not interpret, in the order written, with their original
    /// spelling; unknown keys are included (and warned about).
    pub fn options(&self) -> &[UriOption] {
        &self.options
    }

    /// The value of an option (case-insensitive key); for a repeated key the last one.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|o| o.key().eq_ignore_ascii_case(key))
            .map(UriOption::value)
    }

    /// Every value of a repeatable option (e.g. `readPreferenceTags`), in order.
    pub fn option_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.options
            .iter()
            .filter(move |o| o.key().eq_ignore_ascii_case(key))
            .map(UriOption::value)
    }

    /// What parsing ignored or accepted under protest, for the caller to log.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The connection string printed back, password included (hence a [`Secret`]). Parsing it
    /// again gives an equal value, warnings aside. For a resolved `mongodb+srv` string it prints
    /// the SRV name, not the seeds.
    pub fn to_uri(&self) -> Secret {
        // Written once, at its final size, and moved into the secret: no copy of the password
        // is left behind in memory given back unwiped.
        let mut uri = crate::secret::text_at_final_size(|out| self.write_uri(false, out));
        Secret::new(std::mem::take(&mut *uri))
    }

    /// The value of a boolean option (`true` or `false`, the only values parsing accepts), if
    /// the string gives it.
    pub fn flag(&self, key: &str) -> Option<bool> {
        self.option(key).and_then(parse_bool)
    }

    /// Rules of the URI-options and seedlist specs that tie options to each other and to the
    /// host list. Checked after parsing and again after SRV resolution.
    fn check_option_rules(&self) -> Result<()> {
        let conflict = |first: &str, second: &str, rule| {
            Err(Error::ConflictingOptions {
                first: first.to_owned(),
                second: second.to_owned(),
                rule,
            })
        };
        let direct = self.flag("directConnection");
        let load_balanced = self.flag("loadBalanced");
        let replica_set = self.option("replicaSet").is_some();
        let max_hosts = self.option("srvMaxHosts").and_then(parse_int);
        if direct == Some(true) {
            if self.srv.is_some() {
                return Err(Error::option(
                    "directConnection",
                    "`true` is not allowed with mongodb+srv",
                ));
            }
            if self.hosts.len() > 1 {
                return Err(Error::option(
                    "directConnection",
                    "`true` allows a single host only",
                ));
            }
        }
        if load_balanced == Some(true) {
            if self.hosts.len() > 1 {
                return Err(Error::option(
                    "loadBalanced",
                    "`true` allows a single host only",
                ));
            }
            if direct == Some(true) {
                return conflict(
                    "loadBalanced",
                    "directConnection",
                    "a load balancer is not a direct connection",
                );
            }
            if replica_set {
                return conflict(
                    "loadBalanced",
                    "replicaSet",
                    "a load balancer hides the replica set",
                );
            }
        }
        if self.srv.is_none() {
            for key in ["srvServiceName", "srvMaxHosts"] {
                if self.option(key).is_some() {
                    return Err(Error::option(key, "only allowed with mongodb+srv"));
                }
            }
        }
        if max_hosts.is_some_and(|n| n > 0) {
            if replica_set {
                return conflict(
                    "srvMaxHosts",
                    "replicaSet",
                    "a positive srvMaxHosts picks a subset of a replica set",
                );
            }
            if load_balanced == Some(true) {
                return conflict(
                    "srvMaxHosts",
                    "loadBalanced",
                    "a load balancer is a single host",
                );
            }
        }
        self.check_proxy_rules()
    }

    fn check_proxy_rules(&self) -> Result<()> {
        for key in ["proxyHost", "proxyPort", "proxyUsername", "proxyPassword"] {
            if self.option_values(key).count() > 1 {
                return Err(Error::option(key, "may be given only once"));
            }
        }
        if self.option("proxyHost").is_none() {
            for key in ["proxyPort", "proxyUsername", "proxyPassword"] {
                if self.option(key).is_some() {
                    return Err(Error::option(key, "requires proxyHost"));
                }
            }
        }
        match (self.option("proxyUsername"), self.option("proxyPassword")) {
            (Some(_), None) => Err(Error::option("proxyUsername", "requires proxyPassword")),
            (None, Some(_)) => Err(Error::option("proxyPassword", "requires proxyUsername")),
            _ => Ok(()),
        }
    }

    /// Writes the connection string, the password and secret option values as [`REDACTED`]
    /// when `redact`. Written straight into `out`, so that the one text holding them is the
    /// caller's (see [`to_uri`](Self::to_uri)).
    fn write_uri(&self, redact: bool, out: &mut dyn fmt::Write) -> fmt::Result {
        use percent::encoded;
        out.write_str(if self.srv.is_some() {
            SRV_SCHEME
        } else {
            SCHEME
        })?;
        if self.auth.credential_given {
            write!(
                out,
                "{}",
                encoded(self.auth.username.as_deref().unwrap_or(""))
            )?;
            if let Some(password) = &self.auth.password {
                if redact {
                    write!(out, ":{REDACTED}")?;
                } else {
                    write!(out, ":{}", encoded(password.expose()))?;
                }
            }
            out.write_char('@')?;
        }
        match &self.srv {
            Some(srv) => write!(out, "{}", encoded(&srv.hostname))?,
            None => {
                for (i, host) in self.hosts.iter().enumerate() {
                    if i > 0 {
                        out.write_char(',')?;
                    }
                    out.write_str(&host.to_uri_component())?;
                }
            }
        }
        out.write_char('/')?;
        if let Some(db) = &self.database {
            write!(out, "{}", encoded(db))?;
        }
        let secret = |value| if redact { REDACTED } else { value };
        let mut query = Query {
            out,
            started: false,
        };
        if let Some(m) = self.auth.mechanism {
            query.pair("authMechanism", m.as_str())?;
        } else if self.auth.default_named {
            query.pair("authMechanism", "DEFAULT")?;
        }
        if let Some(source) = &self.auth.source {
            query.pair("authSource", source)?;
        }
        let tls = &self.tls;
        let flags = [
            ("tls", tls.enabled),
            (
                "tlsAllowInvalidCertificates",
                tls.allow_invalid_certificates,
            ),
            ("tlsAllowInvalidHostnames", tls.allow_invalid_hostnames),
            ("tlsInsecure", tls.insecure),
            (
                "tlsDisableOCSPEndpointCheck",
                tls.disable_ocsp_endpoint_check,
            ),
            (
                "tlsDisableCertificateRevocationCheck",
                tls.disable_certificate_revocation_check,
            ),
        ];
        for (key, value) in flags {
            if let Some(v) = value {
                query.pair(key, if v { "true" } else { "false" })?;
            }
        }
        for (key, path) in [
            ("tlsCertificateKeyFile", &tls.certificate_key_file),
            ("tlsCAFile", &tls.ca_file),
            ("tlsCRLFile", &tls.crl_file),
        ] {
            if let Some(path) = path {
                query.pair(key, &path.to_string_lossy())?;
            }
        }
        if let Some(password) = &tls.certificate_key_file_password {
            query.pair("tlsCertificateKeyFilePassword", secret(password.expose()))?;
        }
        for option in &self.options {
            let value = if option.is_sensitive() {
                secret(option.value())
            } else {
                option.value()
            };
            query.pair(option.key(), value)?;
        }
        if !self.auth.properties.is_empty() {
            // Encoded item by item: the parser splits on raw `,` and `:` before decoding.
            let out = query.key("authMechanismProperties")?;
            for (i, (name, value)) in self.auth.properties.iter().enumerate() {
                let value = if name == "AWS_SESSION_TOKEN" {
                    secret(value)
                } else {
                    value
                };
                let comma = if i > 0 { "," } else { "" };
                write!(out, "{comma}{}:{}", encoded(name), encoded(value))?;
            }
        }
        Ok(())
    }
}

/// The query of a connection string as it is written: `?` before the first option, `&`
/// between the others.
struct Query<'o> {
    out: &'o mut dyn fmt::Write,
    started: bool,
}

impl Query<'_> {
    /// Writes the option's key and `=`; the value is for the caller to write.
    fn key(&mut self, key: &str) -> std::result::Result<&mut dyn fmt::Write, fmt::Error> {
        let separator = if self.started { '&' } else { '?' };
        self.started = true;
        write!(self.out, "{separator}{}=", percent::encoded(key))?;
        Ok(&mut *self.out)
    }

    fn pair(&mut self, key: &str, value: &str) -> fmt::Result {
        let out = self.key(key)?;
        write!(out, "{}", percent::encoded(value))
    }
}

/// Strictly percent-decodes one component, as the parser decodes a username or a password: a
/// `%` not followed by two hex digits, or bytes that are not UTF-8, are errors (the rule is the
/// error). Tools that take percent-encoded input (the `serve` command's `--user`) use it.
///
/// ```
/// use mongodb_auth::uri::decode_component;
///
/// assert_eq!(decode_component("p%40ss").as_deref(), Ok("p@ss"));
/// assert!(decode_component("100%").is_err());
/// ```
pub fn decode_component(s: &str) -> std::result::Result<String, &'static str> {
    percent::decode(s).map_err(|e| e.rule())
}

/// The URI with every secret replaced by `<redacted>`: for people and logs. It parses again, but
/// as the password `<redacted>`: [`ConnectionString::to_uri`] is the one to connect with.
impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_uri(true, f)
    }
}

impl std::str::FromStr for ConnectionString {
    type Err = Error;

    fn from_str(uri: &str) -> Result<Self> {
        ConnectionString::parse(uri)
    }
}

fn strip_scheme(uri: &str) -> Result<(bool, &str)> {
    for (scheme, is_srv) in [(SCHEME, false), (SRV_SCHEME, true)] {
        if let Some(prefix) = uri.get(..scheme.len())
            && prefix.eq_ignore_ascii_case(scheme)
        {
            let rest = uri.get(scheme.len()..).unwrap_or("");
            return Ok((is_srv, rest));
        }
    }
    Err(Error::InvalidScheme)
}

/// `user[:password]`, already split from the hosts at the last `@`.
fn parse_userinfo(userinfo: &str) -> Result<(String, Option<Secret>)> {
    let invalid = |rule| Error::InvalidUserinfo { rule };
    // RFC 3986 gen-delims other than the one `:` must be escaped (sub-delims may appear raw).
    for c in userinfo.chars() {
        match c {
            '@' => return Err(invalid("it contains an unescaped `@`")),
            '/' | '?' | '#' | '[' | ']' => {
                return Err(invalid(
                    "it contains an unescaped `/`, `?`, `#`, `[` or `]`",
                ));
            }
            _ => {}
        }
    }
    let (raw_user, raw_password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    if raw_password.is_some_and(|p| p.contains(':')) {
        return Err(invalid("it contains more than one unescaped `:`"));
    }
    let user = percent::decode(raw_user).map_err(|e| invalid(e.rule()))?;
    let password = raw_password
        .map(|p| {
            percent::decode(p)
                .map(Secret::new)
                .map_err(|e| invalid(e.rule()))
        })
        .transpose()?;
    Ok((user, password))
}

/// Why a userinfo with an unescaped `/` or `?` is refused.
const CUT_SHORT_USERINFO: &str = "an unescaped `/` or `?` in it ends the host list early";

fn parse_hosts(hosts_part: &str, warnings: &mut Vec<Warning>) -> Result<Vec<Host>> {
    if hosts_part.is_empty() {
        return Err(Error::InvalidHost {
            host: String::new(),
            rule: "at least one host is required",
        });
    }
    let mut hosts: Vec<Host> = Vec::new();
    let mut seen = HashSet::new();
    for raw in hosts_part.split(',') {
        let host = Host::parse(raw)?;
        if seen.insert(host.server_key()) {
            hosts.push(host);
        } else {
            warnings.push(Warning::DuplicateHost {
                host: host.to_string(),
            });
        }
    }
    Ok(hosts)
}

/// The one host of a `mongodb+srv` URI: a name, without port.
fn srv_hostname(hosts: &[Host]) -> Result<String> {
    match hosts {
        [Host::Name { name, port: None }] => Ok(name.clone()),
        [
            Host::Name {
                name,
                port: Some(_),
            },
        ] => Err(Error::InvalidHost {
            host: name.clone(),
            rule: "a mongodb+srv URI takes no port",
        }),
        [other] => Err(Error::InvalidHost {
            host: other.host(),
            rule: "a mongodb+srv URI needs a DNS name",
        }),
        _ => Err(Error::InvalidHost {
            host: hosts.iter().map(Host::host).collect::<Vec<_>>().join(","),
            rule: "a mongodb+srv URI takes exactly one host",
        }),
    }
}

/// What separates the options: `&`, or `;` when the query has no `&` (the legacy form the
/// connection-string spec allows and PyMongo reads). A query with both is refused, as PyMongo
/// refuses it: which one separates is anybody's guess, and a wrong guess drops options (a
/// `tls=true;appName=x` read with `&` alone turns TLS off).
fn option_separator(query: &str) -> Result<char> {
    match (query.contains('&'), query.contains(';')) {
        (true, true) => Err(Error::option(
            "the options",
            "`&` and `;` must not both separate options (a `;` in a value as `%3B`)",
        )),
        (false, true) => Ok(';'),
        _ => Ok('&'),
    }
}

fn parse_database(path: &str) -> Result<Option<String>> {
    if path.is_empty() {
        return Ok(None);
    }
    let name = percent::decode(path).map_err(|e| Error::InvalidDatabase {
        name: path.to_owned(),
        rule: e.rule(),
    })?;
    if name.contains(['/', '\\', ' ', '"', '$']) {
        return Err(Error::InvalidDatabase {
            name,
            rule: "a database name may not contain `/`, `\\`, space, `\"` or `$`",
        });
    }
    Ok(Some(name))
}

/// `authMechanismProperties`: `KEY:VALUE` items separated by commas, split at the first colon,
/// each part decoded once (rules C1-C3).
fn parse_mechanism_properties(
    raw: &str,
    warnings: &mut Vec<Warning>,
) -> Result<crate::MechanismProperties> {
    const OPTION: &str = "authMechanismProperties";
    let mut properties = crate::MechanismProperties::new();
    let mut seen = HashSet::new();
    for (index, item) in raw.split(',').enumerate() {
        // The item is not echoed: it may hold a session token. An empty item or value is
        // refused, as PyMongo refuses it: `SERVICE_NAME:a,` is likely a value cut short.
        let (raw_name, raw_value) = item
            .split_once(':')
            .filter(|(name, value)| !name.is_empty() && !value.is_empty())
            .ok_or_else(|| {
                Error::option(
                    OPTION,
                    format!("item {} is not written `KEY:VALUE`", index + 1),
                )
            })?;
        let name = percent::decode(raw_name).map_err(|e| Error::option(OPTION, e.rule()))?;
        let value = percent::decode(raw_value).map_err(|e| Error::option(OPTION, e.rule()))?;
        if is_code_only_property(&name) {
            return Err(Error::option(
                OPTION,
                format!("`{name}` can only be set in code, not in the connection string"),
            ));
        }
        if value.contains(',') {
            warnings.push(Warning::CommaInPropertyValue {
                property: name.clone(),
            });
        }
        if seen.insert(name.to_ascii_uppercase()) {
            properties.push_unique(&name, value);
        } else {
            properties.insert(&name, value);
            warnings.push(Warning::RepeatedOption {
                key: format!("{OPTION}:{name}"),
            });
        }
    }
    Ok(properties)
}

#[cfg(test)]
mod tests;

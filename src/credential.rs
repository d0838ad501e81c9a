//! Credentials: what a user configured, validated per mechanism against the auth spec.
//!
//! A credential comes from a connection string ([`crate::ConnectionString::parse`]), from in-code
//! options ([`CredentialOptions`], the way PyMongo takes `username=`, `password=`, `authSource=`,
//! `authMechanism=` and `authMechanismProperties=`), or from both merged, in-code values winning.
//! Either way the same validation runs, so a credential that exists is one the spec allows.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::uri::Warning;

/// The authentication mechanisms the auth spec names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// `SCRAM-SHA-1` (RFC 5802, with the MongoDB password digest).
    ScramSha1,
    /// `SCRAM-SHA-256` (RFC 7677, SASLprep'd password).
    ScramSha256,
    /// `MONGODB-X509`: the TLS client certificate is the identity.
    MongoDbX509,
    /// `MONGODB-AWS`: AWS IAM credentials, signed with SigV4.
    MongoDbAws,
    /// `PLAIN` (LDAP proxy authentication).
    Plain,
    /// `GSSAPI` (Kerberos).
    Gssapi,
    /// `MONGODB-OIDC`.
    MongoDbOidc,
}

impl AuthMechanism {
    /// Every mechanism, in the order the auth spec lists them.
    pub const ALL: &[AuthMechanism] = &[
        AuthMechanism::ScramSha1,
        AuthMechanism::ScramSha256,
        AuthMechanism::Plain,
        AuthMechanism::Gssapi,
        AuthMechanism::MongoDbX509,
        AuthMechanism::MongoDbAws,
        AuthMechanism::MongoDbOidc,
    ];

    /// The name as MongoDB spells it (`SCRAM-SHA-256`, `MONGODB-X509`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMechanism::ScramSha1 => "SCRAM-SHA-1",
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::MongoDbX509 => "MONGODB-X509",
            AuthMechanism::MongoDbAws => "MONGODB-AWS",
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Gssapi => "GSSAPI",
            AuthMechanism::MongoDbOidc => "MONGODB-OIDC",
        }
    }

    /// The mechanism whose name is `name` in any case: what a name written in another case
    /// meant. Names are matched as written everywhere else ([`FromStr`]); this only finds the
    /// spelling to suggest, without copying `name` (which may be a password's end, when a `:`
    /// was left unescaped).
    ///
    /// ```
    /// use mongodb_auth::AuthMechanism;
    ///
    /// assert_eq!(AuthMechanism::find_ignoring_case("scram-sha-1"), Some(AuthMechanism::ScramSha1));
    /// assert_eq!(AuthMechanism::find_ignoring_case("SCRAM"), None);
    /// ```
    pub fn find_ignoring_case(name: &str) -> Option<Self> {
        AuthMechanism::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether the mechanism authenticates against `$external` only (table B of the auth spec).
    pub fn requires_external_source(self) -> bool {
        matches!(
            self,
            AuthMechanism::MongoDbX509
                | AuthMechanism::MongoDbAws
                | AuthMechanism::Gssapi
                | AuthMechanism::MongoDbOidc
        )
    }
}

impl fmt::Display for AuthMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthMechanism {
    type Err = Error;

    /// Parses a mechanism name, as written (`scram-sha-256` is an error that names
    /// `SCRAM-SHA-256`); `MONGODB-CR` and unknown names are errors.
    fn from_str(name: &str) -> Result<Self> {
        // Names are matched as written, as PyMongo and mongod match them.
        let rule = match AuthMechanism::find_ignoring_case(name) {
            Some(m) if m.as_str() == name => return Ok(m),
            Some(m) => format!("`{name}` is written `{}`", m.as_str()),
            None => format!(
                "`{name}` is not a mechanism; expected one of {}",
                AuthMechanism::ALL
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Err(Error::option("authMechanism", rule))
    }
}

/// Property names the auth spec defines. Names are matched case-insensitively and stored in this
/// spelling (rule A8).
const KNOWN_PROPERTIES: [&str; 11] = [
    "SERVICE_NAME",
    "CANONICALIZE_HOST_NAME",
    "SERVICE_REALM",
    "SERVICE_HOST",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_PROVIDER",
    "ENVIRONMENT",
    "TOKEN_RESOURCE",
    "OIDC_CALLBACK",
    "OIDC_HUMAN_CALLBACK",
    "ALLOWED_HOSTS",
];

/// Properties whose value is a secret and is kept in a [`Secret`].
const SENSITIVE_PROPERTIES: [&str; 1] = ["AWS_SESSION_TOKEN"];

/// Properties that only code may set: they hold callbacks, or (ALLOWED_HOSTS) are a security
/// boundary the spec keeps out of the URI (rule C4).
const CODE_ONLY_PROPERTIES: [&str; 4] = [
    "AWS_CREDENTIAL_PROVIDER",
    "OIDC_CALLBACK",
    "OIDC_HUMAN_CALLBACK",
    "ALLOWED_HOSTS",
];

const GSSAPI_CANONICALIZE_VALUES: [&str; 5] =
    ["true", "false", "none", "forward", "forwardAndReverse"];
const OIDC_ENVIRONMENTS: [&str; 4] = ["test", "azure", "gcp", "k8s"];

fn canonical_property_name(name: &str) -> String {
    KNOWN_PROPERTIES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_owned(), |known| (*known).to_owned())
}

#[derive(Clone, PartialEq, Eq)]
enum PropertyValue {
    Plain(String),
    Sensitive(Secret),
}

impl PropertyValue {
    fn new(name: &str, value: String) -> Self {
        if SENSITIVE_PROPERTIES.contains(&name) {
            PropertyValue::Sensitive(Secret::new(value))
        } else {
            PropertyValue::Plain(value)
        }
    }

    fn as_str(&self) -> &str {
        match self {
            PropertyValue::Plain(v) => v,
            PropertyValue::Sensitive(s) => s.expose(),
        }
    }
}

impl fmt::Debug for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Plain(v) => v.fmt(f),
            PropertyValue::Sensitive(s) => s.fmt(f),
        }
    }
}

/// `authMechanismProperties`: an ordered map whose keys are matched case-insensitively.
///
/// Known names are stored in the spelling of the spec (`service_name` becomes `SERVICE_NAME`).
/// Sensitive values (`AWS_SESSION_TOKEN`) are kept in a [`Secret`] and redacted by `Debug`.
///
/// ```
/// use mongodb_auth::MechanismProperties;
///
/// let mut props = MechanismProperties::new();
/// props.insert("service_name", "other");
/// assert_eq!(props.get("SERVICE_NAME"), Some("other"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MechanismProperties {
    entries: Vec<(String, PropertyValue)>,
}

impl MechanismProperties {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a property, looked up case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether a property is set (case-insensitive).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets a property, replacing any value under the same name in any case. Returns whether a
    /// value was replaced.
    pub fn insert(&mut self, name: &str, value: impl Into<String>) -> bool {
        let name = canonical_property_name(name);
        let value = PropertyValue::new(&name, value.into());
        match self
            .entries
            .iter_mut()
            .find(|(key, _)| key.eq_ignore_ascii_case(&name))
        {
            Some(slot) => {
                slot.1 = value;
                true
            }
            None => {
                self.entries.push((name, value));
                false
            }
        }
    }

    /// Appends a property the caller knows is not present yet (the URI parser tracks that with a
    /// set, so a long list of properties costs linear time, not quadratic).
    pub(crate) fn push_unique(&mut self, name: &str, value: String) {
        let name = canonical_property_name(name);
        let value = PropertyValue::new(&name, value);
        self.entries.push((name, value));
    }

    /// Removes a property (case-insensitive).
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        self.entries.len() != before
    }

    /// The properties in insertion order, names in their stored spelling.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Later values win, name by name (rule C6: URI and code combine into one map).
    fn merge_from(&mut self, other: &MechanismProperties) {
        for (name, value) in &other.entries {
            self.insert(name, value.as_str());
        }
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

impl fmt::Debug for MechanismProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// What to do with MONGODB-AWS credentials given in the URI or in code (username = access key
/// id, password = secret access key, `AWS_SESSION_TOKEN` property).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExplicitAwsCredentials {
    /// Accept them with a [`Warning::DeprecatedAwsCredentials`], as the PyMongo documentation
    /// describes them (the default).
    #[default]
    Deprecated,
    /// Reject them, as the auth spec requires since 2025-09-30: AWS credentials must come from the
    /// environment or a credential provider.
    Rejected,
}

/// A validated credential: who to authenticate as, where, and how.
///
/// `Debug` never shows the password (it is a [`Secret`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    username: Option<String>,
    source: String,
    password: Option<Secret>,
    mechanism: Option<AuthMechanism>,
    mechanism_properties: MechanismProperties,
    oidc: OidcSettings,
}

/// Which MONGODB-OIDC flow a callback serves: the spec's `OIDC_CALLBACK` (machine) or
/// `OIDC_HUMAN_CALLBACK` (human) property. The credential says which; the callback itself is
/// code, and goes in the options the caller passes to the authenticator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// Workload identity: the callback gets a token with no person involved (rule L19).
    Machine,
    /// Workforce identity: the callback may ask a person to log in, gets `IdpInfo` and refresh
    /// tokens (rule L20).
    Human,
}

impl Flow {
    /// `machine` or `human`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Machine => "machine",
            Flow::Human => "human",
        }
    }
}

/// What code set for MONGODB-OIDC: which callbacks, and `ALLOWED_HOSTS` (neither can be in a
/// URI).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct OidcSettings {
    callbacks: Vec<Flow>,
    allowed_hosts: Option<Vec<String>>,
}

impl Credential {
    /// The username. `None` for X.509 without a subject, AWS and OIDC machine credentials.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The database the credential is checked against (`authSource`, resolved per mechanism).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The password, if one was given (an empty one is none for a mechanism named with a
    /// username).
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// The mechanism the user asked for. `None` means "negotiate": SCRAM-SHA-256 if the server
    /// lists it, else SCRAM-SHA-1.
    pub fn mechanism(&self) -> Option<AuthMechanism> {
        self.mechanism
    }

    /// `authMechanismProperties` (with the spec's defaults filled in, e.g. GSSAPI's
    /// `SERVICE_NAME`).
    pub fn mechanism_properties(&self) -> &MechanismProperties {
        &self.mechanism_properties
    }

    /// MONGODB-OIDC: the flow of the callback that gives the tokens, when one does (rather than
    /// `ENVIRONMENT`).
    pub fn oidc_callback(&self) -> Option<Flow> {
        self.oidc.callbacks.first().copied()
    }

    /// MONGODB-OIDC: the hosts the human flow may send tokens to (rule L6), when set in code
    /// (else the defaults apply).
    pub fn oidc_allowed_hosts(&self) -> Option<&[String]> {
        self.oidc.allowed_hosts.as_deref()
    }

    /// `"<source>.<username>"`, the value of `saslSupportedMechs` in `hello` (rule D6). The
    /// username is sent as given, not SASLprep'd.
    pub fn sasl_supported_mechs_name(&self) -> Option<String> {
        self.username
            .as_ref()
            .map(|user| format!("{}.{}", self.source, user))
    }
}

/// Authentication settings given in code, merged over a connection string.
///
/// Values are taken as given: unlike the URI, nothing here is percent-decoded, as the PyMongo
/// documentation says of `MongoClient`'s named arguments.
///
/// ```
/// use mongodb_auth::{AuthMechanism, ConnectionString, CredentialOptions};
///
/// let cs = ConnectionString::parse("mongodb://db.example.com/app")?
///     .with_credential_options(
///         CredentialOptions::new()
///             .username("and / or")
///             .password("p@ss:word")
///             .auth_mechanism(AuthMechanism::ScramSha256),
///     )?;
/// let credential = cs.credential().expect("a username configures a credential");
/// assert_eq!(credential.username(), Some("and / or"));
/// assert_eq!(credential.source(), "app");
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct CredentialOptions {
    pub(crate) input: AuthInput,
    pub(crate) aws_credentials: Option<ExplicitAwsCredentials>,
}

impl CredentialOptions {
    /// No in-code settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// `username=`.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.input.username = Some(username.into());
        self.input.credential_given = true;
        self
    }

    /// `password=`.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.input.password = Some(password.into());
        self.input.credential_given = true;
        self
    }

    /// `authSource=`.
    pub fn auth_source(mut self, source: impl Into<String>) -> Self {
        self.input.source = Some(source.into());
        self
    }

    /// `authMechanism=`.
    pub fn auth_mechanism(mut self, mechanism: AuthMechanism) -> Self {
        self.input.mechanism = Some(mechanism);
        self
    }

    /// One entry of `authMechanismProperties=`; entries combine with those of the URI, these
    /// winning name by name.
    pub fn auth_mechanism_property(mut self, name: &str, value: impl Into<String>) -> Self {
        self.input.properties.insert(name, value);
        self
    }

    /// MONGODB-OIDC: the tokens come from a callback of `flow`, which the caller gives the
    /// authenticator (`AuthOptions::oidc_callback`, feature `oidc`): a
    /// machine callback (the spec's `OIDC_CALLBACK`, rule L19) or a human one
    /// (`OIDC_HUMAN_CALLBACK`, which may have a person log in and returns refresh tokens, rule
    /// L20). It replaces `ENVIRONMENT`, which must not be set with it.
    pub fn oidc_callback(mut self, flow: Flow) -> Self {
        self.input.oidc.callbacks.push(flow);
        self
    }

    /// MONGODB-OIDC: the hosts the human flow may send tokens to (`ALLOWED_HOSTS`, rule L6;
    /// default `oidc::DEFAULT_ALLOWED_HOSTS`). A pattern `*.example.com` matches subdomains at
    /// any depth.
    pub fn oidc_allowed_hosts<S: Into<String>>(
        mut self,
        hosts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.input.oidc.allowed_hosts = Some(hosts.into_iter().map(Into::into).collect());
        self
    }

    /// Overrides the connection string's policy for explicit MONGODB-AWS credentials.
    pub fn explicit_aws_credentials(mut self, policy: ExplicitAwsCredentials) -> Self {
        self.aws_credentials = Some(policy);
        self
    }

    /// Validates the in-code settings on their own, as if the URI were `mongodb://localhost`.
    ///
    /// Fails if they configure no credential (no username and no mechanism). The warnings are
    /// returned beside the credential (e.g. the deprecation of explicit AWS credentials).
    pub fn build(self) -> Result<(Credential, Vec<Warning>)> {
        let policy = self.aws_credentials.unwrap_or_default();
        let mut warnings = Vec::new();
        let credential = self.input.validate(None, policy, &mut warnings)?;
        let credential = credential.ok_or_else(|| {
            Error::credential(
                "default",
                "no username and no mechanism were given, so there is no credential",
            )
        })?;
        Ok((credential, warnings))
    }
}

/// The authentication settings as given (URI, code, or both), before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthInput {
    /// The URI had an `@` (rule A1: even an empty userinfo means credentials were configured), or
    /// code set a username or password.
    pub(crate) credential_given: bool,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    /// `authSource` as given.
    pub(crate) source: Option<String>,
    pub(crate) mechanism: Option<AuthMechanism>,
    /// `authMechanism=DEFAULT` (PyMongo's name for negotiation) was the last mechanism named:
    /// it turns authentication on as a mechanism does.
    pub(crate) default_named: bool,
    pub(crate) properties: MechanismProperties,
    oidc: OidcSettings,
}

impl AuthInput {
    /// Applies in-code settings over these (in-code wins field by field).
    pub(crate) fn merge(&mut self, code: &AuthInput) {
        self.credential_given |= code.credential_given;
        if code.username.is_some() {
            self.username.clone_from(&code.username);
        }
        if code.password.is_some() {
            self.password.clone_from(&code.password);
        }
        if code.source.is_some() {
            self.source.clone_from(&code.source);
        }
        if code.mechanism.is_some() {
            self.mechanism = code.mechanism;
            self.default_named = false;
        }
        self.properties.merge_from(&code.properties);
        self.oidc
            .callbacks
            .extend(code.oidc.callbacks.iter().copied());
        if code.oidc.allowed_hosts.is_some() {
            self.oidc.allowed_hosts.clone_from(&code.oidc.allowed_hosts);
        }
    }

    /// Table B and sections A and C of the auth spec. `uri_database` is the database path of the
    /// URI, the default source of SCRAM and PLAIN.
    pub(crate) fn validate(
        &self,
        uri_database: Option<&str>,
        aws_policy: ExplicitAwsCredentials,
        warnings: &mut Vec<Warning>,
    ) -> Result<Option<Credential>> {
        // Rules A1-A4: userinfo or a mechanism turns authentication on; authSource or a database
        // path alone does not.
        if !self.credential_given && self.mechanism.is_none() && !self.default_named {
            if !self.properties.is_empty() {
                warnings.push(Warning::IgnoredOption {
                    key: "authMechanismProperties".into(),
                    reason: "no credential is configured",
                });
            }
            return Ok(None);
        }
        let mechanism = self.mechanism;
        let label = mechanism.map_or("default", AuthMechanism::as_str);
        // A path of `db.collection` names a collection too, as PyMongo reads it: the database
        // is what comes before the first dot (no database name holds one).
        let uri_database = uri_database
            .and_then(|path| path.split('.').next())
            .filter(|db| !db.is_empty());
        let source = self.resolve_source(mechanism, uri_database)?;
        let mut properties = self.properties.clone();
        let mut username = self.username.clone();
        // An empty password is none for a mechanism named with a username (`alice:@host`), as
        // PyMongo reads it: GSSAPI then uses the ticket cache, X.509 and OIDC take the username
        // alone, SCRAM and AWS ask for a password (and PLAIN too, as the auth spec's table B
        // says; PyMongo would send none). Negotiation keeps it, as the connection-string tests
        // read it back, and the authenticator refuses to start with it; `:@` stays refused.
        let empty_is_none =
            mechanism.is_some() && username.as_deref().is_some_and(|n| !n.is_empty());
        let password = self
            .password
            .as_ref()
            .filter(|p| !(empty_is_none && p.expose().is_empty()));

        let require_username = |username: &Option<String>| match username {
            Some(u) if !u.is_empty() => Ok(()),
            _ => Err(Error::credential(label, "a non-empty username is required")),
        };
        let forbid_password = |password: Option<&Secret>| match password {
            Some(_) => Err(Error::credential(label, "a password must not be given")),
            None => Ok(()),
        };

        match mechanism {
            None | Some(AuthMechanism::ScramSha1 | AuthMechanism::ScramSha256) => {
                require_username(&username)?;
                // A negotiated credential may lack a password at parse time: the connection-string
                // spec accepts `mongodb://alice@host`. An explicit SCRAM mechanism needs one now,
                // and the authenticator refuses to start a negotiated one without it.
                if mechanism.is_some() && password.is_none() {
                    return Err(Error::credential(label, "a password is required"));
                }
                forbid_properties(label, &properties, &[])?;
            }
            Some(AuthMechanism::Plain) => {
                require_username(&username)?;
                if password.is_none() {
                    return Err(Error::credential(label, "a password is required"));
                }
                forbid_properties(label, &properties, &[])?;
            }
            Some(AuthMechanism::Gssapi) => {
                require_username(&username)?;
                forbid_properties(
                    label,
                    &properties,
                    &[
                        "SERVICE_NAME",
                        "CANONICALIZE_HOST_NAME",
                        "SERVICE_REALM",
                        "SERVICE_HOST",
                    ],
                )?;
                if let Some(value) = properties.get("CANONICALIZE_HOST_NAME")
                    && !GSSAPI_CANONICALIZE_VALUES.contains(&value)
                {
                    return Err(Error::credential(
                        label,
                        format!(
                            "CANONICALIZE_HOST_NAME must be one of {}, not `{value}`",
                            GSSAPI_CANONICALIZE_VALUES.join(", ")
                        ),
                    ));
                }
                if !properties.contains("SERVICE_NAME") {
                    properties.insert("SERVICE_NAME", "mongodb");
                }
            }
            Some(AuthMechanism::MongoDbX509) => {
                forbid_password(password)?;
                forbid_properties(label, &properties, &[])?;
            }
            Some(AuthMechanism::MongoDbAws) => {
                forbid_properties(label, &properties, &["AWS_SESSION_TOKEN"])?;
                let explicit = username.is_some()
                    || password.is_some()
                    || properties.contains("AWS_SESSION_TOKEN");
                if explicit {
                    if aws_policy == ExplicitAwsCredentials::Rejected {
                        return Err(Error::credential(
                            label,
                            "credentials must not be given in the URI or options (auth spec, \
                             2025-09-30); they come from the environment or a provider",
                        ));
                    }
                    match (&username, password) {
                        (Some(u), Some(_)) if !u.is_empty() => {}
                        _ => {
                            return Err(Error::credential(
                                label,
                                "an explicit access key id (username) needs its secret access key \
                                 (password), and a session token needs both",
                            ));
                        }
                    }
                    warnings.push(Warning::DeprecatedAwsCredentials);
                }
            }
            Some(AuthMechanism::MongoDbOidc) => {
                forbid_password(password)?;
                validate_oidc(label, username.as_deref(), &properties, self)?;
            }
        }
        // `mongodb://@host/?authMechanism=MONGODB-X509` names no subject; sending `user: ""` would
        // make the server look for a user with an empty name.
        if mechanism.is_some_and(|m| m.requires_external_source())
            && username.as_deref() == Some("")
        {
            username = None;
        }
        Ok(Some(Credential {
            username,
            source,
            password: password.cloned(),
            mechanism,
            mechanism_properties: properties,
            oidc: self.oidc.clone(),
        }))
    }

    fn resolve_source(
        &self,
        mechanism: Option<AuthMechanism>,
        uri_database: Option<&str>,
    ) -> Result<String> {
        let explicit = self.source.as_deref();
        if explicit == Some("") {
            return Err(Error::option("authSource", "must not be empty"));
        }
        Ok(match mechanism {
            Some(m) if m.requires_external_source() => {
                if let Some(source) = explicit
                    && source != "$external"
                {
                    return Err(Error::credential(
                        m,
                        format!("authSource must be `$external`, not `{source}`"),
                    ));
                }
                "$external".to_owned()
            }
            Some(AuthMechanism::Plain) => {
                explicit.or(uri_database).unwrap_or("$external").to_owned()
            }
            _ => explicit.or(uri_database).unwrap_or("admin").to_owned(),
        })
    }
}

/// Rule A7: a property the mechanism does not take is an error, found at parse time.
fn forbid_properties(
    mechanism: &str,
    properties: &MechanismProperties,
    allowed: &[&str],
) -> Result<()> {
    for name in properties.names() {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            let rule = if allowed.is_empty() {
                format!("takes no authMechanismProperties, but `{name}` was given")
            } else {
                format!(
                    "unsupported authMechanismProperties `{name}`; supported: {}",
                    allowed.join(", ")
                )
            };
            return Err(Error::credential(mechanism, rule));
        }
    }
    Ok(())
}

/// Rules L2 to L6: `ENVIRONMENT` or a callback (not both, and one callback only), `TOKEN_RESOURCE`
/// exactly with azure and gcp, no username with `test`, `ALLOWED_HOSTS` only for a human callback.
fn validate_oidc(
    label: &str,
    username: Option<&str>,
    properties: &MechanismProperties,
    input: &AuthInput,
) -> Result<()> {
    forbid_properties(label, properties, &["ENVIRONMENT", "TOKEN_RESOURCE"])?;
    let (callbacks, allowed_hosts) = (
        input.oidc.callbacks.as_slice(),
        input.oidc.allowed_hosts.is_some(),
    );
    if callbacks.len() > 1 {
        return Err(Error::credential(
            label,
            "set either a machine callback or a human callback, not both (rule L5)",
        ));
    }
    let environment = properties.get("ENVIRONMENT");
    let human = callbacks.first() == Some(&Flow::Human);
    if allowed_hosts && !human {
        return Err(Error::credential(
            label,
            "ALLOWED_HOSTS applies to the human flow only; it needs a human callback (rule L6)",
        ));
    }
    let Some(environment) = environment else {
        if callbacks.is_empty() {
            return Err(Error::credential(
                label,
                "ENVIRONMENT (test, azure, gcp or k8s) or a callback is required",
            ));
        }
        if properties.contains("TOKEN_RESOURCE") {
            return Err(Error::credential(
                label,
                "TOKEN_RESOURCE is only for ENVIRONMENT:azure and ENVIRONMENT:gcp (rule L4)",
            ));
        }
        return Ok(());
    };
    if !callbacks.is_empty() {
        return Err(Error::credential(
            label,
            "ENVIRONMENT and a callback must not both be set (rule L3)",
        ));
    }
    if !OIDC_ENVIRONMENTS.contains(&environment) {
        return Err(Error::credential(
            label,
            format!(
                "ENVIRONMENT must be one of {}, not `{environment}`",
                OIDC_ENVIRONMENTS.join(", ")
            ),
        ));
    }
    let needs_resource = matches!(environment, "azure" | "gcp");
    match (needs_resource, properties.contains("TOKEN_RESOURCE")) {
        (true, false) => {
            return Err(Error::credential(
                label,
                format!("TOKEN_RESOURCE is required with ENVIRONMENT:{environment}"),
            ));
        }
        (false, true) => {
            return Err(Error::credential(
                label,
                format!("TOKEN_RESOURCE is not allowed with ENVIRONMENT:{environment}"),
            ));
        }
        _ => {}
    }
    if environment == "test" && username.is_some() {
        return Err(Error::credential(
            label,
            "a username is not allowed with ENVIRONMENT:test",
        ));
    }
    Ok(())
}

/// Whether a property may only be set in code (used by the URI parser).
pub(crate) fn is_code_only_property(name: &str) -> bool {
    CODE_ONLY_PROPERTIES
        .iter()
        .any(|p| p.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        username: Option<&str>,
        password: Option<&str>,
        mechanism: Option<AuthMechanism>,
    ) -> AuthInput {
        AuthInput {
            credential_given: username.is_some() || password.is_some(),
            username: username.map(str::to_owned),
            password: password.map(Secret::new),
            mechanism,
            ..AuthInput::default()
        }
    }

    #[test]
    fn mechanism_names_round_trip_and_are_matched_as_written() {
        for &m in AuthMechanism::ALL {
            assert_eq!(m.as_str().parse::<AuthMechanism>().unwrap(), m);
            let lower = m.as_str().to_lowercase();
            let err = lower.parse::<AuthMechanism>().unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("`{lower}` is written `{}`", m.as_str())),
                "{err}"
            );
        }
        assert!("MONGODB-CR".parse::<AuthMechanism>().is_err());
    }

    #[test]
    fn property_names_are_case_insensitive_and_canonical() {
        let mut props = MechanismProperties::new();
        assert!(!props.insert("service_name", "a"));
        assert!(props.insert("Service_Name", "b"));
        assert_eq!(
            props.iter().collect::<Vec<_>>(),
            vec![("SERVICE_NAME", "b")]
        );
    }

    #[test]
    fn session_token_is_redacted_in_debug() {
        let mut props = MechanismProperties::new();
        props.insert("aws_session_token", "tok3n");
        props.insert("SERVICE_NAME", "visible");
        let debug = format!("{props:?}");
        assert!(!debug.contains("tok3n"), "{debug}");
        assert!(debug.contains("visible"), "{debug}");
    }

    #[test]
    fn negotiated_credential_may_lack_password_but_explicit_scram_may_not() {
        let mut w = Vec::new();
        let policy = ExplicitAwsCredentials::Deprecated;
        let negotiated = input(Some("alice"), None, None)
            .validate(None, policy, &mut w)
            .unwrap();
        assert!(negotiated.unwrap().password().is_none());
        for m in [
            AuthMechanism::ScramSha1,
            AuthMechanism::ScramSha256,
            AuthMechanism::Plain,
        ] {
            let err = input(Some("alice"), None, Some(m))
                .validate(None, policy, &mut w)
                .unwrap_err();
            assert!(err.to_string().contains("password is required"), "{err}");
        }
    }

    #[test]
    fn in_code_build_needs_something_to_build() {
        assert!(CredentialOptions::new().build().is_err());
        let (cred, warnings) = CredentialOptions::new()
            .auth_mechanism(AuthMechanism::MongoDbX509)
            .build()
            .unwrap();
        assert_eq!(cred.source(), "$external");
        assert!(warnings.is_empty());
    }

    #[test]
    fn aws_explicit_credentials_follow_the_policy() {
        let opts = CredentialOptions::new()
            .username("AKID")
            .password("secret")
            .auth_mechanism(AuthMechanism::MongoDbAws)
            .auth_mechanism_property("AWS_SESSION_TOKEN", "token");
        let (cred, warnings) = opts.clone().build().unwrap();
        assert_eq!(cred.username(), Some("AKID"));
        assert_eq!(warnings, vec![Warning::DeprecatedAwsCredentials]);
        let err = opts
            .explicit_aws_credentials(ExplicitAwsCredentials::Rejected)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("2025-09-30"), "{err}");
    }

    #[test]
    fn sasl_supported_mechs_uses_the_raw_username() {
        let (cred, _) = CredentialOptions::new()
            .username("\u{2168}")
            .password("IV")
            .auth_source("db")
            .build()
            .unwrap();
        assert_eq!(
            cred.sasl_supported_mechs_name().as_deref(),
            Some("db.\u{2168}")
        );
    }
}

//! A throwaway certificate authority for demos and tests (feature `devpki`): a CA, server
//! certificates for host names, client certificates for subjects, each written as PEM into a
//! directory the caller owns, each file new and readable by its owner only (on Unix). Keys are
//! ECDSA P-256, made by rcgen. Nothing here is for production: the CA key lives in memory, and
//! the directory is the caller's to keep from others (one under the shared temporary directory
//! should be made new, as `mongodb-auth demo` makes its own, not found by a name anyone can
//! guess).
//!
//! ```no_run
//! use mongodb_auth_server::devpki::{DevPki, Subject};
//!
//! let dir = std::path::Path::new("dev-certificates");
//! let pki = DevPki::new(dir)?;
//! let (server_cert, server_key) = pki.server("server", &["localhost", "127.0.0.1"])?;
//! let client = pki.client("client", &Subject::new().organization("MongoDB").common_name("app"))?;
//! println!("CA {}, client {} (user {})", pki.ca_file().display(), client.display(),
//!     mongodb_auth_io::tls::Identity::from_pem_file("tlsCertificateKeyFile", &client, None)?.subject());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Why a certificate, key or token could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevPkiError {
    /// Generating or encoding a key, a certificate or a token failed.
    #[error("cannot make {what}: {reason}")]
    Generate {
        /// What was being made.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What the throwaway CA returns.
pub type Result<T, E = DevPkiError> = std::result::Result<T, E>;

fn generate_error(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> DevPkiError {
    move |e| DevPkiError::Generate {
        what,
        reason: e.to_string(),
    }
}

/// The attributes of a certificate's subject, in the order they are encoded (the RFC 2253 form
/// lists them last first).
#[derive(Clone, Debug, Default)]
pub struct Subject(Vec<(DnType, String)>);

impl Subject {
    /// An empty subject.
    pub fn new() -> Self {
        Subject::default()
    }

    /// Adds `C=`.
    pub fn country(self, value: &str) -> Self {
        self.with(DnType::CountryName, value)
    }

    /// Adds `O=`.
    pub fn organization(self, value: &str) -> Self {
        self.with(DnType::OrganizationName, value)
    }

    /// Adds `OU=`.
    pub fn organizational_unit(self, value: &str) -> Self {
        self.with(DnType::OrganizationalUnitName, value)
    }

    /// Adds `CN=`.
    pub fn common_name(self, value: &str) -> Self {
        self.with(DnType::CommonName, value)
    }

    fn with(mut self, kind: DnType, value: &str) -> Self {
        self.0.push((kind, value.to_owned()));
        self
    }

    fn distinguished_name(&self) -> DistinguishedName {
        let mut name = DistinguishedName::new();
        for (kind, value) in &self.0 {
            name.push(kind.clone(), value.as_str());
        }
        name
    }
}

/// A certificate authority and the directory its files go to.
pub struct DevPki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for DevPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevPki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn rcgen_error(e: rcgen::Error) -> DevPkiError {
    generate_error("a certificate")(&e)
}

fn pem(label: &str, der: &[u8]) -> Result<String> {
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
        .map_err(|e| generate_error("a PEM file")(&e))
}

impl DevPki {
    /// A new CA (`CN=mongodb-auth test CA <key id>`: two of them never share a name), its
    /// certificate written to `dir/ca.pem`.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        let id: String = params
            .key_identifier(&key)
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        params.distinguished_name = Subject::new()
            .organization("mongodb-auth")
            .common_name(&format!("mongodb-auth test CA {id}"))
            .distinguished_name();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).map_err(rcgen_error)?;
        let pki = DevPki {
            dir: dir.to_owned(),
            issuer: Issuer::new(params, key),
        };
        pki.write("ca.pem", &pem("CERTIFICATE", certificate.der())?)?;
        Ok(pki)
    }

    /// The CA certificate (`tlsCAFile`, `--tls-ca`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate for `names` (DNS names or IP addresses); returns the certificate
    /// and key files, `NAME.pem` and `NAME.key`.
    pub fn server(&self, name: &str, names: &[&str]) -> Result<(PathBuf, PathBuf)> {
        self.server_with(name, names, |_| {})
    }

    /// A server certificate like [`server`](Self::server), its parameters changed by `adjust`
    /// first (an expired validity, say).
    pub fn server_with(
        &self,
        name: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Result<(PathBuf, PathBuf)> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(rcgen_error)?;
        params.distinguished_name = Subject::new().common_name(name).distinguished_name();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        adjust(&mut params);
        let (certificate, key) = self.issue(params)?;
        let cert_file = self.write(&format!("{name}.pem"), &certificate)?;
        let key_file = self.write(&format!("{name}.key"), &key)?;
        Ok((cert_file, key_file))
    }

    /// A client certificate for `subject`, with its key in the same file, `NAME.pem` (as
    /// `tlsCertificateKeyFile` takes it).
    pub fn client(&self, name: &str, subject: &Subject) -> Result<PathBuf> {
        self.client_with(name, subject, |_| {})
    }

    /// A client certificate like [`client`](Self::client), its parameters changed by `adjust`
    /// first (an expired validity, say).
    pub fn client_with(
        &self,
        name: &str,
        subject: &Subject,
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Result<PathBuf> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.distinguished_name = subject.distinguished_name();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        adjust(&mut params);
        let (certificate, key) = self.issue(params)?;
        self.write(&format!("{name}.pem"), &format!("{certificate}{key}"))
    }

    /// The certificate and key, as PEM.
    fn issue(&self, params: CertificateParams) -> Result<(String, String)> {
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let certificate = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok((
            pem("CERTIFICATE", certificate.der())?,
            pem("PRIVATE KEY", &key.serialize_der())?,
        ))
    }

    /// Writes a new file readable by its owner only: some hold private keys.
    fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        mongodb_auth_io::answer::write_private(&path, contents.as_bytes())
            .map_err(|e| write_error(&path, e))?;
        Ok(path)
    }
}

fn write_error(path: &Path, source: std::io::Error) -> DevPkiError {
    DevPkiError::Write {
        path: path.to_owned(),
        source,
    }
}

/// A throwaway OIDC identity provider (feature `devpki`): an ECDSA P-256 key
/// made at run time, its JWKS, and ES256 access tokens signed with it, for
/// [`server::oidc::OidcSettings`](mongodb_auth::server::oidc::OidcSettings) to check.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use std::sync::Arc;
/// use mongodb_auth::server::oidc::OidcSettings;
/// use mongodb_auth_server::devpki::TokenIssuer;
/// use mongodb_auth_server::jwks::Jwks;
///
/// let issuer = TokenIssuer::generate("https://issuer.test")?;
/// let now = SystemTime::now();
/// let token = issuer.issue("alice", "mongodb", now, now + Duration::from_secs(300))?;
/// let keys = Arc::new(Jwks::from_json(issuer.jwks().as_bytes())?);
/// let settings = OidcSettings::new("https://issuer.test", "mongodb", keys);
/// // The principal logs in as a user of the provider's prefix (`oidc` by default).
/// assert_eq!(settings.verify(&token, now), Ok("oidc/alice".to_owned()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TokenIssuer {
    issuer: String,
    key_id: String,
    key: jsonwebtoken::EncodingKey,
    public_point: Vec<u8>,
}

/// The issuer and the key's id; never the signing key.
impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// A new key for tokens whose `iss` is `issuer`.
    pub fn generate(issuer: impl Into<String>) -> Result<Self> {
        let key_pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| generate_error("a signing key")(&e))?;
        let public_point = key_pair.public_key_raw().to_vec();
        let key = jsonwebtoken::EncodingKey::from_ec_der(&key_pair.serialize_der());
        Ok(TokenIssuer {
            issuer: issuer.into(),
            // The same id for every issuer made here: a token signed by another one's key then
            // reaches the signature check instead of failing the key lookup.
            key_id: "dev-key-1".to_owned(),
            key,
            public_point,
        })
    }

    /// Names the key `key_id` (the JWKS `kid` and the tokens' header) instead of `dev-key-1`: a
    /// provider that rotates its keys publishes a new `kid`.
    pub fn key_id(mut self, key_id: impl Into<String>) -> Self {
        self.key_id = key_id.into();
        self
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JSON Web Key Set with the public key, as a provider publishes it.
    pub fn jwks(&self) -> String {
        use base64::Engine as _;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
        let coordinate = |range: std::ops::Range<usize>| {
            encode(self.public_point.get(range).unwrap_or_default())
        };
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "crv": "P-256",
                "use": "sig",
                "alg": "ES256",
                "kid": self.key_id,
                "x": coordinate(1..33),
                "y": coordinate(33..65),
            }]
        })
        .to_string()
    }

    /// An access token for `subject`, for `audience`, valid from `not_before` until `expires`.
    pub fn issue(
        &self,
        subject: &str,
        audience: &str,
        not_before: std::time::SystemTime,
        expires: std::time::SystemTime,
    ) -> Result<String> {
        let seconds = |t: std::time::SystemTime| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        };
        let claims = serde_json::json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "nbf": seconds(not_before),
            "iat": seconds(not_before),
            "exp": seconds(expires),
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| generate_error("a token")(&e))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn every_file_is_written_for_its_owner_only() {
        let dir = std::env::temp_dir().join(format!("mongodb-auth-devpki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let pki = DevPki::new(&dir).unwrap();
        let (cert, key) = pki.server("server", &["localhost"]).unwrap();
        let client = pki
            .client("client", &Subject::new().common_name("client"))
            .unwrap();
        for file in [pki.ca_file(), cert, key, client] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

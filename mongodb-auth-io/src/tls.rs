//! TLS for the adapters and the embedded server, on rustls (re-exported as [`crate::rustls`]) with one crypto
//! provider for the whole crate (ring): it builds without a C toolchain or CMake, which keeps
//! the build light, and rustls, the certificate generator of the demo and the tests all share it.
//!
//! This module turns the connection string's TLS options into rustls configurations and
//! rustls' errors into [`TlsError`]s that say what is wrong. It reads the PEM files the options
//! name; it opens no socket.
//!
//! Whom the client trusts, in order ([`Trust`]): the certificates of `tlsCAFile` alone when it is
//! given; else the system's trust store as OpenSSL finds it (`SSL_CERT_FILE` and `SSL_CERT_DIR`
//! when set, else the platform's bundle), as PyMongo and the other drivers do; else, on a
//! machine with no trust store at all (a bare container), the Mozilla roots of `webpki-roots`.
//! A certificate in `tlsCAFile` is also trusted as itself: a self-signed server certificate
//! (`CA:TRUE`, as `openssl req -x509` makes by default) named there is accepted when the
//! server presents that very certificate, its name and dates still checked. `tlsCRLFile`'s
//! revocation lists are checked against the server's certificate, as OpenSSL checks the leaf.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
    UnixTime,
};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use zeroize::Zeroizing;

use mongodb_auth::Secret;
use mongodb_auth::error::{CertificateProblem, Error, Result, TlsError};
use mongodb_auth::uri::TlsOptions;

/// The crate's one crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// What a TLS connection negotiated, for people debugging a login.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// `TLSv1.3` or `TLSv1.2`.
    pub protocol_version: String,
    /// The RFC 2253 subject of the peer's certificate, when it sent one.
    pub peer_subject: Option<String>,
    /// The RFC 2253 subject of our own certificate, when we sent one.
    pub client_subject: Option<String>,
    /// Whom the server's certificate was checked against.
    pub trust: Trust,
    /// Whether the handshake resumed an earlier session (a TLS 1.3 ticket or a TLS 1.2 session
    /// of the same [`crate::Connector`]), skipping the certificate exchange.
    pub resumed: bool,
}

impl TlsInfo {
    pub(crate) fn of(connection: &rustls::CommonState, setup: &TlsSetup) -> Self {
        let protocol_version = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            Some(other) => format!("{other:?}"),
            None => "unknown".to_owned(),
        };
        let peer_subject = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| mongodb_auth::x509::certificate_subject(leaf).ok());
        TlsInfo {
            protocol_version,
            peer_subject,
            client_subject: setup.client_subject.clone(),
            trust: setup.trust.clone(),
            resumed: connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// Whom a client trusts: where the certificate authorities it checks the server against come
/// from (see the module).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// The certificates of `tlsCAFile`, which replace every other source.
    CaFile(PathBuf),
    /// The system's trust store: `from` says which (`SSL_CERT_FILE ...`, `SSL_CERT_DIR ...`, the
    /// platform's bundle), with how many certificate authorities it holds.
    System {
        /// Where the store was found.
        from: String,
        /// The certificate authorities read from it.
        certificates: usize,
    },
    /// The Mozilla roots of `webpki-roots`: this machine has no trust store.
    WebpkiRoots,
    /// No certificate is checked (`tlsAllowInvalidCertificates` or `tlsInsecure`).
    Unchecked,
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::CaFile(path) => write!(f, "tlsCAFile `{}`", path.display()),
            Trust::System { from, certificates } => write!(
                f,
                "the system's trust store ({from}, {certificates} certificate {})",
                if *certificates == 1 {
                    "authority"
                } else {
                    "authorities"
                }
            ),
            Trust::WebpkiRoots => {
                f.write_str("the webpki-roots bundle (this machine has no trust store)")
            }
            Trust::Unchecked => f.write_str("none: certificates are not checked"),
        }
    }
}

/// A certificate chain and its private key, read from one PEM file (as `tlsCertificateKeyFile`
/// names it: the chain and a PKCS#8, PKCS#1 or SEC1 key, the PKCS#8 one possibly encrypted).
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    subject: String,
}

impl Identity {
    /// Reads `path`; `password` decrypts an encrypted PKCS#8 key.
    pub fn from_pem_file(
        option: &'static str,
        path: &Path,
        password: Option<&Secret>,
    ) -> Result<Self> {
        let pem = read(option, path)?;
        Identity::from_pem(option, path, &pem, password)
    }

    /// Reads a certificate chain and key from `pem` (`path` names it in errors).
    pub fn from_pem(
        option: &'static str,
        path: &Path,
        pem: &[u8],
        password: Option<&Secret>,
    ) -> Result<Self> {
        let chain = certificates(option, path, pem)?;
        let key = private_key(option, path, pem, password)?;
        let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate {
            option,
            path: path.to_owned(),
        })?;
        let subject = mongodb_auth::x509::certificate_subject(leaf)?;
        // The key must belong to the certificate; rustls checks it when the pair is loaded.
        let signing_key = provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| TlsError::UnusableKey {
                option,
                rule: e.to_string(),
            })?;
        match rustls::sign::CertifiedKey::new(chain.clone(), signing_key).keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => return Err(TlsError::KeyDoesNotMatchCertificate { option }.into()),
        }
        Ok(Identity {
            chain,
            key,
            subject,
        })
    }

    /// The RFC 2253 subject of the leaf certificate: the MONGODB-X509 user name.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject)
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The largest TLS file read: a system's whole CA bundle is a few hundred KiB.
pub const MAX_TLS_FILE_SIZE: usize = 16 * 1024 * 1024;

/// A PEM file, wiped from memory when dropped (it may hold a key).
fn read(option: &'static str, path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    crate::answer::read_within(path, MAX_TLS_FILE_SIZE).map_err(|source| {
        TlsError::File {
            option,
            path: path.to_owned(),
            source,
        }
        .into()
    })
}

/// One section of a PEM file, found but not decoded.
struct PemSection<'a> {
    /// `CERTIFICATE`, `PRIVATE KEY`...
    label: &'a [u8],
    /// From the `-----BEGIN` line through the END marker (not what follows it on its line).
    text: &'a [u8],
    /// Between the two markers: the base64 (and any header lines).
    body: &'a [u8],
}

/// The sections of a PEM file, in order, found as pki-types finds them, line by line (lines end
/// at `\n` or `\r`): a line `-----BEGIN <label>-----` (spaces may follow) opens one, and the
/// next line starting `-----END <label>-----` closes it; other lines outside sections are
/// passed over (OpenSSL's "Bag Attributes", comments). A BEGIN line that does not end in five
/// dashes, or a section that never ends, is an error, the last item. Another BEGIN line inside
/// a section starts it again, the lines before it dropped (pki-types decodes them with the new
/// section's: a file that counts on that is malformed). Nothing is decoded here: a file that
/// holds a key next to its certificates has the key decoded only by [`private_key`], into
/// buffers that are wiped.
fn pem_sections(pem: &[u8]) -> impl Iterator<Item = std::result::Result<PemSection<'_>, String>> {
    // Each line with where it starts, without its line end.
    let mut next_line_at = 0;
    let mut lines = std::iter::from_fn(move || {
        let at = next_line_at;
        let rest = pem.get(at..)?;
        let len = rest
            .iter()
            .position(|byte| matches!(byte, b'\n' | b'\r'))
            .unwrap_or(rest.len());
        next_line_at = at + len + 1;
        Some((at, rest.get(..len)?))
    });
    let mut failed = false;
    std::iter::from_fn(move || {
        // The open section: where its BEGIN line starts, its label, where its body starts.
        let mut open: Option<(usize, &[u8], usize)> = None;
        while !failed {
            let Some((at, line)) = lines.next() else {
                failed = true;
                let (_, label, _) = open?;
                let label = String::from_utf8_lossy(label.get(..64).unwrap_or(label));
                return Some(Err(format!("the PEM section `{label}` has no END line")));
            };
            if let Some(rest) = line.strip_prefix(b"-----BEGIN ") {
                // pki-types' rule: from the line's end, spaces passed over, five dashes in all
                // before anything else; the label is what comes before the first of them.
                let (mut dashes, mut label_len) = (0, rest.len());
                for (i, byte) in rest.iter().enumerate().rev() {
                    match byte {
                        b'-' => (dashes, label_len) = (dashes + 1, i),
                        b' ' => {}
                        _ => break,
                    }
                }
                if dashes != 5 {
                    failed = true;
                    return Some(Err(
                        "a PEM BEGIN line does not end in five dashes".to_owned()
                    ));
                }
                open = Some((at, rest.get(..label_len)?, at + line.len()));
                continue;
            }
            let Some((start, label, body_at)) = open else {
                continue;
            };
            let closes = line
                .strip_prefix(b"-----END ")
                .and_then(|rest| rest.strip_prefix(label))
                .is_some_and(|rest| rest.starts_with(b"-----"));
            if closes {
                // The text ends with the END marker, not with what may follow it on its line
                // (pem-rfc7468, which reads an encrypted key, takes nothing after it).
                let marker_len = b"-----END ".len() + label.len() + b"-----".len();
                return Some(Ok(PemSection {
                    label,
                    text: pem.get(start..at + marker_len)?,
                    body: pem.get(body_at..at)?,
                }));
            }
        }
        None
    })
}

/// Base64 as PEM writers write it and pki-types reads it: padding optional, trailing bits
/// ignored.
const PEM_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Whitespace in PEM's base64, as pki-types passes it over: tab to carriage return, and space.
fn is_pem_space(byte: &u8) -> bool {
    matches!(byte, b'\t'..=b'\r' | b' ')
}

/// The DER of a PEM section's body: its base64, whitespace dropped, gathered and decoded into
/// buffers of their final size that are wiped when dropped. `None` when that is not base64 (a
/// header line such as a legacy encrypted key's `Proc-Type`, a marker inside) or is empty.
fn decode_pem_body(body: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use base64::Engine as _;
    let mut text = Zeroizing::new(Vec::with_capacity(body.len()));
    // Room reserved for all of `body`: gathering never reallocates.
    text.extend(body.iter().filter(|byte| !is_pem_space(byte)));
    if text.is_empty() {
        return None;
    }
    let mut der = Zeroizing::new(vec![0; base64::decoded_len_estimate(text.len())]);
    let len = PEM_BASE64.decode_slice(&*text, &mut der).ok()?;
    der.truncate(len);
    Some(der)
}

fn certificates(
    option: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>> {
    let invalid = |e: &dyn fmt::Display| TlsError::InvalidCertificate {
        rule: format!("{option}: `{}`: {e}", path.display()),
    };
    let sections = pem_sections(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    let chain = sections
        .iter()
        .filter(|section| section.label == b"CERTIFICATE")
        .map(|section| CertificateDer::from_pem_slice(section.text))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            option,
            path: path.to_owned(),
        }
        .into());
    }
    Ok(chain)
}

fn private_key(
    option: &'static str,
    path: &Path,
    pem: &[u8],
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>> {
    // The file's first section labelled as a key, as pki-types' `from_pem_slice` takes the
    // first key it knows (what follows is not read); an encrypted key counts here, where
    // pki-types passes over the label it does not know.
    let key = pem_sections(pem)
        .find(|section| {
            section.as_ref().map_or(true, |section| {
                matches!(
                    section.label,
                    b"ENCRYPTED PRIVATE KEY"
                        | b"PRIVATE KEY"
                        | b"RSA PRIVATE KEY"
                        | b"EC PRIVATE KEY"
                )
            })
        })
        .transpose()
        .map_err(|rule| TlsError::UnusableKey { option, rule })?;
    let Some(PemSection { label, text, body }) = key else {
        return Err(TlsError::NoPrivateKey {
            option,
            path: path.to_owned(),
        }
        .into());
    };
    if label == b"ENCRYPTED PRIVATE KEY" {
        let password = password.ok_or(TlsError::KeyPasswordRequired)?;
        let unreadable = |e: &dyn fmt::Display| TlsError::UnusableKey {
            option,
            rule: format!("the encrypted key cannot be read: {e}"),
        };
        // PEM to DER first: the DER reader of a PEM stream cannot look ahead, which the
        // structure's optional fields need.
        let (_, der) = pkcs8::der::pem::decode_vec(text).map_err(|e| unreadable(&e))?;
        let der = Zeroizing::new(der);
        let encrypted =
            pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| unreadable(&e))?;
        check_key_cost(&encrypted.encryption_algorithm)
            .map_err(|rule| TlsError::UnusableKey { option, rule })?;
        let decrypted = encrypted
            .encryption_algorithm
            .decrypt(password.expose().as_bytes(), encrypted.encrypted_data)
            .map_err(|e| match e {
                // A wrong password shows as bad padding, which pkcs5 0.7 reports as a failure
                // to encrypt.
                pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed => {
                    TlsError::WrongKeyPassword
                }
                other => TlsError::UnusableKey {
                    option,
                    rule: format!("unsupported encryption: {other}"),
                },
            })?;
        let mut der = Zeroizing::new(decrypted);
        // A wrong password that passes the padding check yields bytes that are no key.
        if pkcs8::PrivateKeyInfo::try_from(der.as_slice()).is_err() {
            return Err(TlsError::WrongKeyPassword.into());
        }
        // Moved, not copied: the key goes to rustls without a second copy left behind.
        let der = std::mem::take(&mut *der);
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)));
    }
    // Decoded here, into wiped buffers: pki-types' decoder leaves the key's base64 and DER in
    // memory it frees unwiped.
    let mut der = decode_pem_body(body).ok_or_else(|| TlsError::UnusableKey {
        option,
        rule: if body.iter().all(is_pem_space) {
            "the key's PEM section is empty".to_owned()
        } else {
            "the key's PEM section is not base64 (header lines, such as OpenSSL's legacy \
             encryption writes, are not read: convert the key to PKCS#8 with `openssl pkcs8 \
             -topk8`)"
                .to_owned()
        },
    })?;
    // Moved, not copied, to rustls.
    let der = std::mem::take(&mut *der);
    Ok(match label {
        b"PRIVATE KEY" => PrivateKeyDer::Pkcs8(der.into()),
        b"RSA PRIVATE KEY" => PrivateKeyDer::Pkcs1(der.into()),
        _ => PrivateKeyDer::Sec1(der.into()),
    })
}

/// The most work an encrypted key may ask for: PBKDF2 iterations (OpenSSL writes 2,048) and
/// scrypt memory (OpenSSL's `-scrypt` default needs 16 MiB). Above that a crafted file could
/// hold a core for hours or exhaust memory before the password is even checked.
const MAX_KEY_PBKDF2_ITERATIONS: u32 = 1_000_000;
const MAX_KEY_SCRYPT_MEMORY: u64 = 256 * 1024 * 1024;

fn check_key_cost(scheme: &pkcs5::EncryptionScheme<'_>) -> std::result::Result<(), String> {
    use pkcs5::EncryptionScheme;
    use pkcs5::pbes2::Kdf;
    let EncryptionScheme::Pbes2(parameters) = scheme else {
        return Ok(());
    };
    match &parameters.kdf {
        Kdf::Pbkdf2(pbkdf2) if pbkdf2.iteration_count > MAX_KEY_PBKDF2_ITERATIONS => Err(format!(
            "the key asks for {} PBKDF2 iterations, more than the {MAX_KEY_PBKDF2_ITERATIONS} allowed",
            pbkdf2.iteration_count
        )),
        Kdf::Scrypt(scrypt) => {
            let (n, r, p) = (
                scrypt.cost_parameter,
                u64::from(scrypt.block_size),
                u64::from(scrypt.parallelization),
            );
            // scrypt's own parameter rules (the library panics on N < 2 rather than refusing).
            if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 {
                return Err("the key's scrypt parameters are invalid".to_owned());
            }
            // Memory is 128 * r * N bytes; the work is that, p times over.
            let memory = 128u64.checked_mul(r).and_then(|m| m.checked_mul(n));
            let work = memory.and_then(|m| m.checked_mul(p));
            match (memory, work) {
                (Some(memory), Some(work))
                    if memory <= MAX_KEY_SCRYPT_MEMORY && work <= 4 * MAX_KEY_SCRYPT_MEMORY =>
                {
                    Ok(())
                }
                _ => Err("the key's scrypt parameters ask for too much memory or work".to_owned()),
            }
        }
        _ => Ok(()),
    }
}

/// The certificate authorities to check the server against, and where they came from.
fn roots(options: &TlsOptions) -> Result<(Arc<RootCertStore>, Trust)> {
    match &options.ca_file {
        Some(path) => Ok((
            Arc::new(ca_file_roots("tlsCAFile", path)?),
            Trust::CaFile(path.clone()),
        )),
        None => system_roots(),
    }
}

/// The system's trust store, read once per process for each value of `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` (reading it parses a few hundred certificates).
fn system_roots() -> Result<(Arc<RootCertStore>, Trust)> {
    type Cached = (
        Option<OsString>,
        Option<OsString>,
        Arc<RootCertStore>,
        Trust,
    );
    static CACHE: Mutex<Option<Cached>> = Mutex::new(None);
    let file = std::env::var_os("SSL_CERT_FILE");
    let dir = std::env::var_os("SSL_CERT_DIR");
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((cached_file, cached_dir, roots, trust)) = cache.as_ref()
        && *cached_file == file
        && *cached_dir == dir
    {
        return Ok((roots.clone(), trust.clone()));
    }
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(loaded.certs);
    let shown = |value: &OsString| value.to_string_lossy().into_owned();
    let trust = if added > 0 {
        let from = match (&file, &dir) {
            (Some(file), _) => format!("SSL_CERT_FILE `{}`", shown(file)),
            (None, Some(dir)) => format!("SSL_CERT_DIR `{}`", shown(dir)),
            (None, None) => "the platform's bundle".to_owned(),
        };
        Trust::System {
            from,
            certificates: added,
        }
    } else if let Some((variable, value)) = file
        .as_ref()
        .map(|file| ("SSL_CERT_FILE", file))
        .or(dir.as_ref().map(|dir| ("SSL_CERT_DIR", dir)))
    {
        // The user pointed at a store: an empty or unreadable one is a mistake to report, not
        // a reason to trust another set of authorities.
        let reason = loaded.errors.first().map_or_else(
            || "no PEM certificate in it".to_owned(),
            ToString::to_string,
        );
        return Err(TlsError::TrustStore {
            variable,
            path: shown(value),
            reason,
        }
        .into());
    } else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Trust::WebpkiRoots
    };
    let roots = Arc::new(roots);
    *cache = Some((file, dir, roots.clone(), trust.clone()));
    Ok((roots, trust))
}

/// The revocation lists of `tlsCRLFile`.
fn revocation_lists(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let pem = read("tlsCRLFile", path)?;
    let invalid = |rule: String| TlsError::InvalidCrl {
        path: path.to_owned(),
        rule,
    };
    let lists = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if lists.is_empty() {
        return Err(invalid("it holds no PEM `X509 CRL`".to_owned()).into());
    }
    Ok(lists)
}

/// Refuses what the revocation options ask for and this client cannot do: it checks revocation
/// only against the lists of `tlsCRLFile`, and never contacts an OCSP responder.
fn check_revocation_options(options: &TlsOptions) -> Result<()> {
    let refuse = |option, reason| Err(TlsError::Unsupported { option, reason }.into());
    if options.disable_ocsp_endpoint_check == Some(false) {
        return refuse(
            "tlsDisableOCSPEndpointCheck=false",
            "asks the client to contact OCSP responders, which it never does; remove the \
             option (true, meaning no OCSP request, is what this client always does)",
        );
    }
    match (
        options.disable_certificate_revocation_check,
        options.crl_file.is_some(),
    ) {
        (Some(false), false) => refuse(
            "tlsDisableCertificateRevocationCheck=false",
            "asks for a revocation check, which this client makes only against the lists of \
             tlsCRLFile; name one, or remove the option",
        ),
        (Some(true), true) => refuse(
            "tlsDisableCertificateRevocationCheck=true",
            "contradicts tlsCRLFile, which asks for a revocation check; remove one of them",
        ),
        _ if options.crl_file.is_some() && !options.verify_certificates() => refuse(
            "tlsCRLFile",
            "has no effect when certificates are not checked (tlsAllowInvalidCertificates, \
             tlsInsecure); remove one of them",
        ),
        _ => Ok(()),
    }
}

/// The certificate authorities of a PEM file (`option` names it in errors).
fn ca_file_roots(option: &'static str, path: &Path) -> Result<RootCertStore> {
    let pem = read(option, path)?;
    let mut roots = RootCertStore::empty();
    for certificate in certificates(option, path, &pem)? {
        roots
            .add(certificate)
            .map_err(|e| TlsError::InvalidCertificate {
                rule: format!("{option}: `{}`: {e}", path.display()),
            })?;
    }
    Ok(roots)
}

/// A client configuration for the connection string's TLS options, and the client identity
/// when `tlsCertificateKeyFile` names one.
pub fn client_config(options: &TlsOptions) -> Result<(Arc<rustls::ClientConfig>, Option<String>)> {
    let setup = TlsSetup::new(options)?;
    Ok((setup.config, setup.client_subject))
}

/// What the adapters need for TLS to every host of a connection string: the client
/// configuration, the subject of the client certificate when there is one, and whom the
/// server is checked against. Both adapters, and every host of a `mongodb+srv` string, use
/// this one verifier.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) client_subject: Option<String>,
    pub(crate) trust: Trust,
}

impl TlsSetup {
    /// The configuration the connection string's TLS options ask for.
    pub fn new(options: &TlsOptions) -> Result<Self> {
        check_revocation_options(options)?;
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        let (verifier, trust) = ServerVerifier::new(options, &provider)?;
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let (config, client_subject) = match &options.certificate_key_file {
            Some(path) => {
                let identity = Identity::from_pem_file(
                    "tlsCertificateKeyFile",
                    path,
                    options.certificate_key_file_password.as_ref(),
                )?;
                let subject = identity.subject.clone();
                let config = builder
                    .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                    .map_err(|_| TlsError::KeyDoesNotMatchCertificate {
                        option: "tlsCertificateKeyFile",
                    })?;
                (config, Some(subject))
            }
            None => (builder.with_no_client_auth(), None),
        };
        Ok(TlsSetup {
            config: Arc::new(config),
            client_subject,
            trust,
        })
    }

    /// Whom the server is checked against.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }
}

/// The name the client checks the certificate against and sends as SNI (none for an IP
/// address, as rustls does).
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| Error::InvalidHost {
        host: host.to_owned(),
        rule: "not a valid TLS server name",
    })
}

/// A server configuration: its chain and key from PEM files, and, with `client_ca`, a request
/// for a client certificate verified against that CA. A client without a certificate is still
/// served (it may log in with SCRAM or PLAIN), as mongod with
/// `allowConnectionsWithoutCertificates`.
pub fn server_config(
    certificate: &Path,
    key: &Path,
    key_password: Option<&Secret>,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>> {
    let provider = provider();
    let chain_pem = read("--tls-cert", certificate)?;
    let chain = certificates("--tls-cert", certificate, &chain_pem)?;
    let key_pem = read("--tls-key", key)?;
    let key = private_key("--tls-key", key, &key_pem, key_password)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Handshake(e.to_string()))?;
    let builder = match client_ca {
        Some(path) => {
            let roots = ca_file_roots("--tls-ca", path)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError::Handshake(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config =
        builder
            .with_single_cert(chain, key)
            .map_err(|_| TlsError::KeyDoesNotMatchCertificate {
                option: "--tls-key",
            })?;
    Ok(Arc::new(config))
}

/// The typed error inside an I/O error from a TLS stream, if there is one.
/// `client`: the side that saw it is a client (an untrusted certificate is the server's).
pub fn from_io_error(error: &std::io::Error, client: bool) -> Option<TlsError> {
    let inner = error.get_ref()?.downcast_ref::<rustls::Error>()?;
    Some(classify(inner, client))
}

/// What a rustls error means for the side that saw it (`client`: the server's certificate).
pub fn classify(error: &rustls::Error, client: bool) -> TlsError {
    match error {
        rustls::Error::InvalidCertificate(problem) => {
            let problem = certificate_problem(problem);
            if client {
                TlsError::UntrustedServer(problem)
            } else {
                TlsError::UntrustedClient(problem)
            }
        }
        rustls::Error::AlertReceived(alert) => TlsError::RefusedByPeer {
            alert: format!("{alert:?}"),
        },
        other => TlsError::Handshake(other.to_string()),
    }
}

fn certificate_problem(error: &CertificateError) -> CertificateProblem {
    match error {
        CertificateError::UnknownIssuer => CertificateProblem::UnknownIssuer {
            issuer: "an unknown issuer".to_owned(),
            trusted: "the trusted certificate authorities".to_owned(),
        },
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            CertificateProblem::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertificateProblem::NotValidYet
        }
        CertificateError::NotValidForName => CertificateProblem::NameMismatch {
            expected: String::new(),
            presented: Vec::new(),
        },
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => CertificateProblem::NameMismatch {
            expected: match expected {
                ServerName::DnsName(name) => name.as_ref().to_owned(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
                _ => "the server".to_owned(),
            },
            presented: presented.iter().map(|name| bare_name(name)).collect(),
        },
        CertificateError::Revoked => CertificateProblem::Revoked,
        CertificateError::UnknownRevocationStatus => CertificateProblem::UnknownRevocationStatus,
        CertificateError::ExpiredRevocationList
        | CertificateError::ExpiredRevocationListContext { .. } => CertificateProblem::Other(
            "the revocation list of tlsCRLFile has expired; fetch a current one".to_owned(),
        ),
        CertificateError::BadSignature => CertificateProblem::BadSignature,
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            CertificateProblem::WrongUsage
        }
        CertificateError::Other(OtherError(inner)) => {
            if let Some(Untrusted(problem)) = inner.downcast_ref::<Untrusted>() {
                problem.clone()
            } else if let Some(webpki::Error::CaUsedAsEndEntity) =
                inner.downcast_ref::<webpki::Error>()
            {
                CertificateProblem::CaUsedAsEndEntity
            } else {
                CertificateProblem::Other(inner.to_string())
            }
        }
        other => CertificateProblem::Other(other.to_string()),
    }
}

/// `localhost` out of rustls' `DnsName("localhost")` (and the same for IP addresses).
fn bare_name(presented: &str) -> String {
    presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map(|inner| inner.trim_matches('"').to_owned())
        .unwrap_or_else(|| presented.to_owned())
}

/// A problem this crate found itself, carried through rustls to [`classify`].
#[derive(Debug)]
struct Untrusted(CertificateProblem);

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Untrusted {}

fn untrusted(problem: CertificateProblem) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Untrusted(
        problem,
    )))))
}

/// The client's one verifier of server certificates: webpki's chain check against the trusted
/// authorities (with `tlsCRLFile`'s lists), a certificate of `tlsCAFile` trusted as itself, and
/// the relaxations the options ask for (`tlsAllowInvalidHostnames`: the name is not checked;
/// `tlsAllowInvalidCertificates` or `tlsInsecure`: nothing is). The handshake signatures are
/// checked in every case, so the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct ServerVerifier {
    /// The chain check; `None` when certificates are not checked.
    chain: Option<Arc<WebPkiServerVerifier>>,
    /// The certificates of `tlsCAFile`, each trusted as itself.
    pinned: Vec<CertificateDer<'static>>,
    /// `tlsCRLFile` was given: every certificate's revocation must be known.
    checks_revocation: bool,
    check_names: bool,
    trust: Trust,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerVerifier {
    fn new(options: &TlsOptions, provider: &Arc<CryptoProvider>) -> Result<(Self, Trust)> {
        let algorithms = provider.signature_verification_algorithms;
        if !options.verify_certificates() {
            let verifier = ServerVerifier {
                chain: None,
                pinned: Vec::new(),
                checks_revocation: false,
                check_names: false,
                trust: Trust::Unchecked,
                algorithms,
            };
            return Ok((verifier, Trust::Unchecked));
        }
        let (roots, trust) = roots(options)?;
        let mut builder = WebPkiServerVerifier::builder_with_provider(roots, provider.clone());
        if let Some(path) = &options.crl_file {
            // As OpenSSL's leaf check (PyMongo's VERIFY_CRL_CHECK_LEAF): the server's own
            // certificate, against its issuer's list, which must be there and current (rustls
            // would take a list past its nextUpdate as current; OpenSSL refuses it).
            builder = builder
                .with_crls(revocation_lists(path)?)
                .only_check_end_entity_revocation()
                .enforce_revocation_expiration();
        }
        let chain = builder.build().map_err(|e| match &options.crl_file {
            Some(path) => Error::from(TlsError::InvalidCrl {
                path: path.clone(),
                rule: e.to_string(),
            }),
            None => TlsError::Handshake(e.to_string()).into(),
        })?;
        let pinned = match &options.ca_file {
            Some(path) => certificates("tlsCAFile", path, &read("tlsCAFile", path)?)?,
            None => Vec::new(),
        };
        let verifier = ServerVerifier {
            chain: Some(chain),
            pinned,
            checks_revocation: options.crl_file.is_some(),
            check_names: options.verify_hostnames(),
            trust: trust.clone(),
            algorithms,
        };
        Ok((verifier, trust))
    }

    /// A certificate of `tlsCAFile` presented as the server's own: trusted as itself, its
    /// validity and (unless told otherwise) its name checked. With `tlsCRLFile` it is refused:
    /// no chain reaches it, so no list is checked for it, and its status is unknown, as
    /// OpenSSL's leaf check finds it (it cannot get the certificate's list).
    fn verify_pinned(
        &self,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.checks_revocation {
            return Err(untrusted(CertificateProblem::UnknownRevocationStatus));
        }
        let invalid = |e: Error| untrusted(CertificateProblem::Other(e.to_string()));
        let (not_before, not_after) =
            mongodb_auth::x509::certificate_validity(end_entity).map_err(invalid)?;
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(now.as_secs());
        if now < not_before {
            return Err(untrusted(CertificateProblem::NotValidYet));
        }
        if now > not_after {
            return Err(untrusted(CertificateProblem::Expired));
        }
        if self.check_names {
            rustls::client::verify_server_name(
                &ParsedCertificate::try_from(end_entity)?,
                server_name,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(verified) => Ok(verified),
            // webpki checks the name only once the chain is valid.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_names => Ok(ServerCertVerified::assertion()),
            // Only the two verdicts a trusted certificate of its own would have answered.
            Err(rustls::Error::InvalidCertificate(error))
                if is_untrusted_self(&error)
                    && self
                        .pinned
                        .iter()
                        .any(|pinned| pinned.as_ref() == end_entity.as_ref()) =>
            {
                self.verify_pinned(end_entity, server_name, now)
            }
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                Err(untrusted(CertificateProblem::UnknownIssuer {
                    issuer: mongodb_auth::x509::certificate_issuer(end_entity)
                        .unwrap_or_else(|_| "an unknown issuer".to_owned()),
                    trusted: self.trust.to_string(),
                }))
            }
            Err(other) => Err(other),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Whether webpki refused a certificate for being its own issuer: a CA certificate used as the
/// server's (`CA:TRUE`), or one no trusted authority issued.
fn is_untrusted_self(error: &CertificateError) -> bool {
    match error {
        CertificateError::UnknownIssuer => true,
        CertificateError::Other(OtherError(inner)) => matches!(
            inner.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod pem_tests {
    use super::*;

    /// `der` as a PEM section of `label`, its base64 in lines of `width` ending with `eol`.
    fn section(label: &str, der: &[u8], width: usize, eol: &str) -> String {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = text
            .as_bytes()
            .chunks(width)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----{eol}{}{eol}-----END {label}-----{eol}",
            lines.join(eol)
        )
    }

    #[test]
    fn keys_are_read_as_pki_types_reads_them_whatever_the_lines() {
        let der: Vec<u8> = (0..=255).cycle().take(1201).collect();
        let path = Path::new("key.pem");
        for (label, width, eol, padded) in [
            ("PRIVATE KEY", 64, "\n", true),
            ("RSA PRIVATE KEY", 76, "\r\n", true),
            ("EC PRIVATE KEY", 17, "\n", false),
            ("PRIVATE KEY", 64, "\r", true),
        ] {
            // A key between OpenSSL's bag attributes and another section, as files have it.
            let mut key = section(label, &der, width, eol);
            if !padded {
                key = key.replace('=', "");
            }
            let pem = format!(
                "Bag Attributes{eol}    localKeyID: 01{eol}{key}junk{eol}{}",
                section("CERTIFICATE", b"not read here", 64, eol),
            );
            let ours = private_key("tlsCertificateKeyFile", path, pem.as_bytes(), None).unwrap();
            let theirs = PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap();
            assert_eq!(ours, theirs, "{label} {eol:?}");
            assert_eq!(ours.secret_der(), der.as_slice(), "{label} {eol:?}");
        }
        // Trailing bits that are not zero (`/x` for 0xff), a BEGIN line whose five dashes have
        // spaces among and after them, an END line with text after it, and a stray BEGIN
        // before the key's own: read as pki-types reads them.
        let odd = "-----BEGIN PRIVATE KEY-----\n-----BEGIN PRIVATE KEY--- --  \n/x==\n-----END PRIVATE KEY----- trailing\n";
        let ours = private_key("tlsCertificateKeyFile", path, odd.as_bytes(), None).unwrap();
        let theirs = PrivateKeyDer::from_pem_slice(odd.as_bytes()).unwrap();
        assert_eq!(
            (ours.secret_der(), theirs.secret_der()),
            (&[0xff][..], &[0xff][..])
        );
    }

    #[test]
    fn a_file_without_a_readable_key_says_so() {
        let path = Path::new("key.pem");
        let refused = |pem: &str| {
            private_key("tlsCertificateKeyFile", path, pem.as_bytes(), None)
                .unwrap_err()
                .to_string()
        };
        let certificate = section("CERTIFICATE", b"certificate", 64, "\n");
        // Each, and whether pki-types refuses it too (it reads an empty key as one).
        let inline = format!("x{}", section("PRIVATE KEY", b"key", 64, "\n"));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        for (pem, reason, pki_types_refuses) in [
            (certificate.as_str(), "holds no PEM private key", true),
            // A BEGIN that does not start its line is no section.
            (&inline, "holds no PEM private key", true),
            (legacy, "pkcs8 -topk8", true),
            (
                "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
                "is empty",
                false,
            ),
            (
                "-----BEGIN PRIVATE KEY-----\nAAAA\n",
                "has no END line",
                true,
            ),
            (
                "-----BEGIN PRIVATE KEY-----junk\nAAAA\n-----END PRIVATE KEY-----\n",
                "five dashes",
                true,
            ),
            (
                "-----BEGIN PRIVATE KEY------\nAAAA\n-----END PRIVATE KEY-----\n",
                "five dashes",
                true,
            ),
            // Six dashes, one of them among the trailing spaces.
            (
                "-----BEGIN PRIVATE KEY- ----- \nAAAA\n-----END PRIVATE KEY-----\n",
                "five dashes",
                true,
            ),
        ] {
            assert!(refused(pem).contains(reason), "{pem:?}: {}", refused(pem));
            assert_eq!(
                PrivateKeyDer::from_pem_slice(pem.as_bytes()).is_err(),
                pki_types_refuses,
                "{pem:?}"
            );
        }
    }

    #[test]
    fn sections_are_found_in_order_and_what_breaks_the_file_ends_it() {
        // A BEGIN line inside a section starts it again, as in pki-types.
        let pem = format!(
            "{}{}-----BEGIN STRAY-----\n{}-----BEGIN UNENDED-----\nAAAA\n",
            section("CERTIFICATE", b"one", 64, "\r"),
            section("X509 CRL", b"two", 64, "\n"),
            section("CERTIFICATE", b"three", 64, "\n"),
        );
        let found: Vec<_> = pem_sections(pem.as_bytes())
            .map(|section| section.map(|s| (s.label, decode_pem_body(s.body).unwrap().to_vec())))
            .collect();
        // A section's text ends with its END marker, whatever follows on the line.
        let trailing = "-----BEGIN X-----\nAAAA\n-----END X----- and more\n";
        let text = pem_sections(trailing.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .text;
        assert!(text.ends_with(b"AAAA\n-----END X-----"), "{text:?}");
        assert_eq!(
            found,
            [
                Ok((&b"CERTIFICATE"[..], b"one".to_vec())),
                Ok((&b"X509 CRL"[..], b"two".to_vec())),
                Ok((&b"CERTIFICATE"[..], b"three".to_vec())),
                Err("the PEM section `UNENDED` has no END line".to_owned()),
            ]
        );
    }
}

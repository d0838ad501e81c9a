//! The RFC 5802 key schedule, for both variants, on the hmac/sha/pbkdf2 crates.

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::ScramVariant;
use crate::error::{Result, ScramError};
use crate::secret::Secret;

/// One output of the variant's hash, HMAC or PBKDF2 (20 or 32 bytes), held inline so computing
/// it does not allocate, and wiped when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SecretBytes {
    bytes: [u8; MAX_OUTPUT_LEN],
    len: usize,
}

/// SHA-256's output, the longer of the two.
const MAX_OUTPUT_LEN: usize = 32;

impl SecretBytes {
    pub(crate) fn zeroed(len: usize) -> Self {
        SecretBytes {
            bytes: [0; MAX_OUTPUT_LEN],
            len: len.min(MAX_OUTPUT_LEN),
        }
    }

    /// A copy of a hash's output, which is wiped.
    fn wiping(output: &mut [u8]) -> Self {
        let mut copy = SecretBytes::zeroed(output.len());
        let len = copy.len;
        copy.copy_from_slice(output.get(..len).unwrap_or_default());
        output.zeroize();
        copy
    }

    /// The first `len` bytes (a SHA-256 output cut to a SHA-1 key's length).
    #[cfg(feature = "server")]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

impl std::ops::Deref for SecretBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl std::ops::DerefMut for SecretBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes.get_mut(..self.len).unwrap_or_default()
    }
}

/// `HMAC(key, message)` with the variant's hash.
pub(crate) fn hmac(variant: ScramVariant, key: &[u8], message: &[u8]) -> SecretBytes {
    hmac_of_parts(variant, key, &[message])
}

/// `HMAC(key, message)` of the message made of `parts` one after the other, without joining
/// them first.
pub(crate) fn hmac_of_parts(variant: ScramVariant, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> SecretBytes {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = <M as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        for part in parts {
            mac.update(part);
        }
        SecretBytes::wiping(&mut mac.finalize().into_bytes())
    }
    match variant {
        ScramVariant::Sha1 => run::<Hmac<Sha1>>(key, parts),
        ScramVariant::Sha256 => run::<Hmac<Sha256>>(key, parts),
    }
}

/// `H(data)` with the variant's hash.
pub(crate) fn hash(variant: ScramVariant, data: &[u8]) -> SecretBytes {
    match variant {
        ScramVariant::Sha1 => SecretBytes::wiping(&mut Sha1::digest(data)),
        ScramVariant::Sha256 => SecretBytes::wiping(&mut Sha256::digest(data)),
    }
}

/// `Hi(password, salt, i)`: PBKDF2 with the variant's HMAC.
pub(crate) fn salted_password(
    variant: ScramVariant,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> SecretBytes {
    let mut out = SecretBytes::zeroed(variant.output_len());
    match variant {
        ScramVariant::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
        ScramVariant::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
    }
    out
}

/// The string fed to `Hi()`: for SCRAM-SHA-1 the MongoDB digest, lowercase hex of
/// `MD5(username ":mongo:" password)`, with neither part SASLprep'd (rule G4); for SCRAM-SHA-256
/// the SASLprep'd password (rule G5).
pub(crate) fn password_input(
    variant: ScramVariant,
    username: &str,
    password: &Secret,
) -> Result<Secret> {
    match variant {
        ScramVariant::Sha1 => {
            let mut md5 = Md5::new();
            md5.update(username.as_bytes());
            md5.update(b":mongo:");
            md5.update(password.expose().as_bytes());
            let digest: Zeroizing<[u8; 16]> = Zeroizing::new(md5.finalize().into());
            let mut hex = String::with_capacity(32);
            for byte in digest.iter() {
                // Writing to a String cannot fail.
                let _ = write!(hex, "{byte:02x}");
            }
            Ok(Secret::new(hex))
        }
        ScramVariant::Sha256 => stringprep::saslprep(password.expose())
            .map(|prepared| Secret::new(prepared.into_owned()))
            .map_err(|_| ScramError::InvalidPassword.into()),
    }
}

/// Numbers every job the crate hands out (a client's [`KeyDerivation`], a server session's
/// blocking work), so an output can say which job produced it. 0 is never a job.
static NEXT_JOB: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_job() -> u64 {
    NEXT_JOB.fetch_add(1, Ordering::Relaxed)
}

/// ClientKey and ServerKey: what a SCRAM client needs from the password, and what
/// [`ScramKeyCache`](super::ScramKeyCache) keeps. Both are wiped when dropped; `Debug` shows
/// neither. They remember the [`KeyDerivation`] they answer, so keys cannot be handed to the
/// wrong conversation.
#[derive(Clone)]
pub struct ScramKeys {
    /// The job that produced (or, from the cache, was answered with) these keys; 0 for keys
    /// made outside a job (the server's verifiers).
    pub(crate) job: u64,
    pub(crate) variant: ScramVariant,
    pub(crate) client_key: SecretBytes,
    pub(crate) server_key: SecretBytes,
}

impl ScramKeys {
    /// Derives the keys from a salted password.
    pub(crate) fn from_salted_password(variant: ScramVariant, salted: &[u8]) -> Self {
        ScramKeys {
            job: 0,
            variant,
            client_key: hmac(variant, salted, b"Client Key"),
            server_key: hmac(variant, salted, b"Server Key"),
        }
    }

    /// The variant the keys belong to.
    pub fn variant(&self) -> ScramVariant {
        self.variant
    }

    /// Whether these keys answer `derivation` (were derived by it, or found in a cache for it).
    pub fn derived_by(&self, derivation: &KeyDerivation) -> bool {
        self.job == derivation.job && self.variant == derivation.variant
    }

    /// The same keys, answering another job of identical inputs (a cache hit).
    pub(crate) fn for_job(mut self, derivation: &KeyDerivation) -> Self {
        self.job = derivation.job;
        self
    }

    /// `StoredKey = H(ClientKey)`.
    pub(crate) fn stored_key(&self) -> SecretBytes {
        hash(self.variant, &self.client_key)
    }
}

impl fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramKeys")
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

/// The PBKDF2 work of one SCRAM conversation, as a value: run it inline, on a blocking pool, or
/// anywhere else, then hand the [`ScramKeys`] back. It owns its inputs, so it is `Send + 'static`.
#[derive(Clone)]
pub struct KeyDerivation {
    pub(crate) job: u64,
    pub(crate) variant: ScramVariant,
    pub(crate) password_input: Secret,
    pub(crate) salt: Vec<u8>,
    pub(crate) iterations: u32,
}

impl KeyDerivation {
    /// Runs PBKDF2 and derives ClientKey and ServerKey. This is the expensive step (milliseconds
    /// at MongoDB's default iteration counts).
    pub fn run(&self) -> ScramKeys {
        let salted = salted_password(
            self.variant,
            self.password_input.expose().as_bytes(),
            &self.salt,
            self.iterations,
        );
        ScramKeys::from_salted_password(self.variant, &salted).for_job(self)
    }

    /// The variant.
    pub fn variant(&self) -> ScramVariant {
        self.variant
    }

    /// The iteration count the server asked for.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt the server sent.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }
}

impl fmt::Debug for KeyDerivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyDerivation")
            .field("variant", &self.variant)
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt.len())
            .finish_non_exhaustive()
    }
}

//! SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) with MongoDB's rules, as a typestate
//! client: each step consumes the previous state, so an out-of-order call does not compile.
//!
//! ```
//! use mongodb_auth::random::SystemRandom;
//! use mongodb_auth::scram::{ScramClient, ScramKeyCache, ScramVariant};
//! use mongodb_auth::Secret;
//!
//! let cache = ScramKeyCache::new(8, &mut SystemRandom);
//! let client = ScramClient::new(ScramVariant::Sha256, "user", &Secret::new("pencil"))?;
//! let (client_first, state) = client.start_with_nonce("rOprNGfwEbeRWgbNEkqO")?;
//! assert_eq!(client_first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
//! let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
//! let (client_final, state) = state.handle_server_first(server_first, &cache)?;
//! assert!(client_final.ends_with(b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
//! state.handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")?;
//! # Ok::<(), mongodb_auth::Error>(())
//! ```

mod cache;
mod keys;
mod messages;

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

pub use cache::{CacheStats, DEFAULT_CACHE_CAPACITY, ScramKeyCache};
pub use keys::{KeyDerivation, ScramKeys};
pub use messages::MIN_ITERATIONS;

#[cfg(feature = "server")]
pub(crate) use keys::next_job;

#[cfg(feature = "server")]
pub(crate) use keys::hmac_of_parts;
#[cfg_attr(not(any(test, feature = "server")), allow(unused_imports))]
pub(crate) use keys::{SecretBytes, hash, salted_password};
pub(crate) use keys::{hmac, password_input};
pub(crate) use messages::{ServerFinalMessage, parse_server_final};

use crate::credential::AuthMechanism;
use crate::error::{Error, Result, ScramError};
use crate::random::SecureRandom;
use crate::secret::{Secret, constant_time_eq};

/// The ceiling on the iteration count a server may ask for, unless configured otherwise.
///
/// MongoDB's defaults are 10,000 (SHA-1) and 15,000 (SHA-256). One million is 66 times the
/// SHA-256 default and above OWASP's 600,000 for PBKDF2-HMAC-SHA-256. Measured with
/// `cargo bench --bench scram` (15,000 iterations in 2.0 ms on a 2-core x86-64 machine), it costs
/// about 130 ms of CPU per new credential (once, thanks to the key cache), whereas a hostile
/// server sending `i=4294967295` would otherwise hold a core for nearly ten minutes.
pub const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

/// The GS2 header of a client that does not support channel binding (rule G1), and its base64
/// form as sent in `c=`.
const GS2_HEADER: &str = "n,,";
const GS2_HEADER_BASE64: &str = "biws";

/// Which SCRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramVariant {
    /// SCRAM-SHA-1, over the MongoDB password digest.
    Sha1,
    /// SCRAM-SHA-256, over the SASLprep'd password.
    Sha256,
}

impl ScramVariant {
    /// The mechanism this variant implements.
    pub const fn mechanism(self) -> AuthMechanism {
        match self {
            ScramVariant::Sha1 => AuthMechanism::ScramSha1,
            ScramVariant::Sha256 => AuthMechanism::ScramSha256,
        }
    }

    /// The variant of a mechanism, if it is a SCRAM one.
    pub fn from_mechanism(mechanism: AuthMechanism) -> Option<Self> {
        match mechanism {
            AuthMechanism::ScramSha1 => Some(ScramVariant::Sha1),
            AuthMechanism::ScramSha256 => Some(ScramVariant::Sha256),
            _ => None,
        }
    }

    pub(crate) fn output_len(self) -> usize {
        match self {
            ScramVariant::Sha1 => 20,
            ScramVariant::Sha256 => 32,
        }
    }
}

impl fmt::Display for ScramVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mechanism().as_str())
    }
}

/// RFC 5802 `saslname`: `=` becomes `=3D` and `,` becomes `=2C` (rule G3). The username is not
/// SASLprep'd (rule G2).
pub(crate) fn escape_username(username: &str) -> Cow<'_, str> {
    if !username.contains(['=', ',']) {
        return Cow::Borrowed(username);
    }
    Cow::Owned(username.replace('=', "=3D").replace(',', "=2C"))
}

/// RFC 5802 `printable`: non-empty, ASCII 0x21-0x7E except `,`. What a nonce is made of.
pub(crate) fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// A fresh nonce, as [`append_nonce`] makes one.
#[cfg(test)]
pub(crate) fn generate_nonce<R: SecureRandom + ?Sized>(random: &mut R) -> String {
    let mut nonce = String::with_capacity(NONCE_LEN);
    append_nonce(random, &mut nonce);
    nonce
}

/// The length of a nonce [`append_nonce`] makes.
pub(crate) const NONCE_LEN: usize = 32;

/// Appends a fresh nonce to `out`: 24 bytes from a CSPRNG, base64 (printable ASCII without `,`).
pub(crate) fn append_nonce<R: SecureRandom + ?Sized>(random: &mut R, out: &mut String) {
    let mut bytes = [0u8; 24];
    random.fill(&mut bytes);
    BASE64.encode_string(bytes, out);
}

/// A SCRAM client that has not sent anything yet.
pub struct ScramClient {
    variant: ScramVariant,
    username: String,
    password_input: Secret,
    max_iterations: u32,
}

impl ScramClient {
    /// Prepares a conversation. For SCRAM-SHA-1 this computes the MongoDB password digest; for
    /// SCRAM-SHA-256 it SASLpreps the password, which fails for prohibited characters.
    pub fn new(variant: ScramVariant, username: &str, password: &Secret) -> Result<Self> {
        Ok(ScramClient {
            variant,
            username: username.to_owned(),
            password_input: password_input(variant, username, password)?,
            max_iterations: DEFAULT_MAX_ITERATIONS,
        })
    }

    /// Sets the iteration-count ceiling (default [`DEFAULT_MAX_ITERATIONS`]).
    pub fn max_iterations(mut self, max: u32) -> Self {
        self.max_iterations = max;
        self
    }

    /// Sends client-first with a nonce drawn from `random` (which must be a CSPRNG, rule G6).
    pub fn start<R: SecureRandom + ?Sized>(self, random: &mut R) -> (Vec<u8>, ClientFirst) {
        self.start_unchecked(|bare| append_nonce(random, bare))
    }

    /// Sends client-first with a given nonce: for tests and test vectors. The nonce must be
    /// printable ASCII without `,`.
    pub fn start_with_nonce(self, nonce: &str) -> Result<(Vec<u8>, ClientFirst)> {
        if !is_printable(nonce) {
            return Err(ScramError::InvalidNonce.into());
        }
        Ok(self.start_unchecked(|bare| bare.push_str(nonce)))
    }

    /// Client-first, its nonce written by `nonce` at the end of client-first-bare.
    fn start_unchecked(self, nonce: impl FnOnce(&mut String)) -> (Vec<u8>, ClientFirst) {
        let username = escape_username(&self.username);
        let mut client_first_bare = String::with_capacity(username.len() + 4 + NONCE_LEN);
        client_first_bare.push_str("n=");
        client_first_bare.push_str(&username);
        client_first_bare.push_str(",r=");
        let nonce_at = client_first_bare.len();
        nonce(&mut client_first_bare);
        let mut message = Vec::with_capacity(GS2_HEADER.len() + client_first_bare.len());
        message.extend_from_slice(GS2_HEADER.as_bytes());
        message.extend_from_slice(client_first_bare.as_bytes());
        let state = ClientFirst {
            variant: self.variant,
            password_input: self.password_input,
            nonce_at,
            client_first_bare,
            max_iterations: self.max_iterations,
        };
        (message, state)
    }
}

/// Client-first was sent; waiting for server-first.
pub struct ClientFirst {
    variant: ScramVariant,
    password_input: Secret,
    client_first_bare: String,
    /// Where the nonce begins in `client_first_bare` (it runs to the end).
    nonce_at: usize,
    max_iterations: u32,
}

impl ClientFirst {
    /// The variant of the conversation.
    pub fn variant(&self) -> ScramVariant {
        self.variant
    }

    /// Reads server-first and answers it, taking the keys from `cache` or deriving them inline
    /// (and caching them). Use [`receive_server_first`](Self::receive_server_first) to run the
    /// derivation elsewhere.
    pub fn handle_server_first(
        self,
        server_first: &[u8],
        cache: &ScramKeyCache,
    ) -> Result<(Zeroizing<Vec<u8>>, ClientFinal)> {
        let state = self.receive_server_first(server_first)?;
        let keys = cache.get_or_derive(&state.key_derivation());
        Ok(state.finish(&keys))
    }

    /// Reads and checks server-first (rules G7, G8, G13), without deriving keys yet.
    pub fn receive_server_first(self, server_first: &[u8]) -> Result<ServerFirst> {
        let client_nonce = self
            .client_first_bare
            .get(self.nonce_at..)
            .unwrap_or_default();
        let parsed = messages::parse_server_first(server_first, client_nonce, self.max_iterations)?;
        // `client-first-bare,server-first,client-final-without-proof`: the last part is also
        // client-final's beginning, read from here by `finish`.
        let mut auth_message = String::with_capacity(
            self.client_first_bare.len() + server_first.len() + parsed.nonce.len() + 16,
        );
        auth_message.push_str(&self.client_first_bare);
        auth_message.push(',');
        // Valid UTF-8: the parser checked it.
        auth_message.push_str(std::str::from_utf8(server_first).unwrap_or_default());
        auth_message.push(',');
        let client_final_at = auth_message.len();
        auth_message.push_str("c=");
        auth_message.push_str(GS2_HEADER_BASE64);
        auth_message.push_str(",r=");
        auth_message.push_str(parsed.nonce);
        Ok(ServerFirst {
            derivation: KeyDerivation {
                job: keys::next_job(),
                variant: self.variant,
                password_input: self.password_input,
                salt: parsed.salt,
                iterations: parsed.iterations,
            },
            client_final_at,
            auth_message,
        })
    }
}

/// Server-first was accepted; the keys are needed to answer it.
pub struct ServerFirst {
    derivation: KeyDerivation,
    /// Where `client-final-without-proof` begins in `auth_message` (it runs to the end).
    client_final_at: usize,
    auth_message: String,
}

impl ServerFirst {
    /// The PBKDF2 job that yields the keys (look in a [`ScramKeyCache`] first).
    pub fn key_derivation(&self) -> KeyDerivation {
        self.derivation.clone()
    }

    /// Computes client-final from the keys.
    ///
    /// Keys of another variant than the conversation's give a wrong proof, which the server
    /// rejects; they never make the client accept a wrong server.
    ///
    /// Client-final is wiped when dropped: with the auth message, its proof is as good as the
    /// exchange itself for a guess at the password.
    pub fn finish(self, keys: &ScramKeys) -> (Zeroizing<Vec<u8>>, ClientFinal) {
        let variant = self.derivation.variant;
        let auth_message = self.auth_message.as_bytes();
        // ClientProof = ClientKey XOR ClientSignature.
        let mut proof = hmac(variant, &keys.stored_key(), auth_message);
        for (proof, key) in proof.iter_mut().zip(keys.client_key.iter()) {
            *proof ^= key;
        }
        let without_proof = self
            .auth_message
            .get(self.client_final_at..)
            .unwrap_or_default();
        let mut message =
            String::with_capacity(without_proof.len() + 3 + 4 * proof.len().div_ceil(3));
        message.push_str(without_proof);
        message.push_str(",p=");
        BASE64.encode_string(&*proof, &mut message);
        let message = Zeroizing::new(message.into_bytes());
        let expected_server_signature = hmac(variant, &keys.server_key, auth_message);
        (
            message,
            ClientFinal {
                expected_server_signature,
            },
        )
    }
}

/// Client-final was sent; the server must now prove it knows the password.
pub struct ClientFinal {
    expected_server_signature: SecretBytes,
}

impl ClientFinal {
    /// Checks server-final: `e=` is the server's refusal; `v=` must match the expected server
    /// signature, compared in constant time (rule G9).
    pub fn handle_server_final(self, server_final: &[u8]) -> Result<()> {
        match parse_server_final(server_final)? {
            ServerFinalMessage::Error(reason) => Err(ScramError::ServerError { reason }.into()),
            ServerFinalMessage::Verifier(signature) => {
                if constant_time_eq(&signature, &self.expected_server_signature) {
                    Ok(())
                } else {
                    Err(Error::Scram(ScramError::ServerSignatureMismatch))
                }
            }
        }
    }
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("variant", &self.variant)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClientFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFirst")
            .field("variant", &self.variant)
            .field("client_first_bare", &self.client_first_bare)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ServerFirst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerFirst")
            .field("derivation", &self.derivation)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ClientFinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFinal").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;

//! What the server knows about its users: SCRAM verifiers, never passwords.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bson::RawArrayBuf;

use crate::error::Result;
use crate::random::SecureRandom;
use crate::scram::{
    ScramKeys, ScramVariant, SecretBytes, hash, hmac, password_input, salted_password,
};
use crate::secret::{Secret, constant_time_eq};

/// MongoDB's default iteration counts (`scramIterationCount`, `scramSHA256IterationCount`).
pub const DEFAULT_SHA1_ITERATIONS: u32 = 10_000;
/// See [`DEFAULT_SHA1_ITERATIONS`].
pub const DEFAULT_SHA256_ITERATIONS: u32 = 15_000;

/// The salt length mongod draws for a variant: 16 bytes for SCRAM-SHA-1, 28 for SCRAM-SHA-256.
pub(crate) fn salt_len(variant: ScramVariant) -> usize {
    match variant {
        ScramVariant::Sha1 => 16,
        ScramVariant::Sha256 => 28,
    }
}

/// MongoDB's default iteration count for a variant.
pub(crate) fn default_iterations(variant: ScramVariant) -> u32 {
    match variant {
        ScramVariant::Sha1 => DEFAULT_SHA1_ITERATIONS,
        ScramVariant::Sha256 => DEFAULT_SHA256_ITERATIONS,
    }
}

/// One SCRAM verifier of a user: salt, iteration count, StoredKey and ServerKey (RFC 5802
/// section 3). The password cannot be recovered from it.
#[derive(Clone)]
pub struct StoredCredential {
    user: String,
    db: String,
    variant: ScramVariant,
    salt: Vec<u8>,
    iterations: u32,
    /// `,s=<salt in base64>,i=<iterations>`, as server-first ends: written once, not at every
    /// login.
    salt_and_iterations: String,
    /// Not secret in the way a password is, but enough to impersonate the server (ServerKey)
    /// or to run an offline guess (StoredKey): wiped when dropped, and boxed so that they stay
    /// where they were derived (a `Vec` or a map of users that grows moves a user, and gives
    /// back the memory it moved from unwiped).
    keys: Box<VerifierKeys>,
}

/// StoredKey and ServerKey.
#[derive(Clone)]
struct VerifierKeys {
    stored_key: SecretBytes,
    server_key: SecretBytes,
}

impl StoredCredential {
    /// Derives the verifier of `user`'s `password` in database `db`, as `createUser` does:
    /// SCRAM-SHA-1 over the MongoDB digest, SCRAM-SHA-256 over the SASLprep'd password. The salt
    /// is drawn from `rng`. (The database names the user; it is not part of the keys.)
    pub fn new<R: SecureRandom + ?Sized>(
        user: &str,
        db: &str,
        password: &Secret,
        variant: ScramVariant,
        iterations: u32,
        random: &mut R,
    ) -> Result<Self> {
        let mut salt = vec![0u8; salt_len(variant)];
        random.fill(&mut salt);
        let input = password_input(variant, user, password)?;
        let salted = salted_password(variant, input.expose().as_bytes(), &salt, iterations);
        let keys = ScramKeys::from_salted_password(variant, &salted);
        let keys = (keys.stored_key(), keys.server_key.clone());
        Ok(StoredCredential::with_keys(
            user,
            db,
            variant,
            (salt, iterations),
            keys,
        ))
    }

    /// A verifier of these parts; server-first's end is written from them here, once.
    fn with_keys(
        user: &str,
        db: &str,
        variant: ScramVariant,
        (salt, iterations): (Vec<u8>, u32),
        (stored_key, server_key): (SecretBytes, SecretBytes),
    ) -> Self {
        let mut salt_and_iterations = String::new();
        write_salt_and_iterations(&mut salt_and_iterations, &salt, iterations);
        StoredCredential {
            user: user.to_owned(),
            db: db.to_owned(),
            variant,
            salt,
            iterations,
            salt_and_iterations,
            keys: Box::new(VerifierKeys {
                stored_key,
                server_key,
            }),
        }
    }

    /// The user the verifier belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The user's database.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// The variant.
    pub fn variant(&self) -> ScramVariant {
        self.variant
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// How server-first ends: `,s=<salt in base64>,i=<iterations>`.
    pub(crate) fn salt_and_iterations(&self) -> &str {
        &self.salt_and_iterations
    }

    pub(crate) fn stored_key(&self) -> &SecretBytes {
        &self.keys.stored_key
    }

    pub(crate) fn server_key(&self) -> &SecretBytes {
        &self.keys.server_key
    }

    /// A verifier no password matches, for an unknown user's conversation: a salt and keys
    /// drawn at random (no derivation: a check against it costs what a real one does).
    pub(crate) fn decoy<R: SecureRandom + ?Sized>(
        user: &str,
        db: &str,
        variant: ScramVariant,
        iterations: u32,
        random: &mut R,
    ) -> Self {
        let mut salt = vec![0u8; salt_len(variant)];
        random.fill(&mut salt);
        let mut random_key = || {
            let mut key = SecretBytes::zeroed(variant.output_len());
            random.fill(&mut key);
            key
        };
        let keys = (random_key(), random_key());
        StoredCredential::with_keys(user, db, variant, (salt, iterations), keys)
    }

    /// Checks a plaintext password (PLAIN) against this verifier, in constant time.
    pub(crate) fn verify_password(&self, password: &Secret) -> bool {
        let Ok(input) = password_input(self.variant, &self.user, password) else {
            return false;
        };
        let salted = salted_password(
            self.variant,
            input.expose().as_bytes(),
            &self.salt,
            self.iterations,
        );
        let client_key = hmac(self.variant, &salted, b"Client Key");
        constant_time_eq(&hash(self.variant, &client_key), self.stored_key())
    }
}

/// Appends `,s=<salt in base64>,i=<iterations>` (server-first's end) to `out`.
pub(crate) fn write_salt_and_iterations(out: &mut String, salt: &[u8], iterations: u32) {
    out.push_str(",s=");
    BASE64.encode_string(salt, out);
    // Writing to a String cannot fail.
    let _ = write!(out, ",i={iterations}");
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("user", &self.user)
            .field("db", &self.db)
            .field("variant", &self.variant)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// A user of the embedded server: a name in a database, with one verifier per mechanism it may
/// use (like `createUser` with `mechanisms`).
#[derive(Clone, Debug)]
pub struct User {
    /// The name, as the client sends it (not normalised).
    pub name: String,
    /// The database the user is defined in.
    pub db: String,
    sha1: Option<StoredCredential>,
    sha256: Option<StoredCredential>,
}

impl User {
    /// A user with verifiers for `variants`, at MongoDB's default iteration counts.
    pub fn new<R: SecureRandom + ?Sized>(
        db: &str,
        name: &str,
        password: &Secret,
        variants: &[ScramVariant],
        random: &mut R,
    ) -> Result<Self> {
        let mut user = User::without_credentials(db, name);
        for &variant in variants {
            user.set(StoredCredential::new(
                name,
                db,
                password,
                variant,
                default_iterations(variant),
                random,
            )?);
        }
        Ok(user)
    }

    /// A user with no verifier yet.
    pub(crate) fn without_credentials(db: &str, name: &str) -> Self {
        User {
            name: name.to_owned(),
            db: db.to_owned(),
            sha1: None,
            sha256: None,
        }
    }

    /// Adds or replaces the verifier of one variant (made for this user and database; one for
    /// another user would never verify).
    pub fn set(&mut self, credential: StoredCredential) {
        match credential.variant {
            ScramVariant::Sha1 => self.sha1 = Some(credential),
            ScramVariant::Sha256 => self.sha256 = Some(credential),
        }
    }

    /// Its verifiers, SCRAM-SHA-1's first.
    fn credentials(&self) -> impl Iterator<Item = &StoredCredential> {
        self.sha1.iter().chain(self.sha256.iter())
    }

    /// The verifier for a variant, if the user has one.
    pub fn credential(&self, variant: ScramVariant) -> Option<&StoredCredential> {
        match variant {
            ScramVariant::Sha1 => self.sha1.as_ref(),
            ScramVariant::Sha256 => self.sha256.as_ref(),
        }
    }

    /// The SCRAM mechanisms the user has, as `saslSupportedMechs` lists them.
    pub fn mechanisms(&self) -> Vec<&'static str> {
        self.mechanism_array()
            .into_iter()
            .filter_map(|mechanism| mechanism.ok()?.as_str())
            .collect()
    }

    /// [`mechanisms`](Self::mechanisms) as the BSON array `hello` answers with: one of the four
    /// there can be, each built once, so a `hello` does not build it again.
    pub(crate) fn mechanism_array(&self) -> &'static RawArrayBuf {
        static ARRAYS: LazyLock<[RawArrayBuf; 4]> = LazyLock::new(|| {
            let [sha1, sha256] =
                [ScramVariant::Sha1, ScramVariant::Sha256].map(|v| v.mechanism().as_str());
            [vec![], vec![sha1], vec![sha256], vec![sha1, sha256]]
                .map(|names| names.into_iter().collect())
        });
        let [neither, sha1, sha256, both] = &*ARRAYS;
        match (self.sha1.is_some(), self.sha256.is_some()) {
            (false, false) => neither,
            (true, false) => sha1,
            (false, true) => sha256,
            (true, true) => both,
        }
    }

    /// Checks a plaintext password against the strongest verifier the user has.
    #[cfg(test)]
    pub(crate) fn verify_password(&self, password: &Secret) -> bool {
        self.sha256
            .as_ref()
            .or(self.sha1.as_ref())
            .is_some_and(|credential| credential.verify_password(password))
    }
}

/// The verifiers a PLAIN check runs, one per variant: the user's own where it has one (first of
/// the pair), else `decoy`'s. Every user, known or not and whatever mechanisms it has, costs
/// the same two derivations, so the time a refusal takes does not tell which users exist or
/// what they hold.
pub(crate) fn plain_verifiers<'a>(
    user: Option<&'a User>,
    decoy: &'a User,
) -> [(Option<&'a StoredCredential>, Option<&'a StoredCredential>); 2] {
    [ScramVariant::Sha1, ScramVariant::Sha256].map(|variant| {
        let own = user.and_then(|u| u.credential(variant));
        (own, own.or(decoy.credential(variant)))
    })
}

/// Checks a PLAIN password: the strongest verifier the user has decides, and the work is that of
/// [`plain_verifiers`] whatever the user.
pub(crate) fn verify_plain(user: Option<&User>, password: &Secret, decoy: &User) -> bool {
    let mut verdict = false;
    for (own, checked) in plain_verifiers(user, decoy) {
        let matches = checked.is_some_and(|credential| credential.verify_password(password));
        // SHA-256 comes last: when the user has it, it overrides the SHA-1 verdict.
        if own.is_some() {
            verdict = matches;
        }
    }
    verdict
}

/// The users of a server.
#[derive(Clone, Debug, Default)]
pub struct UserStore {
    /// By database, then by name: a login finds its user in logarithmic time, however many
    /// thousands a users file holds.
    users: BTreeMap<String, BTreeMap<String, User>>,
    /// How many of the users' verifiers of each variant have each iteration count: an unknown
    /// user's decoys take the commonest, so that neither server-first's `i=` nor the time a
    /// PLAIN check takes tells which users exist, whatever counts the verifiers were made with.
    iteration_counts: HashMap<(ScramVariant, u32), usize>,
    /// MONGODB-X509 users of `$external`, by certificate subject (RFC 2253).
    x509: HashSet<String>,
    /// MONGODB-AWS users of `$external`, by ARN.
    aws: HashSet<String>,
}

impl UserStore {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user, replacing one with the same name in the same database.
    pub fn insert(&mut self, user: User) {
        for credential in user.credentials() {
            *self
                .iteration_counts
                .entry((credential.variant, credential.iterations))
                .or_insert(0) += 1;
        }
        let replaced = self
            .users
            .entry(user.db.clone())
            .or_default()
            .insert(user.name.clone(), user);
        for credential in replaced.iter().flat_map(User::credentials) {
            let key = (credential.variant, credential.iterations);
            if let Some(count) = self.iteration_counts.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.iteration_counts.remove(&key);
                }
            }
        }
    }

    /// The iteration count of an unknown user's decoy verifier of `variant`: the count most of
    /// the users' verifiers of that variant have (the larger of two as common), or MongoDB's
    /// default when none has one.
    pub(crate) fn decoy_iterations(&self, variant: ScramVariant) -> u32 {
        self.iteration_counts
            .iter()
            .filter(|((of, _), _)| *of == variant)
            .max_by_key(|((_, iterations), count)| (**count, *iterations))
            .map_or(default_iterations(variant), |((_, iterations), _)| {
                *iterations
            })
    }

    /// The user `name` of database `db`. Names compare exactly, as stored: the server does not
    /// SASLprep usernames either.
    pub fn get(&self, db: &str, name: &str) -> Option<&User> {
        self.users.get(db)?.get(name)
    }

    /// Every user with a password (SCRAM or PLAIN), by database and then by name; X.509 and AWS
    /// users are kept apart.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.values().flat_map(BTreeMap::values)
    }

    /// Adds a MONGODB-X509 user in `$external`: the client certificate whose subject is
    /// `subject` (RFC 2253, as `openssl x509 -noout -subject -nameopt RFC2253` prints it).
    pub fn insert_x509(&mut self, subject: &str) {
        self.x509.insert(subject.to_owned());
    }

    /// Adds a MONGODB-AWS user in `$external`: the IAM user or role `arn`
    /// (`arn:aws:iam::ACCOUNT:user/NAME` or `...:role/NAME`), as mongod and Atlas name them.
    pub fn insert_aws(&mut self, arn: &str) {
        self.aws.insert(arn.to_owned());
    }

    /// Whether this ARN is a user.
    pub fn is_aws_user(&self, arn: &str) -> bool {
        self.aws.contains(arn)
    }

    /// Whether a certificate with this subject is a user.
    pub fn is_x509_user(&self, subject: &str) -> bool {
        self.x509.contains(subject)
    }
}

impl Extend<User> for UserStore {
    /// Adds each user as [`insert`](UserStore::insert) does.
    fn extend<I: IntoIterator<Item = User>>(&mut self, users: I) {
        for user in users {
            self.insert(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SystemRandom;

    #[test]
    fn each_of_many_users_is_found_by_database_and_name() {
        let mut users = UserStore::new();
        for db in ["admin", "app", "$external"] {
            for n in 0..500 {
                users.insert(User::without_credentials(db, &format!("user{n}")));
            }
        }
        // A replaced user is not a second one.
        users.insert(User::without_credentials("app", "user7"));
        assert_eq!(users.iter().count(), 1500);
        for db in ["admin", "app", "$external"] {
            for n in [0, 7, 499] {
                let user = users.get(db, &format!("user{n}")).unwrap();
                assert_eq!(
                    (user.db.as_str(), user.name.as_str()),
                    (db, format!("user{n}").as_str())
                );
            }
        }
        assert!(users.get("app", "user500").is_none());
        assert!(users.get("other", "user0").is_none());
        assert!(
            users.get("admin", "USER0").is_none(),
            "names compare exactly"
        );
    }

    #[test]
    fn decoys_count_as_most_verifiers_do_and_a_replaced_user_no_longer_counts() {
        let user = |name: &str, count: u32| {
            let mut user = User::without_credentials("admin", name);
            user.set(
                StoredCredential::new(
                    name,
                    "admin",
                    &Secret::new("pw"),
                    ScramVariant::Sha256,
                    count,
                    &mut SystemRandom,
                )
                .unwrap(),
            );
            user
        };
        let mut users = UserStore::new();
        let (sha1, sha256) = (ScramVariant::Sha1, ScramVariant::Sha256);
        assert_eq!(users.decoy_iterations(sha256), DEFAULT_SHA256_ITERATIONS);
        users.insert(user("a", 4096));
        users.insert(user("b", 4096));
        users.insert(user("c", 5000));
        assert_eq!(users.decoy_iterations(sha256), 4096);
        // No SHA-1 verifier at all: MongoDB's default.
        assert_eq!(users.decoy_iterations(sha1), DEFAULT_SHA1_ITERATIONS);
        // Two replaced: 5000 is now the commonest, and the replaced counts are gone.
        users.insert(user("a", 5000));
        users.insert(user("b", 6000));
        assert_eq!(users.decoy_iterations(sha256), 5000);
        assert_eq!(
            users.iteration_counts.len(),
            2,
            "{:?}",
            users.iteration_counts
        );
        users.insert(user("d", 6000));
        assert_eq!(
            users.decoy_iterations(sha256),
            6000,
            "a tie goes to the larger"
        );
    }
}

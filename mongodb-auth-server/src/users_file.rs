//! The users file `mongodb-auth serve --users-file` reads, for an embedder to read as well: one
//! user a line, `NAME:PASSWORD[:MECH[,MECH...]]` (`NAME` is `[DB.]USER`, `DB` `admin` when not
//! given, both parts and the password percent-decoded), or `aws-key
//! ARN=ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]` for the server's own check of MONGODB-AWS
//! signatures; blank lines and lines starting with `#` are skipped.
//!
//! Reading the file only parses it; the users' SCRAM keys are derived (PBKDF2, thousands of
//! rounds a user) by [`UsersFile::derive_users`]:
//!
//! ```
//! use mongodb_auth::ScramVariant;
//! use mongodb_auth::random::SystemRandom;
//! use mongodb_auth::server::UserStore;
//! use mongodb_auth_server::users_file::UsersFile;
//!
//! let file = UsersFile::parse(
//!     "# admins\n\
//!      alice:pencil:SCRAM-SHA-256\n\
//!      app.bob:s%3Acret:SCRAM-SHA-1\n\
//!      aws-key arn:aws:iam::123456789012:user/carol=AKIAEXAMPLE:wJalrXUtnFEMI\n",
//! )?;
//! let bob = file.user_specs().nth(1).expect("bob's line");
//! assert_eq!((bob.db.as_str(), bob.name.as_str(), bob.password.expose()), ("app", "bob", "s:cret"));
//! assert_eq!(bob.variants, [ScramVariant::Sha1]);
//! assert_eq!(file.aws_keys()[0].access_key_id, "AKIAEXAMPLE");
//!
//! let mut store = UserStore::new();
//! store.extend(file.derive_users(&mut SystemRandom)?);
//! assert!(store.get("admin", "alice").is_some());
//! assert!(store.get("app", "bob").is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors name the line and the rule it broke, never the line's text: a line holds a password.

use std::path::{Path, PathBuf};

use mongodb_auth::random::SecureRandom;
use mongodb_auth::server::User;
use mongodb_auth::server::aws::LocalSts;
use mongodb_auth::{AuthMechanism, ScramVariant, Secret};

/// The largest users file read: one of many thousands of users is far smaller.
pub const MAX_USERS_FILE_SIZE: usize = 16 * 1024 * 1024;

/// Why a user or a key as written was refused. It never repeats the text, which holds a
/// password or a secret key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Not `NAME:PASSWORD[:MECH[,MECH...]]`.
    #[error("expected NAME:PASSWORD[:MECH[,MECH...]]")]
    NotAUser,
    /// A name or password whose percent-encoding is broken: the rule it broke.
    #[error("{0}")]
    Encoding(&'static str),
    /// An empty database or user name.
    #[error("the database and the user name must not be empty")]
    EmptyName,
    /// A mechanism named in another case than its own: its spelling.
    #[error("a mechanism is written `{}`", .0.as_str())]
    MechanismSpelling(AuthMechanism),
    /// A name that is no mechanism.
    #[error("unknown mechanism")]
    UnknownMechanism,
    /// A mechanism other than SCRAM: a password is for SCRAM only.
    #[error("a user holds SCRAM-SHA-1 and/or SCRAM-SHA-256 credentials")]
    NotScram,
    /// Not `ARN=ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`.
    #[error("expected ARN=ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]")]
    NotAnAwsKey,
}

/// Why a users file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersFileError {
    /// The file could not be read, or is larger than [`MAX_USERS_FILE_SIZE`].
    #[error("cannot read `{}`: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("`{}` is not UTF-8", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A line was refused.
    #[error("line {line}: {refused}")]
    Line {
        /// Its number, from 1.
        line: usize,
        /// Why.
        refused: Refused,
    },
    /// A user's keys could not be derived (SCRAM-SHA-256's SASLprep refused the password).
    #[error("line {line}: {cause}")]
    Keys {
        /// The user's line, from 1.
        line: usize,
        /// Why.
        cause: mongodb_auth::Error,
    },
}

/// A user as written: `NAME:PASSWORD[:MECH[,MECH...]]`, before its keys are derived.
///
/// `NAME` may be `db.name` (default database `admin`); it is split at its first raw `.`, and
/// `NAME` and `PASSWORD` are then percent-decoded, so `%2E`, `%3A` and `%2C` put those characters
/// in a name or password. `MECH` is spelled as MongoDB spells it (`SCRAM-SHA-1`,
/// `SCRAM-SHA-256`); the default is both.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UserSpec {
    /// The user's database.
    pub db: String,
    /// The user's name.
    pub name: String,
    /// The password.
    pub password: Secret,
    /// The SCRAM variants the user logs in with.
    pub variants: Vec<ScramVariant>,
}

impl UserSpec {
    /// Parses `NAME:PASSWORD[:MECH[,MECH...]]`.
    ///
    /// ```
    /// use mongodb_auth::ScramVariant;
    /// use mongodb_auth_server::users_file::{Refused, UserSpec};
    ///
    /// let spec = UserSpec::parse("app.%E2%85%A8:IV:SCRAM-SHA-256")?;
    /// assert_eq!((spec.db.as_str(), spec.name.as_str()), ("app", "\u{2168}"));
    /// assert_eq!(spec.variants, [ScramVariant::Sha256]);
    /// // A `:` left unescaped in the password: its end is not repeated.
    /// assert_eq!(UserSpec::parse("alice:pass:S3CRET").unwrap_err(), Refused::UnknownMechanism);
    /// # Ok::<(), Refused>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Self, Refused> {
        let mut parts = spec.splitn(3, ':');
        let (Some(raw_name), Some(raw_password)) = (parts.next(), parts.next()) else {
            return Err(Refused::NotAUser);
        };
        let (raw_db, raw_user) = raw_name.split_once('.').unwrap_or(("admin", raw_name));
        let decode =
            |part: &str| mongodb_auth::uri::decode_component(part).map_err(Refused::Encoding);
        let (db, name) = (decode(raw_db)?, decode(raw_user)?);
        let password = Secret::new(decode(raw_password)?);
        if db.is_empty() || name.is_empty() {
            return Err(Refused::EmptyName);
        }
        let variants = match parts.next() {
            None => vec![ScramVariant::Sha1, ScramVariant::Sha256],
            Some(list) => list
                .split(',')
                .map(|name| {
                    // Found without copying `name`: with a `:` left unescaped in the password,
                    // it is the password's end.
                    let mechanism = match AuthMechanism::find_ignoring_case(name) {
                        Some(m) if m.as_str() == name => m,
                        Some(m) => return Err(Refused::MechanismSpelling(m)),
                        None => return Err(Refused::UnknownMechanism),
                    };
                    ScramVariant::from_mechanism(mechanism).ok_or(Refused::NotScram)
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(UserSpec {
            db,
            name,
            password,
            variants,
        })
    }

    /// The user, its keys derived at MongoDB's default iteration counts with salts from
    /// `random` (see [`User::new`]: PBKDF2, thousands of rounds; on an async runtime, a job for
    /// its blocking pool). A password SCRAM-SHA-256's SASLprep refuses is an error.
    pub fn to_user<R: SecureRandom + ?Sized>(&self, random: &mut R) -> mongodb_auth::Result<User> {
        User::new(&self.db, &self.name, &self.password, &self.variants, random)
    }
}

/// A MONGODB-AWS key as written: `ARN=ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`, for the server's
/// own signature check ([`LocalSts`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AwsKey {
    /// The caller the key is of.
    pub arn: String,
    /// The access key ID.
    pub access_key_id: String,
    /// The secret access key.
    pub secret: Secret,
    /// The session token temporary credentials carry.
    pub session_token: Option<Secret>,
}

impl AwsKey {
    /// Parses `ARN=ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`.
    ///
    /// ```
    /// use mongodb_auth_server::users_file::AwsKey;
    ///
    /// let key = AwsKey::parse("arn:aws:iam::1:user/c=AKID:s3cret")?;
    /// assert_eq!((key.arn.as_str(), key.access_key_id.as_str()), ("arn:aws:iam::1:user/c", "AKID"));
    /// assert!(key.session_token.is_none());
    /// # Ok::<(), mongodb_auth_server::users_file::Refused>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Self, Refused> {
        let (arn, key) = spec.split_once('=').ok_or(Refused::NotAnAwsKey)?;
        let (access_key_id, secret) = key.split_once(':').ok_or(Refused::NotAnAwsKey)?;
        let (secret, session_token) = match secret.split_once(':') {
            Some((secret, token)) => (secret, Some(Secret::new(token))),
            None => (secret, None),
        };
        Ok(AwsKey {
            arn: arn.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret: Secret::new(secret),
            session_token,
        })
    }

    /// Adds the key to `sts`.
    pub fn insert_into(&self, sts: &mut LocalSts) {
        match &self.session_token {
            Some(token) => sts.insert_temporary(
                &self.arn,
                &self.access_key_id,
                self.secret.clone(),
                token.clone(),
            ),
            None => sts.insert(&self.arn, &self.access_key_id, self.secret.clone()),
        }
    }
}

/// A users file, parsed: one user a line as [`UserSpec::parse`] takes it, or `aws-key ` and a
/// key as [`AwsKey::parse`] takes it; blank lines and lines starting with `#` skipped.
#[derive(Clone, Debug, Default)]
pub struct UsersFile {
    /// The users, each with the number of its line.
    users: Vec<(usize, UserSpec)>,
    aws_keys: Vec<AwsKey>,
}

impl UsersFile {
    /// Parses the text of a users file.
    pub fn parse(text: &str) -> Result<Self, UsersFileError> {
        let mut file = UsersFile::default();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let at_line = |refused| UsersFileError::Line {
                line: line_number,
                refused,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(key) = line.strip_prefix("aws-key ") {
                file.aws_keys
                    .push(AwsKey::parse(key.trim()).map_err(at_line)?);
                continue;
            }
            let user = UserSpec::parse(line).map_err(at_line)?;
            file.users.push((line_number, user));
        }
        Ok(file)
    }

    /// Reads and parses the users file at `path` (at most [`MAX_USERS_FILE_SIZE`]); its text is
    /// wiped once parsed.
    pub fn read(path: &Path) -> Result<Self, UsersFileError> {
        let bytes =
            mongodb_auth_io::answer::read_within(path, MAX_USERS_FILE_SIZE).map_err(|cause| {
                UsersFileError::Read {
                    path: path.to_owned(),
                    cause,
                }
            })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| UsersFileError::NotUtf8 {
            path: path.to_owned(),
        })?;
        Self::parse(text)
    }

    /// The users as written, in the file's order.
    pub fn user_specs(&self) -> impl Iterator<Item = &UserSpec> {
        self.users.iter().map(|(_, spec)| spec)
    }

    /// The users, their keys derived (see [`UserSpec::to_user`]: PBKDF2 for each); a password
    /// SCRAM-SHA-256 cannot take is an error naming its line.
    pub fn derive_users<R: SecureRandom + ?Sized>(
        &self,
        random: &mut R,
    ) -> Result<Vec<User>, UsersFileError> {
        self.users
            .iter()
            .map(|(line, spec)| {
                spec.to_user(random)
                    .map_err(|cause| UsersFileError::Keys { line: *line, cause })
            })
            .collect()
    }

    /// The `aws-key` lines' keys.
    pub fn aws_keys(&self) -> &[AwsKey] {
        &self.aws_keys
    }
}

#[cfg(test)]
mod tests {
    use mongodb_auth::random::SystemRandom;

    use super::*;

    #[test]
    fn a_users_file_is_read_up_to_16_mib_and_must_be_utf8() {
        let dir = std::env::temp_dir().join(format!("mongodb-auth-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let written = |name: &str, bytes: &[u8], length: usize| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            file.set_len(u64::try_from(length).unwrap()).unwrap();
            path
        };
        let users = b"alice:pencil\n";
        let fits = written("fits", users, users.len());
        let file = UsersFile::read(&fits).unwrap();
        assert_eq!(file.derive_users(&mut SystemRandom).unwrap().len(), 1);
        // Padded with zeros to one byte over the cap (sparse, so nothing is written).
        let over = written("over", users, MAX_USERS_FILE_SIZE + 1);
        let refused = UsersFile::read(&over).unwrap_err().to_string();
        assert!(refused.contains("larger than 16 MiB"), "{refused}");
        let latin1 = written("latin1", b"j\xf6rg:pencil\n", 13);
        let refused = UsersFile::read(&latin1).unwrap_err().to_string();
        assert!(refused.contains("is not UTF-8"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_refusal_names_the_rule_and_the_line_never_the_text() {
        let refused = |spec: &str| UserSpec::parse(spec).unwrap_err();
        // A `:` left unescaped in the password: its end reads as the mechanisms.
        assert_eq!(refused("alice:pass:S3CRET"), Refused::UnknownMechanism);
        assert_eq!(
            refused("alice:pencil:scram-sha-1").to_string(),
            "a mechanism is written `SCRAM-SHA-1`"
        );
        assert_eq!(refused("alice:pencil:PLAIN"), Refused::NotScram);
        assert_eq!(refused("alice"), Refused::NotAUser);
        assert_eq!(refused(".alice:pencil"), Refused::EmptyName);
        assert!(matches!(refused("alice:pen%zzcil"), Refused::Encoding(_)));
        assert_eq!(
            AwsKey::parse("arn-without-key").unwrap_err(),
            Refused::NotAnAwsKey
        );
        let text = "# users\n\nalice:pencil\nbob:pass:S3CRET\n";
        let error = UsersFile::parse(text).unwrap_err();
        assert!(matches!(
            error,
            UsersFileError::Line {
                line: 4,
                refused: Refused::UnknownMechanism
            }
        ));
        assert_eq!(error.to_string(), "line 4: unknown mechanism");
        let key_line = UsersFile::parse("aws-key arn:x=AKID\n").unwrap_err();
        assert_eq!(
            key_line.to_string(),
            "line 1: expected ARN=ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]"
        );
        // SASLprep's refusal comes with the keys, and names its line too.
        let file = UsersFile::parse("alice:pencil\nbob:a\u{7}b:SCRAM-SHA-256\n").unwrap();
        let error = file.derive_users(&mut SystemRandom).unwrap_err();
        assert!(
            matches!(error, UsersFileError::Keys { line: 2, .. }),
            "{error}"
        );
        assert!(!format!("{error} {error:?}").contains("a\u{7}b"));
    }

    #[test]
    fn a_users_file_has_users_and_aws_keys() {
        let file = UsersFile::parse(
            "# admins\nalice:pencil\n\napp.bob:hunter2:SCRAM-SHA-256\naws-key arn:aws:iam::1:user/c=AKID:S3KRET:T0KEN9\n",
        )
        .unwrap();
        let names: Vec<_> = file
            .user_specs()
            .map(|spec| (spec.db.as_str(), spec.name.as_str(), spec.variants.len()))
            .collect();
        assert_eq!(names, [("admin", "alice", 2), ("app", "bob", 1)]);
        let [key] = file.aws_keys() else {
            panic!("one key")
        };
        assert_eq!(key.arn, "arn:aws:iam::1:user/c");
        assert_eq!(
            key.session_token.as_ref().map(Secret::expose),
            Some("T0KEN9")
        );
        let shown = format!("{file:?}");
        assert!(
            !["pencil", "hunter2", "S3KRET", "T0KEN9"]
                .iter()
                .any(|s| shown.contains(s))
        );
    }
}

//! The embedded authentication server (feature `server`): it speaks the wire protocol and checks
//! credentials as mongod does, so the crate can demonstrate itself and be tested against real
//! clients with no MongoDB installed.
//!
//! Sans-IO first: [`StoredCredential`] and [`User`] hold SCRAM verifiers (never passwords),
//! [`scram`] is the server side of SCRAM, and [`Session`] turns one connection's commands into
//! replies. [`Server`] is the tokio loop around them.
//!
//! It answers `hello`/`isMaster` (OP_MSG, and OP_QUERY for the legacy handshake) as a MongoDB 7.0
//! standalone, `saslStart`/`saslContinue` (SCRAM-SHA-1, SCRAM-SHA-256, PLAIN) with
//! `speculativeAuthenticate` and `saslSupportedMechs`, `ping`, `buildInfo`, `endSessions` and
//! `connectionStatus`; MONGODB-X509, MONGODB-AWS and MONGODB-OIDC when configured. An
//! authenticated client may run `find` (an empty cursor) and `insert` (counted, then dropped).
//! Any other command is `Unauthorized` (13) before authentication and `CommandNotFound` (59)
//! after. It stores no data. It omits `topologyVersion` from `hello`, so
//! drivers poll it instead of using streaming monitoring.

#[cfg(feature = "aws")]
pub mod aws;
pub mod danger;
pub mod gssapi;
mod net;
#[cfg(feature = "oidc-server")]
pub mod oidc;
pub mod scram;
mod session;
mod users;

pub use net::{Server, ServerConfig};
#[cfg(feature = "aws")]
pub use session::AwsSettings;
pub use session::{
    AuthEvent, MAX_WIRE_VERSION, SERVER_VERSION, Session, SessionConfig, split_plain_payload,
};
pub use users::{
    DEFAULT_SHA1_ITERATIONS, DEFAULT_SHA256_ITERATIONS, StoredCredential, User, UserStore,
};

use zeroize::Zeroizing;

use crate::credential::AuthMechanism;
use crate::error::{Error, Result};
use crate::random::SecureRandom;
use crate::scram::ScramVariant;
use crate::secret::Secret;

/// Parses a user as the `serve` command takes it: `NAME:PASSWORD[:MECH[,MECH...]]`.
///
/// `NAME` may be `db.name` (default database `admin`); it is split at its first raw `.`, and
/// `NAME` and `PASSWORD` are then percent-decoded, so `%2E`, `%3A` and `%2C` put those characters
/// in a name or password. `MECH` is spelled as MongoDB spells it (`SCRAM-SHA-1`,
/// `SCRAM-SHA-256`); the default is both.
///
/// ```
/// use mongodb_auth::random::SystemRandom;
/// use mongodb_auth::server::parse_user_spec;
///
/// let user = parse_user_spec("app.%E2%85%A8:IV:SCRAM-SHA-256", &mut SystemRandom)?;
/// assert_eq!((user.db.as_str(), user.name.as_str()), ("app", "\u{2168}"));
/// assert_eq!(user.mechanisms(), ["SCRAM-SHA-256"]);
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
pub fn parse_user_spec<R: SecureRandom + ?Sized>(spec: &str, random: &mut R) -> Result<User> {
    let invalid = |rule: &str| Error::option("--user", rule);
    let mut parts = spec.splitn(3, ':');
    let (Some(raw_name), Some(raw_password)) = (parts.next(), parts.next()) else {
        return Err(invalid("expected NAME:PASSWORD[:MECH[,MECH...]]"));
    };
    let (raw_db, raw_user) = raw_name.split_once('.').unwrap_or(("admin", raw_name));
    let decode = |part: &str| crate::uri::decode_component(part).map_err(&invalid);
    let (db, name) = (decode(raw_db)?, decode(raw_user)?);
    let password = Secret::new(decode(raw_password)?);
    if db.is_empty() || name.is_empty() {
        return Err(invalid("the database and the user name must not be empty"));
    }
    let variants = match parts.next() {
        None => vec![ScramVariant::Sha1, ScramVariant::Sha256],
        Some(list) => list
            .split(',')
            .map(|name| {
                let mechanism: AuthMechanism =
                    name.parse().map_err(|_| invalid("unknown mechanism"))?;
                ScramVariant::from_mechanism(mechanism).ok_or_else(|| {
                    invalid("a user holds SCRAM-SHA-1 and/or SCRAM-SHA-256 credentials")
                })
            })
            .collect::<Result<_>>()?,
    };
    User::new(&db, &name, &password, &variants, random)
}

/// What a users file holds: users with passwords, and MONGODB-AWS keys for a local STS.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct UsersFile {
    /// The users of the `NAME:PASSWORD[:MECH,...]` lines.
    pub users: Vec<User>,
    /// The `aws-key ARN=ACCESS_KEY_ID:SECRET` lines, as written after `aws-key ` (they hold a
    /// secret).
    pub aws_keys: Vec<Secret>,
}

/// Parses a users file: one user a line as [`parse_user_spec`] takes it, or `aws-key
/// ARN=ACCESS_KEY_ID:SECRET` for a MONGODB-AWS key; blank lines and lines starting with `#`
/// skipped. Passwords in a file (mode 0600) stay off the command line, where every process on the
/// machine can read them. Errors name the line, never its content.
///
/// ```
/// use mongodb_auth::random::SystemRandom;
/// use mongodb_auth::server::parse_users_file;
///
/// let file = parse_users_file(
///     "# admins\nalice:pencil\n\napp.bob:secret:SCRAM-SHA-256\naws-key arn:aws:iam::1:user/c=AKID:s\n",
///     &mut SystemRandom,
/// )?;
/// assert_eq!((file.users.len(), file.aws_keys.len()), (2, 1));
/// # Ok::<(), mongodb_auth::Error>(())
/// ```
pub fn parse_users_file<R: SecureRandom + ?Sized>(text: &str, random: &mut R) -> Result<UsersFile> {
    let mut file = UsersFile::default();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(key) = line.strip_prefix("aws-key ") {
            file.aws_keys.push(Secret::new(key.trim()));
            continue;
        }
        let user = parse_user_spec(line, random).map_err(|e| {
            let rule = match e {
                Error::InvalidOption { rule, .. } => rule,
                other => other.to_string(),
            };
            Error::option("--users-file", format!("line {}: {rule}", index + 1))
        })?;
        file.users.push(user);
    }
    Ok(file)
}

/// Reads and parses a users file (see [`parse_users_file`]); the text is wiped once parsed.
pub fn read_users_file<R: SecureRandom + ?Sized>(
    path: &std::path::Path,
    random: &mut R,
) -> Result<UsersFile> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        Error::option(
            "--users-file",
            format!("cannot read `{}`: {e}", path.display()),
        )
    })?);
    parse_users_file(&text, random)
}
